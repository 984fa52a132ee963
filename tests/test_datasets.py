"""Training datasets: sampling, splits by target, storage, kill-and-resume, Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sbidic.datasets import (
    DatasetSpec,
    dataset_status,
    generate_dataset,
    latin_hypercube_targets,
    load_dataset,
    monte_carlo_conductances,
)
from sbidic.datasets.sampling import split_of
from sbidic.dics import dynamic_input_conductances
from sbidic.models import get_model
from sbidic.spikes import SpikeTrains, spike_features

SHORT = {"duration_ms": 800.0, "transient_ms": 200.0}


def test_latin_hypercube_targets_cover_the_box_once_per_stratum():
    t = latin_hypercube_targets("da", 50, seed=1)
    box = get_model("da").target_box
    strata_s = np.floor((t[:, 0] - box["g_s"][0]) / 25 * 50).astype(int)
    strata_u = np.floor((t[:, 1] - box["g_u"][0]) / 20 * 50).astype(int)
    assert sorted(strata_s) == list(range(50)) and sorted(strata_u) == list(range(50))
    np.testing.assert_array_equal(t, latin_hypercube_targets("da", 50, seed=1))


def test_splits_are_by_target_and_follow_the_fractions():
    groups = np.repeat(np.arange(500), 16)
    split = split_of(groups, 500, seed=0)
    for g in (0, 17, 499):
        assert len(set(split[groups == g])) == 1
    counts = {s: (split[::16] == s).sum() for s in ("train", "validation", "test")}
    assert counts == {"train": 400, "validation": 50, "test": 50}
    with pytest.raises(ValueError, match="sum to 1"):
        split_of(groups, 500, 0, fractions=(0.5, 0.1, 0.1))


def test_monte_carlo_conductances_stay_in_their_ranges():
    model = get_model("stg")
    g = monte_carlo_conductances(model, 2000, np.random.default_rng(0))
    hi = np.array([model.monte_carlo_ranges[c][1] for c in model.conductances])
    assert ((g >= 0) & (g <= hi)).all()
    gamma = monte_carlo_conductances(model, 20000, np.random.default_rng(0), "gamma")
    np.testing.assert_allclose(gamma.mean(0), hi / 2, rtol=0.05)
    with pytest.raises(ValueError, match="uniform"):
        monte_carlo_conductances(model, 2, np.random.default_rng(0), "normal")


def test_monte_carlo_conductances_over_the_plausible_ranges():
    model = get_model("stg")
    g = monte_carlo_conductances(model, 4000, np.random.default_rng(0), ranges="plausible")
    low, high = np.array([model.conductance_ranges[c] for c in model.conductances]).T
    assert ((g >= low) & (g <= high)).all()
    np.testing.assert_allclose(g.mean(0), (low + high) / 2, rtol=0.05)
    # the Monte Carlo box puts most cells below a plausible lower bound
    mc = monte_carlo_conductances(model, 4000, np.random.default_rng(0))
    assert ((mc < low).any(1)).mean() > 0.5
    with pytest.raises(ValueError, match="ranges must be one of"):
        monte_carlo_conductances(model, 2, np.random.default_rng(0), ranges="wide")
    with pytest.raises(ValueError, match="ranges must be one of"):
        DatasetSpec("stg", n_targets=2, mode="mc", ranges="wide")


def test_a_manifest_without_ranges_is_a_monte_carlo_ranges_dataset(tmp_path):
    import json

    spec = DatasetSpec("stg", n_targets=4, mode="mc", targets_per_chunk=4)
    data = json.loads(spec.to_json())
    assert data.pop("ranges") == "monte_carlo"  # manifests written before the field
    assert DatasetSpec.from_json(json.dumps(data)) == spec
    plausible = DatasetSpec("stg", n_targets=4, mode="mc", targets_per_chunk=4,
                            ranges="plausible")  # fmt: skip
    assert DatasetSpec.from_json(plausible.to_json()) == plausible != spec


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "stg"
    spec = DatasetSpec("stg", n_targets=4, cells_per_target=3, targets_per_chunk=2, **SHORT)
    generate_dataset(root, spec, n_jobs=1, progress=False)
    return root, spec


def test_dic_dataset_stores_populations_that_reach_their_targets(small_dataset):
    root, spec = small_dataset
    ds = load_dataset(root)
    assert ds.sizes["train"] == 12
    g = ds["conductances"].values
    dics = dynamic_input_conductances("stg", g)
    np.testing.assert_allclose(dics[:, 1:], ds["target"].values, atol=1e-6)
    np.testing.assert_array_equal(np.bincount(ds["target_index"].values), [3, 3, 3, 3])


def test_stored_labels_and_features_match_the_stored_spike_trains(small_dataset):
    ds = load_dataset(small_dataset[0])
    trains = SpikeTrains.from_dataset(ds)
    feats = spike_features(trains)
    np.testing.assert_array_equal(feats.label_code, ds["label_code"].values)
    np.testing.assert_allclose(feats.mean_isi_ms, ds["mean_isi_ms"].values)
    assert (trains.times >= SHORT["transient_ms"]).all()


def test_split_selection_keeps_whole_targets(small_dataset):
    root, _ = small_dataset
    parts = [load_dataset(root, split=s) for s in ("train", "validation", "test")
             if (load_dataset(root)["split"] == s).any()]  # fmt: skip
    seen = [set(p["target_index"].values.tolist()) for p in parts]
    assert sum(len(s) for s in seen) == 4 and len(set().union(*seen)) == 4


def test_every_split_is_stored_and_loaded(tmp_path):
    spec = DatasetSpec("stg", n_targets=20, cells_per_target=1, targets_per_chunk=20, **SHORT)
    generate_dataset(tmp_path / "s", spec, n_jobs=1, progress=False)
    sizes = {s: load_dataset(tmp_path / "s", split=s).sizes["train"]
             for s in ("train", "validation", "test")}  # fmt: skip
    assert sizes == {"train": 16, "validation": 2, "test": 2}
    import xarray as xr

    with xr.open_dataset(next((tmp_path / "s" / "chunks").glob("*.nc"))) as ds:
        assert sorted(np.bincount(ds["split_code"].values).tolist()) == [2, 2, 16]


def test_rerun_is_idempotent_and_a_different_spec_is_refused(small_dataset):
    root, spec = small_dataset
    assert generate_dataset(root, spec, n_jobs=1, progress=False) == []
    other = DatasetSpec("stg", n_targets=5, cells_per_target=3, targets_per_chunk=2, **SHORT)
    with pytest.raises(ValueError, match="different dataset"):
        generate_dataset(root, other, n_jobs=1, progress=False)


def test_monte_carlo_dataset_reports_silent_cells(tmp_path):
    spec = DatasetSpec("da", n_targets=6, mode="mc", targets_per_chunk=6, **SHORT)
    generate_dataset(tmp_path / "mc", spec, n_jobs=1, progress=False)
    status = dataset_status(tmp_path / "mc")
    assert status["cells"] == 6 and status["chunks_done"] == 1
    assert 0.0 <= status["silent_fraction"] <= 1.0
    assert np.isnan(load_dataset(tmp_path / "mc")["target"].values).all()


def test_integration_blow_ups_are_flagged_not_silently_labelled(tmp_path):
    import xarray as xr

    # rk4 at 0.05 ms is past its stability limit on most DA cells
    spec = DatasetSpec("da", n_targets=4, cells_per_target=4, targets_per_chunk=4,
                       duration_ms=600.0, transient_ms=100.0, dt_ms=0.05,
                       method="rk4")  # fmt: skip
    with pytest.warns(RuntimeWarning, match="diverged"):
        generate_dataset(tmp_path / "d", spec, n_jobs=1, progress=False)
    ds = load_dataset(tmp_path / "d")
    flag = ds["diverged"].values
    assert set(np.unique(flag)) <= {0, 1} and flag.sum() > 0
    assert (ds["label_code"].values[flag == 1] == 0).all()
    status = dataset_status(tmp_path / "d")
    assert status["diverged_cells"] == int(flag.sum())
    assert status["chunks_without_diverged_flag"] == 0
    # chunks written before the flag existed load with -1 ("not recorded")
    path = next((tmp_path / "d" / "chunks").glob("*.nc"))
    with xr.open_dataset(path) as old:
        old = old.load().drop_vars("diverged")
    old.to_netcdf(path)
    assert (load_dataset(tmp_path / "d")["diverged"].values == -1).all()
    status = dataset_status(tmp_path / "d")
    assert status["chunks_without_diverged_flag"] == 1 and status["diverged_cells"] == 0


def test_bad_dataset_spec_is_rejected():
    with pytest.raises(ValueError, match="unknown model"):
        DatasetSpec("hh", n_targets=3)
    with pytest.raises(ValueError, match="n_targets must be a positive integer"):
        DatasetSpec("stg", n_targets=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        DatasetSpec("stg", n_targets=3, mode="grid")


def _command(out: Path) -> list[str]:
    return [
        sys.executable, "-m", "sbidic.cli", "dataset", "--model", "stg", "--targets", "6",
        "--cells-per-target", "2", "--chunk-targets", "1", "--duration", "800",
        "--transient", "200", "--seed", "5", "--jobs", "1", "-o", str(out),
    ]  # fmt: skip


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_dataset(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(killed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list(killed.glob("chunks/chunk_*.nc"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(list(killed.glob("chunks/chunk_*.nc")))
    assert 2 <= n_before < 6, "the run should be killed part-way"
    subprocess.run(_command(killed), env=env, check=True, capture_output=True)
    clean = tmp_path / "clean"
    subprocess.run(_command(clean), env=env, check=True, capture_output=True)
    a, b = load_dataset(killed), load_dataset(clean)
    assert a.sizes["train"] == 12
    assert a.equals(b)
    assert not list(killed.glob("chunks/*.tmp*"))
    assert dataset_status(killed)["content_sha256"] == dataset_status(clean)["content_sha256"]


@pytest.mark.slow  # starts a local Dask cluster (about 30 s)
def test_chunks_run_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    spec = DatasetSpec("stg", n_targets=2, cells_per_target=2, targets_per_chunk=1, **SHORT)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        generate_dataset(tmp_path / "dask", spec, scheduler=cluster.scheduler_address,
                         progress=False)  # fmt: skip
    generate_dataset(tmp_path / "local", spec, n_jobs=1, progress=False)
    assert load_dataset(tmp_path / "dask").equals(load_dataset(tmp_path / "local"))
    other = tmp_path / "other_seed"
    generate_dataset(other, DatasetSpec("stg", n_targets=2, cells_per_target=2,
                                        targets_per_chunk=1, seed=1, **SHORT),
                     n_jobs=1, progress=False)  # fmt: skip
    hashes = {dataset_status(p)["content_sha256"] for p in (tmp_path / "dask", tmp_path / "local")}
    assert len(hashes) == 1 and dataset_status(other)["content_sha256"] not in hashes


def test_firing_atlas_holds_the_labels_of_every_cell(small_dataset, tmp_path):
    from sbidic.cli import main
    from sbidic.datasets import build_firing_atlas
    from sbidic.fidelity import FiringAtlas

    root, spec = small_dataset
    atlas = build_firing_atlas(root, split="train")
    ds = load_dataset(root, split="train")
    assert atlas.n_targets == len(np.unique(ds["target_index"].values))
    assert atlas.label.shape == (atlas.n_targets, spec.cells_per_target)
    assert sorted(atlas.label.ravel().tolist()) == sorted(ds["label_code"].values.tolist())
    out = tmp_path / "atlas.safetensors"
    assert main(["atlas", str(root), "-o", str(out)]) == 0
    np.testing.assert_array_equal(FiringAtlas.load(out).targets, atlas.targets.astype(np.float32))
    assert main(["atlas", str(tmp_path), "-o", str(out)]) == 2  # not a dataset


def test_training_on_a_dataset_too_small_to_split_says_how_many_targets(tmp_path, capsys):
    from sbidic.cli import main

    spec = DatasetSpec("stg", n_targets=3, cells_per_target=1, targets_per_chunk=3, **SHORT)
    generate_dataset(tmp_path / "tiny", spec, n_jobs=1, progress=False)
    code = main(["train", str(tmp_path / "tiny"), "-o", str(tmp_path / "est"), "--epochs", "1"])
    assert code == 2
    assert "at least 10 targets" in capsys.readouterr().err


def test_subset_dataset_links_the_first_chunks(tmp_path):
    from pathlib import Path

    from sbidic.datasets import load_dataset, subset_dataset

    root = Path(__file__).resolve().parents[1] / "data" / "stg_dic_v1"
    sub = subset_dataset(root, 2, tmp_path / "sub")
    assert sorted(p.name for p in (sub / "chunks").iterdir()) == [
        "chunk_00000.nc", "chunk_00001.nc"]  # fmt: skip
    assert load_dataset(sub).sizes["train"] == 2 * 32 * 16
    with pytest.raises(ValueError, match="n_chunks"):
        subset_dataset(root, 0, tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="no finished chunks"):
        subset_dataset(tmp_path, 1)
