"""Real recordings: long trains scored in their window only, a time budget looked at
while scoring, comparisons a short recording cannot make said so, posteriors piled
against the prior edge flagged, and ``passed`` carried into every output format."""

from __future__ import annotations

import csv
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from sbidic import load_population, sample_populations
from sbidic.fidelity import (
    FidelityScores,
    distance,
    mid_range_tau,
    recording_summary,
    score_trains,
    van_rossum_distance,
)
from sbidic.inference.diagnostics import join_warnings, prior_edge_flags
from sbidic.inference.result import InferenceResult, ResultWriter
from sbidic.inference.verify import VerifyBudget, verify_populations
from sbidic.population import read_conductance_csv
from sbidic.spikes import SpikeTrains

WINDOW = 1000.0


def tonic(rate_hz: float, duration_ms: float = 3000.0) -> np.ndarray:
    return np.arange(0.0, duration_ms, 1000.0 / rate_hz)


def bursts(n_spikes: int, period_ms: float, n_bursts: int = 8, isi_ms: float = 10.0):
    one = np.arange(n_spikes) * isi_ms
    return np.concatenate([b * period_ms + one for b in range(n_bursts)])


#: A 9-spike step response: labelled bursting, one burst of more than one spike
#: (no interior burst), so neither spikes per burst nor the burst period exist.
STEP = [0.0, 5.0, 12.0, 20.0, 30.0, 45.0, 65.0, 90.0, 120.0]


@pytest.fixture
def long_and_cells():
    rng = np.random.default_rng(0)
    long = np.concatenate([[0.0], np.cumsum(rng.uniform(5.0, 15.0, 3999))])  # 4,000 spikes
    cells = [np.sort(rng.uniform(0.0, WINDOW, 80)) for _ in range(6)]
    return long, SpikeTrains.from_list(cells)


def _count_kernel_evaluations(monkeypatch) -> list[int]:
    seen: list[int] = []
    real = distance._kernel_sum

    def counting(a, b, tau):
        seen.append(a.shape[0] * a.shape[1] * b.shape[1])
        return real(a, b, tau)

    monkeypatch.setattr(distance, "_kernel_sum", counting)
    return seen


# ------------------------------------------------------------ 1. long recordings
def test_long_recording_gives_the_distance_of_the_recording_cut_to_the_window(long_and_cells):
    long, cells = long_and_cells
    cut = long[long < WINDOW]
    assert 60 < cut.size < 120 and long.size == 4000
    n = cells.n_trains
    rec_long = SpikeTrains.from_list([long])[[0] * n]
    rec_cut = SpikeTrains.from_list([cut])[[0] * n]
    d_long = van_rossum_distance(rec_long, cells, 7.0, duration_ms=WINDOW)
    d_cut = van_rossum_distance(rec_cut, cells, 7.0, duration_ms=WINDOW)
    np.testing.assert_array_equal(d_long, d_cut)
    assert np.all(d_long > 0)
    # the windowed distance is the plain distance of the cut trains
    np.testing.assert_allclose(d_long, van_rossum_distance(rec_cut, cells, 7.0), rtol=1e-12)


def test_spikes_outside_the_window_are_never_padded(long_and_cells, monkeypatch):
    long, cells = long_and_cells
    n, width = cells.n_trains, int(max((long < WINDOW).sum(), cells.n_spikes.max()))
    seen = _count_kernel_evaluations(monkeypatch)
    van_rossum_distance(SpikeTrains.from_list([long])[[0] * n], cells, 7.0, duration_ms=WINDOW)
    # three kernel sums per pair over the window's spikes, not 4,000 x 4,000 per cell
    assert sum(seen) <= 3 * n * width**2
    seen.clear()
    rec = SpikeTrains.from_list([long])
    score_trains(rec, cells, np.zeros(n, dtype=int), window_ms=WINDOW)
    # the recording's own sum once, then two sums per cell
    assert sum(seen) <= width**2 + 2 * n * width**2


