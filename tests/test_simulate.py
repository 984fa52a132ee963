"""Tests of sbidic.simulate: Brian2 simulation, spike detection and noise.

Fast tests use short runs; ``-m slow`` checks every converged reference case of both
models over the full published protocol against the accuracy targets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbidic.models import ConductanceModel, available_models, get_model
from sbidic.population import sample_populations
from sbidic.simulate import (
    PROTOCOLS,
    BandLimitedNoise,
    SimulationResult,
    butterworth_lowpass,
    codegen_target,
    default_integration,
    simulate,
    std_ratio,
)
from sbidic.simulate.noise import cell_rng
from sbidic.spikes import spike_features

DATA = Path(__file__).parent / "data"


def _reference(model: str) -> dict:
    with open(DATA / f"reference_{model}.json") as fh:
        return json.load(fh)


def _case(model: str, name: str) -> dict:
    return next(c for c in _reference(model)["simulation"]["cases"] if c["name"] == name)


def numpy_rule(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Published spike rule on a sampled trace: onsets V[k-1] <= 10 < V[k], ends
    V[k-1] >= 0 > V[k], keep the onsets before the last end; time = t[onset]."""
    onsets = np.flatnonzero((v[:-1] <= 10.0) & (v[1:] > 10.0)) + 1
    ends = np.flatnonzero((v[:-1] >= 0.0) & (v[1:] < 0.0)) + 1
    if onsets.size == 0 or ends.size == 0:
        return np.empty(0)
    return t[onsets[onsets < ends[-1]]]


def features(result: SimulationResult) -> list[dict]:
    """Label, n_spikes, mean ISI, spikes per burst and burst period per cell."""
    f = spike_features(result.spikes)
    keys = ("n_spikes", "mean_isi_ms", "nbr_spikes_bursting", "burst_period_ms")
    return [
        {"label": str(f.label[i]), **{k: float(f[k][i]) for k in keys}}
        for i in range(len(result.spike_list()))
    ]


# ----------------------------------------------------------------------- fixtures
STG_CELLS = ("g_spk", "g_bst", "g_ref", "g_b6")
DA_CELLS = ("burst", "A")


@pytest.fixture(scope="module")
def stg_run() -> SimulationResult:
    g = np.array([_case("stg", n)["g"] for n in STG_CELLS])
    return simulate("stg", g, duration_ms=2500.0, transient_ms=1500.0, record_v=True)


@pytest.fixture(scope="module")
def da_run() -> SimulationResult:
    g = np.array([_case("da", n)["g"] for n in DA_CELLS])
    return simulate("da", g, duration_ms=4000.0, transient_ms=3000.0, record_v=True)


# ------------------------------------------------------------------ simulation
def test_stg_short_run_spikes(stg_run):
    method, dt = default_integration("stg")
    assert stg_run.settings["method"] == method and stg_run.settings["dt_ms"] == dt
    trains = stg_run.spike_list()
    assert all(len(t) > 5 for t in trains)
    for t in trains:
        assert np.all((t > 1500.0) & (t < 2500.0))
        assert np.all(np.diff(t) > 0)
        np.testing.assert_allclose(t / dt, np.round(t / dt), atol=1e-6)  # on the dt grid
    f = features(stg_run)
    spk = _case("stg", "g_spk")["converged"]["features"]
    assert f[0]["label"] == "spiking"
    assert f[0]["mean_isi_ms"] == pytest.approx(spk["mean_isi_ms"], rel=0.01)
    assert f[1]["label"] == "bursting"
    assert f[1]["nbr_spikes_bursting"] == 4.0
    assert stg_run.v_mV.shape == (4, 100000)
    assert stg_run.t_ms[0] == 1500.0 and stg_run.t_ms[-1] == pytest.approx(2500.0 - dt)


def test_da_short_run_spikes(da_run):
    """Phases drift by ~0.04 % over the 3 s transient; the ISIs agree to 0.05 ms."""
    burst, tonic = da_run.spike_list()
    ref_burst = _case("da", "burst")["converged"]["first_8_spike_times"]
    np.testing.assert_allclose(burst[:8], ref_burst, atol=2.0)
    np.testing.assert_allclose(np.diff(burst[:8]), np.diff(ref_burst), atol=0.05)
    assert len(tonic) == 1
    ref_tonic = _case("da", "A")["converged"]["first_8_spike_times"][0]
    assert tonic[0] == pytest.approx(ref_tonic, abs=2.0)


