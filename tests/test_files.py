"""User mistakes with files: one line naming the file, exit code 2, checked before any
work, and nothing left at the output paths after an error."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import sbidic
from sbidic.cli import main
from sbidic.cli.population import read_targets

EXAMPLES = Path(str(resources.files("sbidic") / "examples"))
RECORDINGS = str(EXAMPLES / "stg_recordings.csv")


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) >= 1 and "Traceback" not in err, err
    assert all(n in lines[-1] for n in needles), err


@pytest.mark.parametrize(
    "argv",
    [
        ["population", "--model", "stg", "--g-s", "-4", "--g-u", "5", "-o", "{missing}/p.nc"],
        ["infer", RECORDINGS, "--model", "stg", "-o", "{missing}/p.nc"],
        ["simulate", "{pop}", "-o", "{missing}/s.csv"],
        ["simulate", "{pop}", "-o", "{tmp}/s.csv", "--plot", "{missing}/f.png"],
    ],
)
def test_a_missing_output_directory_is_refused_before_any_work(argv, tmp_path, capsys):
    pop = tmp_path / "pop.nc"
    sbidic.sample_population("stg", -4.0, 5.0, n=2, rng=0).save(pop)
    fill = {"missing": str(tmp_path / "nowhere"), "pop": str(pop), "tmp": str(tmp_path)}
    code, err = run(capsys, *[a.format(**fill) for a in argv])
    assert code == 2
    one_line_error(err, "nowhere", "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.nc"]  # nothing written


@pytest.mark.parametrize("suffix", [".xyz", ".json", ".txt"])
def test_unknown_output_extensions_name_the_accepted_ones(suffix, tmp_path, capsys):
    out = tmp_path / f"pop{suffix}"
    code, err = run(capsys, "population", "--model", "stg", "--g-s", "-4", "--g-u", "5",
                    "-o", str(out))  # fmt: skip
    assert code == 2
    one_line_error(err, str(out), ".nc", ".csv")
    assert not out.exists()
    with pytest.raises(ValueError, match="unknown extension"):
        sbidic.sample_population("stg", -4.0, 5.0, n=2, rng=0).save(out)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["infer", "{tmp}/none.csv", "--model", "stg"], "none.csv"),
        (["infer", RECORDINGS, "--model", "stg", "--estimator", "{tmp}/est"], "est"),
        (["population", "--model", "stg", "--targets", "{tmp}/t.csv"], "t.csv"),
        (["simulate", "{tmp}/none.nc", "-o", "{tmp}/s.csv"], "none.nc"),
        (["dataset", "--status", "-o", "{tmp}/ds"], "ds"),
        (["train", "{tmp}/ds", "-o", "{tmp}/e"], "ds"),
        (["atlas", "{tmp}/ds", "-o", "{tmp}/a.safetensors"], "ds"),
    ],
)
def test_missing_inputs_are_one_line_errors(argv, needle, tmp_path, capsys):
    code, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    one_line_error(err, needle, "no such")


def test_binary_files_are_named(tmp_path, capsys):
    blob = tmp_path / "blob.csv"
    blob.write_bytes(bytes(range(256)) * 4)
    code, err = run(capsys, "infer", str(blob), "--model", "stg")
    assert code == 2
    one_line_error(err, "blob.csv", "not a UTF-8 text file")
    code, err = run(capsys, "simulate", str(blob), "--model", "stg", "-o",
                    str(tmp_path / "s.csv"))  # fmt: skip
    one_line_error(err, "blob.csv")
    fake = tmp_path / "fake.nc"
    fake.write_text("not netcdf")
    code, err = run(capsys, "infer", str(fake), "--model", "stg")
    one_line_error(err, "fake.nc", "not a readable netCDF file")


def test_unreachable_target_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "pop.nc"
    code, err = run(capsys, "population", "--model", "da", "--g-s", "15", "--g-u", "0.5",
                    "-n", "2", "-o", str(out))  # fmt: skip
    assert code == 2
    assert "nothing written" in err
    assert list(tmp_path.iterdir()) == []


def test_targets_file_with_header_and_ids(tmp_path, capsys):
    with pytest.warns(UserWarning, match="cell_silent"):
        targets, ids = read_targets(EXAMPLES / "stg_targets.csv")
    assert targets.shape[1] == 2 and ids[0] == "cell1"
    out = tmp_path / "pop.nc"
    code = main(["population", "--model", "stg", "--targets", str(EXAMPLES / "stg_targets.csv"),
                 "-n", "2", "--seed", "0", "-o", str(out)])  # fmt: skip
    assert code == 0
    assert sbidic.load_population(out).obs_id.tolist() == ids.tolist()
    plain = tmp_path / "plain.csv"
    plain.write_text("-4,5\n\n2,10\n")
    np.testing.assert_array_equal(read_targets(plain)[0], [[-4, 5], [2, 10]])
    bad = tmp_path / "bad.csv"
    bad.write_text("g_s,g_u\n-4,5\n2,x\n")
    with pytest.raises(ValueError, match="line 3"):
        read_targets(bad)
    with pytest.raises(ValueError, match="lacks column"):
        bad.write_text("a,b\n1,2\n")
        read_targets(bad)


def test_infer_repair_sorts_and_reports(tmp_path, capsys):
    rec = tmp_path / "r.csv"
    rec.write_text('ID,spiking_times\na,"[0, 200, 100, 300, 300, 400, 500]"\n')
    code, err = run(capsys, "infer", str(rec), "--model", "stg", "-n", "2")
    assert code == 2 and "a" in err
    code = main(["infer", str(rec), "--model", "stg", "-n", "2", "--repair"])
    err = capsys.readouterr().err
    assert code == 0 and "repaired" in err


def test_atomic_outputs_leave_nothing_on_error(tmp_path):
    from sbidic.files import atomic_outputs

    with pytest.raises(RuntimeError), atomic_outputs([tmp_path / "a.csv", tmp_path / "b.nc"]) as t:
        t[0].write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_outputs([tmp_path / "c.csv"]) as (tmp,):
        tmp.write_text("ok")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "c.csv").stat().st_mode & 0o777 == 0o666 & ~mask


def test_outputs_over_a_gigabyte_are_announced_before_the_work(capsys, monkeypatch):
    import sbidic.cli.population as cli_population

    def boom(*args, **kwargs):
        raise RuntimeError("work started")

    monkeypatch.setattr(cli_population, "sample_populations", boom)
    with pytest.raises(RuntimeError, match="work started"):
        main(["population", "--model", "stg", "--g-s", "-4", "--g-u", "5", "-n", "10000000",
              "-o", "/tmp/big.nc"])  # fmt: skip
    assert "will be about 1.1 GB" in capsys.readouterr().err


def test_targets_rows_shorter_than_the_header(tmp_path):
    short = tmp_path / "t.csv"
    short.write_text("g_s,g_u,ID\n-4,5\n2,10,b\n")
    targets, ids = read_targets(short)
    assert ids.tolist() == ["", "b"] and targets.shape == (2, 2)
