"""Spike detection on extracellular traces (nerve, field or unit recordings).

The intracellular rule of :func:`sbidic.spikes.detect_spikes` (an upward crossing of
+10 mV, then a downward crossing of 0 mV) assumes a membrane potential: a resting level
well below 0 mV and spikes that overshoot it. An extracellular trace has neither. Its
baseline sits near 0 (or any amplifier offset), its spikes are a few times the noise,
often biphasic, and its units may be anything. :func:`detect_extracellular` uses a
threshold relative to the noise instead:

1. optionally high-pass filter the trace (zero-phase Butterworth, ``highpass_hz``);
2. estimate the noise by the robust standard deviation
   ``sigma = median(|x - median(x)|) / 0.6745`` (median absolute deviation: the
   spikes, a small fraction of the samples, barely move it);
3. choose the spike polarity: ``"positive"`` or ``"negative"`` peaks, or ``"auto"``,
   the side whose 99.9th percentile deviation from the median is larger;
4. detect the peaks of ``±(x - median)`` higher than ``threshold * sigma``, at least
   ``refractory_ms`` apart (:func:`scipy.signal.find_peaks`; of two peaks closer than
   that, the higher is kept). Peaks of one polarity only: each phase of a biphasic
   spike is not counted separately. The spike time is the peak's sample time;
5. optionally sort the events into ``units`` amplitude classes (:func:`amplitude_classes`,
   1-D k-means on the peak-to-peak amplitude within ``amplitude_ms`` of the peak) and
   keep class ``unit``, ranked by amplitude (1 = largest), to pick the largest unit of a
   multi-unit nerve;
6. optionally (``overlap_ms``) drop the kept unit's events that have an event of a
   smaller class within ``overlap_ms``: two smaller units firing together can add up to
   the amplitude of a large one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ExtracellularSpikes", "amplitude_classes", "detect_extracellular"]

#: median absolute deviation of a standard normal variable
_MAD_TO_SD = 0.6745
#: at most this many contiguous groups of sorted amplitudes enter the exact k-means
_MAX_GROUPS = 1024

Polarity = Literal["auto", "positive", "negative"]


@dataclass(frozen=True)
class ExtracellularSpikes:
    """What :func:`detect_extracellular` found, and with which settings.

    Attributes
    ----------
    times : ndarray (n,)
        Spike times (ms, sample times of the peaks) of the kept events: every detected
        event, or those of amplitude class ``unit``.
    amplitudes : ndarray (n,)
        Peak-to-peak amplitude of each kept event (units of the trace).
    classes : ndarray of int (n,)
        Amplitude class of each kept event, by rank (1 = largest; all 1 with ``units=1``).
    polarity : {"positive", "negative"}
        The polarity used (``"auto"`` resolved).
    median, noise_sd : float
        Median and robust SD of the (filtered) trace, units of the trace.
    threshold : float
        Threshold in noise SDs; ``level = threshold * noise_sd`` is the peak height above
        (positive) or below (negative) the median that an event must exceed.
    level : float
    refractory_ms, highpass_hz : float
        Settings used (``highpass_hz`` 0: no filter).
    n_events : int
        Events detected before the amplitude classes.
    units : int
        Amplitude classes the events were sorted into (1: no sorting).
    unit : int or None
        The kept class, by rank (1 = largest amplitude); None: every event.
    overlap_ms : float
        Window of the overlap rule (0: none).
    n_overlaps : int
        Events of class ``unit`` dropped by the overlap rule.
    class_counts : ndarray (units,)
        Events per class, largest amplitude first.
    class_bounds : ndarray (units, 2)
        Smallest and largest peak-to-peak amplitude of each class, largest first.
    """

    times: np.ndarray
    amplitudes: np.ndarray
    classes: np.ndarray
    polarity: str
    median: float
    noise_sd: float
    threshold: float
    level: float
    refractory_ms: float
    highpass_hz: float
    n_events: int
    units: int
    unit: int | None
    class_counts: np.ndarray
    class_bounds: np.ndarray
    overlap_ms: float = 0.0
    n_overlaps: int = 0

    def describe(self, unit_label: str = "") -> str:
        """One line: polarity, threshold, refractory period, events and the unit kept."""
        sign = "+" if self.polarity == "positive" else "-"
        text = (
            f"{self.polarity} peaks beyond median {sign} {self.threshold:g} x robust SD "
            f"({self.median:.4g} {sign} {self.level:.4g}{unit_label}, robust SD "
            f"{self.noise_sd:.4g}{unit_label}), refractory {self.refractory_ms:g} ms"
        )
        if self.highpass_hz:
            text += f", high-pass {self.highpass_hz:g} Hz"
        text += f": {self.n_events} events"
        if self.units > 1:
            classes = ", ".join(
                f"{i + 1}: {n} ({lo:.3g}-{hi:.3g}{unit_label})"
                for i, (n, (lo, hi)) in enumerate(zip(self.class_counts, self.class_bounds,
                                                      strict=True))
            )  # fmt: skip
            text += f" in {self.units} amplitude classes, peak-to-peak ({classes})"
            if self.unit is not None:
                text += f"; unit {self.unit} kept"
                if self.overlap_ms:
                    text += (f" less {self.n_overlaps} within {self.overlap_ms:g} ms of a "
                             "smaller unit")  # fmt: skip
                text += f": {self.times.size} spikes"
        return text


def amplitude_classes(values: ArrayLike, n: int) -> np.ndarray:
    """Rank of each value's class when the values are split into ``n`` classes.

    The split minimises the summed within-class squared deviation (1-D k-means, Otsu's
    criterion), exactly, by dynamic programming over the sorted values; beyond 1024
    values the class boundaries are restricted to 1024 equal-count groups of the sorted
    values. Classes are contiguous ranges of values, ranked by amplitude: 1 holds the
    largest values, ``n`` the smallest. With fewer than ``n`` distinct values, each
    distinct value is a class.

    Parameters
    ----------
    values : array_like (m,)
        Finite amplitudes.
    n : int
        Number of classes, >= 1.

    Returns
    -------
    ndarray of int (m,)
        Class rank of each value, 1 (largest) to ``n``.

    Examples
    --------
    >>> amplitude_classes([1.0, 1.2, 9.0, 5.0, 0.9, 5.2, 9.5], 3)
    array([3, 3, 1, 2, 3, 2, 1])
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if int(n) != n or n < 1:
        raise ValueError(f"the number of amplitude classes must be an integer >= 1, got {n}")
    n = int(n)
    if not np.all(np.isfinite(v)):
        raise ValueError("amplitudes must be finite")
    if v.size == 0 or n == 1:
        return np.ones(v.size, dtype=np.int64)
    order = np.argsort(v, kind="stable")
    s = v[order]
    if v.size <= _MAX_GROUPS:  # group boundaries: where the sorted value changes
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(s) > 0) + 1, [s.size]])
    else:
        bounds = np.unique(np.linspace(0, s.size, _MAX_GROUPS + 1).round().astype(np.int64))
    g = bounds.size - 1  # groups
    k = min(n, g)
    x = (s - s.mean()) / (s.std() or 1.0)  # centred and scaled: no cancellation below
    c1 = np.concatenate([[0.0], np.cumsum(x)])
    c2 = np.concatenate([[0.0], np.cumsum(x * x)])
    lo, hi = bounds[:-1][:, None], bounds[1:][None, :]  # groups i..j -> points lo[i]:hi[j]
    count = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (c2[hi] - c2[lo]) - (c1[hi] - c1[lo]) ** 2 / count
    cost = np.where(count > 0, np.maximum(cost, 0.0), np.inf)  # i > j: no class
    best = cost[0].copy()  # best[j]: groups 0..j in one class
    back = []
    for _ in range(1, k):  # one more class: its first group i >= 1
        cand = best[:-1, None] + cost[1:, :]  # row i - 1: classes before, then i..j
        arg = np.argmin(cand, axis=0)
        best = cand[arg, np.arange(g)]
        back.append(arg + 1)
    starts = []  # first group of each class, last class first
    j = g - 1
    for arg in reversed(back):
        i = int(arg[j])
        starts.append(i)
        j = i - 1
    first_groups = np.array([0, *reversed(starts)], dtype=np.int64)
    group_of_point = np.repeat(np.arange(g), np.diff(bounds))
    cls = np.searchsorted(first_groups, group_of_point, side="right") - 1  # 0 = smallest
    ranks = np.empty(v.size, dtype=np.int64)
    ranks[order] = k - cls
    return ranks