def test_result_object(stg_run):
    spikes = stg_run.spikes
    assert type(spikes).__name__ == "SpikeTrains" or isinstance(spikes, list)
    assert len(stg_run.spike_list()) == stg_run.n_cells == 4
    np.testing.assert_array_equal(stg_run.cell_ids, np.arange(4))
    np.testing.assert_array_equal(stg_run.record_v, np.arange(4))
    assert stg_run.model.name == "stg"
    assert stg_run.settings["transient_ms"] == 1500.0
    assert stg_run.settings["noise"] is None
    assert "n_cells=4" in repr(stg_run)
    if hasattr(spikes, "ids"):
        np.testing.assert_array_equal(spikes.ids, np.arange(4))


@pytest.mark.parametrize("fixture", ["stg_run", "da_run"])
def test_brian_detection_matches_numpy_rule(fixture, request):
    res = request.getfixturevalue(fixture)
    for row, cell in enumerate(res.record_v):
        expected = numpy_rule(res.t_ms, res.v_mV[row])
        got = res.spike_list()[cell]
        assert len(got) == len(expected)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    try:
        from sbidic.spikes import detect_spikes
    except ImportError:
        return
    traces = detect_spikes(res.v_mV, res.t_ms).to_list()
    for row, cell in enumerate(res.record_v):
        np.testing.assert_allclose(res.spike_list()[cell], traces[row], rtol=0, atol=1e-9)


def test_detection_window_edges():
    """Onset as first kept sample, onset just after it, and a spike cut by the end."""
    g = G_STG
    method, dt = default_integration("stg")
    first = simulate("stg", g, duration_ms=300.0, transient_ms=0.0, record_v=[0])
    train = first.spike_list()[0]
    t1 = float(train[train > 50.0][0])
    k = round(t1 / dt)
    assert np.sum((train > t1) & (train < t1 + 20.0)) == 0  # alone in the next 20 ms

    def run(transient_steps: int, duration_steps: int) -> SimulationResult:
        return simulate(
            "stg",
            g,
            duration_ms=duration_steps * dt,
            transient_ms=transient_steps * dt,
            record_v=[0],
        )

    # predecessor of the onset is the first sample: counted
    res = run(k - 1, k + 2000)
    np.testing.assert_allclose(res.spike_list()[0], [t1], atol=1e-9)
    # the onset is the first sample: no upward crossing inside the window
    res = run(k, k + 2000)
    assert len(res.spike_list()[0]) == 0
    np.testing.assert_array_equal(numpy_rule(res.t_ms, res.v_mV[0]), [])
    # the run ends 0.3 ms after the onset, still above 0 mV: the spike is dropped
    res = run(k - 1000, k + 30)
    assert res.v_mV[0, -1] > 0
    assert len(res.spike_list()[0]) == 0
    np.testing.assert_array_equal(numpy_rule(res.t_ms, res.v_mV[0]), [])


class _Driven(ConductanceModel):
    """A voltage clamped to a prescribed wave: repeated 10 mV crossings above 0 mV."""

    name = "driven_test"
    description = "test model"
    conductances = ("leak",)
    state_variables = ("v",)
    constants = {"E_leak": -50.0, "tau_drive": 0.05}
    V_th = -50.0
    equations = """
dv/dt = (v_drive - v) / tau_drive + (I_ext - g_leak * (v - E_leak)) / Cm : volt
v_drive = (-5 + 25 * cos(2 * pi * t / (40 * ms)) + 6 * sin(2 * pi * t / (4 * ms))) * mV : volt
g_leak : siemens/meter**2 (constant)
"""

    def gating(self, V):
        return {}

    def initial_state(self):
        return {"v": 15.0}  # above threshold at t = 0: not an onset

    def dic_terms(self, V, g):
        raise NotImplementedError

    def timescales(self, V):
        raise NotImplementedError

    def compensation_choice(self, g_s, g_u):
        raise NotImplementedError


