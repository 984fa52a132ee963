"""The ``sbidic`` command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

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
    err = capsys.readouterr().err
    assert "argument --model: unknown model 'hh'" in err.strip().splitlines()[-1]


def test_help_is_available_everywhere(capsys):
    for argv in (["--help"], ["population", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "--g-s" in capsys.readouterr().out


def test_simulate_command_reads_netcdf_and_writes_spike2pop_csv(tmp_path, capsys):
    from sbidic.spikes import read_spike_csv

    pop = tmp_path / "pop.nc"
    main(["population", "--model", "stg", "--g-s", "-4", "--g-u", "5", "-n", "3",
          "--seed", "0", "-o", str(pop)])  # fmt: skip
    out = tmp_path / "sims.csv"
    rc = main(["simulate", str(pop), "--duration", "1500", "--transient", "500",
               "-o", str(out), "--plot", str(tmp_path / "fig.png")])  # fmt: skip
    assert rc == 0
    assert "bursting" in capsys.readouterr().out
    trains = read_spike_csv(out)
    assert len(trains) == 3 and (trains.n_spikes > 3).all()
    assert (tmp_path / "fig.png").stat().st_size > 10_000


def test_simulate_command_reads_a_conductance_csv_with_model(tmp_path, capsys):
    from sbidic.spikes import read_spikes_netcdf

    csv_in = tmp_path / "cells.csv"
    csv_in.write_text(
        "ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n"
        "7,6600.82471,125.961075,4.14918208,18.3416405,159.677516,413.833466,0.321589451,"
        "0.00957712096\n"
    )
    out = tmp_path / "sims.nc"
    assert main(["simulate", str(csv_in), "--model", "stg", "--duration", "1500",
                 "--transient", "500", "-o", str(out), "--progress"]) == 0  # fmt: skip
    assert len(read_spikes_netcdf(out)) == 1
    assert "100/100" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("ID,g_Na,g_Kd\n1,2,3\n", "missing conductance column"),
        ("ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n1,1,1,1,1,1,1,-1,0.01\n", "line 2"),
        ("ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n1,1,1,x,1,1,1,1,0.01\n", "line 2"),
    ],
)
def test_simulate_command_rejects_bad_conductance_csv(tmp_path, capsys, content, message):
    csv_in = tmp_path / "bad.csv"
    csv_in.write_text(content)
    rc = main(["simulate", str(csv_in), "--model", "stg", "-o", str(tmp_path / "o.nc")])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_simulate_command_needs_a_model_for_csv(tmp_path, capsys):
    csv_in = tmp_path / "cells.csv"
    csv_in.write_text("ID,g_Na\n")
    assert main(["simulate", str(csv_in), "-o", str(tmp_path / "o.nc")]) == 2
    assert "--model" in capsys.readouterr().err


def test_train_command_trains_and_saves_an_estimator(tmp_path):
    from sbidic.datasets import DatasetSpec, generate_dataset
    from sbidic.inference import load_estimator

    spec = DatasetSpec("stg", n_targets=10, cells_per_target=2, targets_per_chunk=10,
                       duration_ms=1200.0, transient_ms=200.0, dt_ms=0.05)  # fmt: skip
    generate_dataset(tmp_path / "ds", spec, n_jobs=1, progress=False)
    out = tmp_path / "est"
    rc = main(["train", str(tmp_path / "ds"), "-o", str(out), "--epochs", "2",
               "--batch-size", "8", "--p-augment", "0.75", "--device", "cpu",
               "--independent-augmentation", "--timing-features",
               "--jitter-ms", "0.05", "1"])  # fmt: skip
    assert rc == 0
    assert (out / "weights.safetensors").exists() and (out / "model_card.md").exists()
    est = load_estimator(out)
    assert est.augmentation.p_augment == 0.75 and est.augmentation.independent_steps
    assert est.encoder.timing_features and est.augmentation.jitter_ms == (0.05, 1.0)
    # --max-time is a hard limit checked between batches; the stop resumes
    short = tmp_path / "short"
    args = ["train", str(tmp_path / "ds"), "-o", str(short), "--epochs", "2", "--batch-size",
            "4"]  # fmt: skip
    assert main([*args, "--max-time", "1e-9"]) == 0
    meta = short / "checkpoint" / "checkpoint.json"
    state = json.loads(meta.read_text())["state"]
    assert state["epoch"] == 0 and state["batch"] == 1
    assert main(args) == 0
    assert json.loads(meta.read_text())["state"]["epoch"] == 2
    # refit-flow: only the flow may change; the card records the step
    refit = tmp_path / "refit"
    assert main(["refit-flow", str(tmp_path / "ds"), "--estimator", str(out), "-o",
                 str(refit), "--views", "2", "--epochs", "2", "--lr", "1e-2"]) == 0  # fmt: skip
    before, after = est.state_dict(), load_estimator(refit).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("flow."))
    recipe = json.loads((refit / "model_card.json").read_text())["recipe"]
    source = json.loads((out / "model_card.json").read_text())
    assert len(recipe) == 2 and recipe[0] == {"command": source["command"]}  # source's step
    step = recipe[-1]
    assert step["step"] == "refit_flow" and step["views"] == 2 and step["n_holdout"] > 0
    assert len(step["history"]) == 2 and step["best_holdout_nll"] <= step["initial_holdout_nll"]
    # recalibrate: only the flow shift may change; the card records the step and the
    # shift survives saving
    cal = tmp_path / "cal"
    assert main(["recalibrate", str(tmp_path / "ds"), "--estimator", str(refit), "-o", str(cal),
                 "--split", "train", "--alpha", "0.99", "--samples", "50"]) == 0  # fmt: skip
    step = json.loads((cal / "model_card.json").read_text())["recipe"][-1]
    assert step["step"] == "recalibrate" and step["split"] == "train"
    assert [(r["class"], r["dic"]) for r in step["rows"]] == [
        ("spiking", "g_s"),
        ("spiking", "g_u"),
        ("bursting", "g_s"),
        ("bursting", "g_u"),
    ]
    assert load_estimator(cal).flow_shift.tolist() == step["flow_shift"]
    assert torch.equal(load_estimator(refit).flow_shift, torch.zeros(2, 2))
    assert main(["recalibrate", str(tmp_path / "ds"), "--estimator", str(refit), "-o",
                 str(tmp_path / "cal2"), "--alpha", "2"]) == 2  # fmt: skip
    assert not (tmp_path / "cal2").exists()
    # a fresh flow of another architecture: the encoder is kept, the saved config has it
    bigger = tmp_path / "bigger"
    assert main(["refit-flow", str(tmp_path / "ds"), "--estimator", str(out), "-o", str(bigger),
                 "--views", "1", "--epochs", "1", "--lr", "1e-3", "--flow-hidden", "24", "24",
                 "--flow-bins", "4"]) == 0  # fmt: skip
    new = load_estimator(bigger)
    assert new.flow_hidden == (24, 24) and new.flow_bins == 4
    assert new.flow_transforms == est.flow_transforms
    after = new.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("flow."))
    step = json.loads((bigger / "model_card.json").read_text())["recipe"][-1]
    assert step["new_flow"] == {"transforms": est.flow_transforms, "hidden": [24, 24], "bins": 4}
    # an invalid architecture is a one-line error before any work, and writes nothing
    assert main(["refit-flow", str(tmp_path / "ds"), "--estimator", str(out), "-o",
                 str(tmp_path / "nobins"), "--flow-bins", "0"]) == 2  # fmt: skip
    assert not (tmp_path / "nobins").exists()
    # an estimator of another model is refused, naming both
    from sbidic.inference.pretrained import pretrained_dir

    assert main(["refit-flow", str(tmp_path / "ds"), "--estimator", str(pretrained_dir("da")),
                 "-o", str(tmp_path / "wrong")]) == 2  # fmt: skip
    assert not (tmp_path / "wrong").exists()


def test_simulate_passes_cell_ids_through(tmp_path):
    import pandas as pd
    import xarray as xr

    row = "6600.82471,125.961075,4.14918208,18.3416405,159.677516,413.833466,0.321589451,0.0095"
    csv_in = tmp_path / "cells.csv"
    csv_in.write_text("ID,cell_ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n"
                      f"7,alpha,{row}\n7,beta,{row}\n9,gamma,{row}\n")  # fmt: skip
    short = ["--duration", "600", "--transient", "300"]
    out = tmp_path / "sims.csv"
    assert main(["simulate", str(csv_in), "--model", "stg", *short, "-o", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["ID"].tolist() == [0, 1, 2]  # Spike2Pop numbering
    assert table["population_ID"].tolist() == [7, 7, 9]
    assert table["cell_ID"].tolist() == ["alpha", "beta", "gamma"]
    csv_in.write_text("ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n"
                      f"7,{row}\n7,{row}\n9,{row}\n")  # fmt: skip
    nc = tmp_path / "sims.nc"
    assert main(["simulate", str(csv_in), "--model", "stg", *short, "-o", str(nc)]) == 0
    with xr.open_dataset(nc) as ds:
        assert ds["cell_ID"].values.tolist() == ["7:0", "7:1", "9:0"]


def test_population_command_samples_large_n_in_blocks_with_progress(tmp_path, capsys, monkeypatch):
    import sbidic.cli.population as cli_population

    monkeypatch.setattr(cli_population, "POPULATION_BLOCK", 64)  # 300 cells: five blocks
    out = tmp_path / "big.nc"
    assert main(["population", "--model", "stg", "--g-s", "-5", "--g-u", "6", "-n", "300",
                 "--seed", "1", "--progress", "-o", str(out)]) == 0  # fmt: skip
    assert "300/300" in capsys.readouterr().err
    pop = load_population(out)
    assert pop.conductances.shape == (1, 300, 8)
    assert np.all(pop.residual <= 1e-10) and 0 < pop.acceptance[0] <= 1
    assert len(np.unique(pop.conductances[0, :, 0])) == 300  # blocks draw fresh cells
    assert main(["population", "--model", "stg", "--g-s", "-5", "--g-u", "6", "-n", "300",
                 "--seed", "1", "--quiet", "-o", str(tmp_path / "again.nc")]) == 0  # fmt: skip
    assert "300/300" not in capsys.readouterr().err
    np.testing.assert_array_equal(load_population(tmp_path / "again.nc").conductances,
                                  pop.conductances)  # fmt: skip


# ------------------------------------------------------ one line, exit 2 (issue 30)
def _one_error_line(capsys, command: str) -> str:
    """The single error line of a failed command (informational lines aside)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert line.startswith(f"sbidic {command}: error: "), line
    return line


