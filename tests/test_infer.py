"""Shipped estimators, ``sbidic.infer`` and ``sbidic infer``: recordings in, populations out."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import sbidic
from sbidic.cli import main
from sbidic.dics import dynamic_input_conductances
from sbidic.inference import (
    ConductancePosterior,
    SpikeTruncationWarning,
    available_pretrained,
    infer,
    load_pretrained,
)
from sbidic.inference.pretrained import available_regimes, model_card, pretrained_dir
from sbidic.spikes import SpikeTrains, read_spike_csv

EXAMPLES = Path(str(resources.files("sbidic") / "examples"))
TONIC = np.arange(0.0, 3000.0, 100.0)
BURSTS = np.concatenate([b + np.array([0.0, 8.0, 16.0, 24.0]) for b in range(0, 3000, 500)])


@pytest.fixture(scope="module")
def stg():
    return load_pretrained("stg", rng=0)


def test_shipped_weights_have_complete_model_cards():
    assert {"stg", "da"} <= set(available_pretrained())
    regimes = [(name, r) for name in available_pretrained() for r in available_regimes(name)]
    assert ("stg", "noisy") in regimes
    for name, regime in regimes:
        files = {p.name for p in pretrained_dir(name, regime).iterdir() if p.is_file()}
        assert {"weights.safetensors", "config.json", "model_card.json", "model_card.md",
                "firing_atlas.safetensors"} <= files  # fmt: skip
        assert not any(f.endswith((".pt", ".pth", ".pkl", ".bin")) for f in files)
        card = model_card(name, regime)
        for key in ("data", "command", "seed", "wall_time_s", "metrics"):
            assert key in card, f"{name} model card lacks {key!r}"
        assert card["model"] == name and card["n_parameters"] <= 200_000
        test = card["test_metrics"]  # written by benchmarks/bench_estimator.py
        assert test["split"] == "test" and test["test_time_perturbation"] == "none"
        for name_, perturbed in card.get("perturbed_test_metrics", {}).items():
            assert perturbed["test_time_perturbation"] == name_ != "none"
        assert {row["class"] for row in test["by_class"]} >= {"all", "spiking", "bursting"}


def test_noisy_regime_estimator_simulates_under_its_training_noise():
    from sbidic.inference.infer import _simulation_settings

    noisy = load_pretrained("stg", regime="noisy")
    assert noisy.noise_sigma == 5.0 and noisy.atlas is not None
    settings = _simulation_settings({"n_jobs": 1}, noisy, seed=3)
    assert settings["noise"].sigma == 5.0 and settings["seed"] == 3
    assert "noise" not in _simulation_settings(None, load_pretrained("stg"), seed=3)
    with pytest.raises(ValueError, match="'loud' recordings"):
        load_pretrained("stg", regime="loud")


def test_unknown_pretrained_model_is_a_clear_error():
    with pytest.raises(ValueError, match="no pretrained estimator for model 'hh'"):
        load_pretrained("hh")


def test_load_pretrained_gives_a_ready_conductance_posterior(stg):
    assert isinstance(stg, ConductancePosterior) and stg.model.name == "stg"
    assert sbidic.load_pretrained is load_pretrained
    torch.manual_seed(0)
    g, draws = stg.sample((50,), x=BURSTS, return_dics=True)
    assert g.shape == (50, 8) and bool((g >= 0).all())
    achieved = dynamic_input_conductances(stg.model, g.numpy())[:, 1:]
    np.testing.assert_allclose(achieved, draws.numpy(), atol=1e-6)


def test_infer_reports_every_recording_and_samples_the_active_ones():
    long = np.arange(0.0, 30000.0, 100.0)  # 30 s: ten of the network's 3 s windows
    dense = np.arange(0.0, 2990.0, 10.0)  # 299 spikes in one window
    with pytest.warns(SpikeTruncationWarning, match="first 250 spikes"):
        res = infer([TONIC, [10.0, 500.0], BURSTS, long, dense], "stg", n=20,
                    ids=["tonic", "two", "bursts", "long", "dense"], seed=1)  # fmt: skip
    rep = res.report
    assert rep["obs_id"].tolist() == ["tonic", "two", "bursts", "long", "dense"]
    assert rep["label"].tolist() == ["spiking", "silent", "bursting", "spiking", "spiking"]
    assert rep["status"].tolist() == [
        "ok", "silent: fewer than 3 spikes", "ok",
        "windows: 9 x 3 s pooled, 270 of 300 spikes used",
        "truncated: first 250 of 299 spikes used",
    ]  # fmt: skip
    assert rep["n_cells"].tolist() == [20, 0, 20, 20, 20]
    assert rep.loc[1, ["g_s_mean", "g_u_sd"]].isna().all()
    active = rep.drop(index=1)
    assert (active["g_s_q05"] <= active["g_s_mean"]).all()
    assert (active["g_s_mean"] <= active["g_s_q95"]).all() and (active["g_u_sd"] > 0).all()
    pop = res.population
    assert pop.obs_id.tolist() == ["tonic", "bursts", "long", "dense"]
    assert pop.conductances.shape == (4, 20, 8) and (pop.conductances >= 0).all()
    assert np.nanmax(pop.residual) < 1e-6


def test_infer_is_reproducible_with_a_seed():
    a = infer([BURSTS], "stg", n=10, seed=3)
    b = infer([BURSTS], "stg", n=10, seed=3)
    c = infer([BURSTS], "stg", n=10, seed=4)
    np.testing.assert_array_equal(a.population.conductances, b.population.conductances)
    assert a.report.equals(b.report)
    assert not np.array_equal(a.population.conductances, c.population.conductances)


@pytest.mark.parametrize(
    ("times", "problem"),
    [
        ([0.0, 20.0, 10.0], "is before spike 1"),
        ([0.0, 10.0, 10.0], "repeats"),
        ([-5.0, 10.0, 20.0], "negative"),
        ([0.0, np.nan, 20.0], "not finite"),
    ],
)
def test_invalid_spike_times_name_the_recording(times, problem):
    with pytest.raises(ValueError, match=rf"id='bad'.*{problem}"):
        infer([TONIC, times], "stg", n=5, ids=["good", "bad"])


def test_one_recording_padded_arrays_and_lists_agree():
    padded = np.full((2, len(TONIC)), np.nan)
    padded[0], padded[1, : len(BURSTS)] = TONIC, BURSTS
    forms = [infer([TONIC, BURSTS], "stg", n=3, seed=0), infer(padded, "stg", n=3, seed=0),
             infer(torch.from_numpy(np.nan_to_num(padded, nan=-1.0)), "stg", n=3, seed=0)]
    for other in forms[1:]:
        np.testing.assert_array_equal(other.population.conductances,
                                      forms[0].population.conductances)  # fmt: skip
    one = infer(list(TONIC), "stg", n=3, seed=0)  # a flat list is one recording
    assert len(one.report) == 1 and one.report["n_spikes"][0] == len(TONIC)


def test_empty_input_and_bad_n_are_clear_errors():
    with pytest.raises(ValueError, match="no recordings given"):
        infer([], "stg", n=5)
    with pytest.raises(ValueError, match="n .cells per recording. must be >= 1"):
        infer([TONIC], "stg", n=0)


def test_all_silent_recordings_still_give_a_report(tmp_path):
    res = infer(SpikeTrains.from_list([[1.0], []], ids=[7, 8]), "stg", n=5)
    assert res.population is None and res.report["n_cells"].tolist() == [0, 0]
    res.save(tmp_path / "silent.nc")
    tree = xr.open_datatree(tmp_path / "silent.nc")
    assert tree["recordings"]["status"].values.tolist() == ["silent: fewer than 3 spikes"] * 2


def test_infer_command_writes_a_datatree_with_a_recordings_group(tmp_path, capsys):
    out = tmp_path / "populations.nc"
    rc = main(["infer", str(EXAMPLES / "stg_recordings.csv"), "--model", "stg", "-n", "30",
               "--seed", "0", "-o", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "cell_silent" in text and "silent: fewer than 3 spikes" in text and "bursting" in text
    tree = xr.open_datatree(out)
    ids = read_spike_csv(EXAMPLES / "stg_recordings.csv").ids
    assert tree["recordings"]["recording"].values.tolist() == [str(i) for i in ids]
    post = tree["posterior"]
    assert post["g_CaS"].dims == ("chain", "draw", "obs_id") and post.sizes["draw"] == 30
    assert "cell_silent" not in post["obs_id"].values.tolist()


def test_infer_command_csv_output_and_report(tmp_path, capsys):
    out = tmp_path / "populations.csv"
    assert main(["infer", str(EXAMPLES / "stg_recordings.csv"), "--model", "stg", "-n", "4",
                 "--seed", "0", "-o", str(out)]) == 0  # fmt: skip
    rows = out.read_text().splitlines()
    assert rows[0].split(",")[:2] == ["ID", "g_Na"] and len(rows) == 1 + 5 * 4
    report = (tmp_path / "populations_report.csv").read_text()
    assert "cell_silent" in report and "g_s_q95" in report


def test_infer_command_names_a_malformed_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text('ID,spiking_times\na,"[1.0, 2.0, 3.0]"\nb,"[1.0, x, 3.0]"\n')
    assert main(["infer", str(bad), "--model", "stg"]) == 2
    assert "line 3" in capsys.readouterr().err


def test_infer_command_rejects_an_estimator_of_another_model(tmp_path, capsys):
    rc = main(["infer", str(EXAMPLES / "stg_recordings.csv"), "--model", "da",
               "--estimator", str(pretrained_dir("stg"))])  # fmt: skip
    assert rc == 2 and "trained for model 'stg', not 'da'" in capsys.readouterr().err


def test_model_card_metrics_are_json(stg):
    card = json.loads((pretrained_dir("stg") / "model_card.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        json.dumps(card)
    assert card["metrics"]["best_val_nll"] < 7.0  # below the uniform prior's log(800)


@pytest.mark.parametrize("model", available_pretrained())
def test_shipped_network_covers_the_bundled_examples(model):
    """The bundled recordings were simulated at known (g_s, g_u): the 95 % posterior
    intervals should contain the truth, and bursting should be read as bursting."""
    path = EXAMPLES / f"{model}_recordings.csv"
    truth = np.genfromtxt(EXAMPLES / f"{model}_targets.csv", delimiter=",", names=True,
                          dtype=None, encoding="utf-8")  # fmt: skip
    trains = read_spike_csv(path)
    active = trains.n_spikes >= 3
    est = load_pretrained(model).estimator
    torch.manual_seed(0)
    draws = est.sample(2000, trains[np.flatnonzero(active)]).numpy()
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=0)
    true = np.stack([truth["g_s"], truth["g_u"]], 1)[active]
    inside = (true >= lo) & (true <= hi)
    assert inside.mean() >= 0.8, f"truth inside the 95 % intervals: {inside.tolist()}"


def test_seeded_netcdf_outputs_hold_identical_values(tmp_path):
    """A seed reproduces the values of a .nc output; its bytes differ (creation time)."""
    paths = []
    for k in range(2):
        paths.append(tmp_path / f"run{k}.nc")
        assert main(["infer", str(EXAMPLES / "stg_recordings.csv"), "--model", "stg", "-n", "5",
                     "--seed", "7", "-o", str(paths[-1])]) == 0  # fmt: skip
    a, b = (xr.open_datatree(p) for p in paths)
    for group in ("posterior", "dics", "recordings"):
        xr.testing.assert_equal(a[group].to_dataset(), b[group].to_dataset())


def test_infer_command_progress_bar_only_when_asked(capsys):
    rec = str(EXAMPLES / "stg_recordings.csv")
    assert main(["infer", rec, "--model", "stg", "-n", "2", "--progress"]) == 0
    assert "6/6" in capsys.readouterr().err  # every recording, the silent one included
    assert main(["infer", rec, "--model", "stg", "-n", "2", "--quiet"]) == 0
    assert "6/6" not in capsys.readouterr().err
    assert main(["infer", rec, "--model", "stg", "-n", "2"]) == 0  # stderr is no terminal
    assert "6/6" not in capsys.readouterr().err


def test_posteriors_have_documented_priors(stg):
    from sbi.utils import BoxUniform

    dic_prior = stg.dic_posterior.prior
    assert isinstance(dic_prior, BoxUniform)
    np.testing.assert_allclose(dic_prior.support.base_constraint.lower_bound, [-20.0, 0.0])
    g = stg.prior.sample((7,))
    assert g.shape == (7, 8) and (g >= 0).all()
    dics = dynamic_input_conductances("stg", g.numpy())
    assert ((dics[:, 1] >= -20) & (dics[:, 1] <= 20)).all()
    with pytest.raises(NotImplementedError, match="dic_posterior"):
        stg.prior.log_prob(g)


def _mixed_recordings() -> SpikeTrains:
    trains = [TONIC, [5.0, 900.0], BURSTS, TONIC + 7.0, [1.0], BURSTS + 3.0, TONIC * 1.5]
    return SpikeTrains.from_list(trains, ids=[f"r{i}" for i in range(len(trains))])


@pytest.mark.parametrize("score", [False, True])
def test_streamed_parts_are_the_whole_result(tmp_path, score):
    from sbidic.inference import ResultWriter, iter_infer

    recs = _mixed_recordings()
    if score:  # simulating is slow: two batches, one with a silent recording
        recs = recs[np.arange(4)]
    kwargs = dict(n=3, seed=4, batch_size=2, score=score,
                  simulation={"duration_ms": 1000.0, "transient_ms": 200.0})  # fmt: skip
    whole = sbidic.infer(recs, "stg", **kwargs)
    parts = list(iter_infer(recs, "stg", **kwargs))
    assert [len(p.report) for p in parts] == [2, 2, 2, 1][: len(parts)]
    assert parts[0].population.n_targets == 1  # r1 is silent
    joined = sbidic.inference.InferenceResult.concatenate(parts)
    assert joined.report.equals(whole.report)
    np.testing.assert_array_equal(joined.population.conductances, whole.population.conductances)
    for suffix in (".nc", ".csv"):
        with ResultWriter(tmp_path / f"streamed{suffix}") as out:
            for part in parts:
                out.write(part)
        assert out.report.equals(whole.report)
        saved = whole.save(tmp_path / f"whole{suffix}")
        assert [Path(p).name.replace("whole", "streamed") for p in saved] == [
            Path(p).name for p in out.written
        ]
        if suffix == ".csv":  # byte-identical CSV files
            for a, b in zip(saved, out.written, strict=True):
                assert Path(a).read_bytes() == Path(b).read_bytes()
            continue
        with xr.open_datatree(saved[0]) as a, xr.open_datatree(out.written[0]) as b:
            assert set(a.groups) == set(b.groups)
            for group in a.groups[1:]:
                xr.testing.assert_equal(a[group].to_dataset(), b[group].to_dataset())
    if score:  # fidelity rows point at their recording in the joined population
        rec = whole.population.fidelity.recording
        np.testing.assert_array_equal(rec, np.arange(rec.shape[0])[:, None] + 0 * rec)


def test_streamed_batches_leave_no_garbage_behind():
    """Each batch's unreachable reference cycles are collected before it is yielded, so
    a long run's memory does not grow with the cycles libraries leave behind."""
    import gc

    from sbidic.inference import iter_infer

    gc.collect()
    gc.disable()
    try:
        for part in iter_infer(_mixed_recordings(), "stg", n=2, seed=0, batch_size=2):
            assert part.report is not None
            assert gc.collect() == 0
    finally:
        gc.enable()


