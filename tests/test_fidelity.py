"""Fidelity scores against hand-computed cases, the van Rossum distance, verified
populations on a tiny budget, and the fidelity group of the population DataTree."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import sbidic
from sbidic.cli import main
from sbidic.fidelity import (
    FidelityCriteria,
    mid_range_tau,
    recording_summary,
    score_trains,
    van_rossum_distance,
)
from sbidic.inference.verify import VerifyBudget, dic_targets
from sbidic.spikes import SpikeTrains, read_spike_csv

EXAMPLES = Path(str(resources.files("sbidic") / "examples"))


def tonic(rate_hz: float, duration_ms: float = 3000.0, start: float = 0.0) -> np.ndarray:
    return start + np.arange(0.0, duration_ms, 1000.0 / rate_hz)


def bursts(n_spikes: int, period_ms: float, n_bursts: int = 8, isi_ms: float = 10.0):
    one = np.arange(n_spikes) * isi_ms
    return np.concatenate([b * period_ms + one for b in range(n_bursts)])


# ------------------------------------------------------------------ van Rossum
def test_van_rossum_closed_forms():
    tau = 5.0
    x = SpikeTrains.from_list([[0.0], [0.0, 10.0], [0.0, 20.0], [3.0, 7.0]])
    y = SpikeTrains.from_list([[], [0.0, 14.0], [0.0, 20.0], [10.0, 14.0]])
    d = van_rossum_distance(x, y, tau)
    # one spike alone: 1 / (2 tau); second spikes 4 ms apart: (1 - exp(-4 / tau)) / tau;
    # identical trains and shifted copies (both start at 0): 0
    np.testing.assert_allclose(d, [1 / (2 * tau), (1 - np.exp(-4 / tau)) / tau, 0.0, 0.0],
                               atol=1e-15)  # fmt: skip


def test_van_rossum_matches_the_binned_sum_of_the_paper():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 500, 12))
    b = np.sort(rng.uniform(0, 500, 9))
    tau, dt = 7.0, 0.01
    grid = np.arange(0.0, 700.0, dt)

    def trace(t):
        s = t - t[0]
        lag = grid[:, None] - s[None]
        return np.where(lag >= 0, np.exp(-np.clip(lag, 0, None) / tau) / tau, 0.0).sum(1)

    binned = np.sum((trace(a) - trace(b)) ** 2) * dt
    exact = van_rossum_distance(SpikeTrains.from_list([a]), SpikeTrains.from_list([b]), tau)
    np.testing.assert_allclose(exact, binned, rtol=2e-3)


def test_van_rossum_window_and_bad_tau():
    x = SpikeTrains.from_list([[0.0, 100.0], [0.0, 1.0]])
    y = SpikeTrains.from_list([[0.0], [0.0, 1.0]])
    d = van_rossum_distance(x, y, [10.0, np.nan], duration_ms=50.0)
    assert d[0] == 0.0  # the second spike of x lies outside the 50 ms window
    assert np.isnan(d[1])
    with pytest.raises(ValueError, match="pair up"):
        van_rossum_distance(x, y[[0]], 1.0)


def test_mid_range_tau_is_the_mean_of_the_extreme_isis():
    st = SpikeTrains.from_list([[0.0, 10.0, 40.0, 45.0], [1.0], []])
    np.testing.assert_array_equal(mid_range_tau(st), [(30.0 + 5.0) / 2, np.nan, np.nan])


# ---------------------------------------------------------------------- scores
def test_tonic_rate_tolerance_is_relative_and_inclusive():
    rec = SpikeTrains.from_list([tonic(10.0)])
    cells = SpikeTrains.from_list([tonic(10.0), tonic(10.9), tonic(11.2), tonic(9.2), []])
    s = score_trains(rec, cells, np.zeros(5, dtype=int))
    np.testing.assert_allclose(s.rate_error[:4], [0.0, 0.09, 0.12, -0.08], atol=1e-9)
    np.testing.assert_array_equal(s.passed, [True, True, False, True, False])
    np.testing.assert_array_equal(s.failed_feature, ["", "", "rate", "", "class"])
    np.testing.assert_allclose(s.mismatch[:4], [0.0, 0.9, 1.2, 0.8], atol=1e-9)
    assert np.isinf(s.mismatch[4])


def test_bursting_criteria_spikes_per_burst_and_period():
    rec = SpikeTrains.from_list([bursts(4, 200.0)])
    cells = SpikeTrains.from_list([
        bursts(4, 215.0),  # period +7.5 %: pass
        bursts(4, 230.0),  # period +15 %: fail
        bursts(5, 200.0),  # one spike more per burst: fail
        tonic(20.0),  # tonic: class mismatch
    ])  # fmt: skip
    s = score_trains(rec, cells, [0, 0, 0, 0])
    np.testing.assert_array_equal(s.class_match, [True, True, True, False])
    np.testing.assert_array_equal(s.passed, [True, False, False, False])
    np.testing.assert_array_equal(
        s.failed_feature, ["", "burst_period", "spikes_per_burst", "class"]
    )
    np.testing.assert_allclose(s.burst_period_error[:3], [0.075, 0.15, 0.0])
    np.testing.assert_allclose(s.spikes_per_burst_error[:3], [0.0, 0.0, 1.0])
    # duty cycle: burst duration 30 ms / period 200 ms
    np.testing.assert_allclose(s.duty_cycle[2], 40.0 / 200.0)
    np.testing.assert_allclose(s.duty_cycle_error[0], 30.0 / 215.0 - 30.0 / 200.0)


def test_class_criterion_and_custom_tolerances():
    rec = SpikeTrains.from_list([tonic(10.0)])
    cells = SpikeTrains.from_list([tonic(15.0)])
    assert not score_trains(rec, cells, [0]).passed[0]
    assert score_trains(rec, cells, [0], FidelityCriteria(criterion="class")).passed[0]
    assert score_trains(rec, cells, [0], FidelityCriteria(rate_tolerance=0.6)).passed[0]
    with pytest.raises(ValueError, match="criterion"):
        FidelityCriteria(criterion="shape")
    with pytest.raises(ValueError, match="rate_tolerance"):
        FidelityCriteria(rate_tolerance=0.0)


def test_burst_features_the_recording_lacks_are_not_checked():
    rec = SpikeTrains.from_list([bursts(3, 500.0, n_bursts=2)])  # no interior burst
    cells = SpikeTrains.from_list([bursts(6, 150.0)])
    s = score_trains(rec, cells, [0])
    assert s.class_match[0] and s.passed[0]


def test_score_trains_checks_its_index():
    rec = SpikeTrains.from_list([tonic(10.0)])
    with pytest.raises(ValueError, match="one entry per cell"):
        score_trains(rec, rec, [0, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        score_trains(rec, rec, [1])


def test_recording_summary_names_the_feature_out_of_reach():
    recs = SpikeTrains.from_list([bursts(4, 300.0), tonic(10.0)])
    cells = SpikeTrains.from_list([bursts(4, 185.0), bursts(4, 190.0), tonic(10.0), []])
    s = score_trains(recs, cells, [0, 0, 1, 1])
    out = recording_summary(s, recs)
    np.testing.assert_array_equal(out["n_scored"], [2, 2])
    np.testing.assert_array_equal(out["n_passed"], [0, 1])
    np.testing.assert_array_equal(out["out_of_reach"], ["burst_period", ""])
    assert "burst period 190 ms vs 300 ms (-37 %)" in out["adequacy"][0]
    assert out["adequacy"][1] == ""
    np.testing.assert_allclose(out["best_mismatch"], [(1 - 190 / 300) / 0.1, 0.0])


# ------------------------------------------------------------------ strategies
def test_dic_strategies():
    draws = np.random.default_rng(0).normal(size=(50, 3, 2))
    mean = draws.mean(0)
    np.testing.assert_allclose(dic_targets(draws, 5, "mean"), np.broadcast_to(mean, (5, 3, 2)))
    np.testing.assert_array_equal(dic_targets(draws, 5, "posterior"), draws[:5])
    shrunk = dic_targets(draws, 5, "shrunk", 0.25)
    np.testing.assert_allclose(shrunk - mean, 0.25 * (draws[:5] - mean))
    with pytest.raises(ValueError, match="dics must be one of"):
        dic_targets(draws, 5, "mode")


# ---------------------------------------------------------------- verification
SHORT = {"duration_ms": 2000.0, "transient_ms": 1000.0}


@pytest.fixture(scope="module")
def verified():
    recs = read_spike_csv(EXAMPLES / "stg_recordings.csv")[[0]]  # a tonic STG recording
    impossible = SpikeTrains.from_list([bursts(40, 2500.0, n_bursts=3, isi_ms=5.0)],
                                       ids=["impossible"])  # fmt: skip
    both = SpikeTrains.concatenate([recs, impossible])
    return both, sbidic.infer(both, "stg", n=3, seed=1, verify=True,
                              budget=VerifyBudget(max_cells=6), simulation=SHORT)  # fmt: skip


def test_verify_returns_passing_cells_within_the_budget(verified):
    recs, res = verified
    pop = res.population
    assert pop.conductances.shape == (2, 3, 8)
    f = pop.fidelity
    assert f.shape == (2, 3)
    rep = res.report.set_index("obs_id")
    assert (rep["n_simulated"] <= 6).all() and (rep["n_simulated"] >= 3).all()
    # cells marked as passing really pass when simulated again
    again = sbidic.fidelity.score_population(pop, recs, **SHORT)
    np.testing.assert_array_equal(again.passed[f.passed], True)
    assert rep.loc["impossible", "n_passed"] == 0
    assert "not reproduced" in rep.loc["impossible", "adequacy"]
    assert "out of reach" in rep.loc["impossible", "adequacy"]
    g = pop.conductances[list(pop.obs_id).index(recs.ids[0])]
    spread = np.mean([c.std() / c.mean() for c in g.T if c.mean() > 0])
    assert rep.loc[recs.ids[0], "conductance_cv"] == pytest.approx(spread)  # its diversity
    from sbidic.models import get_model

    ranges = list(get_model("stg").conductance_ranges.values())
    span = np.mean([(min(c.max(), hi) - max(c.min(), lo)) / (hi - lo)
                    for c, (lo, hi) in zip(g.T, ranges, strict=True)])  # fmt: skip
    assert rep.loc[recs.ids[0], "range_coverage"] == pytest.approx(span)
    eig = np.linalg.eigvalsh(np.cov(np.log(g), rowvar=False))
    eig = eig[eig > 1e-12 * eig.max()]
    assert rep.loc[recs.ids[0], "log_volume"] == pytest.approx(0.5 * np.log(eig).mean())


class _FixedProposal:
    """An NPE posterior stand-in whose every draw is the same conductance set."""

    def __init__(self, g):
        self.g, self.calls = np.asarray(g, dtype=float), []

    def sample_in_prior(self, n, x):
        import torch

        self.calls.append((n, x.n_trains))
        g = np.broadcast_to(self.g, (n, x.n_trains, len(self.g)))
        return torch.from_numpy(g.copy()), np.ones(x.n_trains)


def test_verify_starts_cells_from_the_proposal_compensated_to_their_targets(monkeypatch):
    import sbidic.inference.verify as verify
    from sbidic.population import seed_population

    monkeypatch.setattr(verify, "PROPOSAL_SHARE", 1.0)
    recs = read_spike_csv(EXAMPLES / "stg_recordings.csv")[[0]]
    g0 = seed_population("stg", 1, rng=3)[0]
    proposal = _FixedProposal(g0)
    posterior = sbidic.load_pretrained("stg", proposal=proposal)
    res = sbidic.infer(recs, posterior, n=3, seed=1, verify=True,
                       budget=VerifyBudget(max_cells=4), simulation=SHORT)  # fmt: skip
    assert proposal.calls and proposal.calls[0][1] == 1
    g = res.population.conductances[0]
    same = np.isclose(g, g0, rtol=1e-12).sum(1)
    assert (same >= 6).any()  # two conductances compensated, the others the proposal's
    assert (res.population.residual <= 1e-10).all()  # every cell meets its DIC target
    # without a proposal the cells are the sampler's: none shares six conductances with g0
    plain = sbidic.infer(recs, "stg", n=3, seed=1, verify=True,
                         budget=VerifyBudget(max_cells=4), simulation=SHORT)  # fmt: skip
    assert (np.isclose(plain.population.conductances[0], g0, rtol=1e-12).sum(1) < 6).all()


def test_verify_keeps_fidelity_in_datatree_and_files(verified, tmp_path):
    _, res = verified
    res.save(tmp_path / "pop.nc")
    back = sbidic.load_population(tmp_path / "pop.nc")
    np.testing.assert_array_equal(back.fidelity.passed, res.population.fidelity.passed)
    np.testing.assert_allclose(back.fidelity.rate_hz, res.population.fidelity.rate_hz)
    written = res.save(tmp_path / "pop.csv")
    assert [Path(p).name for p in written] == ["pop.csv", "pop_report.csv", "pop_fidelity.csv"]
    import pandas as pd

    table = pd.read_csv(written[2])
    assert len(table) == 6 and {"ID", "cell", "passed", "failed_feature"} <= set(table.columns)


def test_score_keeps_every_cell(verified):
    recs, _ = verified
    res = sbidic.infer(recs[[0]], "stg", n=2, seed=0, score=True, simulation=SHORT)
    assert res.population.fidelity.shape == (1, 2)
    assert res.report["n_simulated"].tolist() == [2]


@pytest.mark.parametrize("proposal", [[], ["--proposal", "npe"]])
def test_infer_command_verify(tmp_path, capsys, proposal):
    out = tmp_path / "pop.csv"
    code = main(["infer", str(EXAMPLES / "stg_recordings.csv"), "--model", "stg", "-n", "1",
                 "--seed", "0", "--verify", "--max-cells", "1", "--duration", "2000",
                 "--transient", "1000", "-o", str(out), *proposal])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "model adequacy" in text
    assert (tmp_path / "pop_fidelity.csv").exists()


# ----------------------------------------------------------------------- atlas
def _atlas():
    from sbidic.fidelity import FiringAtlas

    nan = np.nan
    return FiringAtlas(
        model="stg",
        targets=np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]),
        label=np.array([[1, 1], [1, 0], [2, 2], [2, -1]], dtype=np.int8),
        rate=np.array([[10.0, 10.5], [12.0, nan], [40.0, 40.0], [30.0, nan]], np.float32),
        spb=np.array([[nan, nan], [nan, nan], [4.0, 6.0], [4.2, nan]], np.float32),
        period=np.array([[nan, nan], [nan, nan], [200.0, 200.0], [205.0, nan]], np.float32),
    )


def test_atlas_match_probability_is_the_share_of_passing_neighbour_cells(tmp_path):
    from sbidic.fidelity import FiringAtlas
    from sbidic.fidelity.scores import summarize
    from sbidic.spikes import spike_features

    atlas = _atlas()
    recs = SpikeTrains.from_list([tonic(10.0), bursts(4, 200.0)])
    rec = summarize(spike_features(recs, fill_value=np.nan))
    # candidates near targets 0, 1, 2 and 3; each compared with its own recording
    dics = np.array([[0.5, 0.5], [9.5, 0.5], [0.5, 9.5], [9.5, 9.5]])
    owner = np.array([0, 0, 1, 1])
    p = atlas.match_probability(dics, {k: v[owner] for k, v in rec.items()}, k=1)
    # target 0: both tonic cells within 10 %; target 1: 12 Hz fails, one silent;
    # target 2: 6 spikes per burst fails; target 3: the missing cell does not count
    np.testing.assert_allclose(p, [1.0, 0.0, 0.5, 1.0])
    # candidates pointing at their recording share its comparisons: same shares
    np.testing.assert_array_equal(atlas.match_probability(dics, rec, owner=owner, k=1), p)
    many = np.repeat(dics, 3, axis=0)
    np.testing.assert_array_equal(
        atlas.match_probability(many, rec, owner=np.repeat(owner, 3), k=2),
        atlas.match_probability(many, {k: v[np.repeat(owner, 3)] for k, v in rec.items()}, k=2),
    )
    with pytest.raises(ValueError, match="owner"):
        atlas.match_probability(dics, rec, owner=owner[:2], k=1)
    p2 = atlas.match_probability(dics[:1], {k: v[:1] for k, v in rec.items()}, k=2)
    np.testing.assert_allclose(p2, [0.5])  # targets 0 and 1 pooled: 2 of 4 cells
    atlas.save(tmp_path / "a.safetensors")
    back = FiringAtlas.load(tmp_path / "a.safetensors")
    assert back.model == "stg"
    np.testing.assert_array_equal(back.label, atlas.label)
    np.testing.assert_allclose(back.match_probability(dics, {k: v[owner] for k, v in rec.items()},
                                                      k=1), p)  # fmt: skip


def test_atlas_shares_are_the_same_when_candidates_are_handled_in_parts():
    from sbidic.fidelity.scores import summarize
    from sbidic.spikes import spike_features

    atlas = _atlas()
    recs = SpikeTrains.from_list([tonic(10.0), bursts(4, 200.0), tonic(12.0)])
    rec = summarize(spike_features(recs, fill_value=np.nan))
    rng = np.random.default_rng(0)
    dics = rng.uniform(-2, 12, size=(300, 2))
    owner = np.tile(np.arange(3), 100)  # draws interleaved, as infer passes them
    whole = atlas.match_shares(dics, rec, owner=owner, k=2)
    for candidates in (1, 7, 100, 299):
        parts = atlas.match_shares(dics, rec, owner=owner, k=2, candidates=candidates)
        for key in ("class_match", "feature_match"):
            np.testing.assert_array_equal(parts[key], whole[key])


def test_calibrated_dics_need_an_atlas():
    post = sbidic.load_pretrained("stg")
    post.atlas = None
    with pytest.raises(ValueError, match="firing atlas"):
        sbidic.infer([tonic(10.0)], post, n=2, dics="calibrated")
    res = sbidic.infer([tonic(10.0)], post, n=2, seed=0)  # auto falls back to the mean
    assert res.population.n_cells == 2
    assert sbidic.load_pretrained("stg").atlas is not None


def test_recordings_are_processed_in_bounded_batches(verified):
    recs, _ = verified
    three = SpikeTrains.concatenate([recs, recs[[0]]])
    three = SpikeTrains(three.times, three.offsets, ids=["a", "b", "c"])
    seen = []
    res = sbidic.infer(three, "stg", n=2, seed=0, batch_size=2, verify=True,
                       budget=VerifyBudget(max_cells=3), simulation=SHORT,
                       progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert seen == [(2, 3), (3, 3)]
    f = res.population.fidelity
    np.testing.assert_array_equal(f.recording, [[0, 0], [1, 1], [2, 2]])
    assert res.population.obs_id.tolist() == ["a", "b", "c"]
    assert res.report["n_simulated"].tolist() == [3, 3, 3]


def test_the_tonic_rate_is_the_published_mean_of_inverse_isis():
    from sbidic.fidelity import score_trains
    from sbidic.spikes import SpikeTrains, spike_features

    spikes = np.cumsum(np.tile([90.0, 110.0], 30))  # ISI CV 0.1: tonic, about 10 Hz
    rec = SpikeTrains.from_list([spikes])
    published = float(np.mean(1000.0 / np.diff(spikes)))  # 10.08 Hz; 1000 / mean 9.99
    assert spike_features(rec)["f_spiking"][0] == pytest.approx(published)
    cells = SpikeTrains.from_list([np.arange(0.0, 6000.0, 1000.0 / (published * 1.095)),
                                   np.arange(0.0, 6000.0, 1000.0 / (published * 0.905))])
    s = score_trains(rec, cells, [0, 0])
    np.testing.assert_allclose(s.rate_hz, [published * 1.095, published * 0.905], rtol=1e-3)
    # both within 10 % of the published rate; the first is 10.6 % above 1000 / mean ISI
    assert published * 1.095 > 1.1 * 1000.0 / np.diff(spikes).mean()
    assert s.passed.tolist() == [True, True]


def test_under_noise_a_cell_passes_only_when_it_matches_under_every_draw(monkeypatch):
    from sbidic.fidelity import FidelityCriteria, score_trains
    from sbidic.inference import verify
    from sbidic.simulate import BandLimitedNoise
    from sbidic.spikes import SpikeTrains

    recording = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0)])
    fails = {(1, 2), (3, 0)}  # (cell, draw) whose train has the wrong rate
    seen = []

    def fake(model, g, recordings, owner, crit, deadline=None, **kwargs):
        seen.append(np.asarray(kwargs["cell_ids"]))
        k = len(g) // 3
        trains = [np.arange(0.0, 3000.0, 66.0 if (row % k, row // k) in fails else 100.0)
                  for row in range(len(g))]  # fmt: skip
        return None, score_trains(recordings, SpikeTrains.from_list(trains), owner, crit)

    monkeypatch.setattr(verify, "simulate_and_score", fake)
    kwargs = {"noise": BandLimitedNoise.reference("stg", 5.0), "seed": 1}
    scores, next_id = verify._score_under_noise(
        "stg", np.ones((4, 8)), recording, np.zeros(4, dtype=int), FidelityCriteria(), 3, 10,
        None, kwargs)  # fmt: skip
    assert scores.passed.tolist() == [True, False, True, False]
    assert scores.failed_feature.tolist() == ["", "rate", "", "rate"]
    np.testing.assert_array_equal(seen[0], np.arange(10, 22))  # own noise stream each
    assert next_id == 22
    with pytest.raises(ValueError, match="noise_draws"):
        verify.VerifyBudget(noise_draws=0)


def test_diversity_scores_name_a_wrong_number_of_ranges():
    from sbidic.fidelity.diversity import outside_share, range_coverage

    g = np.ones((1, 3, 2))
    for score in (range_coverage, outside_share):
        with pytest.raises(ValueError, match=r"one \(low, high\) range per conductance \(2\)"):
            score(g, [(0.0, 1.0)])
