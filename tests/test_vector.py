"""The vector kernel (sbidic.simulate.vector) against Brian2, the reference.

Every model the project ships or documents (stg, stg-liu, da and the Pospischil user
file) fires the same on the vector kernel as on Brian2's runtime device, on the
simulator's accuracy criteria: label, spike count within 1, mean ISI and burst period
within 1 %, spikes per burst exact. Its exp is checked against the C library's.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sbidic.models import get_model
from sbidic.simulate import simulate
from sbidic.simulate import vector as vector_module
from sbidic.spikes import spike_features

DATA = Path(__file__).parent / "data"
POSPISCHIL = f"{Path(__file__).parent.parent / 'examples/models/pospischil.py'}:Pospischil"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "vector-cache"))


def _reference_cells(model: str) -> np.ndarray:
    cases = json.loads((DATA / f"reference_{model}.json").read_text())["simulation"]["cases"]
    return np.array([c["g"] for c in cases])


def _cells(model: str) -> tuple[np.ndarray, float, float]:
    """Conductances of a few cells of every firing type, and (duration, transient) ms."""
    if model in ("stg", "da"):
        g = _reference_cells(model)
        return (g, 2500.0, 1500.0) if model == "stg" else (g, 5000.0, 3000.0)
    if model == "stg-liu":  # slow bursters and tonic cells of the shipped survey
        from sbidic.fidelity.survey_cells import SurveyCells

        survey = SurveyCells.load(Path(__file__).parent.parent
                                  / "sbidic/weights/stg-liu/survey_cells.safetensors")  # fmt: skip
        picks = [int(np.flatnonzero(survey.label == label)[k])
                 for label in (2, 1) for k in (0, 1, 2)]  # 2: bursting, 1: spiking
        return survey.conductances[picks], 4000.0, 2000.0
    rs = [56.0, 6.0, 0.075, 0.0, 0.0205]
    ib = [50.0, 5.0, 0.03, 0.2, 0.01]
    return np.array([rs, ib]), 1500.0, 500.0


def _agree(a: dict, b: dict) -> str:
    """Empty when two cells' features meet the accuracy criteria, else why not."""
    if a["label"] != b["label"]:
        return f"label {a['label']} vs {b['label']}"
    if abs(a["n_spikes"] - b["n_spikes"]) > 1:
        return f"spike count {a['n_spikes']} vs {b['n_spikes']}"
    for key in ("mean_isi_ms", "burst_period_ms"):
        if np.isfinite(a[key]) and not abs(a[key] - b[key]) <= 0.01 * abs(b[key]):
            return f"{key} {a[key]} vs {b[key]}"
    if np.isfinite(a["spb"]) and a["spb"] != b["spb"]:
        return f"spikes per burst {a['spb']} vs {b['spb']}"
    return ""


def _features(result) -> list[dict]:
    f = spike_features(result.spikes)
    return [{"label": str(f.label[i]), "n_spikes": float(f.n_spikes[i]),
             "mean_isi_ms": float(f.mean_isi_ms[i]),
             "burst_period_ms": float(f.burst_period_ms[i]),
             "spb": float(f.nbr_spikes_bursting[i])} for i in range(len(f.label))]  # fmt: skip


@pytest.mark.parametrize("model", ["stg", "stg-liu", "da", POSPISCHIL])
def test_the_vector_kernel_fires_like_brian2(model):
    g, duration, transient = _cells(model)
    kwargs = {"duration_ms": duration, "transient_ms": transient, "record_v": [0]}
    fast = simulate(model, g, device="vector", **kwargs)
    reference = simulate(model, g, device="runtime", **kwargs)
    assert fast.settings["device"] == "vector"
    assert not fast.diverged.any()
    fired = 0
    for k, (a, b) in enumerate(zip(_features(fast), _features(reference), strict=True)):
        assert not _agree(a, b), f"cell {k}: {_agree(a, b)}"
        fired += a["n_spikes"] > 0
    assert fired >= 2  # the comparison is about firing, not only silence
    # the same voltage as Brian2 to well under a millivolt before any spike time drifts
    np.testing.assert_allclose(fast.v_mV[0, :200], reference.v_mV[0, :200], atol=1e-6)


