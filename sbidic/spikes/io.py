"""Reading and writing spike trains: Spike2Pop CSV and netCDF (CF contiguous ragged array);
:func:`sbidic.spikes.read_spikes` and :func:`sbidic.spikes.write_spikes` dispatch to
these and every other format of :mod:`sbidic.spikes.readers` (NWB, Neo, npz/npy, text).

**Spike2Pop CSV** -- one row per train, columns ``ID,spiking_times``; ``spiking_times``
is a quoted list of absolute spike times in ms, ``"[t1, t2, ...]"`` (``"[]"`` for a
silent cell). Other columns are ignored on reading. Floats are written with Python's
``repr`` (shortest exact representation), so a round trip is exact, for spike lists of
any length (the reader lifts the csv module's field size limit).

Every reader takes ``time_unit`` (``"s"``, ``"ms"``, ``"us"``; the unit table is
:data:`~sbidic.spikes.units.MS_PER_UNIT`), the unit of the numbers in the file.

**netCDF** -- the CF-conventions *contiguous ragged array* (CF 1.8, sec. 9.3.3):
dimension ``train`` with ``train_id`` and the count variable ``row_size``
(``sample_dimension = "spike"``), and dimension ``spike`` with ``spike_time`` (``units =
"ms"``). Train ``i`` holds ``row_size[i]`` consecutive entries of ``spike_time``. Other
per-train variables (labels, features) can be stored on the ``train`` dimension.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from sbidic.files import open_text
from sbidic.spikes.trains import SpikeTrains
from sbidic.spikes.units import INTEGER_RE, ms_per_unit

__all__ = [
    "from_dataset",
    "read_spike_csv",
    "read_spikes_netcdf",
    "to_dataset",
    "write_spike_csv",
    "write_spikes_netcdf",
]

ID_COLUMN = "ID"
TIMES_COLUMN = "spiking_times"
_NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
#: Extensions of the spike files sbidic writes (see :mod:`sbidic.spikes.readers`).
SPIKE_SUFFIXES = (".csv", *_NETCDF_SUFFIXES, ".nwb", ".npz", ".txt")


# --------------------------------------------------------------------------- CSV
def _parse_times(text: str, where: str) -> list[float]:
    """Parse ``"[t1, t2, ...]"`` (commas, or whitespace as numpy prints arrays)."""
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        short = s if len(s) <= 40 else s[:37] + "..."
        raise ValueError(
            f"{where}: {TIMES_COLUMN} must be a list '[t1, t2, ...]' (or '[]'), got {short!r}"
        )
    inner = s[1:-1].strip()
    if not inner:
        return []
    tokens = inner.split(",") if "," in inner else inner.split()
    values = []
    for j, token in enumerate(tokens):
        try:
            values.append(float(token))
        except ValueError:
            raise ValueError(
                f"{where}: spike {j} of {TIMES_COLUMN}, {token.strip()!r}, is not a number"
            ) from None
    return values


def read_spike_csv(
    path: str | os.PathLike, *, check: bool = True, time_unit: str | None = None
) -> SpikeTrains:
    """Read a Spike2Pop spike-time CSV (columns ``ID,spiking_times``).

    Parameters
    ----------
    path : str or path-like
        CSV file with a header row. A spike list may be of any length (the csv
        module's field size limit is raised to hold it).
    check : bool, default True
        Require finite, non-negative, strictly increasing times in every row (else
        :class:`ValueError` with the line number). ``False`` keeps raw rows for
        :meth:`SpikeTrains.repair`.
    time_unit : str, optional
        Unit of the times in the file: ``"ms"`` (default), ``"s"`` or ``"us"``.

    Returns
    -------
    SpikeTrains
        One train per data row, times in ms. IDs are integers if every ID is an
        integer, else strings. Without an ``ID`` column the IDs are ``0..n-1`` (with a
        warning).

    Raises
    ------
    ValueError
        Missing ``spiking_times`` column, a malformed row (naming its line number and
        the problem), an empty or repeated ID, an unknown time unit.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "spikes.csv"
    >>> _ = path.write_text('ID,spiking_times\\n7,"[3000.5, 3100.25]"\\n9,[]\\n')
    >>> st = read_spike_csv(path)
    >>> st.ids, st[0]
    (array([7, 9]), array([3000.5 , 3100.25]))
    """
    scale = ms_per_unit(time_unit, path)
    _allow_long_fields()
    with open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            return _read_rows(path, reader, check, scale)
        except csv.Error as err:
            raise ValueError(f"{path}, line {reader.line_num}: not valid CSV ({err})") from None


def _allow_long_fields() -> None:
    """Lift the csv module's field size limit (131,072 characters) so that a spike
    list of any length reads: :func:`~sbidic.files.open_text` holds the whole file in
    memory already, so no field can outgrow it. The limit is only ever raised (other
    threads reading CSV never see it lowered)."""
    limit = 2**31 - 1  # the largest C long on every platform
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _csv_columns(path, reader) -> tuple[int, int | None, list[str]]:
    """Positions of the spike-time and ID columns (None: no ID column) and the names."""
    header = next(reader, None)
    if header is None:
        raise ValueError(f"{path}: empty file; expected a header '{ID_COLUMN},{TIMES_COLUMN}'")
    names = [h.strip() for h in header]
    if names.count(TIMES_COLUMN) != 1:
        what = "no" if TIMES_COLUMN not in names else "more than one"
        raise ValueError(f"{path}, line 1: {what} '{TIMES_COLUMN}' column in header {names}")
    if names.count(ID_COLUMN) > 1:
        raise ValueError(f"{path}, line 1: more than one '{ID_COLUMN}' column")
    id_col = names.index(ID_COLUMN) if ID_COLUMN in names else None
    return names.index(TIMES_COLUMN), id_col, names


def _csv_ids(path, raw_ids: list[str], lines: list[int]) -> np.ndarray:
    """Integer IDs if every ID is an integer, else strings; a repeated ID is an error."""
    seen: dict[str, int] = {}
    for rid, line in zip(raw_ids, lines, strict=True):
        if rid in seen:
            raise ValueError(
                f"{path}, line {line}: {ID_COLUMN} {rid!r} already used on line {seen[rid]}"
            )
        seen[rid] = line
    if all(INTEGER_RE.fullmatch(r) for r in raw_ids):
        return np.array([int(r) for r in raw_ids], dtype=np.int64)
    return np.array(raw_ids, dtype=str)


def _read_rows(path, reader, check: bool, scale: float) -> SpikeTrains:
    """The trains of a Spike2Pop CSV (see :func:`read_spike_csv`); times scaled to ms."""
    t_col, id_col, names = _csv_columns(path, reader)
    trains, raw_ids, lines = [], [], []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        where = f"{path}, line {line}"
        if len(row) != len(names):
            raise ValueError(
                f"{where}: expected {len(names)} fields ({','.join(names)}), "
                f"got {len(row)}; is the spike list quoted, "
                '"[t1, t2, ...]"?'
            )
        if id_col is not None:
            rid = row[id_col].strip()
            if not rid:
                raise ValueError(f"{where}: empty {ID_COLUMN}")
            raw_ids.append(rid)
        trains.append(np.asarray(_parse_times(row[t_col], where)) * scale)
        lines.append(line)

    if id_col is None:
        warnings.warn(
            f"{path}: no '{ID_COLUMN}' column; using IDs 0..{len(trains) - 1}",
            UserWarning,
            stacklevel=4,
        )
    ids = None if id_col is None else _csv_ids(path, raw_ids, lines)
    st = SpikeTrains.from_list(trains, ids, check=False)
    if check:
        problem = st._first_problem()
        if problem is not None:
            i, msg = problem
            label = f" ({ID_COLUMN} {raw_ids[i]!r})" if id_col is not None else ""
            raise ValueError(
                f"{path}, line {lines[i]}{label}: {msg}; read with check=False "
                "and use SpikeTrains.repair() to sort and de-duplicate"
            )
    return st


def _cell(x: Any) -> str:
    if isinstance(x, float | np.floating):
        return repr(float(x))
    if isinstance(x, np.generic):
        return str(x.item())
    return str(x)


def write_spike_csv(
    trains: SpikeTrains,
    path: str | os.PathLike,
    *,
    extra_columns: Mapping[str, Any] | None = None,
) -> None:
    """Write a Spike2Pop spike-time CSV: ``ID,spiking_times[,extra...]``.

    Parameters
    ----------
    trains : SpikeTrains
        Spike times (ms), written absolute as ``"[t1, t2, ...]"`` with exact floats.
    path : str or path-like
        Output file (overwritten).
    extra_columns : mapping of str to array_like of shape (n_trains,), optional
        Additional columns (e.g. labels), written after the spike times.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
    >>> write_spike_csv(SpikeTrains.from_list([[0.1, 2.0], []]), path)
    >>> print(path.read_text().strip())
    ID,spiking_times
    0,"[0.1, 2.0]"
    1,[]
    """
    extra = {k: np.asarray(v) for k, v in (extra_columns or {}).items()}
    for name, values in extra.items():
        if name in (ID_COLUMN, TIMES_COLUMN):
            raise ValueError(f"extra column {name!r} clashes with a Spike2Pop column")
        if values.shape != (len(trains),):
            raise ValueError(
                f"extra column {name!r} must have shape ({len(trains)},), got {values.shape}"
            )
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([ID_COLUMN, TIMES_COLUMN, *extra])
        for i, train in enumerate(trains):
            times = "[" + ", ".join(map(repr, train.tolist())) + "]"
            writer.writerow([_cell(trains.ids[i]), times, *(_cell(v[i]) for v in extra.values())])


# ------------------------------------------------------------------------ netCDF
def to_dataset(trains: SpikeTrains, extra: Any = None):
    """Spike trains as an ``xarray.Dataset`` in the CF contiguous-ragged-array layout.

    Parameters
    ----------
    trains : SpikeTrains
        Spike times (ms).
    extra : mapping of str to array_like (n_trains,), xarray.Dataset or SpikeFeatures, optional
        Per-train variables stored on the ``train`` dimension (a Dataset's ``train_id``,
        if any, must match the trains' ids).

    Returns
    -------
    xarray.Dataset
        Dimensions ``train`` (``train_id``, ``row_size``) and ``spike`` (``spike_time``).

    Examples
    --------
    >>> ds = to_dataset(SpikeTrains.from_list([[1.0, 2.0], [], [3.0]]))
    >>> ds["row_size"].values, ds["row_size"].attrs["sample_dimension"]
    (array([2, 0, 1]), 'spike')
    >>> from_dataset(ds).to_list()
    [array([1., 2.]), array([], dtype=float64), array([3.])]
    """
    import xarray as xr

    ds = xr.Dataset(
        {
            "row_size": (
                "train",
                trains.n_spikes.astype(np.int64),
                {"long_name": "number of spikes in each train", "sample_dimension": "spike"},
            ),
            "spike_time": (
                "spike",
                np.array(trains.times),
                {"units": "ms", "long_name": "spike time"},
            ),
        },
        coords={
            "train_id": (
                "train",
                np.array(trains.ids),
                {"long_name": "train identifier", "cf_role": "timeseries_id"},
            ),
        },
        attrs={
            "title": "spike trains",
            "ragged_array": "CF contiguous ragged array: "
            "train i holds row_size[i] consecutive values of spike_time",
        },
    )
    if extra is None:
        return ds
    if hasattr(extra, "to_dataset") and not isinstance(extra, xr.Dataset):
        extra = extra.to_dataset()
    if isinstance(extra, xr.Dataset):
        if "train_id" in extra.coords and not np.array_equal(
            np.asarray(extra["train_id"].values).astype(trains.ids.dtype), trains.ids
        ):
            raise ValueError("extra Dataset's train_id does not match the trains' ids")
        items = {k: extra[k].variable for k in extra.data_vars}
    else:
        items = dict(extra)
    for name, value in items.items():
        if name in ds.variables:
            raise ValueError(f"extra variable {name!r} clashes with a ragged-array variable")
        var = value if isinstance(value, xr.Variable) else xr.Variable("train", np.asarray(value))
        if var.dims != ("train",) or var.shape != (len(trains),):
            raise ValueError(
                f"extra variable {name!r} must have dims ('train',) and shape "
                f"({len(trains)},), got {var.dims} {var.shape}"
            )
        ds[name] = var
    return ds


def from_dataset(ds, *, check: bool = True, time_unit: str | None = None) -> SpikeTrains:
    """Spike trains from a CF contiguous-ragged-array ``xarray.Dataset``.

    The count variable is the one with a ``sample_dimension`` attribute (``row_size``
    as written by :func:`to_dataset`); the times are the variable on that sample
    dimension (``spike_time``), converted to ms from its ``units`` (ms or s).

    Parameters
    ----------
    ds : xarray.Dataset
        Ragged-array dataset.
    check : bool, default True
        Validate the times (see :meth:`SpikeTrains.validate`).
    time_unit : str, optional
        Unit of the times (``"s"``, ``"ms"``, ``"us"``), overriding their ``units``
        attribute (for a file that states a wrong one).

    Raises
    ------
    ValueError
        Missing or inconsistent count / time variables, an unknown unit.

    Examples
    --------
    Any CF ragged array works, here one in seconds with its own names:

    >>> import xarray as xr
    >>> ds = xr.Dataset({
    ...     "n": ("cell", [2, 1], {"sample_dimension": "event"}),
    ...     "t": ("event", [0.1, 0.25, 0.5], {"units": "s"}),
    ... })
    >>> from_dataset(ds).to_list()
    [array([100., 250.]), array([500.])]
    """
    counts_vars = [k for k, v in ds.variables.items() if "sample_dimension" in v.attrs]
    if len(counts_vars) != 1:
        raise ValueError(
            "expected exactly one count variable with a 'sample_dimension' "
            f"attribute (CF contiguous ragged array), found {counts_vars}"
        )
    count = ds[counts_vars[0]]
    sample_dim = str(count.attrs["sample_dimension"])
    if count.ndim != 1:
        raise ValueError(f"count variable {counts_vars[0]!r} must be 1-D, got dims {count.dims}")
    train_dim = count.dims[0]
    candidates = [k for k, v in ds.variables.items() if v.dims == (sample_dim,)]
    if "spike_time" in candidates:
        time_name = "spike_time"
    elif len(candidates) == 1:
        time_name = candidates[0]
    else:
        raise ValueError(
            f"cannot tell the spike-time variable on dimension {sample_dim!r}: "
            f"candidates {candidates}"
        )
    sizes = np.asarray(count.values)
    if sizes.dtype.kind not in "iu":
        if sizes.dtype.kind == "f" and np.all(sizes == np.round(sizes)):
            sizes = sizes.astype(np.int64)
        else:
            raise ValueError(f"{counts_vars[0]!r} must hold integer counts, got {sizes.dtype}")
    bad = np.flatnonzero(sizes < 0)
    if bad.size:
        raise ValueError(f"{counts_vars[0]}[{bad[0]}] = {sizes[bad[0]]} is negative")
    times_var = ds[time_name]
    n_samples = times_var.shape[0]
    if int(sizes.sum()) != n_samples:
        raise ValueError(
            f"sum of {counts_vars[0]!r} ({int(sizes.sum())}) does not match the "
            f"length of dimension {sample_dim!r} ({n_samples})"
        )
    if time_unit is None:
        units = str(times_var.attrs.get("units", "ms")).strip()
        try:
            scale = ms_per_unit(units)
        except ValueError:
            raise ValueError(f"{time_name!r} has units {units!r}; expected s, ms or us") from None
    else:
        scale = ms_per_unit(time_unit)
    times = np.asarray(times_var.values, dtype=np.float64) * scale
    ids = None
    if "train_id" in ds.variables and ds["train_id"].dims == (train_dim,):
        ids = np.asarray(ds["train_id"].values)
        if ids.dtype.kind in "OSU":
            ids = np.array(
                [x.decode() if isinstance(x, bytes) else str(x) for x in ids], dtype=str
            )
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return SpikeTrains(times, offsets, ids, check=check)


def write_spikes_netcdf(
    trains: SpikeTrains, path: str | os.PathLike, *, extra: Any = None
) -> None:
    """Write :func:`to_dataset` of ``trains`` (and ``extra``) to a netCDF-4 file.

    Examples
    --------
    >>> import os, tempfile
    >>> import xarray as xr
    >>> trains = SpikeTrains.from_list([[1.0, 5.0], [2.0]])
    >>> path = os.path.join(tempfile.mkdtemp(), "trains.nc")
    >>> write_spikes_netcdf(trains, path, extra={"g_s": [-4.0, 6.0]})
    >>> with xr.open_dataset(path) as ds:
    ...     ds["g_s"].values.tolist(), int(ds["row_size"].sum())
    ([-4.0, 6.0], 3)
    """
    to_dataset(trains, extra=extra).to_netcdf(path, engine="netcdf4")


def read_spikes_netcdf(
    path: str | os.PathLike, *, check: bool = True, time_unit: str | None = None
) -> SpikeTrains:
    """Read spike trains written by :func:`write_spikes_netcdf` (or any CF contiguous
    ragged array of spike times); open the file with xarray to get extra variables.
    ``time_unit`` (``"s"``, ``"ms"``, ``"us"``) overrides the times' ``units``
    attribute.

    Examples
    --------
    >>> import os, tempfile
    >>> trains = SpikeTrains.from_list([[1.0, 5.0, 9.0], [2.0]], ids=["a", "b"])
    >>> path = os.path.join(tempfile.mkdtemp(), "trains.nc")
    >>> write_spikes_netcdf(trains, path)
    >>> back = read_spikes_netcdf(path)
    >>> back.ids.tolist(), back[0].tolist()
    (['a', 'b'], [1.0, 5.0, 9.0])
    """
    import xarray as xr

    ms_per_unit(time_unit, path)  # an unknown unit is an error naming the file
    try:
        ds = xr.open_dataset(path, engine="netcdf4", decode_times=False, decode_timedelta=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable netCDF file ({err})") from None
    with ds:
        return from_dataset(ds.load(), check=check, time_unit=time_unit)