@pytest.mark.parametrize("transient_ms", [0.0, 30.0])
def test_detection_repeated_crossings_and_initial_state(transient_ms):
    """Every upward 10 mV crossing counts (even without a dip below 0 mV in between),
    the initial supra-threshold state does not, and the trailing onsets are dropped."""
    res = simulate(
        _Driven(),
        [[0.01]],
        duration_ms=200.0,
        transient_ms=transient_ms,
        dt_ms=0.025,
        method="exponential_euler",
        record_v=True,
        codegen="numpy",
    )
    t, v = res.t_ms, res.v_mV[0]
    expected = numpy_rule(t, v)
    got = res.spike_list()[0]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    onsets = np.flatnonzero((v[:-1] <= 10) & (v[1:] > 10)) + 1
    ends = np.flatnonzero((v[:-1] >= 0) & (v[1:] < 0)) + 1
    # the wave really crosses 10 mV several times between two dips below 0 mV
    assert np.max(np.bincount(np.searchsorted(ends, onsets))) > 1
    assert onsets[-1] > ends[-1]  # and ends with onsets after the last end (dropped)
    assert len(got) < len(onsets)
    if transient_ms == 0.0:
        assert v[0] > 10.0 and got[0] > t[0]


def test_diverged_cells_flagged():
    """RK4 blows up when dt exceeds 2.79 times the fastest time constant: here
    tau = 1 / (1/0.05 ms + g_leak / C), stable for g_leak = 0.01, not for 30 mS/cm^2."""
    pytest.importorskip("brian2")  # imported first: it routes warnings to its logger
    with pytest.warns(RuntimeWarning, match="1 of 2 cells diverged"):
        res = simulate(
            _Driven(), [[0.01], [30.0]], duration_ms=50.0, transient_ms=0.0, dt_ms=0.1,
            method="rk4", codegen="numpy",
        )  # fmt: skip
    np.testing.assert_array_equal(res.diverged, [False, True])
    assert len(res.spike_list()[0]) > 0 and len(res.spike_list()[1]) == 0


# ------------------------------------------------------------------ bad input
G_STG = [_case("stg", "g_spk")["g"]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"conductances": [[1.0] * 7]},
            r"expects .*\('Na', 'Kd', 'CaT', 'CaS', 'KCa', 'A', 'H', 'leak'\)",
        ),
        ({"conductances": [G_STG[0], [1.0, -2.0, 1, 1, 1, 1, 1, 1]]}, r"g_Kd of cell 1 is -2\.0"),
        ({"conductances": [[1.0, 1, 1, np.nan, 1, 1, 1, 1]]}, r"g_CaS of cell 0 is nan"),
        ({"conductances": [[1.0, 1, 1, 1, 1, 1, np.inf, 1]]}, r"g_H of cell 0 is inf"),
        ({"conductances": [[0.0] * 8]}, r"every conductance equal to 0"),
        (
            {"duration_ms": 10.0, "transient_ms": 0.0, "dt_ms": 10.0},
            r"dt_ms = 10.0 must be smaller",
        ),
        ({"duration_ms": 100.0, "transient_ms": 100.0}, r"transient_ms = 100.0 must be smaller"),
        ({"duration_ms": 100.0, "transient_ms": -1.0}, r"transient_ms must be >= 0"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "dt_ms": 0.0}, r"dt_ms must be > 0"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "dt_ms": 0.03}, r"whole number of steps"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "method": "rk45"}, r"unknown integration"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "codegen": "cuda"}, r"codegen must be"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "record_v": [3]}, r"record_v indices"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "cell_ids": [-1]}, r"non-negative"),
        ({"duration_ms": 100.0, "transient_ms": 10.0, "n_jobs": 0}, r"n_jobs"),
        ({"duration_ms": float("nan"), "transient_ms": 10.0}, r"duration_ms must be finite"),
    ],
)
def test_bad_input(kwargs, match):
    kwargs = {"conductances": G_STG, **kwargs}
    g = kwargs.pop("conductances")
    with pytest.raises(ValueError, match=match):
        simulate("stg", g, **kwargs)