def test_a_spike_train_file_given_to_simulate_is_one_line(tmp_path, capsys):
    from sbidic.spikes import SpikeTrains, write_spikes_netcdf

    spikes = tmp_path / "spikes.nc"
    write_spikes_netcdf(SpikeTrains.from_list([np.arange(0.0, 900.0, 100.0)]), spikes)
    assert main(["simulate", str(spikes), "-o", str(tmp_path / "out.csv")]) == 2
    line = _one_error_line(capsys, "simulate")
    assert f"{spikes} holds no population" in line
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["population", "--model", "stg", "--g-s", "-4", "--g-u", "5", "-n", "2"], "--seed"),
        (["infer", "{rec}", "--model", "stg", "-n", "2"], "--seed"),
        (["simulate", "{pop}", "--model", "stg", "-o", "{out}"], "--seed"),
        (["simulate", "{pop}", "--model", "stg", "--plot", "{png}", "-o", "{out}"],
         "--plot-cells"),
        (["app", "--no-browser"], "--port"),
    ],
)  # fmt: skip
def test_out_of_range_options_are_named_before_any_work(tmp_path, capsys, monkeypatch, argv,
                                                        option):  # fmt: skip
    import sbidic.simulate

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(sbidic.simulate, "simulate", no_work)
    monkeypatch.setattr("sbidic.cli.population.sample_populations", no_work)
    pop, rec = tmp_path / "pop.csv", tmp_path / "rec.csv"
    pop.write_text("ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\na,1,1,1,1,1,1,1,0.01\n")
    rec.write_text("ID,spiking_times\na,100;200;300;400\n")
    paths = {"pop": pop, "rec": rec, "out": tmp_path / "out.csv", "png": tmp_path / "f.png"}
    value = {"--seed": "-1", "--plot-cells": "-1", "--port": "99999"}[option]
    assert main([a.format(**paths) for a in argv] + [option, value]) == 2
    line = _one_error_line(capsys, argv[0])
    assert f"{option} must be" in line and f"not {value}" in line
    assert not list(tmp_path.glob("out*")) and not (tmp_path / "f.png").exists()