def test_score_trains_gives_the_paired_distance_with_the_recordings_self_sum_shared(
    long_and_cells,
):
    long, cells = long_and_cells
    recs = SpikeTrains.from_list([long, tonic(40.0, 5000.0)])
    idx = np.array([0, 1, 0, 1, 1, 0])
    s = score_trains(recs, cells, idx, window_ms=WINDOW)
    paired = van_rossum_distance(recs[idx], cells, mid_range_tau(recs)[idx], duration_ms=WINDOW)
    np.testing.assert_allclose(s.van_rossum, paired, rtol=1e-12, atol=1e-15)
    # no window: the whole trains, as before
    whole = score_trains(recs, cells, idx).van_rossum
    np.testing.assert_allclose(
        whole, van_rossum_distance(recs[idx], cells, mid_range_tau(recs)[idx]), rtol=1e-12
    )


def test_a_spent_time_budget_skips_the_van_rossum_distance_only(long_and_cells):
    long, cells = long_and_cells
    rec = SpikeTrains.from_list([long])
    idx = np.zeros(cells.n_trains, dtype=int)
    full = score_trains(rec, cells, idx, window_ms=WINDOW)
    late = score_trains(rec, cells, idx, window_ms=WINDOW, deadline=time.perf_counter() - 1.0)
    assert np.isnan(late.van_rossum).all() and np.isfinite(full.van_rossum).all()
    np.testing.assert_array_equal(late.passed, full.passed)
    np.testing.assert_array_equal(late.mismatch, full.mismatch)
    later = score_trains(rec, cells, idx, window_ms=WINDOW, deadline=time.perf_counter() + 600)
    np.testing.assert_array_equal(later.van_rossum, full.van_rossum)


def test_the_chunks_of_cells_cover_every_cell_once_grouped_by_length():
    width = np.array([5, 400, 3, 400, 50, 0, 2000])
    chunks = list(distance._chunks(width))
    np.testing.assert_array_equal(np.sort(np.concatenate(chunks)), np.arange(width.size))
    assert all(width[c].max() <= width[d].min() for c, d in zip(chunks, chunks[1:], strict=False))


class _Posterior:
    """Just enough of a ConductancePosterior for verify_populations."""

    model = "stg"

    def compensate(self, dics, owner, context):
        return np.zeros((len(dics), 8)), np.asarray(dics), None, None


def test_verify_passes_its_time_budget_to_the_scoring(monkeypatch):
    import sbidic.inference.verify as verify

    recs = SpikeTrains.from_list([tonic(10.0), tonic(20.0)])
    seen = []

    def simulate_and_score(model, g, recordings, owner, criteria, *, deadline=None, **kw):
        seen.append(deadline)
        cells = SpikeTrains.from_list([[] for _ in owner])  # silent: nothing passes
        return None, score_trains(recordings, cells, owner, criteria, deadline=deadline)

    monkeypatch.setattr(verify, "simulate_and_score", simulate_and_score)
    budget = VerifyBudget(max_seconds=1e-6).start()  # one clock for every batch
    assert budget.start().deadline == budget.deadline
    time.sleep(1e-3)
    out = verify_populations(_Posterior(), recs, None, 2, np.zeros((3, 2, 2)),
                             np.ones((2, 2)), budget=budget)  # fmt: skip
    assert seen == [budget.deadline]  # the scoring got the run's deadline
    assert out.n_rounds == 1  # spent: no second round
    assert out.scores.shape == (2, 2) and not out.scores.passed.any()
    seen.clear()
    verify_populations(_Posterior(), recs, None, 2, np.zeros((3, 2, 2)), np.ones((2, 2)),
                       budget=VerifyBudget(max_seconds=600, max_rounds=1))  # fmt: skip
    assert seen[0] is not None and seen[0] > time.perf_counter()  # the call's own clock
    assert VerifyBudget().start().deadline is None  # no time limit: nothing to start


