"""Degenerate populations: many conductance sets that share the same (g_s, g_u).

A population is drawn in two steps (Brandoit et al. 2025):

1. a *seed* population: a few conductances drawn at random and scaled by a
   gamma-distributed leak, the others solved so every cell has the model's seed DICs;
2. *modulation*: two conductances per cell are compensated so that the cell reaches
   the target slow and ultraslow DICs (:func:`sbidic.population.compensation.modulate`).

Cells that end with a negative conductance, or that do not converge, are replaced by
fresh draws until exactly ``n`` valid cells per target are found.

``spread`` chooses where the drawn conductances come from: ``"seed"`` (the published
algorithm) draws them from the seed's narrow boxes; ``"ranges"`` draws them, and the
leak, uniformly over the model's plausible ``conductance_ranges`` (no leak scaling) and
also replaces every cell that leaves those ranges once compensated: populations about
1.5 times as spread (mean coefficient of variation of the conductances) at the same
DICs, but whose firing depends more on what the DICs leave free (fewer cells have the
recording's rate or burst period unless they are verified by simulation). The default
``"seed"`` does not bound the cells by the ranges: the ranges come from the published
algorithm's populations, and the cells that fire like the slow bursts of real STG
recordings lie partly outside them (``docs/real-recordings.md``).

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from sbidic._memory import SAMPLING_FACTOR, check_memory, population_bytes
from sbidic.models import ConductanceModel, get_model
from sbidic.models.base import gamma_matching_uniform
from sbidic.population.compensation import Modulation, compensate, modulate
from sbidic.population.result import Population

__all__ = [
    "SPREADS",
    "UnreachableTargetError",
    "check_population_memory",
    "outside_ranges",
    "sample_population",
    "sample_populations",
    "seed_population",
]

Seed = int | np.random.Generator | np.random.RandomState | None

#: Where the drawn conductances of a population come from (``spread``).
SPREADS = ("seed", "ranges")


class UnreachableTargetError(ValueError):
    """Some targets admit no valid cell.

    Attributes
    ----------
    targets : ndarray, shape (n_unreachable, 2)
        The unreachable ``(g_s, g_u)`` targets.
    indices : ndarray of int
        Their positions in the requested batch.
    partial : Population
        The full result, with NaN for the cells of unreachable targets, so that the
        work done for the reachable ones is not lost.

    Examples
    --------
    >>> try:
    ...     sample_population("da", g_s=15.0, g_u=0.0, n=5, rng=0)
    ... except UnreachableTargetError as err:
    ...     print(str(err).splitlines()[0])
    1 of 1 da target(s) cannot be reached with valid (non-negative) conductances:
    """

    def __init__(self, message: str, targets: np.ndarray, indices: np.ndarray, partial):
        super().__init__(message)
        self.targets = targets
        self.indices = indices
        self.partial = partial


def _rng(seed: Seed) -> np.random.Generator | np.random.RandomState:
    # A legacy RandomState is accepted so that seeded reference populations can be
    # reproduced bit for bit; a Generator is the recommended choice.
    if isinstance(seed, np.random.RandomState):
        return seed
    return np.random.default_rng(seed)


def seed_population(
    model: str | ConductanceModel,
    n: int,
    rng: Seed = None,
    V: float | None = None,
    spread: str = "seed",
) -> np.ndarray:
    """Draw ``n`` seed cells, all with the model's seed DICs.

    The conductances in ``model.seed.drawn`` are drawn uniformly, in order, then
    ``g_leak`` from the gamma law moment-matched to ``model.seed.leak_range``; the drawn
    conductances are multiplied by ``g_leak / mean(leak_range)`` and the remaining ones
    solved so that ``(g_f, g_s, g_u) = model.seed.target``. With ``spread="ranges"``
    the drawn conductances and the leak are uniform over ``model.conductance_ranges``
    instead (not scaled).

    Parameters
    ----------
    model : str or ConductanceModel
        The model.
    n : int
        Number of cells.
    rng : int, numpy.random.Generator or numpy.random.RandomState, optional
        Random source or seed.
    V : float, optional
        Voltage (mV) of the DICs; defaults to ``model.V_th``.
    spread : {"seed", "ranges"}
        Draw from the seed's boxes (the published algorithm) or the plausible ranges.

    Returns
    -------
    ndarray, shape (n, n_conductances)
        Conductances in mS/cm^2.

    Examples
    --------
    >>> g = seed_population("da", 4, rng=0)
    >>> from sbidic.dics import dynamic_input_conductances
    >>> dynamic_input_conductances("da", g).round(6)[0]
    array([-12.95,   0.5 ,   5.  ])
    """
    model = get_model(model)
    n = _check_n(n)
    rng = _rng(rng)
    spread = _check_spread(model, spread)
    spec = model.seed
    gT = np.full((model.n_conductances, n), np.nan)  # cells last
    if spread == "ranges":
        for name in (*spec.drawn, "leak"):
            gT[model.index(name)[0]] = rng.uniform(*model.conductance_ranges[name], n)
        return compensate(model, gT.T, spec.compensated, spec.target, V)
    for name, (low, high) in spec.drawn.items():
        gT[model.index(name)[0]] = rng.uniform(low, high, n)
    shape, scale = gamma_matching_uniform(*spec.leak_range)
    gT[-1] = rng.gamma(shape, scale, n)
    gT[model.index(tuple(spec.drawn))] *= gT[-1] / spec.leak_mean
    return compensate(model, gT.T, spec.compensated, spec.target, V)


def _check_spread(model: ConductanceModel, spread: str) -> str:
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {SPREADS}, got {spread!r}")
    if spread == "ranges" and getattr(model, "conductance_ranges", None) is None:
        raise ValueError(f"model {model.name!r} declares no conductance_ranges")
    return spread


def outside_ranges(model: ConductanceModel, g: np.ndarray) -> np.ndarray:
    """Cells (rows of ``g``, mS/cm^2) with a conductance outside ``conductance_ranges``
    (NaN counts as outside): a boolean array of shape ``g.shape[:-1]``; all False for a
    model that declares no ranges."""
    ranges = getattr(model, "conductance_ranges", None)
    if ranges is None:
        return np.zeros(np.shape(g)[:-1], dtype=bool)
    low, high = np.array([ranges[c] for c in model.conductances]).T
    with np.errstate(invalid="ignore"):
        return ~((g >= low) & (g <= high)).all(-1)


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"the number of cells n must be a positive integer, got {n!r}")
    return int(n)


def check_population_memory(model: str | ConductanceModel, n_targets: int, n: int) -> None:
    """Refuse, before any work, populations that need more memory than is available.

    Parameters
    ----------
    model : str or ConductanceModel
        The model (its number of conductances sets the size of a cell).
    n_targets : int
        Targets, each with its own population.
    n : int
        Cells per target.

    Raises
    ------
    sbidic._memory.NotEnoughMemoryError
        A :class:`MemoryError` and :class:`ValueError` giving the memory needed (the
        peak of sampling, :data:`sbidic._memory.SAMPLING_FACTOR` times the population's
        size) and the memory available.

    Examples
    --------
    >>> check_population_memory("stg", 1, 100)  # 29 kB: fine
    >>> check_population_memory("stg", 1, 10**15)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sbidic._memory.NotEnoughMemoryError: 1 target(s) x 1,000,000,000,000,000 cells need about ...
    """
    n_cond = get_model(model).n_conductances
    check_memory(
        population_bytes(n_targets * n, n_cond, SAMPLING_FACTOR),
        f"{n_targets:,} target(s) x {n:,} cells",
        hint="ask for fewer cells per target (n, -n) or fewer targets",
    )


def _check_targets(model: ConductanceModel, targets: np.ndarray) -> np.ndarray:
    targets = np.array(targets, dtype=float, ndmin=2)
    if targets.ndim != 2 or targets.shape[1] != 2:
        raise ValueError(
            f"targets must have shape (n_targets, 2) as (g_s, g_u), got {targets.shape}"
        )
    bad = ~np.isfinite(targets).all(axis=1)
    if bad.any():
        raise ValueError(
            "targets must be finite; non-finite (g_s, g_u) at positions "
            f"{np.flatnonzero(bad).tolist()}"
        )
    (s_lo, s_hi), (u_lo, u_hi) = model.target_box["g_s"], model.target_box["g_u"]
    outside = (
        (targets[:, 0] < s_lo)
        | (targets[:, 0] > s_hi)
        | (targets[:, 1] < u_lo)
        | (targets[:, 1] > u_hi)
    )
    if outside.any():
        warnings.warn(
            f"{outside.sum()} target(s) lie outside the {model.name} training box "
            f"g_s in [{s_lo}, {s_hi}], g_u in [{u_lo}, {u_hi}], "
            f"e.g. {targets[outside][0].tolist()}; "
            "populations are still computed but estimators were not trained there",
            UserWarning,
            stacklevel=3,
        )
    return targets


def _why_invalid(model: ConductanceModel, result: Modulation, tol: float) -> str:
    g = result.conductances
    reasons = []
    negative = (g < 0).mean(axis=0)
    for name, share in zip(model.conductance_labels, negative, strict=True):
        if share > 0:
            reasons.append(f"{name} < 0 in {share:.0%} of draws")
    outside = outside_ranges(model, g).mean()
    if outside > 0:
        reasons.append(f"outside the model's conductance_ranges in {outside:.0%} of draws")
    unconverged = (~(result.residual <= tol)).mean()
    if unconverged > 0:
        reasons.append(f"compensation did not converge (or was singular) in {unconverged:.0%}")
    return "; ".join(reasons) or "no valid cell"


def sample_populations(
    model: str | ConductanceModel,
    targets: np.ndarray | Sequence[Sequence[float]],
    n: int,
    rng: Seed = None,
    compensated: Sequence[str] | None = None,
    tol: float = 1e-10,
    max_solves: int = 100,
    max_rounds: int = 8,
    V: float | None = None,
    spread: str = "seed",
) -> Population:
    """Degenerate populations of exactly ``n`` cells for each of many targets.

    All cells of all targets are drawn and compensated together, vectorised.
    Rejected cells (a negative conductance, or no convergence within ``tol``; with
    ``spread="ranges"`` also a conductance outside the model's ``conductance_ranges``)
    are replaced by new draws, in up to ``max_rounds`` rounds.

    Parameters
    ----------
    model : str or ConductanceModel
        The model, e.g. ``"stg"`` or ``"da"``.
    targets : array_like, shape (n_targets, 2)
        Target ``(g_s, g_u)`` at ``V_th`` (dimensionless, leak-normalised).
    n : int
        Cells per target.
    rng : int, numpy.random.Generator or numpy.random.RandomState, optional
        Random source or seed; the same seed gives the same populations.
    compensated : sequence of str, optional
        Force the two compensated conductances (default: the model's rule).
    tol : float
        Largest accepted ``|g_s - g_s*|`` and ``|g_u - g_u*|``.
    max_solves : int
        Largest number of linear solves per cell.
    max_rounds : int
        Largest number of draw-and-compensate rounds.
    V : float, optional
        Voltage (mV) of the DICs; defaults to ``model.V_th``.
    spread : {"seed", "ranges"}
        ``"seed"``: the published algorithm (the seed's boxes); ``"ranges"``: drawn
        conductances uniform over the model's plausible ``conductance_ranges`` and every
        cell inside them (the more diverse population, see the module docstring).

    Returns
    -------
    Population
        Conductances of shape (n_targets, n, n_conductances), with the achieved DICs.

    Raises
    ------
    sbidic._memory.NotEnoughMemoryError
        Before any work, when the populations need more memory than is available
        (:func:`check_population_memory`); a :class:`MemoryError` and a
        :class:`ValueError`.
    UnreachableTargetError
        If some targets have fewer than ``n`` valid cells after ``max_rounds`` rounds.
        The message names them and says why; ``.partial`` holds everything computed.

    Examples
    --------
    >>> pop = sample_populations("stg", [[-4, 5], [6, 10]], n=3, rng=0)
    >>> pop
    Population(model='stg', n_targets=2, n_cells=3, V_th=-51.0 mV)
    >>> pop.conductances.shape  # targets x cells x conductances
    (2, 3, 8)
    """
    model = get_model(model)
    n = _check_n(n)
    spread = _check_spread(model, spread)
    targets = _check_targets(model, targets)
    check_population_memory(model, len(targets), n)
    rng = _rng(rng)
    m = len(targets)
    n_cond = model.n_conductances

    g_out = dics_out = res_out = None  # allocated unless the first round fills them
    filled = np.zeros(m, dtype=int)
    drawn = np.zeros(m, dtype=int)
    reasons: dict[int, str] = {}

    for _ in range(max_rounds):
        need = n - filled
        if not need.any():
            break
        rate = np.where(drawn > 0, (filled + 0.5) / np.maximum(drawn, 1), 1.0)
        n_draw = np.where(
            need > 0, np.ceil(need / np.minimum(rate, 1.0) * (1.0 + 0.2 * (drawn > 0))), 0
        )
        n_draw = np.minimum(n_draw, 100 * n).astype(int)
        owner = np.repeat(np.arange(m), n_draw)
        # one target: a broadcast view, which tells modulate to apply its rules once
        drawn_for = np.broadcast_to(targets[0], (len(owner), 2)) if m == 1 else targets[owner]
        result = _draw_and_compensate(
            model, drawn_for, rng, compensated, spread, tol=tol, max_solves=max_solves, V=V
        )
        ok = result.valid & (result.residual <= tol)
        if spread == "ranges":
            ok &= ~outside_ranges(model, result.conductances)
        drawn += n_draw
        if g_out is None and (n_draw == n).all() and ok.all():
            # first round, every cell valid: the draws are already in target blocks
            g_out = result.conductances.reshape(m, n, n_cond)
            dics_out, res_out = result.dics.reshape(m, n, 3), result.residual.reshape(m, n)
            filled[:] = n
            break
        if g_out is None:
            g_out, dics_out = np.full((m, n, n_cond), np.nan), np.full((m, n, 3), np.nan)
            res_out = np.full((m, n), np.nan)
        # Keep, per target, the first `need` valid cells in draw order (vectorised).
        idx = np.flatnonzero(ok)
        own = owner[idx]
        rank = np.arange(len(idx)) - np.searchsorted(own, own, side="left")
        take = rank < need[own]
        idx, own, rank = idx[take], own[take], rank[take]
        slot = filled[own] + rank
        g_out[own, slot] = result.conductances[idx]
        dics_out[own, slot] = result.dics[idx]
        res_out[own, slot] = result.residual[idx]
        filled += np.bincount(own, minlength=m)
        for t in np.flatnonzero((need > 0) & (filled < n)):
            reasons[t] = _why_invalid(model, _subset(result, owner == t), tol)

    if g_out is None:  # max_rounds = 0
        g_out, dics_out = np.full((m, n, n_cond), np.nan), np.full((m, n, 3), np.nan)
        res_out = np.full((m, n), np.nan)
    population = Population(
        model=model.name,
        conductance_names=model.conductances,
        V_th=float(model.V_th if V is None else V),
        target=targets,
        conductances=g_out,
        dics=dics_out,
        residual=res_out,
        acceptance=filled / np.maximum(drawn, 1),
    )
    short = np.flatnonzero(filled < n)
    if short.size:
        lines = [
            f"  (g_s={targets[t, 0]:g}, g_u={targets[t, 1]:g}): {filled[t]}/{n} valid cells "
            f"after {drawn[t]} draws; {reasons.get(t, 'no valid cell')}"
            for t in short[:20]
        ]
        more = f"\n  ... and {short.size - 20} more" if short.size > 20 else ""
        raise UnreachableTargetError(
            f"{short.size} of {m} {model.name} target(s) cannot be reached with valid "
            f"(non-negative) conductances:\n" + "\n".join(lines) + more,
            targets[short],
            short,
            population,
        )
    return population


#: Most cells drawn and compensated in one vectorised pass (bounds the temporary memory
#: of hard targets, which can need up to 100 draws per cell; ~100 MB per block).
ROUND_BLOCK = 2**16


def _draw_and_compensate(
    model, targets: np.ndarray, rng, compensated, spread: str, **kwargs
) -> Modulation:
    """Seed cells for ``targets`` and compensate them, ``ROUND_BLOCK`` cells at a time
    (a round that fits one block draws exactly as one call does)."""
    parts = []
    for start in range(0, max(len(targets), 1), ROUND_BLOCK):
        block = targets[start : start + ROUND_BLOCK]
        seeds = seed_population(model, len(block), rng, kwargs.get("V"), spread)
        parts.append(modulate(model, seeds, block, compensated, **kwargs))
    if len(parts) == 1:
        return parts[0]
    return Modulation(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("conductances", "dics",
                                                                    "residual")),
        max(p.n_solves for p in parts),
    )  # fmt: skip


def _subset(result: Modulation, mask: np.ndarray) -> Modulation:
    return Modulation(
        result.conductances[mask], result.dics[mask], result.residual[mask], result.n_solves
    )


def sample_population(
    model: str | ConductanceModel,
    g_s: float,
    g_u: float,
    n: int,
    rng: Seed = None,
    **kwargs,
) -> Population:
    """A degenerate population of exactly ``n`` cells with DICs ``(g_s, g_u)`` at V_th.

    Shorthand for :func:`sample_populations` with one target; keyword arguments are
    passed on.

    Examples
    --------
    >>> pop = sample_population("stg", g_s=-4.0, g_u=5.0, n=100, rng=0)
    >>> pop.conductances.shape
    (1, 100, 8)
    >>> bool(abs(pop.dics[..., 1:] - [-4.0, 5.0]).max() < 1e-9)
    True
    """
    return sample_populations(model, [[g_s, g_u]], n, rng, **kwargs)