def test_bad_input_other():
    with pytest.raises(ValueError, match="unknown model"):
        simulate("hh", G_STG)
    with pytest.raises(TypeError, match="BandLimitedNoise"):
        simulate("stg", G_STG, duration_ms=100.0, transient_ms=10.0, noise=5.0)
    with pytest.raises(ValueError, match="exactly one of sigma"):
        BandLimitedNoise()
    with pytest.raises(ValueError, match="exactly one of sigma"):
        BandLimitedNoise(sigma=1.0, std=1.0)
    with pytest.raises(ValueError, match="Nyquist"):
        butterworth_lowpass(0.5)
    with pytest.raises(ValueError, match="seed"):
        simulate(
            "stg", G_STG, duration_ms=100.0, transient_ms=10.0,
            noise=BandLimitedNoise(std=1.0), seed=-3,
        )  # fmt: skip


def test_initial_state_option():
    g = np.array([G_STG[0], np.array(G_STG[0]) * [1, 1, 2, 1, 1, 1, 1, 1]])  # 2x g_CaT
    kw = {"duration_ms": 50.0, "transient_ms": 0.0, "record_v": True}
    published = simulate("stg", g, **kw)
    threshold = simulate("stg", g, initial_state="threshold", **kw)
    assert published.settings["initial_state"] == "published"
    np.testing.assert_allclose(published.v_mV[:, 0], get_model("stg").spec.V0)
    np.testing.assert_allclose(threshold.v_mV[:, 0], get_model("stg").V_th)
    assert threshold.settings["initial_state"] == "threshold"
    state = get_model("stg").steady_state(-51.0, g)
    assert state["Ca"].shape == (2,) and not np.allclose(state["Ca"][0], state["Ca"][1])
    with pytest.raises(ValueError, match="unknown initial_state 'rest'"):
        simulate("stg", g, initial_state="rest", **kw)


def test_default_protocol():
    assert PROTOCOLS["stg"] == (6000.0, 3000.0) and PROTOCOLS["da"] == (12000.0, 3000.0)
    assert PROTOCOLS["stg-liu"] == (13000.0, 3000.0)  # slow pyloric bursts need longer
    assert set(PROTOCOLS) == set(available_models())
    assert default_integration("da") == ("rk4", 0.025)
    assert default_integration(get_model("stg")) == ("exponential_euler", 0.01)


# ----------------------------------------------------------------------- noise
@pytest.mark.parametrize("model", ["stg", "da"])
def test_filter_coefficients_match_reference(model):
    nf = _reference(model)["noise_filter"]
    b, a = butterworth_lowpass(nf["dt_ms_exact"], nf["cutoff_Hz"], nf["order"])
    np.testing.assert_allclose(b, nf["b"], rtol=1e-9)
    np.testing.assert_allclose(a, nf["a"], rtol=1e-9)
    nominal = 0.1 if model == "stg" else 0.05
    wn = round(nf["Wn_exact"], 6)
    b, a = butterworth_lowpass(nominal)
    np.testing.assert_allclose(b, nf[f"b_nominal_Wn_{wn:g}"], rtol=1e-9)
    np.testing.assert_allclose(a, nf[f"a_nominal_Wn_{wn:g}"], rtol=1e-9)
    assert std_ratio(nf["dt_ms_exact"]) == pytest.approx(nf["std_ratio_theoretical"], rel=1e-6)
    ref = BandLimitedNoise.reference(model, sigma=5.0)
    assert ref.dt_ms == nominal
    assert ref.effective_std() == pytest.approx(5 * nf["std_ratio_theoretical"], rel=1e-6)


def test_noise_amplitudes():
    assert std_ratio(0.1) == pytest.approx(0.42458, abs=1e-5)
    assert std_ratio(0.05) == pytest.approx(0.29979, abs=1e-5)
    n = BandLimitedNoise(std=2.0)
    assert n.sigma_at(0.05) == pytest.approx(2.0 / std_ratio(0.05))
    d = n.describe(0.025)
    assert d["std_filtered"] == pytest.approx(2.0)
    assert d["sigma_prefilter"] * d["std_ratio"] == pytest.approx(2.0)
    assert d["noise_dt_ms"] == 0.025


