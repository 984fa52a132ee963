"""The van Rossum spike-train distance, exact and vectorised over pairs of trains.

Each train is shifted so that its first spike is at 0 ms and (optionally) cut to
``[0, duration_ms)``; every spike is convolved with the causal kernel
``k(t) = exp(-t / tau) / tau`` (``t >= 0``) and the distance is the squared L2 norm of
the difference,

.. math::

    d(x, y) = \\int (f_x - f_y)^2 \\, dt
            = \\frac{1}{2\\tau} \\Big[ \\sum_{ij} e^{-|x_i - x_j| / \\tau}
              + \\sum_{ij} e^{-|y_i - y_j| / \\tau}
              - 2 \\sum_{ij} e^{-|x_i - y_j| / \\tau} \\Big] \\quad (\\mathrm{ms}^{-1}),

computed in closed form (the published code bins at 0.1 ms and truncates the kernel;
this is the exact limit of that sum). The time constant follows the paper's rule,
``tau = (max(ISI) + min(ISI)) / 2`` of the recording (:func:`mid_range_tau`).

References
----------
M. C. W. van Rossum (2001). A novel spike distance. Neural Computation 13(4), 751-763.
doi:10.1162/089976601300014321

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783 (population-level evaluation, van Rossum ratio).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import ArrayLike

from sbidic.spikes import SpikeTrains

__all__ = ["mid_range_tau", "van_rossum_distance", "van_rossum_to_recordings"]

#: Largest number of kernel evaluations held in memory at once.
_BLOCK = 2**22
#: Kernel evaluations per chunk of trains (a deadline is looked at between chunks).
_CHUNK = 8 * _BLOCK


def mid_range_tau(trains: SpikeTrains) -> np.ndarray:
    """Kernel time constant of the paper: ``(max(ISI) + min(ISI)) / 2`` per train (ms).

    NaN for a train with fewer than 2 spikes.

    Examples
    --------
    >>> mid_range_tau(SpikeTrains.from_list([[0.0, 10.0, 40.0], [5.0]]))
    array([20., nan])
    """
    isi, offsets = trains.isi()
    tau = np.full(trains.n_trains, np.nan)
    has = np.diff(offsets) > 0
    starts = offsets[:-1][has]
    tau[has] = (np.maximum.reduceat(isi, starts) + np.minimum.reduceat(isi, starts)) / 2.0
    return tau


def _relative(
    trains: SpikeTrains, duration_ms: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ``(times, offsets)`` of the trains shifted to start at 0 ms and, with
    ``duration_ms`` (one per train), cut to ``[0, duration_ms)``.

    The cut comes before any padding: a long recording compared over a short window
    costs only the spikes of that window.
    """
    times = np.asarray(trains.times, dtype=np.float64)
    offsets = np.asarray(trains.offsets, dtype=np.int64)
    if times.size == 0:
        return times, offsets
    idx = trains.train_index
    rel = times - times[offsets[:-1][idx]]
    if duration_ms is None:
        return rel, offsets
    keep = rel < duration_ms[idx]
    counts = np.bincount(idx[keep], minlength=trains.n_trains)
    return rel[keep], np.concatenate([[0], np.cumsum(counts)])