def test_spike_times_follow_the_published_rule_on_the_recorded_trace():
    g, duration, transient = _cells("stg")
    res = simulate("stg", g, device="vector", duration_ms=duration, transient_ms=transient,
                   record_v=True)  # fmt: skip
    for row, cell in enumerate(res.record_v):
        v = res.v_mV[row]
        onsets = np.flatnonzero((v[:-1] <= 10.0) & (v[1:] > 10.0)) + 1
        ends = np.flatnonzero((v[:-1] >= 0.0) & (v[1:] < 0.0)) + 1
        expected = res.t_ms[onsets[onsets < ends[-1]]] if ends.size else np.empty(0)
        np.testing.assert_allclose(res.spike_list()[cell], expected, rtol=0, atol=1e-9)


def test_a_full_spike_buffer_is_drained_and_the_run_goes_on(monkeypatch):
    """Runs resume from the cells' state between calls: a tiny spike buffer and short
    calls give the same trains as one long call."""
    g, duration, transient = _cells("stg")
    kwargs = {"device": "vector", "duration_ms": duration, "transient_ms": transient}
    whole = simulate("stg", g, **kwargs).spike_list()
    monkeypatch.setattr(vector_module, "_STEPS_PER_CALL", 777)
    monkeypatch.setattr(vector_module, "_MIN_SPIKE_BUFFER", 8)
    pieces = simulate("stg", g, **kwargs).spike_list()
    assert sum(map(len, whole)) > 50
    for a, b in zip(whole, pieces, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [True, False])
def test_chunks_threads_and_processes_do_not_change_a_cell(threads, monkeypatch):
    from sbidic.simulate import simulation

    monkeypatch.setattr(simulation, "_VECTOR_THREADS", threads)
    g, duration, transient = _cells("stg")
    g = np.concatenate([g, g[::-1]])
    kwargs = {"device": "vector", "duration_ms": 1500.0, "transient_ms": 500.0}
    one = simulate("stg", g, **kwargs).spike_list()
    seen = []
    two = simulate("stg", g, n_jobs=2, progress=seen.append, **kwargs)
    assert two.settings["n_chunks"] == 2 and seen[-1] == pytest.approx(1.0)
    for a, b in zip(one, two.spike_list(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_cancelled_chunk_stops_between_calls():
    import threading

    from sbidic.simulate.simulation import _initial_state

    model = get_model("stg")
    g, _, _ = _cells("stg")
    cancel = threading.Event()
    cancel.set()
    task = {"model": model, "conductances": g, "initial": _initial_state(model, g, "published"),
            "dt_ms": 0.01, "n_total": 10_000, "n_trans": 10, "method": "exponential_euler",
            "noise": None, "applied_current": 0.0, "record": None, "cancel": cancel}  # fmt: skip
    with pytest.raises(KeyboardInterrupt, match="cancelled"):
        vector_module.run_vector_chunk(task)


def test_noise_is_refused_by_name_and_auto_runs_it_on_brian2():
    from sbidic.simulate import BandLimitedNoise

    g, _, _ = _cells("stg")
    with pytest.raises(ValueError, match="device 'vector' does not simulate noise"):
        simulate("stg", g[:1], device="vector", noise=BandLimitedNoise(std=1.0), seed=0,
                 duration_ms=200.0, transient_ms=100.0)  # fmt: skip
    res = simulate("stg", g[:1], noise=BandLimitedNoise(std=1.0), seed=0, duration_ms=200.0,
                   transient_ms=100.0)  # fmt: skip
    assert res.settings["device"] == "runtime"


def test_auto_uses_the_vector_kernel_when_built_or_worth_a_build(tmp_path, monkeypatch):
    from sbidic.simulate import simulation

    monkeypatch.setattr(vector_module, "_LOADED", {})
    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path))  # nothing built
    g, _, _ = _cells("stg")
    short = {"duration_ms": 300.0, "transient_ms": 100.0}
    assert simulate("stg", g[:1], **short).settings["device"] == "runtime"  # build > run
    assert not list(tmp_path.rglob("vector-*.so"))
    long = simulate("stg", g[:1], duration_ms=6000.0, transient_ms=5900.0)
    assert long.settings["device"] == "vector" and long.settings["build_s"] > 0
    assert simulate("stg", g[:2], **short).settings["device"] == "vector"  # now built
    monkeypatch.setattr(simulation, "_NO_VECTOR", ["no compiler"])  # Brian2's devices
    assert simulate("stg", g[:2], **short).settings["device"] == "runtime"