# ---------------------------------------------- 2. say when nothing was checked
def test_a_short_bursting_response_is_a_class_only_pass_and_says_so():
    recs = SpikeTrains.from_list([STEP, tonic(10.0)], ids=["step", "tonic"])
    cells = SpikeTrains.from_list([STEP, bursts(6, 150.0), tonic(10.3), tonic(13.0)])
    s = score_trains(recs, cells, [0, 0, 1, 1])
    assert s.recording_label_code[0] == 2  # bursting
    np.testing.assert_array_equal(s.passed, [True, True, True, False])
    np.testing.assert_array_equal(s.checked_features, ["", "", "rate", "rate"])
    np.testing.assert_array_equal(s.features_compared, [False, False, True, True])
    out = recording_summary(s, recs)
    np.testing.assert_array_equal(out["checked_features"], ["", "rate"])
    assert out["adequacy"][0].startswith("class only: too short to compare features")
    assert "no interior burst" in out["adequacy"][0]
    assert out["adequacy"][1] == ""  # a normal recording: as before


def test_a_spiking_recording_needs_three_isis_for_its_rate():
    recs = SpikeTrains.from_list([[0.0, 100.0, 200.0], [0.0, 100.0, 200.0, 300.0]])
    cells = SpikeTrains.from_list([tonic(20.0), tonic(20.0)])
    s = score_trains(recs, cells, [0, 1])
    np.testing.assert_array_equal(s.checked_features, ["", "rate"])
    np.testing.assert_array_equal(s.passed, [True, False])
    out = recording_summary(s, recs)
    assert out["adequacy"][0] == (
        "class only: too short to compare features (spiking: 2 ISIs, the rate needs 3)"
    )
    assert out["adequacy"][1].startswith("not reproduced")
    assert "class only" not in out["adequacy"][1]


def test_one_interior_burst_compares_spikes_per_burst_but_not_the_period():
    recs = SpikeTrains.from_list([bursts(4, 300.0, n_bursts=3), bursts(4, 300.0)])
    cells = SpikeTrains.from_list([bursts(4, 200.0), bursts(4, 200.0)])
    s = score_trains(recs, cells, [0, 1])
    np.testing.assert_array_equal(
        s.checked_features, ["spikes_per_burst", "spikes_per_burst,burst_period"]
    )
    np.testing.assert_array_equal(s.passed, [True, False])
    out = recording_summary(s, recs)
    assert out["adequacy"][0] == (
        "burst period not compared (bursting: 1 interior burst, the period needs 2)"
    )


def test_a_failing_short_recording_keeps_both_sentences():
    recs = SpikeTrains.from_list([STEP])
    s = score_trains(recs, SpikeTrains.from_list([tonic(10.0)]), [0])
    text = recording_summary(s, recs)["adequacy"][0]
    assert text.startswith("not reproduced: 0 of 1") and "; class only: too short" in text


def test_checked_features_survive_the_dataset_and_old_files_say_unknown():
    recs = SpikeTrains.from_list([STEP, tonic(10.0)])
    s = score_trains(recs, recs, [0, 1])
    ds = s.to_dataset(("cell",))
    back = FidelityScores.from_dataset(ds)
    np.testing.assert_array_equal(back.checked_features, ["", "rate"])
    old = FidelityScores.from_dataset(ds.drop_vars("checked_features"))
    np.testing.assert_array_equal(old.checked_features, ["unknown", "unknown"])
    assert old.features_compared.all()