def test_a_model_file_that_exits_is_an_error_not_a_silent_success(tmp_path, capsys):
    from sbidic.models import get_model
    from sbidic.models.validation import ModelError

    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(ModelError, match=r"exits\.py, line 2: .*sys\.exit\(0\)"):
        get_model(f"{exits}:Toy")
    with pytest.raises(SystemExit) as info:
        main(["population", "--model", f"{exits}:Toy", "--g-s", "1", "--g-u", "2"])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()  # one line, no usage block
    assert line.startswith("sbidic population: error: argument --model: ")
    assert "exits.py, line 2" in line and "sys.exit(0)" in line


def test_a_file_named_abf_that_is_not_one_says_so(tmp_path, capsys):
    pytest.importorskip("neo")
    fake = tmp_path / "cell.abf"
    fake.write_text("ID,spiking_times\na,100;200;300\n")
    assert main(["infer", str(fake), "--model", "stg", "-n", "2", "--quiet"]) == 2
    line = _one_error_line(capsys, "infer")
    assert "not an ABF file" in line and "stfio" not in line


@pytest.fixture
def no_serving(monkeypatch):
    """The app server never starts: a test that reaches it fails instead of serving."""
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("shiny")

    def refuse(self, *args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)


def test_app_on_a_busy_port_is_one_line_before_serving(capsys, no_serving):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port), "--no-browser"]) == 2
    captured = capsys.readouterr()
    assert "serving on" not in captured.out
    assert captured.err.strip() == (
        f"sbidic app: error: cannot serve on 127.0.0.1:{port}: Address already in use"
    )


