"""Compensation at one voltage with everything that depends only on the model, the
voltage and the compensated set computed once.

At a fixed voltage, S(V, g) is a constant matrix plus a few columns that depend on
the conductances (the STG KCa column, through calcium; none for DA), see
:meth:`sbidic.models.ConductanceModel.sensitivity_split`. Multiplying the
compensation system ``S[R, U] g_U / g_leak = t_R - S[R, K] g_K / g_leak`` by
``g_leak`` gives

    S[R, U] g_U = t_R g_leak - S_fixed[R, K] g_K - S_dep[R, K](g) g_K,

whose matrix is the same for every cell whenever no compensated conductance has a
dependent column: it is inverted once, and a compensation step costs a few vector
operations per cell. The right-hand side's constant part is computed once per call;
only the dependent columns are re-evaluated when the compensation iterates. The
result equals the general path (:func:`sbidic.dics.sensitivity_matrix` and a
per-cell solve) to rounding.

Plans are cached per (model class, voltage, compensated set, constrained rows):
model classes are immutable declarations, and a model loaded again from a file is a
new class, hence a new plan.
"""

from __future__ import annotations

import numpy as np

from sbidic.models import ConductanceModel
from sbidic.models.base import SensitivitySplit

__all__ = ["CompensationPlan", "compensation_plan", "solve_cells"]