# ------------------------------------------------------ 3. out of distribution
def test_prior_edge_flags_from_a_report():
    box = ((-10.0, 10.0), (0.0, 20.0))  # estimator.box
    report = pd.DataFrame({
        "obs_id": ["ok", "low g_u", "high g_s", "silent", "both low"],
        "g_s_q05": [-10.0, -2.0, 9.2, np.nan, -10.5],
        "g_s_q95": [2.0, 1.0, 9.7, np.nan, -9.5],
        "g_u_q05": [0.0, 0.0, 3.0, np.nan, 0.0],
        "g_u_q95": [9.0, 0.6, 6.0, np.nan, 1.0],
    })  # fmt: skip (row "ok": intervals that touch an edge are not piled against it)
    flags = prior_edge_flags(report, box)
    assert flags.shape == (5,)
    assert flags[0] == "" and flags[3] == ""
    assert flags[1] == "out of distribution: posterior piled against the prior edge g_u = 0"
    assert flags[2] == "out of distribution: posterior piled against the prior edge g_s = 10"
    assert flags[4] == (
        "out of distribution: posterior piled against the prior edges g_s = -10, g_u = 0"
    )
    # the tolerance is a share of the box width: 0.6 is 3 % of 20
    assert prior_edge_flags(report, {"g_s": (-10, 10), "g_u": (0, 20)}, tol=0.02)[1] == ""
    with pytest.raises(ValueError, match="g_u_q95"):
        prior_edge_flags(report.drop(columns="g_u_q95"), box)
    with pytest.raises(ValueError, match="lo < hi"):
        prior_edge_flags(report, {"g_s": (1, 1), "g_u": (0, 20)})
    # beside the report's other warnings (NaN: a column pandas left empty)
    other = np.array(["reach", "", "", np.nan, ""], dtype=object)
    joined = join_warnings(other, flags)
    assert joined[0] == "reach" and joined[3] == ""
    assert joined[1] == flags[1] and joined[4] == flags[4]
    assert join_warnings(["reach", ""], ["edge", "edge"]).tolist() == ["reach; edge", "edge"]


# ------------------------------------------------ 4. passed in every format
@pytest.fixture(scope="module")
def scored_result():
    """Two recordings, three cells each: the first reproduced, the second not."""
    recs = SpikeTrains.from_list([tonic(10.0), tonic(20.0)], ids=["good", "bad"])
    pop = sample_populations("stg", [[-4.0, 5.0], [5.0, 10.0]], 3, rng=0)
    pop = replace(pop, obs_id=recs.ids)
    cells = SpikeTrains.from_list([tonic(10.0), tonic(10.5), tonic(14.0)] + [tonic(30.0)] * 3)
    scores = score_trains(recs, cells, np.repeat([0, 1], 3))
    summary = recording_summary(scores, recs)
    report = pd.DataFrame({"obs_id": recs.ids, "n_cells": [3, 3],
                           "n_passed": summary["n_passed"],
                           "adequacy": summary["adequacy"]})  # fmt: skip
    pop = pop.with_fidelity(scores.reshape(2, 3))
    return InferenceResult(report=report, population=pop)


def test_csv_population_file_says_which_cells_pass(scored_result, tmp_path):
    res = scored_result
    written = res.save(tmp_path / "pop.csv")
    with open(written[0]) as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "ID" and rows[0][-1] == "passed"
    assert [r[-1] for r in rows[1:]] == ["True", "True", "False"] + ["False"] * 3
    ids, g = read_conductance_csv(written[0], "stg")  # conductance readers ignore it
    np.testing.assert_array_equal(g, res.population.conductances.reshape(6, -1))
    report = pd.read_csv(written[1], keep_default_na=False)
    assert report.loc[1, "adequacy"].startswith("not reproduced")
    assert report.loc[0, "adequacy"] == ""
    # Population.save alone
    res.population.save(tmp_path / "alone.csv")
    with open(tmp_path / "alone.csv") as fh:
        assert next(csv.reader(fh))[-1] == "passed"


def test_netcdf_keeps_passed_and_adequacy_when_written_in_parts(scored_result, tmp_path):
    res = scored_result
    pop, report = res.population, res.report
    halves = [InferenceResult(report=report.iloc[[i]].reset_index(drop=True),
                              population=_one(pop, i)) for i in range(2)]  # fmt: skip
    with ResultWriter(tmp_path / "pop.nc") as out:
        for part in halves:
            out.write(part)
    back = load_population(tmp_path / "pop.nc")
    np.testing.assert_array_equal(back.fidelity.passed, pop.fidelity.passed)
    np.testing.assert_array_equal(back.fidelity.checked_features, pop.fidelity.checked_features)
    import xarray as xr

    with xr.open_datatree(tmp_path / "pop.nc") as tree:
        adequacy = tree["recordings"]["adequacy"].values
    assert adequacy[0] == "" and adequacy[1].startswith("not reproduced")