def test_result_writer_leaves_nothing_after_an_error(tmp_path):
    from sbidic.inference import ResultWriter, iter_infer

    for suffix in (".nc", ".csv"):
        out = ResultWriter(tmp_path / f"x{suffix}")
        with pytest.raises(RuntimeError, match="stop"), out:
            for i, part in enumerate(iter_infer(_mixed_recordings(), "stg", n=2, batch_size=2)):
                out.write(part)
                if i == 1:
                    raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_all_silent_streams_write_only_the_report(tmp_path):
    from sbidic.inference import ResultWriter, iter_infer

    recs = SpikeTrains.from_list([[1.0], [2.0, 3.0]], ids=["a", "b"])
    with ResultWriter(tmp_path / "s.nc") as out:
        for part in iter_infer(recs, "stg", n=2, batch_size=1):
            out.write(part)
    with xr.open_datatree(out.written[0]) as tree:
        assert list(tree.children) == ["recordings"]
        assert list(tree["recordings"]["status"].values) == ["silent: fewer than 3 spikes"] * 2


def test_infer_command_prints_the_first_rows_of_a_long_report(tmp_path, capsys):
    recs = SpikeTrains.from_list([TONIC + i for i in range(45)], ids=[f"r{i}" for i in range(45)])
    sbidic.spikes.write_spikes(recs, tmp_path / "many.csv")
    assert main(["infer", str(tmp_path / "many.csv"), "--model", "stg", "-n", "2", "--seed", "0",
                 "-o", str(tmp_path / "p.nc")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "r19 " in out and "r20 " not in out
    assert "... and 25 more recordings" in out
    with xr.open_datatree(tmp_path / "p.nc") as tree:
        assert tree["recordings"].sizes["recording"] == 45
        assert tree["posterior"].sizes["obs_id"] == 45


def test_concurrent_calls_with_one_seed_give_the_cells_of_a_call_alone():
    """Each call draws from its own generator: two calls at once (two app tabs) and
    another user of torch's global generator change nothing."""
    import threading

    alone = infer([BURSTS, TONIC], "stg", n=30, seed=5)
    results = [None, None]
    stop = threading.Event()

    def reseeding():  # someone else using torch's global generator meanwhile
        while not stop.is_set():
            torch.manual_seed(123)
            torch.rand(1000)

    def run(i):
        results[i] = infer([BURSTS, TONIC], "stg", n=30, seed=5)

    other = threading.Thread(target=reseeding)
    calls = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    other.start()
    for t in calls:
        t.start()
    for t in calls:
        t.join()
    stop.set()
    other.join()
    for res in results:
        np.testing.assert_array_equal(res.population.conductances, alone.population.conductances)
