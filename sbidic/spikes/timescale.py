"""Spike times on the wrong scale: recordings faster or shorter than any shipped model.

The commonest unit mistake is a file of spike times in seconds read as milliseconds:
every interval shrinks a thousandfold, so a 8 Hz cell "fires" at 8 kHz and a minute of
recording lasts 60 ms. No shipped model fires that fast, and their protocols last
seconds, so :func:`time_scale_warnings` flags each recording whose median inter-spike
interval is under :data:`MIN_MEDIAN_ISI_MS` or whose first-to-last spike span is
under :data:`MIN_SPAN_MS` (when the model's protocol lasts seconds). The spike
readers warn with it (:func:`sbidic.spikes.read_spikes`), and :func:`sbidic.infer`
writes it into the report's ``warning`` column.
"""

from __future__ import annotations

import numpy as np

from sbidic.spikes.features import MIN_SPIKES
from sbidic.spikes.trains import SpikeTrains

__all__ = ["MIN_MEDIAN_ISI_MS", "MIN_SPAN_MS", "time_scale_warnings"]

#: No shipped model fires faster: a median ISI (ms) under this is 500 Hz or more.
MIN_MEDIAN_ISI_MS = 2.0
#: Shortest first-to-last spike span (ms) of a recording for a model whose protocol
#: lasts seconds (every shipped model's).
MIN_SPAN_MS = 1000.0

_HINT = "if the times are in seconds, read them with time_unit=s (--read-option time_unit=s)"


def _median_isi(trains: SpikeTrains) -> np.ndarray:
    """Median inter-spike interval (ms) of every train, NaN below two spikes."""
    isi, offsets = trains.isi()
    counts = np.diff(offsets)
    if not isi.size:
        return np.full(trains.n_trains, np.nan)
    owner = np.repeat(np.arange(trains.n_trains), counts)
    ordered = isi[np.lexsort((isi, owner))]  # sorted within each train
    lo = np.clip(offsets[:-1] + (counts - 1) // 2, 0, isi.size - 1)
    hi = np.clip(offsets[:-1] + counts // 2, 0, isi.size - 1)
    return np.where(counts > 0, (ordered[lo] + ordered[hi]) / 2.0, np.nan)


def _span(trains: SpikeTrains) -> np.ndarray:
    """First-to-last spike span (ms) of every train, NaN when it is silent."""
    times, offsets = np.asarray(trains.times), np.asarray(trains.offsets)
    if not times.size:
        return np.full(trains.n_trains, np.nan)
    first = times[np.clip(offsets[:-1], 0, times.size - 1)]
    last = times[np.clip(offsets[1:] - 1, 0, times.size - 1)]
    return np.where(trains.n_spikes > 0, last - first, np.nan)


def time_scale_warnings(trains: SpikeTrains, protocol_ms: float | None = None) -> np.ndarray:
    """A warning per recording firing faster, or lasting shorter, than any shipped model.

    Only recordings with at least ``MIN_SPIKES`` (3) spikes are checked (fewer are
    reported silent). Vectorised over recordings.

    Parameters
    ----------
    trains : SpikeTrains
        Spike times (ms), valid (sorted).
    protocol_ms : float, optional
        Length (ms) of the model's protocol window; the span check applies when it is
        at least ``MIN_SPAN_MS`` (1 s). None: the shipped models', all seconds long.

    Returns
    -------
    ndarray of str, shape (n_trains,)
        ``""``, or e.g. ``"median ISI 0.125 ms (8000 Hz), faster than any shipped
        model fires; if the times are in seconds, read them with time_unit=s ..."``.

    Examples
    --------
    >>> st = SpikeTrains.from_list([[0.0, 0.125, 0.25, 0.375],  # seconds, read as ms
    ...                             [3000.0, 3125.0, 3250.0],  # a 8 Hz cell, 250 ms
    ...                             [3000.0, 4000.0, 5000.0],  # a 1 Hz cell, 2 s
    ...                             [1.0]])  # silent
    >>> for w in time_scale_warnings(st).tolist():
    ...     print(w.partition(";")[0] or "-")
    median ISI 0.125 ms (8000 Hz), faster than any shipped model fires
    spans 250 ms, under 1 s, shorter than the model's protocol
    -
    -
    >>> time_scale_warnings(st, protocol_ms=500.0)[1:].tolist()  # a protocol under 1 s
    ['', '', '']
    """
    median = _median_isi(trains)
    span = _span(trains)
    checked = trains.n_spikes >= MIN_SPIKES
    with np.errstate(invalid="ignore", divide="ignore"):
        fast = checked & (median < MIN_MEDIAN_ISI_MS)
        short = checked & (span < MIN_SPAN_MS)
        rate = 1000.0 / median
    if protocol_ms is not None and protocol_ms < MIN_SPAN_MS:
        short[:] = False
    isi_text = np.char.mod("median ISI %.3g ms", median)
    rate_text = np.char.mod(" (%.0f Hz), faster than any shipped model fires", rate)
    span_text = np.char.mod("spans %.3g ms, under 1 s, shorter than the model's protocol", span)
    fast_text = np.char.add(isi_text, rate_text)
    both = np.char.add(np.char.add(fast_text, "; it "), span_text)
    out = np.where(fast & short, both, np.where(fast, fast_text, span_text))
    out = np.char.add(out.astype(str), "; " + _HINT)
    return np.where(fast | short, out, "").astype(str)
