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

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # sbidic.models imports this module to validate declared models
    from sbidic.models import ConductanceModel


def get_model(model):
    """:func:`sbidic.models.get_model`, imported on first use."""
    from sbidic.models.loading import get_model

    return get_model(model)

__all__ = [
    "dynamic_input_conductances",
    "sensitivity_matrix",
    "threshold_voltage",
    "timescale_weights",
]

DIC_NAMES = ("g_f", "g_s", "g_u")


def _log_weight(tau: np.ndarray, tau_1: np.ndarray, tau_2: np.ndarray) -> np.ndarray:
    """Log-interpolated share of a pathway with time constant ``tau`` below ``tau_2``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (np.log(tau_2) - np.log(tau)) / (np.log(tau_2) - np.log(tau_1))
    return np.where(tau <= tau_1, 1.0, np.where(tau <= tau_2, inner, 0.0))


def timescale_weights(
    tau: np.ndarray, tau_f: np.ndarray, tau_s: np.ndarray, tau_u: np.ndarray
) -> np.ndarray:
    """Fractions ``(omega_f, omega_s, omega_u)`` of pathways with time constants ``tau``.

    Parameters
    ----------
    tau : ndarray, shape (..., n_pathways)
        Pathway time constants (ms).
    tau_f, tau_s, tau_u : ndarray, shape (...)
        Fast/slow/ultraslow boundaries (ms).

    Returns
    -------
    ndarray, shape (..., 3, n_pathways)
        The three fractions, which sum to 1.

    Examples
    --------
    A fast gate, one halfway (on a log scale) between tau_s and tau_u, and an
    ultraslow one:

    >>> timescale_weights(np.array([1.0, 10**1.5, 1000.0]), 1.0, 10.0, 100.0)
    array([[1. , 0. , 0. ],
           [0. , 0.5, 0. ],
           [0. , 0.5, 1. ]])
    """
    tau = np.asarray(tau, dtype=float)
    tau_f, tau_s, tau_u = (np.asarray(t, dtype=float)[..., None] for t in (tau_f, tau_s, tau_u))
    w_fs = _log_weight(tau, tau_f, tau_s)
    w_su = _log_weight(tau, tau_s, tau_u)
    return np.stack(np.broadcast_arrays(w_fs, w_su - w_fs, 1.0 - w_su), axis=-2)


def _as_conductances(model: ConductanceModel, g: np.ndarray) -> np.ndarray:
    g = np.asarray(g, dtype=float)
    if g.ndim == 0 or g.shape[-1] != model.n_conductances:
        raise ValueError(
            f"model {model.name!r} expects conductances of shape (..., {model.n_conductances}) "
            f"ordered {model.conductance_labels}, got shape {g.shape}"
        )
    return g


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
    model = get_model(model)
    g = _as_conductances(model, g)
    V = model.V_th if V is None else np.asarray(V, dtype=float)
    terms = model.dic_terms(V, g)
    omega = timescale_weights(terms.tau, *model.timescales(V))  # (..., 3, n_path)
    incidence = np.zeros((len(terms.channel), model.n_conductances - 1))
    incidence[np.arange(len(terms.channel)), terms.channel] = 1.0
    # ion[..., r, c] = sum_j dynamic[..., j] omega[..., r, j] incidence[j, c]
    weights = omega[..., None] * incidence  # (..., 3, n_path, n_ion)
    if weights.ndim == 3:  # one voltage for all cells: a single matrix product
        flat = weights.transpose(1, 0, 2).reshape(len(terms.channel), -1)
        ion = (terms.dynamic @ flat).reshape(terms.dynamic.shape[:-1] + weights.shape[::2])
    else:
        ion = np.einsum("...j,...rjc->...rc", terms.dynamic, weights)
    batch = np.broadcast_shapes(ion.shape[:-2], g.shape[:-1])
    S = np.zeros(batch + (3, model.n_conductances))
    S[..., :-1] = ion
    S[..., 0, :-1] += terms.static
    S[..., 0, -1] = 1.0
    if normalize:
        S /= g[..., -1, None, None]
    return S


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
    g = _as_conductances(model, g)
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
    g = _as_conductances(model, g)
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
