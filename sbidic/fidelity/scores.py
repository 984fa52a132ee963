"""Does a simulated cell fire like its recording? Per-cell fidelity scores.

Every simulated cell is compared with the recording it was inferred from, on the
published labels and features (:func:`sbidic.spikes.spike_features`):

* **class match**: same label (silent / tonic spiking / bursting, ISI CV rule);
* **feature match** (the default criterion): class match and, for a tonic recording,
  firing rate within ``rate_tolerance`` (relative, default 10 %), as the published
  method defines it, ``f_spiking = mean(1000 / ISI)`` (:func:`sbidic.spikes.spike_features`;
  not ``1000 / mean(ISI)``, which is lower for irregular trains and flips borderline
  cells); for a bursting one, mean spikes per burst within
  ``spikes_per_burst_tolerance`` (absolute, default 0.5) and burst period within
  ``burst_period_tolerance`` (relative, default 10 %). A feature the recording itself
  does not define well enough is not checked: the rate of a tonic recording with
  fewer than 3 ISIs (:data:`MIN_RATE_ISIS`), the spikes per burst of a bursting one
  without an interior burst, its burst period with fewer than 2 (the first and the
  last bursts are never used). ``checked_features`` says which features were
  compared; ``""`` means the class only, and :func:`~sbidic.fidelity.recording_summary`
  then says so. A feature the cell does not define while the recording does fails.

Also reported, not part of the criterion: ISI CV, duty cycle (burst duration / burst
period) and the van Rossum distance to the recording (:mod:`sbidic.fidelity.distance`,
kernel ``tau`` = mid-range ISI of the recording).

``mismatch`` ranks cells by how far they are from passing: the largest ratio
``|error| / tolerance`` over the checked features (``inf`` without class match); a
cell passes the feature criterion exactly when ``mismatch <= 1``.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from sbidic.fidelity.distance import mid_range_tau, van_rossum_to_recordings
from sbidic.spikes import LABEL_NAMES, SpikeTrains, spike_features
from sbidic.spikes.features import BURSTING, CV_THRESHOLD, MIN_SPIKES, SPIKING

__all__ = [
    "CRITERIA",
    "MIN_RATE_ISIS",
    "FidelityCriteria",
    "FidelityScores",
    "checked_features",
    "score_trains",
]

#: Names of the acceptance criteria.
CRITERIA = ("features", "class")
#: A tonic recording's rate is compared only with at least this many ISIs.
MIN_RATE_ISIS = 3
#: Features of the feature criterion, in the order ``checked_features`` lists them.
FEATURES = ("rate", "spikes_per_burst", "burst_period")
#: ``checked_features`` of scores read from files written before it was recorded.
_UNKNOWN = "unknown"


@dataclass(frozen=True)
class FidelityCriteria:
    """When a simulated cell reproduces its recording.

    Parameters
    ----------
    criterion : {"features", "class"}, default "features"
        ``"class"``: same firing label; ``"features"``: same label and its features
        within the tolerances below.
    rate_tolerance : float, default 0.10
        Largest relative error of the tonic firing rate.
    spikes_per_burst_tolerance : float, default 0.5
        Largest absolute error of the mean number of spikes per burst.
    burst_period_tolerance : float, default 0.10
        Largest relative error of the mean burst period.
    cv_threshold : float, default 0.15
        ISI CV separating tonic spiking from bursting (published rule).
    min_spikes : int, default 3
        Fewer spikes: silent.

    Examples
    --------
    >>> FidelityCriteria().burst_period_tolerance  # relative
    0.1
    >>> FidelityCriteria(criterion="class").criterion
    'class'
    """

    criterion: str = "features"
    rate_tolerance: float = 0.10
    spikes_per_burst_tolerance: float = 0.5
    burst_period_tolerance: float = 0.10
    cv_threshold: float = CV_THRESHOLD
    min_spikes: int = MIN_SPIKES

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        for name in ("rate_tolerance", "spikes_per_burst_tolerance", "burst_period_tolerance"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")

    def summarize(self, trains: SpikeTrains) -> dict[str, np.ndarray]:
        """:func:`summarize` of the trains' features, labelled by these criteria."""
        return summarize(spike_features(trains, fill_value=np.nan,
                                        cv_threshold=self.cv_threshold,
                                        min_spikes=self.min_spikes))  # fmt: skip


