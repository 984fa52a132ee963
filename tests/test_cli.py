"""The ``sbidic`` command line."""

from __future__ import annotations

import numpy as np
import pytest

from sbidic import load_population
from sbidic.cli import main


def test_population_command_writes_netcdf_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "pop.nc"
    rc = main(["population", "--model", "stg", "--g-s", "-4", "--g-u", "5", "-n", "50",
               "--seed", "0", "-o", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "g_CaS" in text and "g_s = -4" in text
    pop = load_population(out)
    assert pop.conductances.shape == (1, 50, 8)
    assert np.abs(pop.dics[..., 1:] - [-4, 5]).max() < 1e-6


def test_population_command_is_reproducible_with_a_seed(tmp_path):
    for name in ("a.csv", "b.csv"):
        main(["population", "--model", "da", "--g-s", "2", "--g-u", "6", "-n", "8",
              "--seed", "3", "-o", str(tmp_path / name)])  # fmt: skip
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_population_command_reads_many_targets(tmp_path):
    targets = tmp_path / "targets.csv"
    targets.write_text("-4,5\n5,10\n")
    out = tmp_path / "pop.nc"
    assert main(["population", "--model", "stg", "--targets", str(targets), "-n", "5",
                 "-o", str(out)]) == 0  # fmt: skip
    assert load_population(out).n_targets == 2


def test_unreachable_target_exits_with_a_clear_message(capsys):
    rc = main(["population", "--model", "da", "--g-s", "15", "--g-u", "0.5", "-n", "5"])
    assert rc == 2
    assert "g_ERG < 0" in capsys.readouterr().err


def test_bad_n_exits_with_a_clear_message(capsys):
    assert main(["population", "--model", "stg", "--g-s", "1", "--g-u", "2", "-n", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err


def test_unknown_model_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["population", "--model", "hh", "--g-s", "1", "--g-u", "2"])
    assert "invalid choice: 'hh'" in capsys.readouterr().err


def test_help_is_available_everywhere(capsys):
    for argv in (["--help"], ["population", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--g-s" in capsys.readouterr().out
