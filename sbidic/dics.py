"""Dynamic Input Conductances (DICs): the sensitivity matrix, the DICs and the
threshold voltage of a batch of cells.

At a voltage V, with every gate at steady state, the slope of the steady-state
current splits by timescale into fast, slow and ultraslow feedback. Each gating
pathway with time constant tau contributes to the three rows with the weights

    w(tau; t1, t2) = 1 if tau <= t1, (ln t2 - ln tau) / (ln t2 - ln t1) if t1 < tau <= t2,
    0 otherwise,

``omega_f = w(tau; tau_f, tau_s)``, ``omega_s = w(tau; tau_s, tau_u) - omega_f`` and
``omega_u = 1 - w(tau; tau_s, tau_u)``. The DICs ``(g_f, g_s, g_u) = S(V) g / g_leak``
are linear in the conductances wherever S does not depend on them.

References
----------
G. Drion, A. Franci, J. Dethier, R. Sepulchre (2015). Dynamic input conductances
shape neuronal spiking. eNeuro 2(1). https://doi.org/10.1523/ENEURO.0031-14.2015

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import numpy as np

from sbidic.models import ConductanceModel, get_model
from sbidic.models.sensitivity import as_conductances, model_sensitivity, timescale_weights

__all__ = [
    "dynamic_input_conductances",
    "sensitivity_matrix",
    "threshold_voltage",
    "timescale_weights",
]

DIC_NAMES = ("g_f", "g_s", "g_u")


def sensitivity_matrix(
    model: str | ConductanceModel,
    g: np.ndarray,
    V: float | np.ndarray | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Sensitivity matrix S(V) such that the DICs are ``S(V) @ g``.

    Parameters
    ----------
    model : str or ConductanceModel
        The model, e.g. ``"stg"``.
    g : ndarray, shape (..., n_conductances)
        Maximal conductances (mS/cm^2). S depends on them only where the steady state
        does (the STG KCa column, through calcium).
    V : float or ndarray, shape (...), optional
        Voltage (mV); defaults to the model's threshold voltage ``V_th``.
    normalize : bool
        Divide every column by the cell's own ``g_leak`` (default), making the DICs
        dimensionless. Otherwise the DICs are in mS/cm^2.

    Returns
    -------
    ndarray, shape (..., 3, n_conductances)
        Rows fast, slow, ultraslow; columns in the model's conductance order.

    Examples
    --------
    >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])  # one STG cell, mS/cm^2
    >>> S = sensitivity_matrix("stg", g)
    >>> S.shape
    (1, 3, 8)
    >>> np.allclose(S @ g[0], dynamic_input_conductances("stg", g))
    True
    """
    return model_sensitivity(get_model(model), g, V, normalize)


def dynamic_input_conductances(
    model: str | ConductanceModel,
    g: np.ndarray,
    V: float | np.ndarray | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """DICs ``(g_f, g_s, g_u)`` of a batch of cells.

    Parameters
    ----------
    model : str or ConductanceModel
        The model, e.g. ``"stg"``.
    g : ndarray, shape (..., n_conductances)
        Maximal conductances (mS/cm^2).
    V : float or ndarray, shape (...), optional
        Voltage (mV); defaults to the model's ``V_th``.
    normalize : bool
        Leak-normalised, dimensionless DICs (default) or DICs in mS/cm^2.

    Returns
    -------
    ndarray, shape (..., 3)
        ``(g_f, g_s, g_u)``; negative values are regenerative feedback. The total
        ``g_t = g_f + g_s + g_u`` is the slope of the steady-state I-V curve.

    Examples
    --------
    >>> g_ref = [4000, 100, 5, 20, 150, 300, 0.3, 0.01]
    >>> dynamic_input_conductances("stg", g_ref, V=-60.0).round(4)
    array([ 5.9642, -0.394 , 26.7048])
    """
    model = get_model(model)
    g = as_conductances(model, g)
    S = sensitivity_matrix(model, g, V, normalize)
    return (S @ g[..., None])[..., 0]


def threshold_voltage(
    model: str | ConductanceModel,
    g: np.ndarray,
    grid: np.ndarray | None = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
) -> np.ndarray:
    """Per-cell threshold: the first voltage where the total DIC ``g_t`` turns <= 0.

    ``g_t(V)`` is scanned on ``grid`` (default ``linspace(-80, 0, 100)`` mV) for the
    first pair ``g_t[i] > 0 >= g_t[i + 1]``, which is then bisected: the midpoint is
    returned once ``|g_t| < tol`` or the bracket is narrower than ``tol`` mV.

    Parameters
    ----------
    model : str or ConductanceModel
        The model.
    g : ndarray, shape (n_cells, n_conductances) or (n_conductances,)
        Maximal conductances (mS/cm^2).

    Returns
    -------
    ndarray, shape (n_cells,) or ()
        Threshold voltage (mV); NaN for cells without a decreasing zero crossing.

    Examples
    --------
    >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])  # one STG cell, mS/cm^2
    >>> threshold_voltage("stg", g).round(3)
    array([-50.653])
    """
    model = get_model(model)
    g = as_conductances(model, g)
    single = g.ndim == 1
    g = np.atleast_2d(g)
    grid = np.linspace(-80.0, 0.0, 100) if grid is None else np.asarray(grid, dtype=float)

    def total(V: np.ndarray, cells: np.ndarray) -> np.ndarray:
        return dynamic_input_conductances(model, cells, V).sum(-1)

    g_t = total(grid[:, None], g[None, :, :])  # (n_grid, n_cells)
    crossing = (g_t[:-1] > 0) & (g_t[1:] <= 0)
    found = crossing.any(axis=0)
    first = crossing.argmax(axis=0)
    lo, hi = grid[first].copy(), grid[first + 1].copy()
    result = np.full(len(g), np.nan)
    active = found.copy()
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        mid = 0.5 * (lo[idx] + hi[idx])
        f_mid = total(mid, g[idx])
        done = (np.abs(f_mid) < tol) | (hi[idx] - lo[idx] < tol)
        result[idx[done]] = mid[done]
        active[idx[done]] = False
        go_up = ~done & (f_mid > 0)
        go_down = ~done & ~(f_mid > 0)
        lo[idx[go_up]] = mid[go_up]
        hi[idx[go_down]] = mid[go_down]
    return result[0] if single else result