@dataclass(frozen=True, eq=False)
class FidelityScores:
    """Fidelity of simulated cells to their recordings; every field has the same shape.

    Attributes
    ----------
    recording : ndarray of int
        Index of the recording each cell is compared with.
    label_code, recording_label_code : ndarray of int
        Label of the cell and of its recording (0 silent, 1 spiking, 2 bursting).
    class_match, feature_match : ndarray of bool
        See the module docstring.
    passed : ndarray of bool
        The chosen criterion (``feature_match`` or ``class_match``).
    mismatch : ndarray of float
        ``max |error| / tolerance`` over the checked features (``inf`` without class
        match); ``<= 1`` exactly when the features match.
    failed_feature : ndarray of str
        The feature furthest out of tolerance (``"class"``, ``"rate"``,
        ``"spikes_per_burst"``, ``"burst_period"``), ``""`` for a feature match.
    checked_features : ndarray of str
        The features of the recording the feature criterion compared, comma-separated
        (e.g. ``"rate"``, ``"spikes_per_burst,burst_period"``); ``""``: none, the
        recording is too short (a feature match is then a class match only, see
        :attr:`features_compared`); ``"unknown"`` in files written before it was
        recorded.
    rate_hz, rate_error : ndarray of float
        Cell's rate (Hz: ``mean(1000 / ISI)`` for a tonic cell, ``1000 / mean(ISI)``
        otherwise) and its relative error ``cell / recording - 1``.
    cv_isi, cv_error : ndarray of float
        Cell's ISI CV and ``cell - recording``.
    spikes_per_burst, spikes_per_burst_error : ndarray of float
        Cell's mean spikes per burst and ``cell - recording``.
    burst_period_ms, burst_period_error : ndarray of float
        Cell's mean burst period (ms) and its relative error.
    duty_cycle, duty_cycle_error : ndarray of float
        Cell's burst duration / burst period and ``cell - recording``.
    van_rossum : ndarray of float
        van Rossum distance (1/ms) between cell and recording, ``tau`` = the
        recording's mid-range ISI, both cut to the shorter window.

    Examples
    --------
    Two cells against a 10 Hz recording, as :func:`score_trains` returns them:

    >>> from sbidic.spikes import SpikeTrains
    >>> rec = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0)])
    >>> cells = SpikeTrains.from_list([np.arange(0.0, 3000.0, 1000 / 10.5),
    ...                                np.arange(0.0, 3000.0, 80.0)])
    >>> s = score_trains(rec, cells, [0, 0])
    >>> s.shape, s.passed.tolist(), s.rate_hz.round(1).tolist()
    ((2,), [True, False], [10.5, 12.5])
    >>> s.take([1]).failed_feature.tolist(), s.reshape(1, 2).shape
    (['rate'], (1, 2))
    >>> s.checked_features.tolist(), s.features_compared.tolist()
    (['rate', 'rate'], [True, True])
    """

    recording: np.ndarray
    label_code: np.ndarray
    recording_label_code: np.ndarray
    class_match: np.ndarray
    feature_match: np.ndarray
    passed: np.ndarray
    mismatch: np.ndarray
    failed_feature: np.ndarray
    checked_features: np.ndarray
    rate_hz: np.ndarray
    rate_error: np.ndarray
    cv_isi: np.ndarray
    cv_error: np.ndarray
    spikes_per_burst: np.ndarray
    spikes_per_burst_error: np.ndarray
    burst_period_ms: np.ndarray
    burst_period_error: np.ndarray
    duty_cycle: np.ndarray
    duty_cycle_error: np.ndarray
    van_rossum: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.passed.shape

    @property
    def label(self) -> np.ndarray:
        """Label names of the cells."""
        return np.asarray(LABEL_NAMES)[self.label_code]

    @property
    def features_compared(self) -> np.ndarray:
        """Whether any feature was compared; False where the recording is too short and
        only the class was compared (a ``feature_match`` is then a class match)."""
        return np.asarray(self.checked_features) != ""

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def reshape(self, *shape: int) -> FidelityScores:
        """The same scores with every field reshaped (e.g. to ``(n_obs, n_cells)``)."""
        return FidelityScores(**{k: v.reshape(*shape) for k, v in self.as_dict().items()})

    def take(self, index) -> FidelityScores:
        """Scores of the cells ``index`` selects (any numpy index)."""
        return FidelityScores(**{k: v[index] for k, v in self.as_dict().items()})

    @classmethod
    def concatenate(cls, parts: list[FidelityScores]) -> FidelityScores:
        """Scores of several batches of cells, one after the other (flat)."""
        names = [f.name for f in fields(cls)]
        return cls(**{k: np.concatenate([p.as_dict()[k].ravel() for p in parts]) for k in names})

    def to_dataset(self, dims: tuple[str, ...], coords: dict | None = None):
        """``xarray.Dataset`` of every score over ``dims`` (one name per axis)."""
        import xarray as xr

        data = {k: (dims, v) for k, v in self.as_dict().items()}
        for k in ("label_code", "recording_label_code"):
            data[k] = (dims, self.as_dict()[k], {
                "flag_values": np.arange(3, dtype=np.int64),
                "flag_meanings": " ".join(LABEL_NAMES),
            })  # fmt: skip
        data["failed_feature"] = (dims, self.failed_feature.astype(str))
        data["checked_features"] = (dims, self.checked_features.astype(str))
        units = {"rate_hz": "Hz", "burst_period_ms": "ms", "van_rossum": "1/ms"}
        ds = xr.Dataset(data, coords=coords)
        for k, u in units.items():
            ds[k].attrs["units"] = u
        return ds

    @classmethod
    def from_dataset(cls, ds) -> FidelityScores:
        """Inverse of :meth:`to_dataset` (``checked_features`` is ``"unknown"`` in a
        dataset written before it was recorded)."""
        values = {f.name: np.asarray(ds[f.name].values) for f in fields(cls) if f.name in ds}
        if "checked_features" not in values:
            values["checked_features"] = np.full(values["passed"].shape, _UNKNOWN)
        return cls(**values)


