"""Firing-pattern labels and spike-train features of the published method.

Each train is shifted so that its first spike is at 0 ms (as the reference does; ISIs are
unchanged), then, with ISIs in ms and the population standard deviation (``ddof=0``):

* **label**: *silent* (code 0) with fewer than 3 spikes; otherwise
  ``CV = std(ISI) / mean(ISI)``; ``CV <= 0.15`` is *tonic spiking* (code 1), anything
  else (including a NaN CV) *bursting* (code 2);
* **spiking** (label 1): ``f_spiking = mean(1000 / ISI)`` Hz;
* **bursting** (label 2): the train is split at every ISI larger than
  ``(max(ISI) + min(ISI)) / 2``; bursts of a single spike are discarded, then the first
  and the last remaining bursts are dropped (they may be truncated by the recording
  window). Over the remaining *interior* bursts: ``nbr_spikes_bursting`` = mean spikes
  per burst; ``duration_bursting`` = mean ``last - first`` (ms);
  ``f_intra_bursting = 1000 * mean(n / duration)`` Hz with ``n`` the number of spikes in
  the burst (not ``n - 1``); ``f_inter_bursting = 1000 / mean(diff(onsets))`` Hz. These
  are NaN when there is no interior burst (and ``f_inter_bursting`` also when there is
  only one).

Features that do not apply to a train's label are written as ``0.0`` by the reference;
``fill_value=np.nan`` marks them as missing instead. ``burst_period_ms`` (the mean
burst-onset difference, ``1000 / f_inter_bursting``) is not a reference output and is
NaN wherever it does not apply. ``n_spikes``, ``mean_isi_ms``, ``cv_isi`` and
``firing_rate_hz`` are given for every train.

Every quantity is computed for all trains at once with segment reductions on the flat
ragged arrays (no Python loop over trains or spikes).

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783 (Spike2Pop
``inference.SpikeFeatureExtractor``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from sbidic.spikes.trains import SpikeTrains

__all__ = [
    "BURSTING",
    "CV_THRESHOLD",
    "LABEL_NAMES",
    "MIN_SPIKES",
    "SILENT",
    "SPIKING",
    "SpikeFeatures",
    "label_trains",
    "spike_features",
]

SILENT, SPIKING, BURSTING = 0, 1, 2
#: Label names indexed by label code.
LABEL_NAMES: tuple[str, str, str] = ("silent", "spiking", "bursting")
#: Largest ISI coefficient of variation of a tonic-spiking train.
CV_THRESHOLD = 0.15
#: Fewest spikes of a non-silent train.
MIN_SPIKES = 3

_UNITS = {
    "label_code": ("1", "firing pattern: 0 silent, 1 tonic spiking, 2 bursting"),
    "n_spikes": ("1", "number of spikes"),
    "mean_isi_ms": ("ms", "mean inter-spike interval"),
    "cv_isi": ("1", "coefficient of variation of the ISIs (population std)"),
    "firing_rate_hz": ("Hz", "mean firing rate"),
    "f_spiking": ("Hz", "tonic spiking frequency, mean(1000/ISI)"),
    "f_intra_bursting": ("Hz", "intra-burst frequency, 1000*mean(n/duration)"),
    "f_inter_bursting": ("Hz", "inter-burst frequency, 1000/mean onset difference"),
    "duration_bursting": ("ms", "mean burst duration"),
    "nbr_spikes_bursting": ("1", "mean number of spikes per burst"),
    "burst_period_ms": ("ms", "mean burst-onset difference"),
}


def _segment_reduce(
    ufunc: np.ufunc, values: np.ndarray, seg: np.ndarray, n: int, empty: float
) -> np.ndarray:
    """``ufunc``-reduce ``values`` grouped by the non-decreasing segment index ``seg``.

    Returns shape (n,); segments without values get ``empty``.
    """
    counts = np.bincount(seg, minlength=n)
    out = np.full(n, empty, dtype=np.float64)
    nonempty = counts > 0
    if values.size:
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[nonempty] = ufunc.reduceat(values, starts[nonempty])
    return out


def _segment_mean(values: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    """Mean per segment (NaN for an empty one)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _segment_reduce(np.add, values, seg, n, 0.0) / np.bincount(seg, minlength=n)


@dataclass(frozen=True, eq=False)
class _ISIStats:
    shifted: np.ndarray  # (n_spikes_total,) times relative to the first spike of the train
    isi: np.ndarray  # (n_isi_total,)
    isi_train: np.ndarray  # (n_isi_total,) train index of each ISI
    mean: np.ndarray  # (n_trains,)
    cv: np.ndarray  # (n_trains,)