class CompensationPlan:
    """Precomputed compensation for one model, voltage, compensated set and DIC rows.

    Built by :func:`compensation_plan` from the model's
    :class:`~sbidic.models.base.SensitivitySplit`.

    Attributes
    ----------
    unknown, rows : list of int
        Compensated columns and constrained DIC rows.
    driven : bool
        Whether S depends on a compensated conductance (the solve must iterate).
    constant_matrix : bool
        Whether the system matrix is the same for every cell (inverted once).

    Examples
    --------
    >>> from sbidic.models import get_model
    >>> plan = compensation_plan(get_model("stg"), -51.0, (3, 6), (1, 2))  # CaS, H
    >>> plan.constant_matrix, plan.driven  # KCa depends on CaS through calcium
    (True, True)
    """

    def __init__(self, split: SensitivitySplit, unknown: tuple[int, ...], rows: tuple[int, ...]):
        fixed, dependent = split.fixed, split.dependent
        n_cond = fixed.shape[1]
        self.columns = split.columns
        self.unknown, self.rows = list(unknown), list(rows)
        contiguous = self.rows == list(range(rows[0], rows[-1] + 1))
        self._rows = slice(rows[0], rows[-1] + 1) if contiguous else self.rows  # a view
        self.driven = bool(set(unknown) & set(split.drivers))
        self.known = [j for j in range(n_cond) if j not in unknown and j not in dependent]
        self._known = np.ascontiguousarray(fixed[:, self.known])  # (3, n_known)
        self._unknown = np.ascontiguousarray(fixed[:, self.unknown])  # (3, k)
        # dependent columns whose conductance is known / compensated
        self._dep_known = [(d, j) for d, j in enumerate(dependent) if j not in unknown]
        self._dep_unknown = [(d, self.unknown.index(j)) for d, j in enumerate(dependent)
                             if j in unknown]  # fmt: skip
        self._A = fixed[self.rows][:, self.unknown]
        self.constant_matrix = not self._dep_unknown
        self._A_inv = None  # singular or ill-conditioned: solved per cell instead
        if self.constant_matrix and np.isfinite(self._A).all():
            with np.errstate(all="ignore"):
                if np.linalg.cond(self._A) < 1e12:
                    self._A_inv = np.linalg.inv(self._A)

    # Arrays are cells-last: ``gT`` is (n_conductances, n_cells), DICs (3, n_cells).
    # Callers silence floating-point warnings (NaN cells are reported, not raised).
    def known_part(self, gT: np.ndarray) -> np.ndarray:
        """``S_fixed[:, K] g_K``, shape (3, n_cells), over the known constant columns."""
        return self._known @ gT[self.known]

    def dependent_part(self, gT: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``S_dep[:, K] g_K`` over the known dependent columns, shape (3, n_cells),
        with ``cols = columns(gT.T)``."""
        if not self._dep_known:
            return np.zeros((3, gT.shape[1]))
        (d, j), *others = self._dep_known
        out = cols[:, d] * gT[j]
        for d, j in others:
            out += cols[:, d] * gT[j]
        return out

    def solve(self, base: np.ndarray, dep: np.ndarray, leak: np.ndarray, cols: np.ndarray):
        """Compensated conductances, shape (n_unknown, n_cells), solving
        ``S[R, U] g_U = base - dep[R]`` with ``base = t_R g_leak - S_fixed[R, K] g_K``;
        NaN for a cell whose system is singular or not finite."""
        rhs = base - dep[self._rows] if self._dep_known else base
        if self._A_inv is not None:
            x = self._A_inv @ rhs
        else:
            A = np.broadcast_to(self._A, (rhs.shape[1],) + self._A.shape).copy()
            for d, u in self._dep_unknown:
                A[:, :, u] += cols[self._rows, d].T
            x = solve_cells(A, rhs.T).T
        if not (np.isfinite(x).all() and leak.all()):
            x[:, ~(np.isfinite(x).all(0) & (leak != 0))] = np.nan
        return x

    def dics(
        self, known: np.ndarray, dep: np.ndarray, x: np.ndarray, leak: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """Leak-normalised DICs ``(g_f, g_s, g_u)``, shape (3, n_cells), of cells with
        compensated conductances ``x`` (n_unknown, n_cells), from :meth:`known_part`
        and :meth:`dependent_part`."""
        total = known + dep
        total += self._unknown @ x
        for d, u in self._dep_unknown:
            total += cols[:, d] * x[u]
        total /= leak
        return total


def solve_cells(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``A x = b`` per cell; a singular system gives NaN for that cell only.

    2x2 systems (every modulation) use Cramer's rule, about 8x faster than the
    batched LAPACK call for thousands of tiny systems.

    Parameters
    ----------
    A : ndarray, shape (..., k, k)
        One matrix per cell.
    b : ndarray, shape (..., k)
        One right-hand side per cell.

    Returns
    -------
    ndarray, shape (..., k)
        The solutions; a row of NaN where the cell's system is singular.

    Examples
    --------
    >>> A = np.array([[[2.0, 0.0], [0.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]])
    >>> solve_cells(A, np.ones((2, 2)))
    array([[0.5 , 0.25],
           [ nan,  nan]])
    """
    if A.shape[-1] == 2:
        det = A[..., 0, 0] * A[..., 1, 1] - A[..., 0, 1] * A[..., 1, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.stack(
                [
                    (b[..., 0] * A[..., 1, 1] - A[..., 0, 1] * b[..., 1]) / det,
                    (A[..., 0, 0] * b[..., 1] - A[..., 1, 0] * b[..., 0]) / det,
                ],
                axis=-1,
            )
        x[~np.isfinite(x).all(-1)] = np.nan
        return x
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        x = np.full(b.shape, np.nan)
        regular = np.isfinite(A).all(axis=(-2, -1)) & (np.linalg.matrix_rank(A) == A.shape[-1])
        if regular.any():
            x[regular] = np.linalg.solve(A[regular], b[regular][..., None])[..., 0]
        return x


_PLANS: dict[tuple, CompensationPlan] = {}


def compensation_plan(
    model: ConductanceModel, V: float, unknown: tuple[int, ...], rows: tuple[int, ...]
) -> CompensationPlan:
    """The cached :class:`CompensationPlan` of ``model`` at voltage ``V`` (mV)."""
    key = (type(model), float(V), tuple(unknown), tuple(rows))
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) > 256:
            _PLANS.clear()
        plan = _PLANS[key] = CompensationPlan(model.sensitivity_split(float(V)), key[2], key[3])
    return plan