def test_ctrl_c_during_infer_is_one_line_exit_130(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    rec = tmp_path / "rec.csv"
    times = ", ".join(str(100 * k) for k in range(1, 30))
    rec.write_text(f'ID,spiking_times\na,"[{times}]"\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "sbidic.cli", "infer", str(rec), "--model", "stg",
            "-n", "100000", "--seed", "0", "--progress"]  # fmt: skip
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            first = proc.stderr.readline()  # "reading ...": main is running
            assert "sbidic infer: reading" in first, first
            proc.send_signal(signal.SIGINT)
            err = proc.stderr.read()
            proc.wait(timeout=120)
        except BaseException:
            proc.kill()  # nothing left behind
            raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "sbidic infer: interrupted" in err.splitlines()[-1]


@pytest.mark.parametrize("delay_s", [0.5, 1.0])
def test_ctrl_c_while_the_command_loads_is_one_line_exit_130(tmp_path, delay_s):
    """Ctrl-C early, while the command's modules are still being imported: one line."""
    import os
    import signal
    import subprocess
    import sys
    import time

    times = ", ".join(str(100 * k) for k in range(1, 30))
    rec = tmp_path / "rec.csv"
    rec.write_text(f'ID,spiking_times\na,"[{times}]"\n')
    argv = [sys.executable, "-m", "sbidic.cli", "infer", str(rec), "--model", "stg",
            "-n", "100000", "--seed", "0"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            time.sleep(delay_s)
            proc.send_signal(signal.SIGINT)
            err = proc.stderr.read()
            proc.wait(timeout=120)
        except BaseException:
            proc.kill()
            raise
    assert "Traceback" not in err, err
    assert proc.returncode == 130, err
    assert "interrupted" in err


def test_infer_spread_ranges_keeps_cells_in_the_ranges_and_is_refused_for_npe(tmp_path, capsys):
    from pathlib import Path

    from sbidic.models import get_model

    recordings = str(Path(__file__).resolve().parents[1] / "sbidic/examples/stg_recordings.csv")
    out = tmp_path / "wide.nc"
    assert main(["infer", recordings, "--model", "stg", "-n", "30", "--seed", "0",
                 "--spread", "ranges", "-o", str(out)]) == 0  # fmt: skip
    g = load_population(out).conductances
    model = get_model("stg")
    low, high = np.array([model.conductance_ranges[c] for c in model.conductances]).T
    assert ((g >= low) & (g <= high)).all()
    capsys.readouterr()
    assert main(["infer", recordings, "--model", "stg", "--estimator-kind", "npe",
                 "--spread", "ranges", "-o", str(tmp_path / "npe.nc")]) == 2  # fmt: skip
    assert "--spread applies to the DIC method" in capsys.readouterr().err


def test_infer_proposal_is_for_verify_of_the_dic_method(tmp_path, capsys):
    from pathlib import Path

    recordings = str(Path(__file__).resolve().parents[1] / "sbidic/examples/stg_recordings.csv")
    base = ["infer", recordings, "--model", "stg", "-n", "2", "--proposal", "npe"]
    assert main(base) == 2
    assert "--proposal applies to --verify" in capsys.readouterr().err
    assert main([*base, "--verify", "--estimator-kind", "npe"]) == 2
    assert "--proposal applies to --verify" in capsys.readouterr().err


def test_a_proposal_of_another_model_is_refused():
    import sbidic

    npe = sbidic.load_pretrained("da", estimator="npe", conditioner="features")
    with pytest.raises(ValueError, match="the proposal draws conductances"):
        sbidic.load_pretrained("stg", proposal=npe)
    with pytest.raises(ValueError, match="proposal must be 'npe'"):
        sbidic.load_pretrained("stg", proposal="flow")
    assert sbidic.load_pretrained("stg", proposal="npe").proposal.model.name == "stg"
    with pytest.raises(ValueError, match="proposal, spread apply to the DIC posterior"):
        sbidic.load_pretrained("stg", estimator="npe", spread="ranges", proposal="npe")