def test_noise_streams():
    noise = BandLimitedNoise(std=2.0)
    a = noise.generate(40001, 0.025, seed=7, cell_ids=[3, 5, 11])
    assert a.shape == (40001, 3)
    # same seed and id: same stream, whatever the batch
    np.testing.assert_array_equal(noise.generate(40001, 0.025, 7, [5])[:, 0], a[:, 1])
    np.testing.assert_array_equal(noise.generate(40001, 0.025, 7, [3, 5, 11]), a)
    # different ids or seeds: different streams
    assert np.corrcoef(a[:, 0], a[:, 1])[0, 1] < 0.1
    b = noise.generate(40001, 0.025, seed=8, cell_ids=[3])
    assert not np.allclose(b[:, 0], a[:, 0])
    # cell c of seed s is child c of SeedSequence(s).spawn(...)
    child = np.random.SeedSequence(7).spawn(6)[5]
    np.testing.assert_array_equal(
        np.random.default_rng(child).standard_normal(5), cell_rng(7, 5).standard_normal(5)
    )
    # stationary with the requested std, from the first sample on (no DC, no edge)
    assert a.std(axis=0) == pytest.approx([2.0, 2.0, 2.0], rel=0.05)
    head, tail = a[:4000], a[-4000:]
    assert head.std() == pytest.approx(2.0, rel=0.15) and tail.std() == pytest.approx(
        2.0, rel=0.15
    )
    assert np.ptp(a[:400, 0]) > 1.0  # the transient sees a fluctuating current


def test_noise_on_coarser_grid():
    """White noise on the reference 0.1 ms grid, interpolated onto a 0.025 ms grid."""
    noise = BandLimitedNoise(sigma=5.0, dt_ms=0.1)
    x = noise.generate(80001, 0.025, seed=1, cell_ids=[0])[:, 0]
    assert x.std() == pytest.approx(5 * 0.42458, rel=0.05)
    coarse = BandLimitedNoise(sigma=5.0, dt_ms=0.1).generate(20001, 0.1, seed=1, cell_ids=[0])
    np.testing.assert_allclose(x[::4], coarse[:, 0], atol=1e-12)


@pytest.fixture(scope="module")
def noisy_runs():
    g = np.array([_case("stg", n)["g"] for n in ("g_spk", "g_bst", "g_ref")])
    kw = {"duration_ms": 300.0, "transient_ms": 50.0, "noise": BandLimitedNoise(std=3.0)}
    rec = {"record_v": [2, 0]}
    used = get_model("stg")  # a model whose caches are filled travels to the workers too
    sample_populations(used, [[-4.0, 5.0]], 2, rng=0)
    return {
        "batch": simulate("stg", g, seed=11, **rec, **kw),
        "again": simulate("stg", g, seed=11, **kw),
        "other_seed": simulate("stg", g, seed=12, **kw),
        "single": simulate("stg", g[1:2], seed=11, cell_ids=[1], **kw),
        "parallel": simulate(used, g, seed=11, n_jobs=2, **rec, **kw),
        "quiet": simulate("stg", g, duration_ms=300.0, transient_ms=50.0),
    }


def _same(a: SimulationResult, b: SimulationResult) -> bool:
    ta, tb = a.spike_list(), b.spike_list()
    return len(ta) == len(tb) and all(np.array_equal(x, y) for x, y in zip(ta, tb, strict=True))


def test_noise_reproducible(noisy_runs):
    r = noisy_runs
    assert _same(r["batch"], r["again"])
    assert not _same(r["batch"], r["other_seed"])
    assert not _same(r["batch"], r["quiet"])
    assert r["batch"].settings["seed"] == 11
    assert r["batch"].settings["noise"]["std_filtered"] == pytest.approx(3.0)


def test_noise_batch_single_and_parallel_identical(noisy_runs):
    """Cell 1 alone (cell_ids=[1]), in a batch, or in a 2-process run: same noise,
    same spikes; the parallel run also returns the recorded traces in order."""
    r = noisy_runs
    np.testing.assert_array_equal(r["single"].spike_list()[0], r["batch"].spike_list()[1])
    par, ser = r["parallel"], r["batch"]
    assert par.settings["n_chunks"] == 2
    assert _same(par, ser)
    np.testing.assert_array_equal(par.record_v, [2, 0])
    np.testing.assert_array_equal(par.v_mV, ser.v_mV)
    np.testing.assert_array_equal(par.t_ms, ser.t_ms)
    assert par.v_mV.shape == (2, len(par.t_ms)) and par.t_ms[0] == 50.0