def _exp_library(tmp_path: Path, function: str = "sb_exp"):
    source = vector_module._PRELUDE + (
        "void apply(int64_t n, const double *x, double *y) {\n"
        f" for (int64_t i = 0; i < n; i += LANES) vstore(y + i, {function}(vload(x + i)));\n}}\n"
    )
    (tmp_path / "e.c").write_text(source)
    compiler = vector_module._compiler()
    subprocess.run([compiler, *vector_module.CFLAGS, str(tmp_path / "e.c"), "-o",
                    str(tmp_path / "e.so"), "-lm"], check=True)  # fmt: skip
    lib = ctypes.CDLL(str(tmp_path / "e.so"))
    lib.apply.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    return lib.apply


def test_the_kernels_exp_is_within_2_ulp_of_the_c_librarys(tmp_path):
    apply = _exp_library(tmp_path)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745.0, 709.43, 200_000), rng.uniform(-1, 1, 100_000),
                        [0.0, -0.0, 1e-300, 709.43, -745.1, 710.0, 1000.0, -746.0, -1000.0,
                         np.inf, -np.inf, np.nan, 0.5, 0.5, 0.5, 0.5]])  # fmt: skip
    assert len(x) % vector_module.LANES == 0
    y = np.empty_like(x)
    apply(len(x), x.ctypes.data, y.ctypes.data)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    normal = np.isfinite(ref) & (ref > np.finfo(float).tiny)
    ulp = np.abs(y[normal] - ref[normal]) / np.spacing(ref[normal])
    assert ulp.max() <= 2.0
    assert y[-7] == np.inf and y[-6] == 0.0 and np.isnan(y[-5])  # inf, -inf, nan
    assert y[x == 1000.0][0] == np.inf and y[x == -1000.0][0] == 0.0
    assert np.all(y[(x < -708.4) & np.isfinite(x)] == 0.0)  # subnormal results flush to 0
    assert np.all(y[x > 709.44] == np.inf)  # and results above 2^1023 * 1.41 overflow
    assert y[x == 0.0].tolist() == [1.0, 1.0]


def test_the_kernels_exprel_is_accurate_through_zero(tmp_path):
    apply = _exp_library(tmp_path, "sb_exprel")
    x = np.concatenate([np.linspace(-0.05, 0.05, 40_001)[:-1], [-30.0, -1.0, 1.0, 30.0]])
    y = np.empty_like(x)
    apply(len(x), x.ctypes.data, y.ctypes.data)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.where(x == 0.0, 1.0, np.expm1(x) / x)
    np.testing.assert_allclose(y, ref, rtol=1e-13)


def test_the_kernel_source_is_generated_from_the_equations_not_written_per_model():
    """Every model goes through the same generator: its states appear as arrays, and
    a model the kernel cannot express is refused with the reason."""
    from sbidic.simulate.simulation import _initial_state

    for name in ("stg", "da"):
        model = get_model(name)
        g = np.ones((1, len(model.conductances)))
        method, dt = model.integration
        initial = _initial_state(model, g, "published")
        task = {"model": model, "conductances": g, "initial": initial, "dt_ms": dt,
                "n_total": 100, "n_trans": 10, "method": method, "noise": None,
                "applied_current": 0.0, "record": None}  # fmt: skip
        source, order = vector_module.kernel_source(task)
        assert set(model.initial_state()) <= set(order)
        assert {f"g_{c}" for c in model.conductances} <= set(order)
        assert "vload(_a_v + i)" in source  # cells in the vector lanes


