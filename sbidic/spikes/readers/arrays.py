"""NumPy files: ``.npz`` ragged spike trains (times + offsets) and ``.npy`` arrays.

**npz** (object-free, loaded with ``allow_pickle=False``):

- ``times`` -- float array (n_spikes_total,), all spike times, train after train;
- ``offsets`` -- int array (n_trains + 1,), train ``i`` is
  ``times[offsets[i]:offsets[i + 1]]`` (or ``counts``, (n_trains,), spikes per train);
- ``ids`` -- optional (n_trains,), integers or strings (default ``0..n-1``);
- ``time_unit`` -- optional 0-d string, ``"ms"`` (default) or ``"s"``.

Other arrays of length n_trains (labels, conductances written with ``extra``) are kept
in the file and ignored on reading.

**npy**: a 1-D array is one train; a 2-D array is one train per row, padded with NaN
after its last spike (as :meth:`SpikeTrains.to_padded` writes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from sbidic.spikes.trains import SpikeTrains
from sbidic.spikes.units import ms_per_unit

__all__ = ["read_npy", "read_npz", "write_spikes_npz"]

_RESERVED = ("times", "offsets", "counts", "ids", "time_unit")


_MAGIC = {"npz": b"PK", "npy": b"\x93NUMPY"}


def _load(path, what: str):
    with open(path, "rb") as fh:
        if not fh.read(8).startswith(_MAGIC[what]):
            raise ValueError(f"{path}: not a NumPy {what} file (wrong magic bytes)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise ValueError(
                f"{path}: holds Python objects (a pickled {what}); store ragged trains "
                "as 'times' + 'offsets' arrays instead"
            ) from None
        raise ValueError(f"{path}: not a NumPy {what} file ({err})") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path}: not a NumPy {what} file ({err})") from None


def read_npz(
    path: str | os.PathLike, *, check: bool = True, time_unit: str | None = None
) -> SpikeTrains:
    """Read ragged spike trains from an ``.npz`` file (layout in the module doc).

    Parameters
    ----------
    path : str or path-like
    check : bool, default True
        Validate the times (see :meth:`SpikeTrains.validate`).
    time_unit : {"ms", "s", "us"}, optional
        Unit of ``times``; default the file's ``time_unit`` array, else ms.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cells.npz"
    >>> np.savez(path, times=[0.5, 0.7, 0.9], offsets=[0, 2, 2, 3], ids=[4, 5, 6],
    ...          time_unit="s")
    >>> st = read_npz(path)
    >>> st.ids, st[0], st[1]
    (array([4, 5, 6]), array([500., 700.]), array([], dtype=float64))
    """
    with _load(path, "npz") as z:
        arrays = {k: z[k] for k in z.files}
    if "times" not in arrays or not ({"offsets", "counts"} & arrays.keys()):
        raise ValueError(
            f"{path}: expected arrays 'times' and 'offsets' (or 'counts'), found "
            f"{sorted(arrays) or 'none'}"
        )
    times = arrays["times"]
    if times.dtype.kind not in "iuf" or times.ndim != 1:
        raise ValueError(f"{path}: 'times' must be a 1-D numeric array, got {times.dtype} "
                         f"{times.shape}")  # fmt: skip
    if "offsets" in arrays:
        offsets = arrays["offsets"]
    else:
        counts = arrays["counts"]
        if counts.ndim != 1 or counts.dtype.kind not in "iu" or (counts < 0).any():
            raise ValueError(f"{path}: 'counts' must be 1-D non-negative integers")
        offsets = np.concatenate([[0], np.cumsum(counts)])
    unit = time_unit if time_unit is not None else arrays.get("time_unit", "ms")
    ids = arrays.get("ids")
    scale = ms_per_unit(str(unit), path)
    try:
        return SpikeTrains(times * scale, offsets, ids, check=check)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def read_npy(
    path: str | os.PathLike, *, check: bool = True, time_unit: str | None = None
) -> SpikeTrains:
    """Read a ``.npy`` array: 1-D is one train, 2-D is NaN-padded rows (IDs 0..n-1);
    times in ``time_unit`` (``"ms"``, the default, ``"s"`` or ``"us"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "padded.npy"
    >>> np.save(path, np.array([[1.0, 2.0], [3.0, np.nan]]))
    >>> read_npy(path).to_list()
    [array([1., 2.]), array([3.])]
    """
    a = _load(path, "npy")
    if a.dtype.kind not in "iuf" or a.ndim not in (1, 2):
        raise ValueError(
            f"{path}: expected a 1-D train or a 2-D NaN-padded array of numbers, got "
            f"dtype {a.dtype} with shape {a.shape}"
        )
    a = np.atleast_2d(a.astype(np.float64)) * ms_per_unit(time_unit, path)
    n_spikes = np.isfinite(a).sum(axis=1)
    cols = np.arange(a.shape[1])[None, :]
    gap = np.isfinite(a) & (cols >= n_spikes[:, None])
    if gap.any():
        r = int(np.flatnonzero(gap.any(axis=1))[0])
        raise ValueError(f"{path}: row {r} has a NaN before its last spike time")
    try:
        return SpikeTrains(a[cols < n_spikes[:, None]], np.concatenate([[0], np.cumsum(n_spikes)]),
                           check=check)  # fmt: skip
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def write_spikes_npz(
    trains: SpikeTrains,
    path: str | os.PathLike,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``times`` (ms), ``offsets``, ``ids``, ``time_unit`` and per-train ``extra``
    arrays to an uncompressed ``.npz`` (no pickled objects; strings as unicode arrays).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.npz"
    >>> st = SpikeTrains.from_list([[1.0], [2.0, 3.0]], ids=["x", "y"])
    >>> write_spikes_npz(st, path, extra={"label": ["silent", "spiking"]})
    >>> read_npz(path).equals(st), sorted(np.load(path).files)
    (True, ['ids', 'label', 'offsets', 'time_unit', 'times'])
    """
    arrays = {}
    for name, value in (extra or {}).items():
        if name in _RESERVED:
            raise ValueError(f"extra array {name!r} clashes with a spike-train array")
        value = np.asarray(value)
        if value.dtype.kind == "O":
            value = value.astype(str)
        if value.shape[:1] != (len(trains),):
            raise ValueError(f"extra array {name!r} must have {len(trains)} rows, got "
                             f"shape {value.shape}")  # fmt: skip
        arrays[name] = value
    ids = np.asarray(trains.ids)
    if ids.dtype.kind == "O":
        ids = ids.astype(str)
    with open(path, "wb") as fh:
        np.savez(fh, times=np.asarray(trains.times), offsets=np.asarray(trains.offsets),
                 ids=ids, time_unit=np.array("ms"), **arrays)  # fmt: skip