def score_trains(
    recordings: SpikeTrains,
    cells: SpikeTrains,
    recording_index: ArrayLike,
    criteria: FidelityCriteria | None = None,
    *,
    window_ms: float | None = None,
    deadline: float | None = None,
) -> FidelityScores:
    """Score every simulated cell against its recording.

    Parameters
    ----------
    recordings : SpikeTrains
        The recorded spike trains (ms).
    cells : SpikeTrains
        Simulated spike trains (ms), one per cell (absolute or relative times: each
        train is compared from its first spike).
    recording_index : array_like of int, shape (cells.n_trains,)
        Which recording each cell is compared with.
    criteria : FidelityCriteria, optional
        Tolerances and criterion (default: the published-style criteria above).
    window_ms : float, optional
        Length of the simulated window (ms): the van Rossum distance compares both
        trains over at most this long from their first spike (spikes of a longer
        recording after it are dropped first, so they cost nothing).
    deadline : float, optional
        A :func:`time.perf_counter` value (a time budget): the van Rossum distances,
        computed in chunks of cells, of the cells not reached by then are NaN. The
        other scores (and ``passed``) do not depend on it.

    Returns
    -------
    FidelityScores
        Flat, one entry per cell.

    References
    ----------
    Brandoit et al. (2025), arXiv:2509.12783.

    Examples
    --------
    A 10 Hz recording; cells at 10.5 Hz (match), 12 Hz (20 % too fast) and bursting.

    >>> rec = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0)])
    >>> burst = [b * 300.0 + o for b in range(10) for o in (0.0, 10.0, 20.0)]
    >>> cells = SpikeTrains.from_list([np.arange(0.0, 3000.0, 1000 / 10.5),
    ...                                np.arange(0.0, 3000.0, 1000 / 12), burst])
    >>> s = score_trains(rec, cells, [0, 0, 0])
    >>> s.passed, s.failed_feature
    (array([ True, False, False]), array(['', 'rate', 'class'], dtype='<U16'))
    >>> s.rate_error[:2].round(2), s.label[2]
    (array([0.05, 0.2 ]), np.str_('bursting'))

    A 9-spike bursting response has no interior burst: only its class is compared.

    >>> step = SpikeTrains.from_list([[0.0, 5, 12, 20, 30, 45, 65, 90, 120]])
    >>> s = score_trains(step, step, [0])
    >>> s.label[0], s.passed[0], s.features_compared[0]
    (np.str_('bursting'), np.True_, np.False_)
    """
    crit = FidelityCriteria() if criteria is None else criteria
    idx = np.asarray(recording_index, dtype=np.int64).reshape(-1)
    if idx.shape != (cells.n_trains,):
        raise ValueError(
            f"recording_index must have one entry per cell ({cells.n_trains}), got {idx.shape}"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= recordings.n_trains):
        raise ValueError(
            f"recording_index must lie in [0, {recordings.n_trains}), got {idx.min()}..{idx.max()}"
        )
    rec = {k: v[idx] for k, v in crit.summarize(recordings).items()}
    cell = crit.summarize(cells)
    c = compare(rec, cell, crit)
    vr = van_rossum_to_recordings(recordings, idx, cells, mid_range_tau(recordings),
                                  duration_ms=window_ms, deadline=deadline)  # fmt: skip
    return FidelityScores(
        recording=idx,
        label_code=cell["label"],
        recording_label_code=rec["label"],
        **c,
        rate_hz=cell["rate"],
        cv_isi=cell["cv"],
        cv_error=cell["cv"] - rec["cv"],
        spikes_per_burst=cell["spb"],
        burst_period_ms=cell["period"],
        duty_cycle=cell["duty"],
        duty_cycle_error=cell["duty"] - rec["duty"],
        van_rossum=vr,
    )


