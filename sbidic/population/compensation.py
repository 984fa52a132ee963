"""Compensation: solve for some conductances so that a cell reaches target DICs.

One step solves, per cell, the square linear system

    S[R, U](V) g_U = t_R - S[R, K](V) g_K

for the unknown (compensated) conductances U, where R are the constrained DIC rows
and K the known conductances, leak included. Where S itself depends on the
compensated conductances (the STG KCa column through calcium), the step is repeated
with S re-linearised at the previous solution until the DICs are met: the
iterative compensation algorithm of Brandoit et al. (2025).

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783

A. Fyon, A. Franci, P. Sacré, G. Drion (2024). Dimensionality reduction of neuronal
degeneracy reveals two interfering physiological mechanisms. PNAS Nexus 3(10).
https://doi.org/10.1093/pnasnexus/pgae415
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sbidic.dics import sensitivity_matrix
from sbidic.models import ConductanceModel, get_model
from sbidic.population.plan import CompensationPlan, compensation_plan, solve_cells

__all__ = ["Modulation", "compensate", "modulate"]

_SLOW_ULTRASLOW = np.array([1, 2])  # DIC rows constrained by a modulation


def _linear_step(
    S: np.ndarray, g: np.ndarray, unknown: list[int], rows: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """One compensation solve with a given (normalised) sensitivity matrix."""
    S_R = S[..., rows, :]  # (n, k, n_cond)
    A = S_R[..., unknown]  # (n, k, k)
    known = [j for j in range(g.shape[-1]) if j not in unknown]
    with np.errstate(invalid="ignore"):  # NaN/inf cells are reported, not raised
        b = target - (S_R[..., known] @ g[..., known, None])[..., 0]
    out = g.copy()
    out[..., unknown] = solve_cells(A, b)
    return out


def _planned(V) -> bool:
    """Whether compensation at ``V`` uses a cached :class:`CompensationPlan` (one
    voltage for all cells) rather than the general per-cell S(V) path."""
    return np.ndim(V) == 0


def _constrained_rows(target: np.ndarray, k: int) -> np.ndarray:
    free = np.isnan(target)
    if free.ndim > 1 and not (free == free[:1]).all():
        raise ValueError("every cell must constrain the same DICs (NaN marks a free DIC)")
    rows = np.flatnonzero(~free.reshape(-1, 3)[0])
    if len(rows) != k or not 1 <= k <= 3:
        raise ValueError(
            f"the number of compensated conductances ({k}) must equal the number of "
            f"constrained DICs ({len(rows)}), between 1 and 3"
        )
    return rows


def compensate(
    model: str | ConductanceModel,
    g: np.ndarray,
    unknown: Sequence[str],
    target: Sequence[float | None] | np.ndarray,
    V: float | None = None,
) -> np.ndarray:
    """One linear compensation solve (Fyon et al. 2024; Brandoit et al. 2025).

    Parameters
    ----------
    model : str or ConductanceModel
        The model.
    g : ndarray, shape (n_cells, n_conductances)
        Conductances (mS/cm^2). Values in the ``unknown`` columns are only used as the
        point where S is evaluated (they matter only where S depends on them) and may
        be NaN for conductances S does not depend on.
    unknown : sequence of str
        Conductances to solve for, e.g. ``("Na", "A", "H")``.
    target : array_like, shape (3,) or (n_cells, 3)
        Target ``(g_f, g_s, g_u)``; ``None`` or NaN leaves a DIC free. As many DICs
        must be constrained as there are unknowns.
    V : float, optional
        Voltage (mV); defaults to the model's ``V_th``.

    Returns
    -------
    ndarray, shape (n_cells, n_conductances)
        A new array with the unknown columns solved; NaN for cells whose system is
        singular. The input is not modified.

    Examples
    --------
    >>> g = np.array([[np.nan, 8.0, 0.045, np.nan, np.nan, 0.012, 0.01285]])
    >>> compensate("da", g, ["Na", "CaN", "ERG"], [-12.95, 0.5, 5.0]).round(6)
    array([[3.5469348e+01, 8.0000000e+00, 4.5000000e-02, 4.0696000e-02,
            1.5015900e-01, 1.2000000e-02, 1.2850000e-02]])
    """
    model = get_model(model)
    unknown_idx = model.index(tuple(unknown))
    target = np.array([np.nan if t is None else t for t in np.ravel(target)], dtype=float)
    target = target.reshape(-1, 3) if target.size > 3 else target
    rows = _constrained_rows(target, len(unknown_idx))
    g = np.atleast_2d(np.asarray(g, dtype=float))
    if _planned(V) and g.ndim == 2:
        plan = compensation_plan(model, model.V_th if V is None else V, unknown_idx, rows)
        gT = np.array(g.T, order="C")  # a copy, cells last
        np.copyto(gT, 0.0, where=np.isnan(gT))
        with np.errstate(invalid="ignore", over="ignore"):
            cols, leak = plan.columns(gT.T), gT[-1]
            base = target[..., rows].reshape(-1, len(rows)).T * leak - plan.known_part(gT)[rows]
            dep = plan.dependent_part(gT, cols)
            gT[unknown_idx] = plan.solve(base, dep, leak, cols)
        return gT.T  # (n_cells, n_conductances), in Fortran order
    filled = np.where(np.isnan(g), 0.0, g)
    S = sensitivity_matrix(model, filled, V)
    return _linear_step(S, filled, unknown_idx, rows, target[..., rows])


@dataclass(frozen=True)
class Modulation:
    """Result of :func:`modulate` for a batch of cells.

    Attributes
    ----------
    conductances : ndarray, shape (n_cells, n_conductances)
        Modulated conductances (mS/cm^2).
    dics : ndarray, shape (n_cells, 3)
        Achieved ``(g_f, g_s, g_u)`` at V.
    residual : ndarray, shape (n_cells,)
        ``max(|g_s - g_s*|, |g_u - g_u*|)``.
    n_solves : int
        Linear solves performed.

    Examples
    --------
    >>> from sbidic.population import seed_population
    >>> moved = modulate("da", seed_population("da", 4, rng=0), [15.0, 0.0])
    >>> moved.valid  # this target needs g_ERG < 0 in every cell
    array([False, False, False, False])
    >>> moved.dics[:, 1:].round(6).tolist()[0], moved.n_solves
    ([15.0, 0.0], 1)
    """

    conductances: np.ndarray
    dics: np.ndarray
    residual: np.ndarray
    n_solves: int

    @property
    def valid(self) -> np.ndarray:
        """Cells with finite, non-negative conductances, shape (n_cells,)."""
        ok = (self.conductances >= 0) & (self.conductances < np.inf)
        cells = np.ones(len(ok), dtype=bool) if ok.all() else ok.all(-1)  # (one fast check)
        return cells & np.isfinite(self.residual)


def modulate(
    model: str | ConductanceModel,
    g: np.ndarray,
    target: np.ndarray | Sequence[float],
    compensated: Sequence[str] | None = None,
    initial_guess: dict[str, float | np.ndarray] | None = None,
    tol: float = 1e-10,
    max_solves: int = 100,
    accelerate: bool = True,
    V: float | None = None,
) -> Modulation:
    """Move cells to target slow and ultraslow DICs by compensating two conductances.

    ``g_f`` is left free. When the sensitivity matrix depends on a compensated
    conductance, the solve is repeated, each time linearising at the previous
    solution, until every cell is within ``tol`` of its target or ``max_solves`` is
    reached: the fixed-point iteration of Brandoit et al. (2025). By default each
    step is accelerated with a per-cell secant (Anderson(1)) update, which needs
    several times fewer solves than the plain iteration for the same tolerance.

    Parameters
    ----------
    model : str or ConductanceModel
        The model.
    g : ndarray, shape (n_cells, n_conductances)
        Starting cells (mS/cm^2), e.g. a seed population. Not modified.
    target : array_like, shape (2,) or (n_cells, 2)
        Target ``(g_s, g_u)`` (dimensionless), one for all cells or one per cell.
    compensated : sequence of str, optional
        The two conductances to solve for. Defaults to the model's rule
        (:meth:`ConductanceModel.compensation_choice`), per cell.
    initial_guess : dict, optional
        First linearisation values (mS/cm^2) of compensated conductances; defaults to
        :meth:`ConductanceModel.initial_guess`. Others start from their current value.
    tol : float
        Stop once every cell's residual is at most ``tol``. ``tol=0`` runs exactly
        ``max_solves`` solves, as the published code does with ``iterations + 1``.
    max_solves : int
        Upper bound on linear solves.
    accelerate : bool
        Secant-accelerate the fixed-point iteration (default). ``False`` runs the
        plain iteration of the published method.
    V : float, optional
        Voltage (mV); defaults to the model's ``V_th``.

    Returns
    -------
    Modulation
        Conductances, achieved DICs, residuals and the number of solves.

    Examples
    --------
    >>> from sbidic.population import seed_population
    >>> seeds = seed_population("stg", 3, rng=0)
    >>> moved = modulate("stg", seeds, [-4.0, 5.0])
    >>> moved.dics[:, 1:].round(6).tolist()
    [[-4.0, 5.0], [-4.0, 5.0], [-4.0, 5.0]]
    >>> bool((moved.residual <= 1e-10).all())
    True
    """
    model = get_model(model)
    g = np.atleast_2d(np.asarray(g, dtype=float))
    n = len(g)
    target = np.broadcast_to(np.asarray(target, dtype=float), (n, 2))
    # one target for every cell (a population): the rules are evaluated once
    same = n and (target.strides[0] == 0 or (target == target[:1]).all())
    rule = target[:1] if same else target
    if compensated is None:
        choice = np.asarray(model.compensation_choice(rule[:, 0], rule[:, 1]))
        choice = np.broadcast_to(choice, (len(rule),))
        if len(rule) == 1:
            groups = [(model.compensation_sets[int(choice[0])], None)]
        else:
            groups = [(model.compensation_sets[c], choice == c) for c in np.unique(choice)]
    else:
        groups = [(tuple(compensated), None)]
    guesses = model.initial_guess(rule[:, 0], rule[:, 1])
    if initial_guess is not None:
        guesses = {**guesses, **initial_guess}

    if not groups or groups[0][1] is not None:  # per-cell sets (or no cells)
        out, dics, residual = np.empty_like(g), np.empty((n, 3)), np.empty(n)
    n_solves = 0
    for names, mask in groups:
        unknown = model.index(names)
        if len(unknown) != 2:
            raise ValueError(f"modulation compensates two conductances, got {names}")
        cells = np.array(g, order="K") if mask is None else g[mask]  # a copy
        for col in unknown:
            guess = guesses.get(model.conductances[col])
            if guess is not None:  # one value, or one per cell
                per_cell = mask is not None and np.size(guess) == n
                cells[:, col] = np.asarray(guess)[mask] if per_cell else guess
        start = cells[:, unknown]
        if np.isnan(start).any():
            cells[:, unknown] = np.where(np.isnan(start), 0.0, start)
        if _planned(V):
            plan = compensation_plan(model, model.V_th if V is None else V, unknown, (1, 2))
            with np.errstate(all="ignore"):  # NaN (singular) cells are reported, not raised
                step = _iterate_planned(plan, cells, target if mask is None else target[mask],
                                        tol, max_solves, accelerate)  # fmt: skip
        else:
            step = _iterate(model, cells, unknown, target if mask is None else target[mask],
                            tol, max_solves, accelerate, V)  # fmt: skip
        if mask is None:
            out, dics, residual, solves = step
        else:
            out[mask], dics[mask], residual[mask], solves = step
        n_solves = max(n_solves, solves)
    return Modulation(out, dics, residual, n_solves)


def _iterate(
    model: ConductanceModel,
    cells: np.ndarray,
    unknown: list[int],
    target: np.ndarray,
    tol: float,
    max_solves: int,
    accelerate: bool,
    V: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Repeat the compensation solve for cells that share the compensated set.

    Returns the cells, their achieved DICs, residuals and the number of solves.
    Cells drop out of the iteration once their residual is within ``tol``.
    """
    achieved = np.full((len(cells), 3), np.nan)
    err = np.full(len(cells), np.nan)
    active = np.arange(len(cells))  # cells still iterating
    previous = None  # (x, f(x)) of the last step, for the secant update
    S = sensitivity_matrix(model, cells, V)
    solves = 0
    for _ in range(max_solves):
        solves += 1
        x = cells[active][:, unknown]
        solved = _linear_step(S, cells[active], unknown, _SLOW_ULTRASLOW, target[active])
        fx = solved[:, unknown]
        if accelerate and previous is not None:
            # Anderson(1): mix the last two images so that the residual f(x) - x
            # vanishes along the secant direction; falls back to f(x) when degenerate.
            x_old, fx_old = previous
            r, dr = fx - x, (fx - x) - (fx_old - x_old)
            with np.errstate(divide="ignore", invalid="ignore"):
                gamma = (r * dr).sum(-1) / (dr * dr).sum(-1)
            gamma = np.where(np.isfinite(gamma), gamma, 0.0)
            solved[:, unknown] = fx - gamma[:, None] * (fx - fx_old)
        previous = (x, fx)
        cells[active] = solved
        S = sensitivity_matrix(model, np.nan_to_num(solved), V)
        achieved[active] = (S @ solved[..., None])[..., 0]
        err[active] = np.abs(achieved[active, 1:] - target[active]).max(-1)
        going = err[active] > tol  # False for NaN (singular) cells
        active, S = active[going], S[going]
        previous = (previous[0][going], previous[1][going])
        if not active.size:
            break
    return cells, achieved, err, solves