def test_a_dask_cluster_runs_the_chunks_with_the_same_results(tmp_path):
    """``scheduler=`` (and ``sbidic simulate --scheduler``) send chunks of cells to a
    Dask cluster's workers; the trains equal a local run's."""
    distributed = pytest.importorskip("distributed")
    from sbidic.cli import main

    g, _, _ = _cells("stg")
    kwargs = {"device": "vector", "duration_ms": 1000.0, "transient_ms": 500.0}
    local = simulate("stg", g, **kwargs)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                 dashboard_address=None) as cluster,  # fmt: skip
        distributed.Client(cluster) as client,
    ):
        remote = simulate("stg", g, scheduler=client, **kwargs)
        assert remote.settings["n_chunks"] == 4  # two per worker thread
        for a, b in zip(local.spike_list(), remote.spike_list(), strict=True):
            np.testing.assert_array_equal(a, b)
        pop = tmp_path / "g.csv"
        pop.write_text("ID,g_Na,g_Kd,g_CaT,g_CaS,g_KCa,g_A,g_H,g_leak\n"
                       + "".join(f"{k}," + ",".join(map(repr, row.tolist())) + "\n"
                                 for k, row in enumerate(g)))  # fmt: skip
        out = tmp_path / "sims.csv"
        assert main(["simulate", str(pop), "--model", "stg", "--device", "vector",
                     "--duration", "1000", "--transient", "500", "--scheduler",
                     cluster.scheduler_address, "-o", str(out)]) in (0, None)  # fmt: skip
    from sbidic.spikes import read_spikes

    cli = read_spikes(out).to_list()
    for a, b in zip(local.spike_list(), cli, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_built_kernel_runs_without_importing_brian2(tmp_path):
    """The kernel is indexed by what it depends on, computed without Brian2: a new
    process runs a built kernel without its 2-3 s import; a damaged index is rebuilt."""
    import os
    import sys

    env = {**os.environ, "SBIDIC_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    script = (
        "import sys, numpy as np\n"
        "from sbidic.simulate import simulate\n"
        "g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])\n"
        "r = simulate('stg', g, duration_ms=300.0, transient_ms=100.0, device='vector')\n"
        "print(len(r.spike_list()[0]), 'brian2' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]  # fmt: skip
    assert runs[0][1] == "True" and runs[1] == [runs[0][0], "False"]
    (index,) = tmp_path.rglob("vector-*.json")
    index.write_text("{not json")
    again = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split()  # fmt: skip
    assert again == [runs[0][0], "True"]  # generated again with Brian2, same trains


def test_a_kernel_loaded_from_another_cache_still_runs(tmp_path, monkeypatch):
    """A kernel this process loaded from one cache directory runs when the cache
    directory changes (it was a FileNotFoundError writing the index)."""
    g, _, _ = _cells("stg")
    kwargs = {"device": "vector", "duration_ms": 300.0, "transient_ms": 100.0}
    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path / "a"))
    first = simulate("stg", g[:2], **kwargs).spike_list()
    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path / "b"))  # empty, not even created
    second = simulate("stg", g[:2], **kwargs).spike_list()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_dataset_made_on_the_vector_kernel_matches_brian2s(tmp_path):
    """``sbidic dataset --device vector``: the chunks hold the same cells, labels and
    spike counts (within 1) as the runtime device's."""
    from sbidic.datasets.generate import DatasetSpec, generate_dataset
    from sbidic.datasets.store import load_dataset

    spec = DatasetSpec(model="stg", n_targets=4, cells_per_target=2, duration_ms=1000.0,
                       transient_ms=500.0, targets_per_chunk=2)  # fmt: skip
    made = {}
    for device in ("vector", "runtime"):
        generate_dataset(tmp_path / device, spec, n_jobs=1, progress=False, device=device)
        made[device] = load_dataset(tmp_path / device)
    a, b = made["vector"], made["runtime"]
    np.testing.assert_array_equal(a["conductances"], b["conductances"])
    np.testing.assert_array_equal(a["label_code"], b["label_code"])
    assert np.all(np.abs(np.asarray(a["n_spikes"]) - np.asarray(b["n_spikes"])) <= 1)
    assert np.asarray(a["n_spikes"]).sum() > 0


def test_an_index_naming_a_library_outside_its_cache_is_not_followed(tmp_path, monkeypatch):
    """Only the cache's own ``vector-<key>.so`` files are loaded: an index that names
    another path (``../``) is treated as damaged and the kernel generated again."""
    import json
    import shutil

    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(vector_module, "_LOADED", {})  # built into this cache, indexed
    g, _, _ = _cells("stg")
    kwargs = {"device": "vector", "duration_ms": 300.0, "transient_ms": 100.0}
    first = simulate("stg", g[:2], **kwargs).spike_list()
    (index,) = tmp_path.rglob("vector-*.json")
    info = json.loads(index.read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(index.parent / info["library"], elsewhere / info["library"])
    index.write_text(json.dumps({**info, "library": f"../../elsewhere/{info['library']}"}))
    loaded = []
    load = vector_module._load
    monkeypatch.setattr(vector_module, "_load", lambda path: loaded.append(path) or load(path))
    monkeypatch.setattr(vector_module, "_LOADED", {})
    again = simulate("stg", g[:2], **kwargs).spike_list()
    assert loaded and all(path.parent == index.parent for path in loaded)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