def _robust_sd(x: np.ndarray, median: float) -> float:
    return float(np.median(np.abs(x - median)) / _MAD_TO_SD)


def detect_extracellular(
    x: ArrayLike,
    t: ArrayLike,
    *,
    polarity: Polarity = "auto",
    threshold: float = 7.0,
    refractory_ms: float = 3.0,
    highpass_hz: float = 0.0,
    units: int = 1,
    unit: int | None = None,
    amplitude_ms: float = 1.5,
    overlap_ms: float = 0.0,
) -> ExtracellularSpikes:
    """Spikes of one extracellular trace, by a threshold in robust noise SDs (module doc).

    Parameters
    ----------
    x : array_like (n_samples,)
        The trace, any units (thresholds are relative to its noise).
    t : array_like (n_samples,)
        Sample times (ms), finite, strictly increasing, evenly spaced.
    polarity : {"auto", "positive", "negative"}, default "auto"
        Peaks above or below the median; ``"auto"`` picks the side with the larger
        99.9th percentile deviation.
    threshold : float, default 7.0
        Detection threshold in robust noise SDs (MAD / 0.6745). 7 keeps the three
        stomatogastric nerve recordings of ``docs/formats.md`` free of noise and of the
        after-phases of large spikes; 4-5 is usual for band-passed unit recordings.
    refractory_ms : float, default 3.0
        Minimum gap between two events; of two closer peaks the higher is kept.
    highpass_hz : float, default 0
        Cut-off of a zero-phase 2nd-order Butterworth high-pass filter applied first (to
        remove slow drift); 0: none.
    units : int, default 1
        Amplitude classes to sort the events into (1: none); see :func:`amplitude_classes`.
    unit : int, optional
        Keep only this class, by rank (1 = largest amplitude); default every event.
        ``unit`` without ``units`` means ``units=2`` (the largest class against the rest).
    amplitude_ms : float, default 1.5
        Half-width of the window around each peak over which the peak-to-peak amplitude
        (the sorting feature) is measured.
    overlap_ms : float, default 0
        With ``unit``: drop the events of that class with an event of a smaller class
        (larger rank) at most ``overlap_ms`` away, superpositions of smaller units
        (0: keep them). A unit's own after-phases, when they reach the threshold, are
        such events too: raise ``threshold`` above them first.

    Returns
    -------
    ExtracellularSpikes
        The spike times and the settings and statistics used.

    Examples
    --------
    >>> t = np.arange(2000) * 0.1  # ms, 10 kHz
    >>> x = np.random.default_rng(0).normal(0.0, 1.0, t.size)
    >>> for k, a in ((300, 30.0), (900, 12.0), (1500, 30.0)):
    ...     x[k], x[k + 3] = x[k] - a, x[k + 3] + a / 2  # biphasic: trough, then peak
    >>> found = detect_extracellular(x, t)
    >>> found.polarity, found.times
    ('negative', array([ 30.,  90., 150.]))
    >>> detect_extracellular(x, t, unit=1).times  # the large unit
    array([ 30., 150.])
    """
    from scipy.signal import butter, find_peaks, sosfiltfilt

    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if x.ndim != 1 or t.shape != x.shape:
        raise ValueError(f"x and t must be 1-D of the same length, got {x.shape} and {t.shape}")
    if x.size < 3:
        raise ValueError(f"an extracellular trace needs at least 3 samples, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"the trace is not finite at sample {np.flatnonzero(~np.isfinite(x))[0]}")
    if polarity not in ("auto", "positive", "negative"):
        raise ValueError(f"polarity must be 'auto', 'positive' or 'negative', got {polarity!r}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be > 0 (noise SDs), got {threshold}")
    if not (np.isfinite(refractory_ms) and refractory_ms >= 0):
        raise ValueError(f"refractory_ms must be >= 0, got {refractory_ms}")
    if not (np.isfinite(amplitude_ms) and amplitude_ms >= 0):
        raise ValueError(f"amplitude_ms must be >= 0, got {amplitude_ms}")
    overlap_ms = float(overlap_ms or 0.0)
    if not (np.isfinite(overlap_ms) and overlap_ms >= 0):
        raise ValueError(f"overlap_ms must be >= 0, got {overlap_ms}")
    if int(units) != units or units < 1:
        raise ValueError(f"units must be an integer >= 1, got {units}")
    units = int(units)
    if unit is not None:
        if int(unit) != unit or unit < 1:
            raise ValueError(f"unit must be an integer >= 1 (1 = largest amplitude), got {unit}")
        unit = int(unit)
        units = max(units, 2) if units == 1 else units
        if unit > units:
            raise ValueError(f"unit {unit} does not exist among units={units} amplitude classes")
    dt = np.diff(t)
    if not (np.all(np.isfinite(t)) and np.all(dt > 0)):
        raise ValueError("t must be finite and strictly increasing")
    step = float(np.median(dt))
    if np.max(np.abs(dt - step)) > 1e-3 * step:
        raise ValueError("t must be evenly spaced (one sampling rate)")
    rate_hz = 1000.0 / step

    highpass_hz = float(highpass_hz or 0.0)
    if highpass_hz < 0 or not np.isfinite(highpass_hz):
        raise ValueError(f"highpass_hz must be >= 0, got {highpass_hz}")
    if highpass_hz:
        if highpass_hz >= rate_hz / 2:
            raise ValueError(f"highpass_hz={highpass_hz:g} must be below the Nyquist "
                             f"frequency, {rate_hz / 2:g} Hz")  # fmt: skip
        sos = butter(2, highpass_hz, "highpass", fs=rate_hz, output="sos")
        x = sosfiltfilt(sos, x)

    median = float(np.median(x))
    noise = _robust_sd(x, median)
    if polarity == "auto":
        lo, hi = np.quantile(x, [0.001, 0.999])
        polarity = "positive" if hi - median > median - lo else "negative"
    signed = x - median if polarity == "positive" else median - x
    level = threshold * noise
    if noise == 0.0:  # a flat (or quantised flat) trace: only departures from it count
        level = np.nextafter(0.0, 1.0)
    distance = max(1, int(round(refractory_ms / step))) if refractory_ms > 0 else None
    peaks, _ = find_peaks(signed, height=level, distance=distance)

    half = int(round(amplitude_ms / step))
    window = np.clip(peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, x.size - 1)
    around = x[window]
    amplitudes = around.max(axis=1) - around.min(axis=1) if peaks.size else np.empty(0)

    ranks = amplitude_classes(amplitudes, units)
    present = min(units, peaks.size) if peaks.size else 0
    counts = np.bincount(ranks, minlength=units + 1)[1 : units + 1]
    bounds = np.full((units, 2), np.nan)
    for r in range(1, present + 1):
        sel = amplitudes[ranks == r]
        if sel.size:
            bounds[r - 1] = sel.min(), sel.max()
    keep = np.ones(peaks.size, bool) if unit is None else ranks == unit
    n_overlaps = 0
    if unit is not None and overlap_ms > 0:
        kept = np.flatnonzero(keep)
        smaller = t[peaks[ranks > unit]]
        near = _nearest_gap(t[peaks[kept]], smaller) <= overlap_ms
        keep[kept[near]] = False
        n_overlaps = int(near.sum())
    return ExtracellularSpikes(
        times=t[peaks[keep]],
        amplitudes=amplitudes[keep],
        classes=ranks[keep],
        polarity=polarity,
        median=median,
        noise_sd=noise,
        threshold=float(threshold),
        level=float(level),
        refractory_ms=float(refractory_ms),
        highpass_hz=highpass_hz,
        n_events=int(peaks.size),
        units=units,
        unit=unit,
        class_counts=counts,
        class_bounds=bounds,
        overlap_ms=overlap_ms,
        n_overlaps=n_overlaps,
    )


def _nearest_gap(times: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Distance from each of ``times`` to the nearest of the sorted ``others`` (inf: none)."""
    gap = np.full(times.size, np.inf)
    if others.size:
        i = np.searchsorted(others, times)
        after, before = np.minimum(i, others.size - 1), np.maximum(i - 1, 0)
        gap = np.minimum(np.abs(others[after] - times), np.abs(times - others[before]))
    return gap