def _isi_stats(trains: SpikeTrains) -> _ISIStats:
    n, idx = trains.n_trains, trains.train_index
    shifted = trains.times - trains.times[trains.offsets[:-1][idx]]
    within = idx[1:] == idx[:-1]
    isi = np.diff(shifted)[within]
    isi_train = idx[1:][within]
    mean = _segment_mean(isi, isi_train, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = isi - mean[isi_train]
        cv = np.sqrt(_segment_mean(dev * dev, isi_train, n)) / mean
    return _ISIStats(shifted, isi, isi_train, mean, cv)


def _labels(trains: SpikeTrains, cv: np.ndarray, cv_threshold: float, min_spikes: int):
    code = np.where(cv <= cv_threshold, SPIKING, BURSTING)
    return np.where(trains.n_spikes < min_spikes, SILENT, code).astype(np.int64)


def label_trains(
    trains: SpikeTrains, *, cv_threshold: float = CV_THRESHOLD, min_spikes: int = MIN_SPIKES
) -> np.ndarray:
    """Firing-pattern label code of every train: 0 silent, 1 tonic spiking, 2 bursting.

    Parameters
    ----------
    trains : SpikeTrains
        Spike times (ms).
    cv_threshold : float, default 0.15
        Largest ISI coefficient of variation (population std) of a spiking train.
    min_spikes : int, default 3
        Trains with fewer spikes are silent.

    Returns
    -------
    ndarray of int, shape (n_trains,)
        Codes; ``LABEL_NAMES[code]`` gives the name.

    References
    ----------
    Brandoit et al. (2025), arXiv:2509.12783.

    Examples
    --------
    >>> st = SpikeTrains.from_list([[0.0, 50.0], [0.0, 100.0, 200.0, 300.0],
    ...                             [0.0, 10.0, 20.0, 200.0, 210.0, 220.0]])
    >>> label_trains(st)
    array([0, 1, 2])
    """
    return _labels(trains, _isi_stats(trains).cv, cv_threshold, min_spikes)


@dataclass(frozen=True, eq=False)
class SpikeFeatures:
    """Labels and features of many trains; every field has shape (n_trains,).

    Index by name (``feats["f_spiking"]``) like a dict; see the module docstring for the
    definitions. Units: frequencies in Hz, durations and intervals in ms.

    Examples
    --------
    >>> import numpy as np
    >>> from sbidic.spikes import SpikeTrains, spike_features
    >>> feats = spike_features(SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0), [1.0]]))
    >>> feats.label.tolist(), round(float(feats["f_spiking"][0]), 1)
    (['spiking', 'silent'], 10.0)
    """

    ids: np.ndarray
    label_code: np.ndarray
    n_spikes: np.ndarray
    mean_isi_ms: np.ndarray
    cv_isi: np.ndarray
    firing_rate_hz: np.ndarray
    f_spiking: np.ndarray
    f_intra_bursting: np.ndarray
    f_inter_bursting: np.ndarray
    duration_bursting: np.ndarray
    nbr_spikes_bursting: np.ndarray
    burst_period_ms: np.ndarray

    @property
    def label(self) -> np.ndarray:
        """Label names (``"silent"``, ``"spiking"``, ``"bursting"``), shape (n_trains,)."""
        return np.asarray(LABEL_NAMES)[self.label_code]

    def keys(self) -> list[str]:
        """Names of the per-train quantities (all fields except ``ids``)."""
        return [f.name for f in fields(self) if f.name != "ids"]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self:
            raise KeyError(f"unknown feature {name!r}; available: {self.keys()}")
        return getattr(self, name)

    def __contains__(self, name: object) -> bool:
        return name in self.keys()

    def __len__(self) -> int:
        return len(self.label_code)

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{name: array}`` of every quantity in :meth:`keys`."""
        return {k: getattr(self, k) for k in self.keys()}

    def to_dataset(self):
        """``xarray.Dataset`` with dimension ``train`` and coordinate ``train_id``.

        ``label_code`` carries the CF ``flag_values`` / ``flag_meanings`` attributes.
        """
        import xarray as xr

        data = {}
        for k, arr in self.as_dict().items():
            units, long_name = _UNITS[k]
            data[k] = ("train", arr, {"units": units, "long_name": long_name})
        data["label_code"][2].update(
            flag_values=np.arange(3, dtype=np.int64), flag_meanings=" ".join(LABEL_NAMES)
        )
        return xr.Dataset(data, coords={"train_id": ("train", self.ids)})


def spike_features(
    trains: SpikeTrains,
    *,
    fill_value: float = 0.0,
    duration_ms: ArrayLike | None = None,
    cv_threshold: float = CV_THRESHOLD,
    min_spikes: int = MIN_SPIKES,
) -> SpikeFeatures:
    """Labels, tonic-spiking and bursting features of every train (published rules).

    Parameters
    ----------
    trains : SpikeTrains
        Spike times (ms). Invalid trains (e.g. a repeated time, built with
        ``check=False``) are processed like the reference does, without repair.
    fill_value : float, default 0.0
        Value of the features that do not apply to a train's label (``f_spiking`` unless
        spiking, the burst features unless bursting). ``0.0`` is the reference's
        convention; ``np.nan`` marks them missing.
    duration_ms : float or array_like of shape (n_trains,), optional
        Recording duration (ms) for ``firing_rate_hz = 1000 * n_spikes / duration_ms``.
        Without it, ``firing_rate_hz = 1000 / mean_isi_ms`` (NaN below 2 spikes).
    cv_threshold : float, default 0.15
        See :func:`label_trains`.
    min_spikes : int, default 3
        See :func:`label_trains`.

    Returns
    -------
    SpikeFeatures
        One entry per train.

    References
    ----------
    Brandoit et al. (2025), arXiv:2509.12783 (Spike2Pop
    ``SpikeFeatureExtractor.extract_from_row``).

    Examples
    --------
    >>> bursts = [b * 150.0 + o for b in range(4) for o in (0.0, 10.0, 20.0)]
    >>> f = spike_features(SpikeTrains.from_list([np.arange(5) * 100.0, bursts]))
    >>> f.label.tolist(), f["f_spiking"].tolist()
    (['spiking', 'bursting'], [10.0, 0.0])
    >>> f["nbr_spikes_bursting"], f["f_intra_bursting"], f["burst_period_ms"]
    (array([0., 3.]), array([  0., 150.]), array([ nan, 150.]))
    """
    n = trains.n_trains
    counts = trains.n_spikes
    st = _isi_stats(trains)
    code = _labels(trains, st.cv, cv_threshold, min_spikes)

    with np.errstate(invalid="ignore", divide="ignore"):
        if duration_ms is None:
            rate = 1000.0 / st.mean
        else:
            dur = np.asarray(duration_ms, dtype=np.float64)
            if dur.ndim > 1 or (dur.ndim == 1 and dur.shape != (n,)):
                raise ValueError(
                    f"duration_ms must be a scalar or have shape ({n},), got {dur.shape}"
                )
            dur = np.broadcast_to(dur, (n,))
            bad = np.flatnonzero(~(np.isfinite(dur) & (dur > 0)))
            if bad.size:
                raise ValueError(
                    f"duration_ms must be finite and > 0; train {bad[0]} "
                    f"(id={trains.ids[bad[0]].item()!r}) has {dur[bad[0]]}"
                )
            rate = 1000.0 * counts / dur
        f_spiking = _segment_mean(1000.0 / st.isi, st.isi_train, n)
    f_spiking = np.where(code == SPIKING, f_spiking, fill_value)

    burst = _burst_features(trains, st, code == BURSTING)
    is_burst = code == BURSTING
    burst_period = np.where(is_burst, burst.pop("burst_period_ms"), np.nan)
    burst = {k: np.where(is_burst, v, fill_value) for k, v in burst.items()}
    return SpikeFeatures(
        ids=trains.ids,
        label_code=code,
        n_spikes=counts,
        mean_isi_ms=st.mean,
        cv_isi=st.cv,
        firing_rate_hz=rate,
        f_spiking=f_spiking,
        burst_period_ms=burst_period,
        **burst,
    )


def _burst_features(
    trains: SpikeTrains, st: _ISIStats, bursting: np.ndarray
) -> dict[str, np.ndarray]:
    """Burst features of the trains flagged ``bursting`` (NaN elsewhere), vectorised."""
    n = trains.n_trains
    idx = trains.train_index
    sel = bursting[idx]
    t, train = st.shifted[sel], idx[sel]
    isi_sel = bursting[st.isi_train]
    isi, isi_train = st.isi[isi_sel], st.isi_train[isi_sel]
    split = (
        _segment_reduce(np.maximum, isi, isi_train, n, np.nan)
        + _segment_reduce(np.minimum, isi, isi_train, n, np.nan)
    ) / 2.0

    # a spike opens a burst if it is the first of its train or follows an ISI > split
    same = train[1:] == train[:-1]
    opens = np.ones(t.size, dtype=bool)
    opens[1:] = ~same | (np.diff(t) > split[train[1:]])
    start = np.flatnonzero(opens)
    stop = np.concatenate([start[1:], [t.size]])[: start.size]  # exclusive
    size = stop - start
    onset, b_train = t[start], train[start]
    duration = t[stop - 1] - onset if start.size else np.empty(0)

    keep = size > 1
    onset, duration, size, b_train = onset[keep], duration[keep], size[keep], b_train[keep]
    # drop the first and the last kept burst of every train
    interior = np.zeros(b_train.size, dtype=bool)
    if b_train.size:
        same_as_prev = np.concatenate([[False], b_train[1:] == b_train[:-1]])
        interior = same_as_prev & np.concatenate([same_as_prev[1:], [False]])
    onset, duration, size, b_train = (
        onset[interior],
        duration[interior],
        size[interior],
        b_train[interior],
    )

    with np.errstate(invalid="ignore", divide="ignore"):
        intra = size / duration
        f_intra = 1000.0 * _segment_mean(intra, b_train, n)
    consecutive = b_train[1:] == b_train[:-1]
    period = _segment_mean(np.diff(onset)[consecutive], b_train[1:][consecutive], n)
    with np.errstate(divide="ignore"):
        f_inter = 1000.0 / period
    return {
        "f_intra_bursting": f_intra,
        "f_inter_bursting": f_inter,
        "duration_bursting": _segment_mean(duration, b_train, n),
        "nbr_spikes_bursting": _segment_mean(size.astype(np.float64), b_train, n),
        "burst_period_ms": period,
    }
