"""Simulate cells, score them against their recordings, and summarise per recording.

:func:`simulate_and_score` runs one Brian2 simulation of many cells (each paired with a
recording) and scores them (:func:`~sbidic.fidelity.score_trains`);
:func:`score_population` does it for a :class:`~sbidic.population.Population` whose
``obs_id`` name the recordings; :func:`recording_summary` turns cell scores into one
row per recording, with a **model-adequacy** line when no cell reproduces it: the
best match found and the feature out of reach, and a note when the recording is too
short for its features to be compared (``"class only: ..."``: a feature match is then
a class match only).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sbidic.fidelity.scores import (
    MIN_RATE_ISIS,
    FidelityCriteria,
    FidelityScores,
    _checked,
    checked_features,
    score_trains,
)
from sbidic.spikes import LABEL_NAMES, SpikeTrains
from sbidic.spikes.features import BURSTING, SPIKING

__all__ = ["recording_summary", "score_population", "simulate_and_score"]


def simulate_and_score(
    model,
    conductances: ArrayLike,
    recordings: SpikeTrains,
    recording_index: ArrayLike,
    criteria: FidelityCriteria | None = None,
    *,
    deadline: float | None = None,
    **simulate_kwargs,
):
    """Simulate cells with Brian2 and score each against its recording.

    Parameters
    ----------
    model : str or ConductanceModel
    conductances : array_like, shape (n_cells, n_conductances)
        Maximal conductances (mS/cm^2).
    recordings : SpikeTrains
        The recordings (ms).
    recording_index : array_like of int, shape (n_cells,)
        Recording of each cell.
    criteria : FidelityCriteria, optional
    deadline : float, optional
        A :func:`time.perf_counter` value: van Rossum distances not computed by then
        are NaN (see :func:`~sbidic.fidelity.score_trains`).
    **simulate_kwargs
        Passed to :func:`sbidic.simulate.simulate` (protocol, ``dt_ms``, ``n_jobs``,
        ``noise``, ``seed``...).

    Returns
    -------
    (SimulationResult, FidelityScores)

    Examples
    --------
    Two copies of one STG cell scored against that cell's own simulated train:

    >>> from sbidic.simulate import simulate
    >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])
    >>> protocol = {"duration_ms": 500.0, "transient_ms": 100.0}
    >>> recording = simulate("stg", g, **protocol).spikes
    >>> result, scores = simulate_and_score("stg", np.vstack([g, g]), recording, [0, 0],
    ...                                     **protocol)
    >>> scores.passed, scores.mismatch
    (array([ True,  True]), array([0., 0.]))
    """
    from sbidic.simulate import simulate

    result = simulate(model, conductances, **simulate_kwargs)
    s = result.settings
    scores = score_trains(
        recordings,
        result.spikes,
        recording_index,
        criteria,
        window_ms=s["duration_ms"] - s["transient_ms"],
        deadline=deadline,
    )
    return result, scores


def score_population(
    population,
    recordings: SpikeTrains,
    criteria: FidelityCriteria | None = None,
    model=None,
    **simulate_kwargs,
) -> FidelityScores:
    """Simulate every cell of a population and score it against its recording.

    Parameters
    ----------
    population : Population
        ``obs_id`` must be ids of ``recordings`` (as returned by :func:`sbidic.infer`).
    recordings : SpikeTrains
    criteria : FidelityCriteria, optional
    model : str or ConductanceModel, optional
        The population's model (default: its name, ``population.model``); needed for
        a model loaded from a file, which its name alone does not find.
    **simulate_kwargs
        Passed to :func:`sbidic.simulate.simulate`.

    Returns
    -------
    FidelityScores
        Shape ``(n_obs, n_cells)``; ``recording`` indexes ``recordings``.

    Examples
    --------
    Two bursting cells (g_s < 0) against a 10 Hz tonic recording, short protocol:

    >>> from sbidic import sample_population
    >>> pop = sample_population("stg", -4.0, 5.0, n=2, rng=0)
    >>> recording = SpikeTrains.from_list([np.arange(0.0, 400.0, 100.0)])
    >>> s = score_population(pop, recording, duration_ms=600.0, transient_ms=200.0)
    >>> s.shape, s.label.tolist(), s.failed_feature.tolist()
    ((1, 2), [['bursting', 'bursting']], [['class', 'class']])
    """
    index = _recording_positions(population.obs_id, recordings.ids)
    g = population.conductances.reshape(-1, population.conductances.shape[-1])
    cells = np.repeat(index, population.n_cells)
    _, scores = simulate_and_score(
        population.model if model is None else model, g, recordings, cells, criteria,
        **simulate_kwargs,
    )  # fmt: skip
    return scores.reshape(population.n_targets, population.n_cells)


def _recording_positions(obs_id: np.ndarray, ids: np.ndarray) -> np.ndarray:
    lookup = {str(v): i for i, v in enumerate(ids)}
    missing = [str(o) for o in obs_id if str(o) not in lookup]
    if missing:
        raise ValueError(
            f"population obs_id {missing[:5]} not found among the recording ids "
            f"{[str(v) for v in ids[:5]]}{' ...' if len(ids) > 5 else ''}"
        )
    return np.array([lookup[str(o)] for o in obs_id], dtype=np.int64)


def _describe(feature: str, cell: float, rec: float, rel: bool, unit: str) -> str:
    if rel:
        return f"{feature} {cell:.3g} {unit} vs {rec:.3g} {unit} ({100 * (cell / rec - 1):+.0f} %)"
    return f"{feature} {cell:.3g} vs {rec:.3g}"


def recording_summary(
    scores: FidelityScores, recordings: SpikeTrains, criteria: FidelityCriteria | None = None
) -> dict[str, np.ndarray]:
    """Per-recording fidelity: how many cells pass, the best match, model adequacy.

    Parameters
    ----------
    scores : FidelityScores
        Any shape; ``scores.recording`` says which recording each cell belongs to.
    recordings : SpikeTrains
    criteria : FidelityCriteria, optional
        Must be those the scores were computed with.

    Returns
    -------
    dict of ndarray, each of shape (n_recordings,)
        ``n_scored``, ``n_passed``, ``pass_fraction``, ``class_match_fraction``,
        ``feature_match_fraction``, ``best_mismatch`` (smallest ``mismatch``),
        ``van_rossum_mean`` (1/ms), ``out_of_reach`` (feature failed by the best cell,
        ``""`` when some cell passes), ``checked_features`` (the recording's features
        the criterion compares, comma-separated; ``""``: the class only) and
        ``adequacy``: ``""`` when some cell passes and the features were compared,
        otherwise a sentence naming the best match and what it misses, and a note on
        the features a too short recording does not allow to compare (``"class only:
        too short to compare features (...)"`` when none).

    Examples
    --------
    >>> from sbidic.fidelity import score_trains
    >>> rec = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0),   # 10 Hz
    ...                              np.arange(0.0, 3000.0, 50.0)])   # 20 Hz
    >>> cells = SpikeTrains.from_list([np.arange(0.0, 3000.0, 1000 / 10.5),
    ...                                np.arange(0.0, 3000.0, 80.0)])
    >>> summary = recording_summary(score_trains(rec, cells, [0, 1]), rec)
    >>> summary["n_passed"], summary["out_of_reach"]
    (array([1, 0]), array(['', 'rate'], dtype='<U4'))
    >>> print(summary["adequacy"][1])  # doctest: +ELLIPSIS
    not reproduced: 0 of 1 simulated cells pass (features); rate out of reach: best rate 12.5 Hz...

    A 9-spike bursting step response has no interior burst: its cell passes on the
    class alone, and the summary says so.

    >>> step = SpikeTrains.from_list([[0.0, 5, 12, 20, 30, 45, 65, 90, 120]])
    >>> summary = recording_summary(score_trains(step, step, [0]), step)
    >>> summary["n_passed"], summary["checked_features"].tolist()
    (array([1]), [''])
    >>> print(summary["adequacy"][0])
    class only: too short to compare features (bursting: no interior burst)
    """
    crit = FidelityCriteria() if criteria is None else criteria
    s = scores.reshape(-1)
    n = recordings.n_trains
    r = s.recording
    count = np.bincount(r, minlength=n)
    passed = np.bincount(r, weights=s.passed, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "n_scored": count,
            "n_passed": passed.astype(np.int64),
            "pass_fraction": passed / count,
            "class_match_fraction": np.bincount(r, s.class_match, minlength=n) / count,
            "feature_match_fraction": np.bincount(r, s.feature_match, minlength=n) / count,
            "van_rossum_mean": np.bincount(r, np.nan_to_num(s.van_rossum), minlength=n)
            / np.bincount(r, np.isfinite(s.van_rossum), minlength=n),
        }
    # the best cell of each recording: sort by (recording, mismatch), take the first
    order = np.lexsort((s.mismatch, r))
    first = order[np.concatenate([[True], np.diff(r[order]) != 0])] if r.size else order
    best = np.full(n, -1)
    best[r[first]] = first
    out["best_mismatch"] = np.where(best >= 0, s.mismatch[best], np.nan)
    feats = crit.summarize(recordings)
    reach = np.full(n, "", dtype=object)
    adequacy = np.full(n, "", dtype=object)
    for i in np.flatnonzero((best >= 0) & (passed == 0)):
        c = best[i]
        what = s.failed_feature[c] if crit.criterion == "features" else "class"
        reach[i] = what
        rec_label = LABEL_NAMES[feats["label"][i]]
        if what == "class":
            labels, k = np.unique(s.label[r == i], return_counts=True)
            found = ", ".join(f"{m} {lab}" for lab, m in zip(labels, k, strict=True))
            detail = f"recording is {rec_label}, simulated cells: {found}"
        elif what == "rate":
            detail = _describe("best rate", s.rate_hz[c], feats["rate"][i], True, "Hz")
        elif what == "spikes_per_burst":
            detail = _describe("best spikes per burst", s.spikes_per_burst[c],
                               feats["spb"][i], False, "")  # fmt: skip
        else:
            detail = _describe("best burst period", s.burst_period_ms[c],
                               feats["period"][i], True, "ms")  # fmt: skip
        adequacy[i] = (
            f"not reproduced: 0 of {count[i]} simulated cells pass ({crit.criterion}); "
            f"{what} out of reach: {detail}"
        )
    checked = checked_features(feats)
    for i in np.flatnonzero(count > 0):
        note = _unchecked_note(feats, i)
        if note:
            adequacy[i] = f"{adequacy[i]}; {note}" if adequacy[i] else note
    out["out_of_reach"] = reach.astype(str)
    out["checked_features"] = checked.astype(str)
    out["adequacy"] = adequacy.astype(str)
    return out


def _unchecked_note(feats: dict, i: int) -> str:
    """What the feature criterion could not compare for recording ``i`` ("" if all)."""
    flags = {k: bool(v[i]) for k, v in _checked(feats).items()}
    label = feats["label"][i]
    if label == SPIKING and not flags["rate"]:
        n_isi = int(feats["n_spikes"][i]) - 1
        return (f"class only: too short to compare features (spiking: {n_isi} ISIs, the "
                f"rate needs {MIN_RATE_ISIS})")  # fmt: skip
    if label == BURSTING and not flags["spikes_per_burst"]:
        # the first and the last bursts are never used (they may be cut by the window)
        return "class only: too short to compare features (bursting: no interior burst)"
    if label == BURSTING and not flags["burst_period"]:
        return "burst period not compared (bursting: 1 interior burst, the period needs 2)"
    return ""