def test_nwb_population_cells_say_which_cells_pass(scored_result, tmp_path):
    import pynwb

    res = scored_result
    res.save(tmp_path / "pop.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "pop.nwb"), "r") as io:
        module = io.read().processing["sbidic"]
        cells = module["population_cells"].to_dataframe()
        report = module["report"].to_dataframe()
    assert cells["passed"].tolist() == [True, True, False, False, False, False]
    assert str(report["adequacy"].iloc[1]).startswith("not reproduced")
    back = load_population(tmp_path / "pop.nwb")  # the extra column does not disturb it
    np.testing.assert_array_equal(back.conductances, res.population.conductances)


def _one(pop, i):
    f = pop.fidelity.take(slice(i, i + 1))
    f = FidelityScores(**{**f.as_dict(), "recording": f.recording - i})
    return replace(pop, target=pop.target[i : i + 1], conductances=pop.conductances[i : i + 1],
                   dics=pop.dics[i : i + 1], residual=pop.residual[i : i + 1],
                   acceptance=pop.acceptance[i : i + 1], obs_id=pop.obs_id[i : i + 1],
                   fidelity=f)  # fmt: skip


class _SeedPosterior:
    """A posterior of one DIC target, (-4, 5), whose cells come from the STG sampler."""

    def __init__(self) -> None:
        from sbidic.models import get_model

        self.model, self.population_kwargs, self.generator = get_model("stg"), {}, None
        self.estimator, self._rng = self, np.random.default_rng(0)

    def sample_context(self, m, context, generator=None):
        return torch.tensor([-4.0, 5.0], dtype=torch.float64).expand(m, len(context), 2).clone()

    def compensate(self, dics, owner, context):
        from sbidic.population import sample_populations

        pop = sample_populations(self.model, dics, 1, rng=self._rng)
        return pop.conductances[:, 0], np.asarray(dics), pop.dics[:, 0], None


def test_verify_searches_the_conductances_the_dics_leave_free(monkeypatch):
    """A pattern that depends on a conductance the DICs leave free (here: cells pass when
    g_Kd < 48 mS/cm^2, below the 1st percentile of the sampler's cells at this target):
    the proposals move through conductance space towards it, every cell still on its
    DIC target."""
    import sbidic.inference.verify as verify
    from sbidic.dics import dynamic_input_conductances

    rec = SpikeTrains.from_list([tonic(10.0)])

    def simulate_and_score(model, g, recordings, owner, criteria, *, deadline=None, **kw):
        rate = 10.0 * (1.0 + 0.1 * g[:, 1] / 48.0)  # rate error <= 10 % iff g_Kd <= 48
        cells = SpikeTrains.from_list([tonic(r) for r in rate])
        return None, score_trains(recordings, cells, owner, criteria)

    monkeypatch.setattr(verify, "simulate_and_score", simulate_and_score)
    out = verify_populations(_SeedPosterior(), rec, torch.zeros(1, 4), 5,
                             np.tile([-4.0, 5.0], (7, 1, 1)), np.ones((1, 2)),
                             budget=VerifyBudget(max_cells=300), rng=0)  # fmt: skip
    assert out.scores.passed.all()  # the sampler alone: about 1 cell in 200 passes
    g = out.conductances[0]
    assert (g[:, 1] <= 48.0).all()
    achieved = dynamic_input_conductances("stg", g)[:, 1:]
    np.testing.assert_allclose(achieved, out.targets[0], atol=1e-9)


def test_verify_starts_from_the_survey_cells_that_fire_the_pattern(monkeypatch):
    """A pattern only cells near one conductance set fire, far from the sampler's cells
    and outside the atlas (``stop_after_first``): without survey cells the search stops
    with none; with the survey cell that fires it, the search starts there and every
    cell passes, each on its own DIC target."""
    import sbidic.inference.verify as verify
    from sbidic.dics import dynamic_input_conductances
    from sbidic.fidelity import SurveyCells
    from sbidic.population import sample_populations

    post = _SeedPosterior()
    far = sample_populations(post.model, np.array([[-1.0, 9.0]]), 1, rng=1).conductances[0]
    log_far = np.log(far[:, :-1])

    def simulate_and_score(model, g, recordings, owner, criteria, *, deadline=None, **kw):
        near = np.sqrt(np.mean((np.log(g[:, :-1]) - log_far) ** 2, axis=1)) < 0.15
        cells = SpikeTrains.from_list([tonic(10.0 if ok else 30.0) for ok in near])
        return None, score_trains(recordings, cells, owner, criteria)

    monkeypatch.setattr(verify, "simulate_and_score", simulate_and_score)
    rec = SpikeTrains.from_list([tonic(10.0)])
    decoy = sample_populations(post.model, np.array([[-4.0, 5.0]]), 1, rng=2).conductances[0]
    survey = SurveyCells("stg", np.concatenate([decoy, far]), label=np.array([1, 1], np.int8),
                         rate=np.array([30.0, 10.0]), spb=np.full(2, np.nan),
                         period=np.full(2, np.nan))  # fmt: skip
    kwargs = {"budget": VerifyBudget(max_cells=100), "rng": 0, "stop_after_first": [True]}
    args = (rec, torch.zeros(1, 4), 5, np.tile([-4.0, 5.0], (7, 1, 1)), np.ones((1, 2)))
    without = verify_populations(post, *args, **kwargs)
    assert without.n_rounds == 1 and not without.scores.passed.any()
    assert without.stopped.tolist() == [True]
    out = verify_populations(post, *args, survey=survey, **kwargs)
    assert out.scores.passed.all() and out.n_rounds > 1 and out.stopped.tolist() == [False]
    achieved = dynamic_input_conductances("stg", out.conductances[0])[:, 1:]
    np.testing.assert_allclose(achieved, out.targets[0], atol=1e-9)
    own = dynamic_input_conductances("stg", far)[0, 1:]
    assert np.abs(out.targets[0] - own).max() < 2.0  # around it, not the posterior (-4, 5)


def test_a_recording_given_up_after_the_first_round_stays_given_up(monkeypatch):
    """Before: the other recording's later rounds brought it back (the PD recording with
    da: "stopped after the first round" over 200 simulated cells)."""
    import sbidic.inference.verify as verify

    def simulate_and_score(model, g, recordings, owner, criteria, *, deadline=None, **kw):
        cells = SpikeTrains.from_list([[] for _ in owner])  # silent: nothing passes
        return None, score_trains(recordings, cells, owner, criteria)

    monkeypatch.setattr(verify, "simulate_and_score", simulate_and_score)
    recs = SpikeTrains.from_list([tonic(10.0), tonic(20.0)])
    out = verify_populations(_SeedPosterior(), recs, torch.zeros(2, 4), 2,
                             np.tile([-4.0, 5.0], (3, 2, 1)), np.ones((2, 2)),
                             budget=VerifyBudget(max_cells=30), rng=0,
                             stop_after_first=[True, False])  # fmt: skip
    assert out.n_rounds > 2
    assert out.n_simulated.tolist() == [3, 30] and out.stopped.tolist() == [True, False]


def test_kernel_proposals_start_from_the_matching_elite_cells():
    """One cell of a recording's elite matches it (here a survey cell within tolerance),
    nine do not: every kernel proposal starts from the matching one."""
    from sbidic.inference.verify import _propose

    post = _SeedPosterior()
    g = np.exp(np.random.default_rng(0).normal(0.0, 1.0, (10, 8)))
    g[0] = 1000.0  # the matching cell, far from the others
    mismatch = np.r_[0.5, np.full(9, 3.0)]
    none = np.zeros(1, dtype=np.int64)
    _, owner, parents = _propose(
        post, torch.zeros(1, 4), g, np.tile([-4.0, 5.0], (10, 1)), np.zeros(10, bool),
        np.zeros(10, dtype=np.int64), mismatch, np.array([5]), none + 3, none, np.array([True]),
        60, 3, np.ones((1, 2)), np.random.default_rng(1), n_survey=10,
    )  # fmt: skip
    kernel = np.isfinite(parents).all(1)
    assert kernel.sum() > 5
    np.testing.assert_allclose(np.log(parents[kernel, :-1] / 1000.0), 0.0, atol=0.6)