def compare(
    rec: dict, cell: dict, crit: FidelityCriteria, *, details: bool = True
) -> dict[str, np.ndarray]:
    """Compare cells with recordings, given their :func:`summarize` (broadcastable).

    Returns ``class_match``, ``feature_match``, ``passed``, ``mismatch`` and, unless
    ``details=False`` (the matches only, for ranking many candidates),
    ``failed_feature``, ``checked_features``, ``rate_error``,
    ``spikes_per_burst_error`` and ``burst_period_error``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_err = cell["rate"] / rec["rate"] - 1.0
        spb_err = cell["spb"] - rec["spb"]
        period_err = cell["period"] / rec["period"] - 1.0
        ratios = {
            "rate": np.abs(rate_err) / crit.rate_tolerance,
            "spikes_per_burst": np.abs(spb_err) / crit.spikes_per_burst_tolerance,
            "burst_period": np.abs(period_err) / crit.burst_period_tolerance,
        }
    class_match = cell["label"] == rec["label"]
    checked = _checked(rec)
    names = list(FEATURES)
    table = np.stack(np.broadcast_arrays(*[
        np.where(checked[k], np.nan_to_num(ratios[k], nan=np.inf), 0.0) for k in names
    ]))  # fmt: skip
    worst = table.max(axis=0, initial=0.0)
    mismatch = np.where(class_match, worst, np.inf)
    feature_match = mismatch <= 1.0
    passed = feature_match if crit.criterion == "features" else class_match
    out = {"class_match": class_match, "feature_match": feature_match, "passed": passed,
           "mismatch": mismatch}  # fmt: skip
    if not details:
        return out
    failed = np.where(
        ~class_match, "class",
        np.where(feature_match, "", np.asarray(names)[np.argmax(table, axis=0)]),
    ).astype("<U16")  # fmt: skip
    return {
        **out,
        "failed_feature": failed,
        "checked_features": np.broadcast_to(checked_features(rec), class_match.shape).copy(),
        "rate_error": rate_err,
        "spikes_per_burst_error": spb_err,
        "burst_period_error": period_err,
    }


def _checked(rec: dict) -> dict[str, np.ndarray]:
    """Which features of the recordings (:func:`summarize`) the criterion compares."""
    label = np.asarray(rec["label"])
    n_spikes = rec.get("n_spikes")  # absent: summaries made before it was added
    enough = True if n_spikes is None else np.asarray(n_spikes) - 1 >= MIN_RATE_ISIS
    return {
        "rate": (label == SPIKING) & enough,
        "spikes_per_burst": (label == BURSTING) & np.isfinite(rec["spb"]),
        "burst_period": (label == BURSTING) & np.isfinite(rec["period"]),
    }


def checked_features(rec: dict) -> np.ndarray:
    """The features the feature criterion compares for each recording, comma-separated
    (``""``: none, the class only).

    Parameters
    ----------
    rec : dict of ndarray
        :func:`summarize` of the recordings.

    Examples
    --------
    >>> from sbidic.spikes import SpikeTrains
    >>> trains = SpikeTrains.from_list([np.arange(0.0, 1000.0, 100.0),  # tonic, 9 ISIs
    ...                                 [0.0, 100.0, 200.0],  # tonic, 2 ISIs
    ...                                 [0.0, 5, 12, 20, 30, 45, 65, 90, 120]])  # 1 burst
    >>> checked_features(FidelityCriteria().summarize(trains)).tolist()
    ['rate', '', '']
    """
    flags = _checked(rec)
    code = sum(np.asarray(flags[name], dtype=np.int64) << k for k, name in enumerate(FEATURES))
    table = np.array([",".join(name for k, name in enumerate(FEATURES) if c >> k & 1)
                      for c in range(2 ** len(FEATURES))])  # fmt: skip
    return table[code]


def summarize(f) -> dict[str, np.ndarray]:
    """The per-train quantities the scores compare, from :class:`~sbidic.spikes.SpikeFeatures`
    computed with ``fill_value=np.nan``: ``label`` code, ``rate`` (Hz, ``mean(1000 /
    ISI)`` of a tonic train, ``1000 / mean ISI`` of others), ISI ``cv``, spikes per
    burst ``spb``, burst ``period`` (ms), ``duty`` and ``n_spikes``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        duty = f["duration_bursting"] / f["burst_period_ms"]
    return {
        "label": f.label_code,
        "rate": np.where(f.label_code == SPIKING, f.f_spiking, 1000.0 / f.mean_isi_ms),
        "cv": f.cv_isi,
        "spb": f.nbr_spikes_bursting,
        "period": f.burst_period_ms,
        "duty": duty,
        "n_spikes": f.n_spikes,
    }
