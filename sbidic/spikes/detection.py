"""Spike detection on sampled membrane-voltage traces, by the published threshold rule.

Rule (identical in every pipeline of the reference implementation):

1. an *onset* is a sample ``k`` where V crosses upward through ``up_mV`` (+10 mV):
   ``V[k-1] <= up_mV < V[k]``;
2. an *end* is a sample ``k`` where V crosses downward through ``down_mV`` (0 mV):
   ``V[k-1] >= down_mV > V[k]``;
3. with no onset or no end the train is empty; otherwise every onset before the last
   end is kept, and its spike time is the sample time ``t[k]`` (no interpolation, so
   times are quantised to the sampling grid).

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from sbidic.spikes.trains import SpikeTrains, _as_ids

__all__ = ["detect_spikes"]

#: Upper bound on ``rows x samples`` handled at once, to bound temporary memory.
_CHUNK_ELEMENTS = 1 << 24


def detect_spikes(
    v: ArrayLike,
    t: ArrayLike,
    *,
    up_mV: float = 10.0,
    down_mV: float = 0.0,
    ids: ArrayLike | None = None,
    nonfinite: Literal["raise", "empty"] = "raise",
) -> SpikeTrains:
    """Spike times of sampled voltage traces (published onset/end rule, see module doc).

    Parameters
    ----------
    v : array_like, shape (n_cells, n_samples) or (n_samples,)
        Membrane voltage (mV); a 1-D trace is one cell.
    t : array_like, shape (n_samples,)
        Sample times (ms), finite and strictly increasing.
    up_mV : float, default 10.0
        Onset threshold (mV): first sample strictly above it after one at or below it.
    down_mV : float, default 0.0
        End threshold (mV): first sample strictly below it after one at or above it.
    ids : array_like, shape (n_cells,), optional
        Train identifiers; default ``arange(n_cells)``.
    nonfinite : {"raise", "empty"}, default "raise"
        What to do with a trace containing NaN or inf (e.g. a diverged simulation):
        raise a :class:`ValueError` naming the cell, or give that cell an empty train.

    Returns
    -------
    SpikeTrains
        One train per cell, times (ms) taken from ``t``.

    References
    ----------
    Brandoit et al. (2025), arXiv:2509.12783 (Spike2Pop ``utils.get_spiking_times``).

    Examples
    --------
    >>> t = np.arange(8.0)
    >>> v = np.array([-60.0, 20.0, -5.0, 10.0, 30.0, -1.0, 15.0, 40.0])
    >>> detect_spikes(v, t)[0]  # the onset at t=6 has no end after it
    array([1., 4.])
    """
    v = np.asarray(v, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2:
        raise ValueError(f"v must have shape (n_cells, n_samples) or (n_samples,), got {v.shape}")
    if t.ndim != 1 or t.shape[0] != v.shape[1]:
        raise ValueError(
            f"t must have shape (n_samples,) = ({v.shape[1]},) to match v, got {t.shape}"
        )
    if not (np.isfinite(up_mV) and np.isfinite(down_mV)):
        raise ValueError(f"thresholds must be finite, got up_mV={up_mV}, down_mV={down_mV}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"t must be finite; sample {np.flatnonzero(~np.isfinite(t))[0]} is not")
    bad_t = np.flatnonzero(np.diff(t) <= 0)
    if bad_t.size:
        k = bad_t[0] + 1
        raise ValueError(
            f"t must be strictly increasing; t[{k}] = {t[k]} ms follows t[{k - 1}] = {t[k - 1]} ms"
        )
    if nonfinite not in ("raise", "empty"):
        raise ValueError(f"nonfinite must be 'raise' or 'empty', got {nonfinite!r}")

    n_cells, n_samples = v.shape
    ids = None if ids is None else _as_ids(ids, n_cells)
    broken = ~np.isfinite(v).all(axis=1)
    if broken.any() and nonfinite == "raise":
        r = int(np.flatnonzero(broken)[0])
        c = int(np.flatnonzero(~np.isfinite(v[r]))[0])
        label = f"cell {r}" if ids is None else f"cell {r} (id={ids[r].item()!r})"
        raise ValueError(
            f"{label}: v[{c}] = {v[r, c]} mV is not finite ({int(broken.sum())} "
            "trace(s) affected); pass nonfinite='empty' to give them empty trains"
        )

    if n_samples < 2:
        return SpikeTrains(np.empty(0), np.zeros(n_cells + 1, np.int64), ids)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // max(n_samples, 1))
    row_parts, col_parts = [], []
    for start in range(0, n_cells, rows_per_chunk):
        block = v[start : start + rows_per_chunk]
        prev, cur = block[:, :-1], block[:, 1:]
        onset = (prev <= up_mV) & (cur > up_mV)  # column j <-> sample j + 1
        end = (prev >= down_mV) & (cur < down_mV)
        has_end = end.any(axis=1)
        last_end = np.where(has_end, end.shape[1] - 1 - np.argmax(end[:, ::-1], axis=1), -1)
        keep = onset & (np.arange(onset.shape[1])[None, :] < last_end[:, None])
        keep &= ~broken[start : start + rows_per_chunk, None]
        rows, cols = np.nonzero(keep)  # row-major: increasing time within each row
        row_parts.append(rows + start)
        col_parts.append(cols + 1)
    rows = np.concatenate(row_parts) if row_parts else np.empty(0, np.int64)
    cols = np.concatenate(col_parts) if col_parts else np.empty(0, np.int64)
    counts = np.bincount(rows, minlength=n_cells)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return SpikeTrains(t[cols], offsets, ids)
