"""The sensitivity matrix of a model: how its conductances make the DICs.

The math behind :mod:`sbidic.dics` on a :class:`~sbidic.models.ConductanceModel`
object, kept with the models, which use it to split S(V) and validate declarations;
:mod:`sbidic.dics` takes model names too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sbidic.models.base import ConductanceModel

__all__ = ["as_conductances", "model_sensitivity", "timescale_weights"]


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


def as_conductances(model: ConductanceModel, g: np.ndarray) -> np.ndarray:
    """``g`` as a float array of the model's conductances.

    Parameters
    ----------
    model : ConductanceModel
        The model.
    g : array_like, shape (..., n_conductances)
        Maximal conductances (mS/cm^2), in the model's order.

    Raises
    ------
    ValueError
        The last axis is not the model's conductances.
    """
    g = np.asarray(g, dtype=float)
    if g.ndim == 0 or g.shape[-1] != model.n_conductances:
        raise ValueError(
            f"model {model.name!r} expects conductances of shape (..., {model.n_conductances}) "
            f"ordered {model.conductance_labels}, got shape {g.shape}"
        )
    return g


def model_sensitivity(
    model: ConductanceModel,
    g: np.ndarray,
    V: float | np.ndarray | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Sensitivity matrix S(V) of ``model`` such that the DICs are ``S(V) @ g``
    (:func:`sbidic.dics.sensitivity_matrix`, which also takes a model's name).

    Parameters
    ----------
    model : ConductanceModel
        The model.
    g : ndarray, shape (..., n_conductances)
        Maximal conductances (mS/cm^2).
    V : float or ndarray, shape (...), optional
        Voltage (mV); defaults to the model's threshold voltage ``V_th``.
    normalize : bool
        Divide every column by the cell's own ``g_leak`` (default).

    Returns
    -------
    ndarray, shape (..., 3, n_conductances)
        Rows fast, slow, ultraslow; columns in the model's conductance order.
    """
    g = as_conductances(model, g)
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
