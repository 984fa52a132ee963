"""The :class:`SpikeTrains` container: spike times (ms) of many cells, stored ragged.

All trains share one flat float64 array ``times``; train ``i`` is
``times[offsets[i]:offsets[i + 1]]`` (CSR layout, the CF "contiguous ragged array").
Every operation works on the flat array with segment arithmetic, never with a Python
loop over spikes.

A valid train has finite, non-negative, strictly increasing times. The constructors
check this by default and raise a :class:`ValueError` naming the offending train;
:meth:`SpikeTrains.repair` is the explicit way to sort and de-duplicate raw data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["RepairReport", "SpikeTrains"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _as_ids(ids: ArrayLike | None, n: int) -> np.ndarray:
    """Validate train identifiers: a 1-D array of ``n`` integers or strings."""
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"ids must be a 1-D sequence of length {n} (one per train), got shape {arr.shape}"
        )
    if arr.dtype.kind == "O":
        if all(isinstance(x, str) for x in arr):
            arr = arr.astype(str)
        elif all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in arr):
            arr = arr.astype(np.int64)
    if arr.dtype.kind == "S":
        arr = arr.astype(str)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=True)
    if arr.dtype.kind == "U":
        return arr.copy()
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64)
    if n == 0:
        return np.arange(0, dtype=np.int64)
    raise ValueError(f"ids must be integers or strings, got dtype {arr.dtype}")


@dataclass(frozen=True)
class RepairReport:
    """What :meth:`SpikeTrains.repair` changed, per train.

    Attributes
    ----------
    ids : ndarray, shape (n_trains,)
        Train identifiers.
    reordered : ndarray of bool, shape (n_trains,)
        Trains whose times were not in increasing order.
    n_duplicates : ndarray of int, shape (n_trains,)
        Repeated times removed from each train.
    n_dropped_invalid : ndarray of int, shape (n_trains,)
        Non-finite or negative times removed (only with ``drop_invalid=True``).

    Examples
    --------
    >>> trains = SpikeTrains.from_list([[5.0, 1.0, 1.0, 9.0]], ids=["x"], check=False)
    >>> repaired, report = trains.repair()
    >>> repaired[0]
    array([1., 5., 9.])
    >>> print(report)
    RepairReport: reordered: 1 train(s) ['x']; duplicates removed: 1 train(s) ['x']
    """

    ids: np.ndarray
    reordered: np.ndarray
    n_duplicates: np.ndarray
    n_dropped_invalid: np.ndarray

    @property
    def changed(self) -> bool:
        """Whether any train was modified."""
        return bool(
            self.reordered.any() or self.n_duplicates.any() or self.n_dropped_invalid.any()
        )

    def __str__(self) -> str:
        if not self.changed:
            return "RepairReport: nothing changed"
        parts = []
        for name, mask in (
            ("reordered", self.reordered),
            ("duplicates removed", self.n_duplicates > 0),
            ("invalid times dropped", self.n_dropped_invalid > 0),
        ):
            if mask.any():
                shown = self.ids[mask][:10].tolist()
                more = f" and {mask.sum() - 10} more" if mask.sum() > 10 else ""
                parts.append(f"{name}: {int(mask.sum())} train(s) {shown}{more}")
        return "RepairReport: " + "; ".join(parts)


class SpikeTrains:
    """Ragged spike trains of many cells; times in ms.

    Parameters
    ----------
    times : array_like, shape (n_spikes_total,)
        All spike times (ms), train after train.
    offsets : array_like of int, shape (n_trains + 1,)
        Train ``i`` is ``times[offsets[i]:offsets[i + 1]]``; ``offsets[0] == 0`` and
        ``offsets[-1] == len(times)``.
    ids : array_like, shape (n_trains,), optional
        One identifier (integer or string) per train; default ``arange(n_trains)``.
    check : bool, default True
        Check that every train is finite, non-negative and strictly increasing
        (see :meth:`validate`). Pass ``False`` only to hold raw data for
        :meth:`repair` or for feature extraction that must mimic the reference on
        invalid input.

    Notes
    -----
    The arrays are read-only; every method returns a new object.

    Examples
    --------
    >>> st = SpikeTrains.from_list([[3.0, 10.5], [], [1.0, 2.0, 4.0]], ids=["a", "b", "c"])
    >>> st
    SpikeTrains(n_trains=3, n_spikes=5, ids=['a', 'b', 'c'])
    >>> st.n_spikes
    array([2, 0, 3])
    >>> st[2]
    array([1., 2., 4.])
    >>> st.offsets
    array([0, 2, 2, 5])
    """

    __slots__ = ("_times", "_offsets", "_ids")

    def __init__(
        self,
        times: ArrayLike,
        offsets: ArrayLike,
        ids: ArrayLike | None = None,
        *,
        check: bool = True,
    ) -> None:
        t = np.array(times, dtype=np.float64, copy=True)
        if t.ndim != 1:
            raise ValueError(f"times must be 1-D (flat spike times), got shape {t.shape}")
        off = np.asarray(offsets)
        if off.ndim != 1 or off.size == 0:
            raise ValueError(
                f"offsets must be 1-D with n_trains + 1 >= 1 entries, got shape {off.shape}"
            )
        if off.dtype.kind not in "iu":
            if off.dtype.kind == "f" and np.all(off == np.round(off)):
                off = off.astype(np.int64)
            else:
                raise ValueError(f"offsets must be integers, got dtype {off.dtype}")
        off = off.astype(np.int64, copy=True)
        if off[0] != 0 or off[-1] != len(t):
            raise ValueError(
                f"offsets must start at 0 and end at len(times) = {len(t)}, "
                f"got {off[0]} ... {off[-1]}"
            )
        bad = np.flatnonzero(np.diff(off) < 0)
        if bad.size:
            raise ValueError(
                f"offsets must be non-decreasing; train {bad[0]} has "
                f"offsets {off[bad[0]]} > {off[bad[0] + 1]}"
            )
        self._times = _readonly(t)
        self._offsets = _readonly(off)
        self._ids = _readonly(_as_ids(ids, len(off) - 1))
        if check:
            self.validate()

    @classmethod
    def _new(cls, times: np.ndarray, offsets: np.ndarray, ids: np.ndarray) -> SpikeTrains:
        """Trusted fast path: no copies, no checks (inputs already valid)."""
        obj = cls.__new__(cls)
        obj._times = _readonly(np.asarray(times, dtype=np.float64))
        obj._offsets = _readonly(np.asarray(offsets, dtype=np.int64))
        obj._ids = _readonly(np.asarray(ids))
        return obj

    # ----------------------------------------------------------- constructors
    @classmethod
    def from_list(
        cls,
        trains: Sequence[ArrayLike],
        ids: ArrayLike | None = None,
        *,
        check: bool = True,
    ) -> SpikeTrains:
        """Build from one 1-D sequence of spike times (ms) per train.

        Parameters
        ----------
        trains : sequence of array_like
            ``trains[i]`` holds the spike times (ms) of train ``i``; may be empty.
        ids : array_like, shape (n_trains,), optional
            Train identifiers (integers or strings); default ``arange(n_trains)``.
        check : bool, default True
            Validate the times (see :meth:`validate`).

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0, 2.0], []]).n_spikes
        array([2, 0])
        """
        trains = list(trains)
        ids_arr = _as_ids(ids, len(trains))
        arrays = []
        for i, train in enumerate(trains):
            try:
                a = np.asarray(train, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"train {i} (id={ids_arr[i].item()!r}) is not a sequence of numbers: {err}"
                ) from None
            if a.ndim != 1:
                raise ValueError(
                    f"train {i} (id={ids_arr[i].item()!r}) must be 1-D, got shape {a.shape}"
                )
            arrays.append(a)
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        times = np.concatenate(arrays) if arrays else np.empty(0)
        return cls(times, offsets, ids_arr, check=check)

    @classmethod
    def from_padded(
        cls,
        padded: ArrayLike,
        lengths: ArrayLike | None = None,
        ids: ArrayLike | None = None,
        *,
        check: bool = True,
    ) -> SpikeTrains:
        """Build from a padded 2-D array, one train per row.

        Parameters
        ----------
        padded : array_like, shape (n_trains, max_len)
            Spike times (ms), left-aligned in each row.
        lengths : array_like of int, shape (n_trains,), optional
            Number of valid entries per row. If omitted, the padding is NaN and must be
            trailing (no spike after a NaN in a row).
        ids : array_like, shape (n_trains,), optional
            Train identifiers.
        check : bool, default True
            Validate the times (see :meth:`validate`).

        Examples
        --------
        >>> SpikeTrains.from_padded([[1.0, 2.0, np.nan], [5.0, np.nan, np.nan]]).to_list()
        [array([1., 2.]), array([5.])]
        """
        p = np.asarray(padded, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError(f"padded must be 2-D (n_trains, max_len), got shape {p.shape}")
        n, width = p.shape
        if lengths is None:
            nan = np.isnan(p)
            n_valid = width - nan.sum(axis=1)
            # NaN padding is trailing iff every entry before position n_valid is valid
            pos = np.arange(width)
            misplaced = nan & (pos[None, :] < n_valid[:, None])
            rows = np.flatnonzero(misplaced.any(axis=1))
            if rows.size:
                r = rows[0]
                c = np.flatnonzero(misplaced[r])[0]
                raise ValueError(
                    f"row {r} of padded has NaN at column {c} before a spike "
                    "time; NaN padding must be trailing (or pass lengths)"
                )
            lens = n_valid.astype(np.int64)
        else:
            lens = np.asarray(lengths)
            if lens.shape != (n,) or lens.dtype.kind not in "iu":
                raise ValueError(
                    f"lengths must be integers of shape ({n},), got "
                    f"{lens.dtype} of shape {lens.shape}"
                )
            bad = np.flatnonzero((lens < 0) | (lens > width))
            if bad.size:
                raise ValueError(f"lengths[{bad[0]}] = {lens[bad[0]]} is outside [0, {width}]")
            lens = lens.astype(np.int64)
        mask = np.arange(width)[None, :] < lens[:, None]
        offsets = np.concatenate([[0], np.cumsum(lens)])
        return cls(p[mask], offsets, ids, check=check)

    @classmethod
    def concatenate(cls, parts: Sequence[SpikeTrains]) -> SpikeTrains:
        """Stack the trains of several containers (ids must be all ints or all strings).

        Examples
        --------
        >>> a = SpikeTrains.from_list([[1.0]])
        >>> SpikeTrains.concatenate([a, a]).offsets
        array([0, 1, 2])
        """
        parts = list(parts)
        if not parts:
            return cls._new(np.empty(0), np.zeros(1, np.int64), np.empty(0, np.int64))
        kinds = {p.ids.dtype.kind for p in parts if len(p)}
        if len(kinds) > 1:
            raise ValueError("cannot concatenate SpikeTrains with integer and string ids")
        starts = np.cumsum([0] + [len(p.times) for p in parts[:-1]])
        offsets = np.concatenate(
            [[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts, strict=True)]
        )
        times = np.concatenate([p.times for p in parts])
        ids = np.concatenate([p.ids for p in parts if len(p)] or [np.empty(0, np.int64)])
        return cls._new(times, offsets, ids)

    # ------------------------------------------------------------- properties
    @property
    def times(self) -> np.ndarray:
        """Flat spike times (ms), shape (n_spikes_total,), read-only."""
        return self._times

    @property
    def offsets(self) -> np.ndarray:
        """Train boundaries in :attr:`times`, shape (n_trains + 1,), read-only."""
        return self._offsets

    @property
    def ids(self) -> np.ndarray:
        """Train identifiers, shape (n_trains,), read-only."""
        return self._ids

    @property
    def n_trains(self) -> int:
        """Number of trains."""
        return len(self._offsets) - 1

    @property
    def n_spikes(self) -> np.ndarray:
        """Spike count per train, shape (n_trains,)."""
        return np.diff(self._offsets)

    @property
    def train_index(self) -> np.ndarray:
        """Index of the train each spike belongs to, shape (n_spikes_total,).

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0, 2.0], [], [3.0]]).train_index
        array([0, 0, 2])
        """
        return np.repeat(np.arange(self.n_trains), self.n_spikes)

    def _label(self, i: int) -> str:
        return f"train {i} (id={self._ids[i].item()!r})"

    # ------------------------------------------------------------ validation
    def _first_problem(self) -> tuple[int, str] | None:
        """``(train index, message)`` of the first invalid spike, or ``None``."""
        t = self._times
        if t.size == 0:
            return None
        idx = self.train_index
        local = np.arange(t.size) - self._offsets[idx]
        problems = []
        nonfinite = np.flatnonzero(~np.isfinite(t))
        if nonfinite.size:
            k = nonfinite[0]
            problems.append((k, f"spike {local[k]} is not finite ({t[k]})"))
        negative = np.flatnonzero(t < 0)
        if negative.size:
            k = negative[0]
            problems.append((k, f"spike {local[k]} is negative ({t[k]} ms)"))
        same = idx[1:] == idx[:-1]
        with np.errstate(invalid="ignore"):
            not_increasing = np.flatnonzero(
                same & ~(t[1:] > t[:-1]) & np.isfinite(t[1:]) & np.isfinite(t[:-1])
            )
        if not_increasing.size:
            k = not_increasing[0] + 1
            what = "repeats" if t[k] == t[k - 1] else "is before"
            problems.append(
                (
                    k,
                    f"spike {local[k]} ({t[k]} ms) {what} spike {local[k] - 1} "
                    f"({t[k - 1]} ms); times must be strictly increasing",
                )
            )
        if not problems:
            return None
        k, msg = min(problems, key=lambda p: p[0])
        return int(idx[k]), msg

    def validate(self) -> SpikeTrains:
        """Check that every train is finite, non-negative and strictly increasing.

        Returns
        -------
        SpikeTrains
            ``self``, for chaining.

        Raises
        ------
        ValueError
            Naming the first offending train (index and id) and spike.

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0], [2.0, 2.0]], ids=["x", "y"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: train 1 (id='y'): spike 1 (2.0 ms) repeats spike 0 (2.0 ms); ...
        """
        problem = self._first_problem()
        if problem is not None:
            i, msg = problem
            raise ValueError(
                f"{self._label(i)}: {msg}; SpikeTrains.repair() sorts and "
                "removes duplicates explicitly"
            )
        return self

    def is_valid(self) -> bool:
        """Whether :meth:`validate` would pass."""
        return self._first_problem() is None

    def repair(self, *, drop_invalid: bool = False) -> tuple[SpikeTrains, RepairReport]:
        """Sort every train and remove repeated times, reporting what changed.

        Parameters
        ----------
        drop_invalid : bool, default False
            Also drop non-finite and negative times. Without it such times raise a
            :class:`ValueError`, since they cannot be fixed by sorting.

        Returns
        -------
        trains : SpikeTrains
            Valid trains with the same ids.
        report : RepairReport
            Which trains were reordered and how many times were removed from each.

        Examples
        --------
        >>> raw = SpikeTrains.from_list([[3.0, 1.0, 3.0], [2.0]], check=False)
        >>> fixed, report = raw.repair()
        >>> fixed[0], report.n_duplicates
        (array([1., 3.]), array([1, 0]))
        >>> print(report)
        RepairReport: reordered: 1 train(s) [0]; duplicates removed: 1 train(s) [0]
        """
        t, n = self._times, self.n_trains
        idx = self.train_index
        invalid = ~np.isfinite(t) | (t < 0)
        if invalid.any() and not drop_invalid:
            k = int(np.argmax(invalid))
            i = int(idx[k])
            raise ValueError(
                f"{self._label(i)}: spike {k - self._offsets[i]} is {t[k]}; "
                "non-finite or negative times cannot be repaired by sorting "
                "(pass drop_invalid=True to drop them)"
            )
        n_dropped = np.bincount(idx[invalid], minlength=n)
        t, idx = t[~invalid], idx[~invalid]
        same = idx[1:] == idx[:-1]
        unsorted = same & (t[1:] < t[:-1])
        reordered = np.bincount(idx[1:][unsorted], minlength=n) > 0
        order = np.lexsort((t, idx))
        t, idx = t[order], idx[order]
        dup = np.concatenate([[False], (idx[1:] == idx[:-1]) & (t[1:] == t[:-1])])
        n_dup = np.bincount(idx[dup], minlength=n)
        t, idx = t[~dup], idx[~dup]
        offsets = np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=n))])
        report = RepairReport(self._ids, reordered, n_dup, n_dropped)
        return SpikeTrains._new(t, offsets, self._ids), report

    # ----------------------------------------------------------- conversions
    def drop_silent(self, min_spikes: int = 3) -> SpikeTrains:
        """The trains with at least ``min_spikes`` spikes (ids kept, so what was dropped
        can be found by id).

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0, 2.0, 3.0], [4.0]], ids=["a", "b"]).drop_silent().ids
        array(['a'], dtype='<U1')
        """
        return self._take(np.flatnonzero(self.n_spikes >= int(min_spikes)))

    def to_list(self) -> list[np.ndarray]:
        """One 1-D array of spike times (ms) per train (copies)."""
        return [a.copy() for a in np.split(self._times, self._offsets[1:-1])]

    def to_padded(
        self, pad_value: float = np.nan, max_len: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Padded 2-D array of the trains.

        Parameters
        ----------
        pad_value : float, default NaN
            Value after the last spike of each row.
        max_len : int, optional
            Number of columns; longer trains keep their first ``max_len`` spikes.
            Default: the longest train.

        Returns
        -------
        padded : ndarray, shape (n_trains, max_len)
            Spike times (ms).
        lengths : ndarray of int, shape (n_trains,)
            Spikes kept per row.

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0, 2.0, 3.0], [4.0]]).to_padded(max_len=2)
        (array([[ 1.,  2.], [ 4., nan]]), array([2, 1]))
        """
        counts = self.n_spikes
        width = int(counts.max(initial=0)) if max_len is None else int(max_len)
        if width < 0:
            raise ValueError(f"max_len must be >= 0, got {max_len}")
        idx = self.train_index
        pos = np.arange(self._times.size) - self._offsets[idx]
        keep = pos < width
        out = np.full((self.n_trains, width), pad_value, dtype=np.float64)
        out[idx[keep], pos[keep]] = self._times[keep]
        return out, np.minimum(counts, width)

    def to_dataset(self, extra: Any = None):
        """CF contiguous-ragged-array ``xarray.Dataset``; see :func:`sbidic.spikes.to_dataset`."""
        from sbidic.spikes.io import to_dataset

        return to_dataset(self, extra=extra)

    @classmethod
    def from_dataset(cls, ds, *, check: bool = True) -> SpikeTrains:
        """Inverse of :meth:`to_dataset`; see :func:`sbidic.spikes.from_dataset`.

        Examples
        --------
        >>> trains = SpikeTrains.from_list([[1.0, 2.0], [3.0]], ids=["a", "b"])
        >>> back = SpikeTrains.from_dataset(trains.to_dataset())
        >>> back.ids.tolist(), back.to_list()
        (['a', 'b'], [array([1., 2.]), array([3.])])
        """
        from sbidic.spikes.io import from_dataset

        return from_dataset(ds, check=check)

    # ---------------------------------------------------------- sequence API
    def __len__(self) -> int:
        return self.n_trains

    def __iter__(self) -> Iterator[np.ndarray]:
        off = self._offsets
        for i in range(self.n_trains):
            yield self._times[off[i] : off[i + 1]]

    def __getitem__(self, key: Any) -> np.ndarray | SpikeTrains:
        """``int`` -> read-only times (ms) of one train; slice / int array / bool mask ->
        a new :class:`SpikeTrains` with those trains (and their ids)."""
        if isinstance(key, int | np.integer):
            i = range(self.n_trains)[key]  # IndexError when out of range
            return self._times[self._offsets[i] : self._offsets[i + 1]]
        sel = np.arange(self.n_trains)[key]
        if sel.ndim != 1:
            raise IndexError(f"SpikeTrains index must select a 1-D set of trains, got {key!r}")
        return self._take(sel)

    def _take(self, sel: np.ndarray) -> SpikeTrains:
        counts = self.n_spikes[sel]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        src = np.repeat(self._offsets[:-1][sel] - offsets[:-1], counts) + np.arange(offsets[-1])
        return SpikeTrains._new(self._times[src], offsets, self._ids[sel])

    def __reduce__(self):
        return (_rebuild, (np.array(self._times), np.array(self._offsets), np.array(self._ids)))

    def __repr__(self) -> str:
        ids = self._ids.tolist()
        shown = repr(ids) if len(ids) <= 6 else f"[{', '.join(map(repr, ids[:3]))}, ...]"
        return f"SpikeTrains(n_trains={self.n_trains}, n_spikes={self._times.size}, ids={shown})"

    def equals(self, other: SpikeTrains, *, check_ids: bool = True) -> bool:
        """Exact equality of the spike times (and ids).

        Examples
        --------
        >>> a = SpikeTrains.from_list([[1.0], []])
        >>> a.equals(SpikeTrains.from_list([[1.0], []])), a.equals(a[:1])
        (True, False)
        """
        if not isinstance(other, SpikeTrains):
            return False
        same = np.array_equal(self._offsets, other._offsets) and np.array_equal(
            self._times, other._times, equal_nan=True
        )
        if check_ids:
            same = (
                same
                and self._ids.dtype.kind == other._ids.dtype.kind
                and np.array_equal(self._ids, other._ids)
            )
        return bool(same)

    # ------------------------------------------------------------ operations
    def isi(self) -> tuple[np.ndarray, np.ndarray]:
        """Inter-spike intervals (ms), ragged like the trains.

        Returns
        -------
        values : ndarray, shape (n_isi_total,)
            ``diff`` of each train, train after train.
        offsets : ndarray of int, shape (n_trains + 1,)
            Train ``i`` has intervals ``values[offsets[i]:offsets[i + 1]]``
            (``max(n_spikes - 1, 0)`` of them).

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0, 3.0, 7.0], [2.0], [0.0, 5.0]]).isi()
        (array([2., 4., 5.]), array([0, 2, 2, 3]))
        """
        idx = self.train_index
        within = idx[1:] == idx[:-1]
        values = np.diff(self._times)[within]
        counts = np.maximum(self.n_spikes - 1, 0)
        return values, np.concatenate([[0], np.cumsum(counts)])

    def shift(self, offset_ms: ArrayLike) -> SpikeTrains:
        """Add ``offset_ms`` (scalar, or one value per train) to the spike times.

        The result is validated: a shift that makes a time negative raises.

        Examples
        --------
        >>> SpikeTrains.from_list([[1.0, 2.0], [5.0]]).shift([10.0, -5.0]).to_list()
        [array([11., 12.]), array([0.])]
        """
        off = np.asarray(offset_ms, dtype=np.float64)
        if off.ndim == 1:
            if off.shape != (self.n_trains,):
                raise ValueError(
                    f"offset_ms must be a scalar or have shape ({self.n_trains},), got {off.shape}"
                )
            off = np.repeat(off, self.n_spikes)
        elif off.ndim != 0:
            raise ValueError(f"offset_ms must be a scalar or 1-D, got shape {off.shape}")
        return SpikeTrains(self._times + off, self._offsets, self._ids)

    def window(self, t_start: float, t_stop: float, *, rereference: bool = False) -> SpikeTrains:
        """Keep the spikes in ``[t_start, t_stop)`` (ms).

        Parameters
        ----------
        t_start, t_stop : float
            Window bounds (ms), ``t_start < t_stop``.
        rereference : bool, default False
            Subtract ``t_start`` so that times are relative to the window start.

        Examples
        --------
        >>> st = SpikeTrains.from_list([[1.0, 5.0, 9.0], [10.0]])
        >>> st.window(5.0, 10.0, rereference=True).to_list()
        [array([0., 4.]), array([], dtype=float64)]
        """
        if not t_start < t_stop:
            raise ValueError(f"window needs t_start < t_stop, got [{t_start}, {t_stop})")
        keep = (self._times >= t_start) & (self._times < t_stop)
        counts = np.bincount(self.train_index[keep], minlength=self.n_trains)
        times = self._times[keep] - (t_start if rereference else 0.0)
        return SpikeTrains._new(times, np.concatenate([[0], np.cumsum(counts)]), self._ids)


def _rebuild(times: np.ndarray, offsets: np.ndarray, ids: np.ndarray) -> SpikeTrains:
    """Unpickle a :class:`SpikeTrains` (read-only arrays, no re-validation)."""
    return SpikeTrains._new(times, offsets, ids)
