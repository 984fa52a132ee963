"""Recordings in, degenerate populations out: the end-to-end inference step.

``spike times -> SpikeTrains -> encoder -> q(g_s, g_u | x) -> population sampler ->
conductances``, for many recordings at once, with a per-recording report.

Rules for recordings (all reported in :attr:`InferenceResult.report`, never silent):

* invalid times (unsorted, repeated, negative or non-finite) raise a
  :class:`ValueError` naming the recording (id and position); repair them explicitly
  with :meth:`sbidic.spikes.SpikeTrains.repair` if that is what you want;
* fewer than 3 spikes: status ``"silent: fewer than 3 spikes"``, no population;
* more spikes than the network reads (``max_spikes``, 250 for the shipped networks,
  as published): the **first** ``max_spikes`` spikes are used, the status says
  ``"truncated: first 250 of N spikes used"`` and a
  :class:`~sbidic.inference.SpikeTruncationWarning` is raised.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from sbidic._memory import check_memory, inference_bytes, population_bytes, release_free_memory
from sbidic.fidelity import FidelityCriteria, recording_summary, score_population
from sbidic.inference.diagnostics import join_warnings, prior_edge_flags
from sbidic.inference.posterior import ConductancePosterior, to_population
from sbidic.inference.result import InferenceResult
from sbidic.inference.tokens import (
    MIN_SPIKES,
    SpikeTruncationWarning,
    as_recordings,
)
from sbidic.inference.verify import (
    FIRST_ROUND,
    VerifyBudget,
    check_dic_strategy,
    dic_targets,
    npe_proposal,
    verify_populations,
)
from sbidic.inference.windows import (
    consecutive_windows,
    pool_window_draws,
    representative_windows,
)
from sbidic.spikes import SpikeTrains, spike_features
from sbidic.spikes.timescale import time_scale_warnings

__all__ = ["InferenceResult", "infer", "iter_infer"]

#: Weight of the class share in the calibrated ranking (the feature share weighs 1).
CLASS_WEIGHT = 2.0

#: Columns of :attr:`InferenceResult.report`.
REPORT_COLUMNS = (
    "obs_id", "n_spikes", "label", "status", "warning",
    "g_s_mean", "g_s_sd", "g_s_q05", "g_s_q95",
    "g_u_mean", "g_u_sd", "g_u_q05", "g_u_q95",
    "n_cells",
)  # fmt: skip


def infer(
    recordings,
    posterior: str | ConductancePosterior = "stg",
    n: int = 100,
    *,
    ids: Sequence | None = None,
    seed: int | None = None,
    n_summary: int = 1000,
    dics: str = "auto",
    shrinkage: float = 0.5,
    verify: bool = False,
    score: bool = False,
    criteria: FidelityCriteria | None = None,
    budget: VerifyBudget | None = None,
    simulation: dict | None = None,
    progress=None,
    batch_size: int = 256,
) -> InferenceResult:
    """Infer a degenerate population of ``n`` cells for each recording.

    Parameters
    ----------
    recordings : SpikeTrains, list of 1-D arrays, padded 2-D array, or one 1-D array
        Spike times in ms, one train per recording (e.g. from
        :func:`sbidic.spikes.read_spike_csv`); a padded array has one recording per
        row with trailing NaN (sbi's convention) or negative padding.
    posterior : str, ConductancePosterior or NPEPosterior
        A shipped model name (``"stg"``, ``"da"``: :func:`sbidic.load_pretrained`) or a
        posterior of your own. An :class:`~sbidic.inference.npe.NPEPosterior` (the NPE
        baseline, ``docs/npe.md``) draws the cells directly from its conductance
        posterior: same report and population, DICs computed from the cells; ``dics``
        must stay ``"auto"`` and ``verify`` is DIC-only (``score`` works).
    n : int
        Cells per non-silent recording.
    ids : sequence, optional
        Recording identifiers; default the ``SpikeTrains`` ids, else ``0..B-1``.
    seed : int, optional
        Seeds the DIC draws, the cell draws and the verification proposals (same
        seed and ``batch_size``, same result).
    n_summary : int
        DIC draws per recording for the report's mean, sd and quantiles.
    dics : {"auto", "calibrated", "mean", "posterior", "shrunk"}, default "auto"
        Which DICs the cells get (:mod:`sbidic.inference.verify`): the posterior draws
        most likely to reproduce the recording according to the estimator's firing
        atlas (``"calibrated"``; ``"auto"`` picks it when the estimator has an atlas,
        else ``"mean"``), all at the posterior mean, one posterior draw each (the most
        diverse DICs), or draws pulled towards the mean by ``shrinkage``. Measured
        fidelity of each: ``benchmarks/bench_fidelity.py``.
    shrinkage : float, default 0.5
        Spread kept by ``dics="shrunk"`` (0: the mean, 1: the posterior).
    verify : bool, default False
        Simulate every cell (Brian2), keep only cells that reproduce the recording
        under ``criteria`` and propose more until ``n`` pass or ``budget`` is spent;
        the report gives the cells simulated, the acceptance rate and a
        model-adequacy line for recordings no cell reproduces.
    score : bool, default False
        Simulate and score the returned cells without filtering them (implied by
        ``verify``).
    criteria : FidelityCriteria, optional
        When a cell reproduces its recording (default: same class, rate within
        10 %, spikes per burst within 0.5, burst period within 10 %).
    budget : VerifyBudget, optional
        Simulation budget of ``verify`` (default ``10 * n`` cells per recording).
    simulation : dict, optional
        Keyword arguments of :func:`sbidic.simulate.simulate` for ``verify`` and
        ``score`` (e.g. ``{"n_jobs": 4}``; default: the model's published protocol,
        and the estimator's training noise, ``posterior.noise_sigma``, if any).
    progress : callable, optional
        ``progress(done, total)`` after each batch of recordings.
    batch_size : int, default 256
        Recordings processed at once (memory stays bounded for any number of them;
        to keep the results bounded too, write them as they come with
        :func:`iter_infer` and :class:`~sbidic.inference.ResultWriter`).

    Returns
    -------
    InferenceResult
        ``report`` (every recording) and ``population`` (the non-silent ones; with
        ``verify`` or ``score`` it carries per-cell ``fidelity`` scores).

    Raises
    ------
    ValueError
        Invalid spike times, naming the recording; ``n < 1``; unknown ``dics``.
    sbidic._memory.NotEnoughMemoryError
        Before any work, when the result (all recordings' cells) or a batch needs more
        memory than is available (:func:`check_infer_memory`); also a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> tonic = np.arange(0.0, 3000.0, 100.0)
    >>> res = infer([tonic, [5.0, 900.0]], "stg", n=10, ids=["a", "b"], seed=0)
    >>> res.report[["obs_id", "n_spikes", "label", "status", "n_cells"]]
      obs_id  n_spikes     label                       status  n_cells
    0      a        30   spiking                           ok       10
    1      b         2    silent  silent: fewer than 3 spikes        0
    >>> res.population.conductances.shape
    (1, 10, 8)
    """
    if isinstance(posterior, str):
        from sbidic.inference.pretrained import load_pretrained

        posterior = load_pretrained(posterior)
    trains = as_recordings(recordings, ids)
    check_infer_memory(trains, posterior, n, dics=dics, verify=verify, n_summary=n_summary,
                       batch_size=batch_size, keep_all=True)  # fmt: skip
    parts = iter_infer(
        trains, posterior, n, seed=seed, n_summary=n_summary, dics=dics,
        shrinkage=shrinkage, verify=verify, score=score, criteria=criteria, budget=budget,
        simulation=simulation, progress=progress, batch_size=batch_size,
    )  # fmt: skip
    return InferenceResult.concatenate(parts)


def iter_infer(
    recordings,
    posterior: str | ConductancePosterior = "stg",
    n: int = 100,
    *,
    ids: Sequence | None = None,
    seed: int | None = None,
    n_summary: int = 1000,
    dics: str = "auto",
    shrinkage: float = 0.5,
    verify: bool = False,
    score: bool = False,
    criteria: FidelityCriteria | None = None,
    budget: VerifyBudget | None = None,
    simulation: dict | None = None,
    progress=None,
    batch_size: int = 256,
) -> Iterator[InferenceResult]:
    """:func:`infer`, one :class:`InferenceResult` per ``batch_size`` recordings.

    Same arguments as :func:`infer`; the recordings are checked (and truncation
    warned about) before the first batch. The parts joined by
    :meth:`InferenceResult.concatenate` are :func:`infer`'s result; written one by
    one with :class:`~sbidic.inference.ResultWriter` they give the same files as
    :meth:`InferenceResult.save` with only one batch in memory at a time.

    Examples
    --------
    >>> import numpy as np
    >>> trains = [np.arange(0.0, 3000.0, 100.0 + 10 * i) for i in range(3)]
    >>> parts = list(iter_infer(trains, "stg", n=5, seed=0, batch_size=2))
    >>> [len(part.report) for part in parts]
    [2, 1]
    >>> InferenceResult.concatenate(parts).population.conductances.shape
    (3, 5, 8)
    """
    if int(n) < 1:
        raise ValueError(f"n (cells per recording) must be >= 1, got {n}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n, batch_size = int(n), int(batch_size)
    if isinstance(posterior, str):
        from sbidic.inference.pretrained import load_pretrained

        posterior = load_pretrained(posterior)
    if getattr(posterior, "draws_conductances", False):  # NPE: no DICs to choose
        if verify:
            raise ValueError(
                "verify=True redraws DICs and needs the DIC pipeline; with an NPE "
                "posterior use score=True"
            )
        if dics != "auto":
            raise ValueError(
                f"dics={dics!r} applies to the DIC pipeline; an NPE posterior draws "
                "conductances directly (leave dics='auto')"
            )
        dics = "posterior"
    atlas = getattr(posterior, "atlas", None)
    if dics == "auto":
        dics = "calibrated" if atlas is not None else "mean"
    if dics == "calibrated" and atlas is None:
        raise ValueError(
            "dics='calibrated' needs a firing atlas beside the estimator "
            "(build one with 'sbidic atlas DATASET -o ESTIMATOR_DIR/firing_atlas.safetensors')"
        )
    check_dic_strategy(dics, shrinkage)
    trains = as_recordings(recordings, ids)
    check_infer_memory(trains, posterior, n, dics=dics, verify=verify, n_summary=n_summary,
                       batch_size=batch_size)  # fmt: skip
    status = _status(trains, _spikes_read(posterior), _window_ms(posterior))
    return _batches(trains, status, posterior, n, seed=seed, n_summary=n_summary, dics=dics,
                    shrinkage=shrinkage, verify=verify, score=score, criteria=criteria,
                    budget=budget, simulation=simulation, progress=progress,
                    batch_size=batch_size)  # fmt: skip


def _draws_per_recording(n: int, dics: str, verify: bool, n_summary: int) -> int:
    """Posterior draws per recording: the report's ``n_summary`` or, when more, one per
    cell (of verify's first round), ten per cell for ``dics="calibrated"``."""
    n_first = math.ceil(FIRST_ROUND * n) if verify else n  # first round of verify
    return max(int(n_summary), 10 * n_first if dics == "calibrated" else n_first)


def check_infer_memory(recordings: SpikeTrains | int, posterior, n: int, *,
                       dics: str = "auto", verify: bool = False, n_summary: int = 1000,
                       batch_size: int = 256, keep_all: bool = False) -> None:  # fmt: skip
    """Refuse, before any work, an inference that needs more memory than is available.

    Parameters
    ----------
    recordings : SpikeTrains or int
        The recordings (only the non-silent ones get cells), or their number.
    posterior : ConductancePosterior or NPEPosterior
        The loaded posterior (its model's conductances; an NPE posterior draws them).
    n : int
        Cells per recording.
    dics, verify, n_summary, batch_size
        As in :func:`infer`.
    keep_all : bool, default False
        Whether every batch's population stays in memory (:func:`infer`) besides the
        batch being computed (:func:`iter_infer`, which streams).

    Raises
    ------
    sbidic._memory.NotEnoughMemoryError
        The estimate exceeds the available memory; the message gives both.
    """
    n, batch_size = int(n), max(int(batch_size), 1)
    if n < 1:
        return  # refused with its own message
    n_trains = recordings if isinstance(recordings, int) else recordings.n_trains
    active = (n_trains if isinstance(recordings, int)
              else int((recordings.n_spikes >= MIN_SPIKES).sum()))  # fmt: skip
    npe = getattr(posterior, "draws_conductances", False)
    if npe:
        dics = "posterior"
    elif dics == "auto":
        dics = "calibrated" if getattr(posterior, "atlas", None) is not None else "mean"
    n_cond = posterior.model.n_conductances
    b = min(batch_size, max(active, 1))
    needed = inference_bytes(b, n, _draws_per_recording(n, dics, verify, n_summary),
                             n_cond if npe else 2, n_cond)  # fmt: skip
    if keep_all:
        needed += population_bytes(2 * active * n, n_cond)  # the parts and their join
    what = f"{active:,} recording(s) x {n:,} cells"
    if not keep_all:
        what = f"{b:,} recording(s) at a time x {n:,} cells"
    check_memory(needed, what, hint="ask for fewer cells per recording (n, -n)")


def _spikes_read(posterior) -> int | None:
    """Spikes the posterior's network reads per recording (None: all)."""
    if getattr(posterior, "draws_conductances", False):
        return posterior.spikes_read
    return posterior.estimator.encoder.max_spikes


def _window_ms(posterior) -> float | None:
    """Length (ms) of the windows the posterior's network was trained on (the model's
    protocol without its transient); None for NPE (it reads the first spikes)."""
    if getattr(posterior, "draws_conductances", False):
        return None
    return _protocol_window_ms(posterior.model)


def _protocol_window_ms(model) -> float | None:
    """Length (ms) of the model's protocol without its transient; None without one."""
    protocol = getattr(model, "protocol", None)
    return None if protocol is None else float(protocol[0] - protocol[1])


def _status(trains: SpikeTrains, max_spikes: int | None, window_ms: float | None = None):
    """Status of every recording (silent, windows pooled, truncated, ok); warns about
    truncation (:mod:`sbidic.inference.windows`)."""
    n_spikes = trains.n_spikes
    status = np.where(n_spikes >= MIN_SPIKES, "ok", f"silent: fewer than {MIN_SPIKES} spikes")
    status = status.astype(object)
    active = np.flatnonzero(n_spikes >= MIN_SPIKES)
    if not active.size:
        return status
    win = consecutive_windows(trains[active], window_ms, max_spikes)
    for i, k, used in zip(active, win.count, win.spikes_used, strict=True):
        if k > 1:
            status[i] = (f"windows: {k} x {window_ms / 1000:g} s pooled, {used} of "
                         f"{n_spikes[i]} spikes used")  # fmt: skip
        elif used < n_spikes[i]:
            status[i] = f"truncated: first {used} of {n_spikes[i]} spikes used"
    cut = win.spikes_used < n_spikes[active]
    dense = cut & (win.count == 1) & (win.spikes_used == max_spikes)
    if dense.any():
        warnings.warn(
            f"{int(dense.sum())} recording(s) ({trains.ids[active][dense][:10].tolist()}) have "
            f"more than {max_spikes} spikes in one window; the network reads their first "
            f"{max_spikes} spikes",
            SpikeTruncationWarning,
            stacklevel=3,
        )
    return status


def _batches(trains, status, posterior, n, *, seed, n_summary, dics, shrinkage, verify,
             score, criteria, budget, simulation, progress, batch_size):  # fmt: skip
    """The generator behind :func:`iter_infer` (arguments already checked)."""
    npe = getattr(posterior, "draws_conductances", False)
    est = None if npe else posterior.estimator
    atlas = getattr(posterior, "atlas", None)
    n_first = math.ceil(FIRST_ROUND * n) if verify else n  # first round of verify
    n_draws = _draws_per_recording(n, dics, verify, n_summary)
    rng = np.random.default_rng(seed)
    if not npe:
        cells = ConductancePosterior(est, posterior.model, rng=rng,
                                     **posterior.population_kwargs)  # fmt: skip
    simulation = _simulation_settings(simulation, posterior, seed)
    window_ms = _window_ms(posterior)
    torch_seed = np.random.SeedSequence(seed).generate_state(1)[0].item()
    torch_state = None  # NPE: sbi draws from torch's global generator, forked per batch
    generator = torch.Generator().manual_seed(torch_seed)  # the DIC path: this call's own
    if not npe:
        cells.generator = generator
    budget = None if budget is None else budget.start()  # --max-seconds covers every batch
    for start in range(0, trains.n_trains, batch_size):
        batch = trains[np.arange(start, min(start + batch_size, trains.n_trains))]
        active = np.flatnonzero(batch.n_spikes >= MIN_SPIKES)
        summary = np.full((batch.n_trains, 2, 4), np.nan)
        population = fidelity_rows = verified = None
        reach, atlas_checked = _reach_warnings(batch, getattr(posterior.model, "name", ""))
        leak = np.full(batch.n_trains, "", dtype=object)  # NPE: draws outside its prior
        if active.size:
            sub = batch[active]
            with torch.random.fork_rng(devices=[], enabled=npe), warnings.catch_warnings():
                warnings.simplefilter("ignore", SpikeTruncationWarning)  # reported above
                if npe and torch_state is None:
                    torch.manual_seed(torch_seed)
                elif npe:
                    torch.set_rng_state(torch_state)
                if npe:
                    population, leak[active] = _npe_population(posterior, sub, n, n_draws,
                                                               summary, active)  # fmt: skip
                else:
                    win = consecutive_windows(sub, window_ms, est.encoder.max_spikes)
                    with est._evaluating():
                        embedded = est.embed(est.padded(win.trains))
                        draws = pool_window_draws(  # (S, b, 2)
                            est.sample_context(n_draws, embedded, generator=generator).numpy(), win
                        )
                        context = embedded[representative_windows(embedded.numpy(), win)]
                    summary[active] = _summarize_draws(draws)
                    rank = None if atlas is None else _atlas_rank(atlas, sub, criteria)
                    match = None
                    if dics == "calibrated":
                        s, b = draws.shape[:2]
                        match = rank(draws.reshape(-1, 2), np.tile(np.arange(b), s)).reshape(s, b)
                    targets = dic_targets(draws, n_first, dics, shrinkage, match)
                    if verify:
                        verified = verify_populations(
                            cells, sub, context, n, targets, summary[active, :, 1],
                            criteria=criteria, budget=budget, rng=rng, rank=rank,
                            stop_after_first=reach[active] != "",
                            survey=getattr(posterior, "survey_cells", None),
                            proposal=_proposal(posterior, sub, rng), **simulation,
                        )  # fmt: skip
                        population = to_population(
                            verified.conductances.transpose(1, 0, 2), posterior.model, sub.ids,
                            dic_draws=verified.targets.transpose(1, 0, 2),
                        ).with_fidelity(verified.scores)  # fmt: skip
                        scored = verified.simulated
                    else:
                        g, used, _, n_drawn = cells._compensate(torch.from_numpy(targets), context)
                        population = to_population(g, posterior.model, sub.ids, dic_draws=used,
                                                   n_drawn=n_drawn)  # fmt: skip
                if score and not verify:
                    scored = score_population(
                        population, sub, criteria, model=posterior.model, **simulation
                    )
                    population = population.with_fidelity(scored)
                if npe:
                    torch_state = torch.get_rng_state()
            if verify or score:
                fidelity_rows = recording_summary(scored, sub, criteria)
        rows = slice(start, start + batch.n_trains)
        report = _report(batch, status[rows], summary, n)
        edges = prior_edge_flags(report, est.box) if est is not None else ""
        if est is not None and atlas_checked:  # the atlas vouches for covered patterns
            edges = np.where(reach == "", "", edges)
        scale = time_scale_warnings(batch, _protocol_window_ms(posterior.model))
        report["warning"] = join_warnings(reach, edges, scale, leak)
        if fidelity_rows is not None:
            report = _add_fidelity(report, active, fidelity_rows, population, verified, n)
            failed = report["adequacy"].str.startswith("not reproduced")
            if verify:  # outside the atlas, no first-round cell passed, no survey cell
                stopped = np.zeros(len(report), dtype=bool)
                stopped[active] = verified.stopped if verified is not None else False
                stopped &= failed.to_numpy()
                report.loc[stopped, "adequacy"] += (
                    "; stopped after the first round: the pattern lies outside the "
                    "model's firing atlas and no survey cell fires it"
                )
            hint = np.array([w.partition("; within reach of ")[2] for w in reach], dtype=object)
            short = failed & (hint != "")
            report.loc[short, "adequacy"] += "; the pattern is within reach of " + hint[short]
        if progress is not None:
            progress(rows.stop, trains.n_trains)
        release_free_memory()  # memory stays flat over many batches
        yield InferenceResult(report=report, population=population)


def _proposal(posterior, sub: SpikeTrains, rng):
    """The posterior's ``proposal`` (an NPE posterior) for recordings ``sub``, or None."""
    npe = getattr(posterior, "proposal", None)
    return None if npe is None else npe_proposal(npe, sub, rng)


def _npe_population(posterior, sub: SpikeTrains, n: int, n_draws: int, summary, active):
    """Cells of an NPE posterior (the first ``n`` of ``n_draws`` conductance draws per
    recording, drawn inside its prior box where it can,
    :meth:`~sbidic.inference.npe.NPEPosterior.sample_in_prior`), the report's DIC summary
    of all the draws (written into ``summary``) and a warning for each recording whose
    draws had to be filled with draws outside the box."""
    from sbidic.dics import dynamic_input_conductances
    from sbidic.inference.npe import MAX_PRIOR_ROUNDS

    g, inside = posterior.sample_in_prior(n_draws, sub)
    g = g.double().numpy()  # (S, b, n_cond)
    dics = dynamic_input_conductances(posterior.model, g)[..., 1:]  # (S, b, 2)
    summary[active] = _summarize_draws(dics)
    leak = np.where(
        inside * MAX_PRIOR_ROUNDS < 1.0,
        [f"NPE: only {share:.2%} of its posterior draws lie inside its prior box (a "
         "recording unlike its training data): draws outside the box fill its cells"
         for share in inside], "",
    )  # fmt: skip
    return to_population(g[:n], posterior.model, sub.ids), leak


def _summarize_draws(draws: np.ndarray) -> np.ndarray:
    """Mean, sd and 5 / 95 % quantiles of DIC draws ``(S, b, 2)``: shape ``(b, 2, 4)``,
    the report's ``g_s`` / ``g_u`` summary columns."""
    q = np.moveaxis(np.quantile(draws, [0.05, 0.95], axis=0), 0, -1)
    return np.concatenate([draws.mean(0)[..., None], draws.std(0, ddof=1)[..., None], q], -1)


def _report(batch: SpikeTrains, status: np.ndarray, summary: np.ndarray, n: int):
    """Report rows of a batch of recordings (before any fidelity columns)."""
    import pandas as pd

    n_spikes = batch.n_spikes
    report = pd.DataFrame({"obs_id": batch.ids, "n_spikes": n_spikes,
                           "label": spike_features(batch).label, "status": status})  # fmt: skip
    for j, dic in enumerate(("g_s", "g_u")):
        for k, stat in enumerate(("mean", "sd", "q05", "q95")):
            report[f"{dic}_{stat}"] = summary[:, j, k]
    report["n_cells"] = np.where(n_spikes >= MIN_SPIKES, n, 0)
    report["warning"] = ""
    return report[list(REPORT_COLUMNS)]


def _reach_warnings(batch: SpikeTrains, model: str) -> tuple[np.ndarray, bool]:
    """Per recording: "" or a warning that the pattern lies outside the model's firing
    atlas, naming the shipped models whose atlas reaches it
    (:mod:`sbidic.inference.model_choice`); and whether the model has an atlas to check
    against (models without a shipped atlas: no check, all ""). Models of the same
    cell type are suggested first."""
    from sbidic.inference.model_choice import models_covering, shipped_firing_spaces
    from sbidic.models import get_model

    out = np.full(batch.n_trains, "", dtype=object)
    spaces = shipped_firing_spaces()
    if model not in spaces:
        return out, False
    reach = models_covering(batch, spaces)
    names = list(spaces)
    own = names.index(model)
    kind = [getattr(get_model(name), "cell_type", "") for name in names]
    suggest = sorted(range(len(names)), key=lambda j: kind[j] != kind[own])
    for i in np.flatnonzero(~reach[:, own] & (batch.n_spikes >= MIN_SPIKES)):
        others = [names[j] for j in suggest if reach[i, j]]
        hint = (f"; within reach of {', '.join(others)} (try --model {others[0]})" if others
                else "; no shipped model's atlas reaches it")  # fmt: skip
        out[i] = f"pattern outside the {model} model's firing atlas{hint}"
    return out, True


def _simulation_settings(simulation: dict | None, posterior, seed) -> dict:
    """``simulate`` keywords: the user's, plus the estimator's training noise."""
    settings = dict(simulation or {})
    sigma = getattr(posterior, "noise_sigma", None)
    if sigma and "noise" not in settings:
        from sbidic.simulate import BandLimitedNoise

        settings["noise"] = BandLimitedNoise.reference(posterior.model, sigma)
        settings.setdefault("seed", 0 if seed is None else int(seed))
    return settings


def _atlas_rank(atlas, recordings: SpikeTrains, criteria):
    """``rank(dics (K, 2), owner (K,))``: the calibrated score of targets for recordings.

    The atlas share of cells around a target with the recording's features plus twice
    the share with its class (on 300 STG test recordings, ranked with an atlas of half
    the training targets and scored with the other half: class match 98.2 -> 99.4 % and
    feature match 82.7 -> 82.1 % against the feature share alone).
    """
    crit = FidelityCriteria() if criteria is None else criteria
    feats = crit.summarize(recordings)

    def rank(dics: np.ndarray, owner: np.ndarray) -> np.ndarray:
        shares = atlas.match_shares(dics, feats, crit, owner=owner, k=8)
        return shares["feature_match"] + CLASS_WEIGHT * shares["class_match"]

    return rank


def _add_fidelity(report, active, rows, population, verified, n):
    """Report columns of a scored or verified inference (NaN / "" for silent recordings)."""
    report = report.copy()
    b = len(report)

    def put(name, values, fill):
        col = np.full(b, fill, dtype=object if isinstance(fill, str) else type(fill))
        col[active] = values
        report[name] = col

    passed = population.fidelity.passed.sum(axis=1)
    put("n_simulated", rows["n_scored"], 0)
    put("n_passed", passed, 0)
    put("acceptance_rate", rows["pass_fraction"], np.nan)
    put("class_match", population.fidelity.class_match.mean(axis=1), np.nan)
    put("feature_match", population.fidelity.feature_match.mean(axis=1), np.nan)
    put("van_rossum", np.nanmean(population.fidelity.van_rossum, axis=1), np.nan)
    from sbidic.fidelity.diversity import population_diversity
    from sbidic.models import get_model

    try:
        model = get_model(population.model)
        ranges = model.conductance_ranges or getattr(model, "monte_carlo_ranges", None)
    except ValueError:  # a model not registered in this process: no declared ranges
        ranges = None
    for name, values in population_diversity(population.conductances, ranges).items():
        put(name, values, np.nan)
    adequacy = rows["adequacy"].astype(object)
    if verified is not None:
        short = (passed < n) & (rows["n_passed"] > 0)
        for i in np.flatnonzero(short):
            adequacy[i] = (
                f"only {passed[i]} of {n} cells pass within the budget "
                f"({rows['n_scored'][i]} simulated); the other cells are the best matches"
            ) + (f"; {adequacy[i]}" if adequacy[i] else "")
    put("adequacy", adequacy, "")
    return report