def test_independent_of_defaultclock_and_global_prefs():
    b2 = pytest.importorskip("brian2")
    kw = {"duration_ms": 200.0, "transient_ms": 50.0}
    ref = simulate("stg", G_STG, **kw)
    old_dt, old_target = b2.defaultclock.dt, b2.prefs.codegen.target
    try:
        b2.defaultclock.dt = 0.5 * b2.ms
        b2.prefs.codegen.target = "numpy"
        res = simulate("stg", G_STG, codegen=codegen_target(), **kw)
        assert b2.prefs.codegen.target == "numpy"  # restored after the call
    finally:
        b2.defaultclock.dt = old_dt
        b2.prefs.codegen.target = old_target
    assert _same(res, ref) and len(ref.spike_list()[0]) > 0


def test_seed_drawn_when_missing():
    res = simulate(
        "stg", G_STG, duration_ms=50.0, transient_ms=10.0, noise=BandLimitedNoise(std=1.0)
    )
    assert isinstance(res.settings["seed"], int)


# ------------------------------------------------------------- slow accuracy
def _accuracy_cases():
    for model in ("stg", "da"):
        for case in _reference(model)["simulation"]["cases"]:
            yield pytest.param(model, case["name"], id=f"{model}-{case['name']}")


@pytest.fixture(scope="module")
def full_runs():
    """Every reference case of a model in one group, default method and step."""
    cache: dict[str, tuple[list[dict], SimulationResult]] = {}

    def get(model: str):
        if model not in cache:
            cases = _reference(model)["simulation"]["cases"]
            res = simulate(model, np.array([c["g"] for c in cases]))
            assert (res.settings["duration_ms"], res.settings["transient_ms"]) == PROTOCOLS[model]
            cache[model] = (cases, res)
        return cache[model]

    return get


@pytest.mark.slow
@pytest.mark.parametrize(("model", "name"), list(_accuracy_cases()))
def test_accuracy_against_converged_reference(full_runs, model, name):
    """Same label, spike count within 1, mean ISI within 1 %, spikes per burst exact,
    burst period within 1 %."""
    cases, res = full_runs(model)
    i = next(j for j, c in enumerate(cases) if c["name"] == name)
    ref = cases[i]["converged"]
    got = features(res)[i]
    assert got["label"] == ref["features"]["label"]
    assert abs(got["n_spikes"] - ref["n_spikes"]) <= 1
    if ref["features"]["mean_isi_ms"]:
        assert got["mean_isi_ms"] == pytest.approx(ref["features"]["mean_isi_ms"], rel=0.01)
    if ref["features"]["label"] == "bursting":
        assert got["nbr_spikes_bursting"] == ref["features"]["nbr_spikes_bursting"]
        assert got["burst_period_ms"] == pytest.approx(
            ref["features"]["burst_period_ms"], rel=0.01
        )


def test_falling_back_to_numpy_codegen_is_loud_and_not_cached_off_the_main_thread(monkeypatch):
    import threading

    import brian2.codegen.runtime.cython_rt as cython_rt

    from sbidic.simulate import brian

    monkeypatch.setattr(brian, "_CODEGEN", {})

    def broken():
        raise ValueError("signal only works in main thread of the main interpreter")

    monkeypatch.setattr(cython_rt.CythonCodeObject, "is_available", staticmethod(broken))
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_codegen_with_warnings(brian)))
    worker.start()
    worker.join()
    target, caught = seen[0]
    assert target == "numpy" and "auto" not in brian._CODEGEN  # retried later
    assert any("signal only works" in str(w.message) for w in caught)
    monkeypatch.undo()
    assert brian.codegen_target() in ("cython", "numpy")


def _codegen_with_warnings(brian):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return brian.codegen_target(), caught


def test_c_programs_freeze_what_exponential_euler_holds_constant_and_nothing_else():
    from brian2 import Equations

    from sbidic.models import get_model
    from sbidic.simulate.brian import frozen_subexpressions

    eqs = Equations(get_model("stg").equations + "\nI_ext = 0*amp/meter**2 : amp/meter**2\n")
    frozen = frozen_subexpressions(eqs)
    taus = {name for name in eqs.names if name.startswith("tau_")}
    assert len(taus) == 11 and frozen == taus | {"I_ext"}  # never a current v enters