def _iterate_planned(
    plan: CompensationPlan,
    cells: np.ndarray,
    target: np.ndarray,
    tol: float,
    max_solves: int,
    accelerate: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`_iterate` with a precomputed plan: the same steps, secant update and
    stopping rule, re-evaluating only the conductance-dependent columns of S, and
    only when they depend on a compensated conductance.

    Arrays are cells-last. Each step stores the results of the cells still going
    (a masked copy); finished cells are dropped from the working arrays only once
    they are half of them, since computing them is cheaper than compacting.
    """
    unknown = plan.unknown
    n = len(cells)
    gT = np.ascontiguousarray(cells.T)
    target = np.ascontiguousarray(target.T)
    out_x, out_dics, out_err = gT[unknown], np.full((3, n), np.nan), np.full(n, np.nan)
    stage = (out_x, out_dics, out_err)  # results of the working cells
    index = None  # working cells: all, in order, until the first compaction
    live = np.ones(n, dtype=bool)  # working cells not finished yet
    leak, known = gT[-1], plan.known_part(gT)
    cols = plan.columns(gT.T)
    dep = plan.dependent_part(gT, cols)
    base = target * leak - known[plan.rows]
    x, previous, solves = out_x.copy(), None, 0
    for _ in range(max_solves):
        solves += 1
        fx = plan.solve(base, dep, leak, cols)
        r = fx - x
        new = fx
        if accelerate and previous is not None:  # Anderson(1), as in _iterate
            r_old, fx_old = previous
            dr = r - r_old
            gamma = (r[0] * dr[0] + r[1] * dr[1]) / (dr[0] * dr[0] + dr[1] * dr[1])
            if not np.isfinite(gamma).all():
                gamma[~np.isfinite(gamma)] = 0.0
            new = fx - gamma * (fx - fx_old)
        previous, x = (r, fx), new
        if plan.driven:
            gT[unknown] = x if np.isfinite(x).all() else np.nan_to_num(x)
            cols = plan.columns(gT.T)
            dep = plan.dependent_part(gT, cols)
        reached = plan.dics(known, dep, x, leak, cols)
        d = np.abs(reached[1:] - target)
        e = np.maximum(d[0], d[1])
        for result, value in zip(stage, (x, reached, e), strict=True):
            np.copyto(result, value, where=live)
        live &= e > tol  # NaN (singular) cells are finished too
        if not live.any():
            break
        if 2 * live.sum() <= len(live):  # compact: flush the stage, keep the live cells
            if index is not None:
                out_x[:, index], out_dics[:, index], out_err[index] = stage
            index = np.flatnonzero(live) if index is None else index[live]
            x, target, base, dep, leak, known, gT, cols, *stage = (
                a[..., live] for a in (x, target, base, dep, leak, known, gT, cols, *stage)
            )
            previous = (previous[0][:, live], previous[1][:, live])
            live = np.ones(len(index), dtype=bool)
    if index is not None:
        out_x[:, index], out_dics[:, index], out_err[index] = stage
    cells[:, unknown] = out_x.T
    return np.ascontiguousarray(cells), np.ascontiguousarray(out_dics.T), out_err, solves