def _pad(ragged: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Trains ``rows`` of ragged ``(times, offsets)``, NaN-padded to the longest of them
    (at least one column): shape ``(len(rows), width)``."""
    times, offsets = ragged
    start = offsets[rows]
    count = offsets[rows + 1] - start
    out = np.full((rows.size, max(int(count.max(initial=0)), 1)), np.nan)
    if count.sum():
        row = np.repeat(np.arange(rows.size), count)
        col = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        out[row, col] = times[np.repeat(start, count) + col]
    return out


def _kernel_sum(a: np.ndarray, b: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``sum_ij exp(-|a_i - b_j| / tau)`` per row of NaN-padded ``a`` (n, La), ``b`` (n, Lb)."""
    n, la = a.shape
    lb = b.shape[1]
    out = np.empty(n)
    step = max(1, _BLOCK // max(la * lb, 1))
    for s in range(0, n, step):
        diff = np.abs(a[s : s + step, :, None] - b[s : s + step, None, :])
        k = np.exp(-diff / tau[s : s + step, None, None])
        out[s : s + step] = np.nansum(k, axis=(1, 2))
    return out


def _chunks(width: np.ndarray, terms: int = 1):
    """Index arrays covering ``range(len(width))``, rows of similar ``width`` together
    (each chunk is padded to its own widest row), about :data:`_CHUNK` kernel
    evaluations (``terms`` products of ``width ** 2`` per row) each."""
    order = np.argsort(width, kind="stable")
    w2 = terms * np.maximum(width[order], 1).astype(np.float64) ** 2
    s = 0
    while s < order.size:
        cost = np.arange(1, order.size - s + 1) * w2[s:]  # rows so far x widest so far
        e = s + max(1, int(np.searchsorted(cost, _CHUNK, side="right")))
        yield order[s:e]
        s = e


def _out_of_time(deadline: float | None) -> bool:
    return deadline is not None and time.perf_counter() >= deadline


def _self_sums(ragged, tau: np.ndarray, deadline: float | None = None) -> np.ndarray:
    """``sum_ij exp(-|t_i - t_j| / tau)`` of every train of ragged ``(times, offsets)``;
    NaN for the trains not reached by ``deadline`` (``time.perf_counter()`` value)."""
    out = np.full(len(ragged[1]) - 1, np.nan)
    for rows in _chunks(np.diff(ragged[1])):
        if _out_of_time(deadline):
            break
        a = _pad(ragged, rows)
        out[rows] = _kernel_sum(a, a, tau[rows])
    return out


def _finish(xx, yy, xy, tau, bad) -> np.ndarray:
    d = np.maximum((xx + yy - 2.0 * xy) / (2.0 * tau), 0.0)  # max: rounding of a zero
    d[bad] = np.nan
    return d


def _clean_tau(tau_ms: ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray]:
    tau = np.broadcast_to(np.asarray(tau_ms, dtype=float), (n,)).copy()
    bad = ~(np.isfinite(tau) & (tau > 0))
    tau[bad] = 1.0
    return tau, bad


def van_rossum_distance(
    x: SpikeTrains,
    y: SpikeTrains,
    tau_ms: ArrayLike,
    *,
    duration_ms: ArrayLike | None = None,
) -> np.ndarray:
    """van Rossum distance between ``x[i]`` and ``y[i]`` for every ``i`` (1/ms).

    Parameters
    ----------
    x, y : SpikeTrains
        Paired trains (same ``n_trains``), spike times in ms; each train is shifted to
        start at 0 ms.
    tau_ms : float or array_like of shape (n_trains,)
        Kernel time constant (ms), e.g. :func:`mid_range_tau` of the recordings.
    duration_ms : float or array_like of shape (n_trains,), optional
        Keep only spikes within ``duration_ms`` of each train's first spike (compare
        windows of equal length, e.g. a recording with a shorter simulation). The
        spikes after it are dropped before anything else: the cost depends on the
        spikes inside the window only.

    Returns
    -------
    ndarray, shape (n_trains,)
        ``d(x_i, y_i) >= 0`` in 1/ms; NaN where ``tau`` is not finite and positive.

    References
    ----------
    van Rossum (2001), Neural Computation 13, 751-763; Brandoit et al. (2025),
    arXiv:2509.12783.

    Examples
    --------
    One spike against an empty train: the kernel's squared norm, ``1 / (2 tau)``.

    >>> x = SpikeTrains.from_list([[0.0], [0.0, 10.0]])
    >>> y = SpikeTrains.from_list([[], [0.0, 10.0]])
    >>> van_rossum_distance(x, y, 5.0)
    array([0.1, 0. ])

    A window keeps the first ``duration_ms`` of each train; the rest is never padded:

    >>> long = SpikeTrains.from_list([np.arange(0.0, 1e5, 10.0)])  # 10,000 spikes
    >>> short = SpikeTrains.from_list([np.arange(0.0, 100.0, 10.0)])
    >>> float(van_rossum_distance(long, short, 5.0, duration_ms=100.0)[0])
    0.0
    """
    if x.n_trains != y.n_trains:
        raise ValueError(f"x and y must pair up: {x.n_trains} and {y.n_trains} trains")
    n = x.n_trains
    tau, bad = _clean_tau(tau_ms, n)
    dur = None
    if duration_ms is not None:
        dur = np.broadcast_to(np.asarray(duration_ms, dtype=float), (n,))
    xr, yr = _relative(x, dur), _relative(y, dur)
    sums = np.empty((3, n))
    for rows in _chunks(np.maximum(np.diff(xr[1]), np.diff(yr[1])), terms=3):
        a, b = _pad(xr, rows), _pad(yr, rows)
        t = tau[rows]
        sums[:, rows] = _kernel_sum(a, a, t), _kernel_sum(b, b, t), _kernel_sum(a, b, t)
    return _finish(*sums, tau, bad)


def van_rossum_to_recordings(
    recordings: SpikeTrains,
    recording_index: ArrayLike,
    cells: SpikeTrains,
    tau_ms: ArrayLike,
    *,
    duration_ms: float | None = None,
    deadline: float | None = None,
) -> np.ndarray:
    """van Rossum distance of every cell to its recording (1/ms), many cells per recording.

    The same values as ``van_rossum_distance(recordings[recording_index], cells,
    tau_ms[recording_index], duration_ms=duration_ms)`` (to rounding), cheaper: each
    recording is cut to the window once and its own kernel sum is computed once, not
    once per cell, and the cells are handled in chunks of similar length.

    Parameters
    ----------
    recordings : SpikeTrains
    recording_index : array_like of int, shape (cells.n_trains,)
        Recording of each cell.
    cells : SpikeTrains
    tau_ms : float or array_like of shape (recordings.n_trains,)
        Kernel time constant of each recording (ms).
    duration_ms : float, optional
        Compared window (ms from each train's first spike).
    deadline : float, optional
        A :func:`time.perf_counter` value: looked at between chunks; the distances of
        the cells not reached by then are NaN.

    Returns
    -------
    ndarray, shape (cells.n_trains,)

    Examples
    --------
    >>> rec = SpikeTrains.from_list([np.arange(0.0, 1e4, 10.0)])
    >>> cells = SpikeTrains.from_list([np.arange(0.0, 100.0, 10.0), [0.0]])
    >>> d = van_rossum_to_recordings(rec, [0, 0], cells, 5.0, duration_ms=100.0)
    >>> d.round(3), bool(np.allclose(d, van_rossum_distance(rec[[0, 0]], cells, 5.0,
    ...                                                      duration_ms=100.0)))
    (array([0.   , 1.146]), True)
    >>> van_rossum_to_recordings(rec, [0, 0], cells, 5.0, deadline=0.0)  # already past
    array([nan, nan])
    """
    idx = np.asarray(recording_index, dtype=np.int64).reshape(-1)
    if idx.shape != (cells.n_trains,):
        raise ValueError(f"recording_index must have one entry per cell ({cells.n_trains}), "
                         f"got shape {idx.shape}")  # fmt: skip
    n = cells.n_trains
    tau_rec, bad_rec = _clean_tau(tau_ms, recordings.n_trains)
    used, inverse = np.unique(idx, return_inverse=True)
    rec = recordings[used]
    dur = None if duration_ms is None else float(duration_ms)
    rr = _relative(rec, None if dur is None else np.full(rec.n_trains, dur))
    cr = _relative(cells, None if dur is None else np.full(n, dur))
    xx = _self_sums(rr, tau_rec[used], deadline)[inverse]
    tau, bad = tau_rec[idx], bad_rec[idx]
    yy, xy = np.full(n, np.nan), np.full(n, np.nan)
    width = np.maximum(np.diff(rr[1])[inverse], np.diff(cr[1]))
    for rows in _chunks(width, terms=2):
        if _out_of_time(deadline):
            break
        b = _pad(cr, rows)
        yy[rows] = _kernel_sum(b, b, tau[rows])
        xy[rows] = _kernel_sum(_pad(rr, inverse[rows]), b, tau[rows])
    return _finish(xx, yy, xy, tau, bad)
