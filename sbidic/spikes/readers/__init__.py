"""Spike-file formats: one reader (and writer, where the format has one) per family.

:func:`read_spikes` picks the reader from the file's extension, or from its content
where the extension is ambiguous (``.csv``: Spike2Pop or plain text; ``.h5``: NWB or
NIX), logs which one it used on the ``sbidic.spikes`` logger, and returns
:class:`~sbidic.spikes.SpikeTrains` (times in ms, recording IDs kept).
:func:`detect_format` is the choice it makes, for callers that want to say so.

========  =====================================  ==========================  =========
format    extensions                             reader                      writer
========  =====================================  ==========================  =========
csv       .csv (first line not numbers)          Spike2Pop CSV               yes
netcdf    .nc .nc4 .netcdf .cdf                  CF ragged array             yes
nwb       .nwb, NWB .h5/.hdf5                    pynwb Units table           yes
neo       any extension Neo knows (.abf .smr     Neo ``SpikeTrain`` or       no
          .smrx .plx .nev .nix .mat ...)         ``AnalogSignal`` + detect
npz       .npz                                   times + offsets (+ ids)     yes
npy       .npy                                   one train, or NaN-padded    no
text      .txt, numeric .csv                     one train per line, or one  yes
                                                 column of times
========  =====================================  ==========================  =========

``pynwb`` and ``neo`` are optional (``pip install 'sbidic[formats]'``); see
``docs/formats.md`` for every layout. ``FORMATS`` is the registry: a
:class:`Format` added to it (a reader taking ``path, *, check`` and keyword options)
is found by its extensions.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sbidic.spikes.io import (
    read_spike_csv,
    read_spikes_netcdf,
    write_spike_csv,
    write_spikes_netcdf,
)
from sbidic.spikes.readers.arrays import read_npy, read_npz, write_spikes_npz
from sbidic.spikes.readers.neo_io import read_neo
from sbidic.spikes.readers.nwb import read_nwb, write_spikes_nwb
from sbidic.spikes.readers.text import (
    looks_numeric,
    read_text,
    starts_a_column,
    write_spikes_text,
)
from sbidic.spikes.timescale import time_scale_warnings
from sbidic.spikes.trains import SpikeTrains

__all__ = ["FORMATS", "Format", "detect_format", "read_spikes", "write_spikes"]

logger = logging.getLogger("sbidic.spikes")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class Format:
    """A spike-file format: how to read it (and write it), and what it is."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    read: Callable[..., SpikeTrains]
    write: Callable[..., None] | None = None
    needs: str | None = None  # optional package the format needs


def _write_csv(trains, path, *, extra=None):
    write_spike_csv(trains, path, extra_columns=extra)


#: Every format sbidic reads, by name.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", "Spike2Pop CSV (ID,spiking_times)", (".csv",), read_spike_csv, _write_csv),
        Format(
            "netcdf",
            "netCDF CF contiguous ragged array",
            (".nc", ".nc4", ".netcdf", ".cdf"),
            read_spikes_netcdf,
            write_spikes_netcdf,
        ),
        Format("nwb", "NWB Units table (pynwb)", (".nwb",), read_nwb, write_spikes_nwb, "pynwb"),
        Format(
            "neo",
            "Neo (spike trains, or spikes detected in voltage traces)",
            (),
            read_neo,
            None,
            "neo",
        ),
        Format(
            "npz", "NumPy .npz: times + offsets (+ ids)", (".npz",), read_npz, write_spikes_npz
        ),
        Format("npy", "NumPy .npy: one train, or NaN-padded rows", (".npy",), read_npy),
        Format(
            "text",
            "text, one train per line or a column of times",
            (".txt",),
            read_text,
            write_spikes_text,
        ),
    )
}


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _csv_kind(path: Path) -> str:
    """``csv`` for a Spike2Pop file, ``text`` for a headerless numeric one or a single
    column of times under a one-field header."""
    text = _head(path).decode("utf-8-sig", errors="replace")
    lines = [s for s in text.splitlines() if s.strip() and not s.lstrip().startswith("#")]
    if not lines:
        return "csv"
    if looks_numeric(lines[0]) or (len(lines) > 1 and starts_a_column(*lines[:2])):
        return "text"
    return "csv"


def _hdf5_kind(path: Path) -> str | None:
    """``nwb``, ``neo`` (NIX) or ``netcdf`` from the root attributes of an HDF5 file."""
    try:
        import h5py
    except ImportError:
        return None
    try:
        with h5py.File(path, "r") as f:
            attrs = f.attrs
            if "nwb_version" in attrs:
                return "nwb"
            if "_NCProperties" in attrs:
                return "netcdf"
            fmt = attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode(errors="replace")
            if fmt == "nix":
                return "neo"
    except OSError:
        return None
    return None


def _neo_knows(suffix: str) -> bool:
    try:
        import neo.io
    except ImportError:
        return False
    return any(suffix[1:] in io.extensions for io in neo.io.iolist)


def detect_format(path: str | os.PathLike) -> str:
    """Name of the reader :func:`read_spikes` uses for ``path`` (a key of ``FORMATS``).

    By extension; by content for ``.csv`` (a first line of numbers is plain text, else
    Spike2Pop), ``.h5``/``.hdf5`` (NWB, NIX or netCDF-4 from the root attributes) and
    files without a known extension (HDF5 content); any other extension Neo knows is
    ``neo``.

    Raises
    ------
    ValueError
        An extension no reader knows (naming the file and the accepted extensions).

    Examples
    --------
    >>> detect_format("cells.npz"), detect_format("session.nwb"), detect_format("a.abf")
    ('npz', 'nwb', 'neo')
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv" and p.is_file():
        return _csv_kind(p)
    for fmt in FORMATS.values():
        if suffix in fmt.suffixes:
            return fmt.name
    if p.is_file() and _head(p, 8) == _HDF5_MAGIC:
        kind = _hdf5_kind(p)
        if kind is not None:
            return kind
    if suffix in (".abf", ".smr", ".smrx") or _neo_knows(suffix):
        return "neo"
    known = sorted({s for f in FORMATS.values() for s in f.suffixes})
    raise ValueError(
        f"{path}: unknown spike-file extension {suffix or '(none)'!r}; sbidic reads "
        f"{', '.join(known)}, and any format Neo reads (pip install 'sbidic[formats]')"
    )


def _check_options(path, fmt: Format, options: Mapping[str, Any]) -> None:
    """Reader options the reader does not take are an error naming the ones it takes."""
    params = inspect.signature(fmt.read).parameters
    unknown = sorted(set(options) - set(params) - {"path", "check"})
    if unknown:
        takes = [p for p in params if p not in ("path", "check")]
        raise ValueError(f"{path}: the {fmt.name} reader takes no option {', '.join(unknown)} "
                         f"(its options: {', '.join(takes) or 'none'})")  # fmt: skip


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def read_spikes(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    check: bool = True,
    **options: Any,
) -> SpikeTrains:
    """Read spike trains (times in ms, recording IDs kept) from any supported file.

    Parameters
    ----------
    path : str or path-like
        Spike file; see the table in :mod:`sbidic.spikes.readers`.
    format : str, optional
        A key of ``FORMATS`` (``"csv"``, ``"netcdf"``, ``"nwb"``, ``"neo"``,
        ``"npz"``, ``"npy"``, ``"text"``); default :func:`detect_format`. The choice
        is logged (INFO) on the ``sbidic.spikes`` logger.
    check : bool, default True
        Require finite, non-negative, strictly increasing times (else a ValueError
        naming the train); ``False`` keeps raw trains for :meth:`SpikeTrains.repair`.
    **options
        Reader options, e.g. ``time_unit="s"`` (every reader: ``"s"``, ``"ms"``,
        ``"us"``; the unit of the numbers in the file), ``id_column`` (nwb),
        ``source``, ``channel``, ``up_mV``, ``down_mV``, and ``mode="extracellular"``
        with ``threshold``, ``unit``, ... for nerve recordings (neo; see
        :func:`~sbidic.spikes.readers.neo_io.read_neo`).

    Returns
    -------
    SpikeTrains

    Raises
    ------
    ValueError
        An unknown format, a missing optional package, or a file its reader cannot
        read: one line naming the file and the reason.

    Warns
    -----
    UserWarning
        Recordings firing faster or lasting shorter than any shipped model (times in
        seconds read as ms?), see :func:`~sbidic.spikes.timescale.time_scale_warnings`;
        a single column of times read as one train (text).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cells.txt"
    >>> _ = path.write_text("a: 1.0 2.5 4.0\\nb:\\n")
    >>> st = read_spikes(path)
    >>> st.ids, st[0]
    (array(['a', 'b'], dtype='<U1'), array([1. , 2.5, 4. ]))

    The bundled example recordings:

    >>> from importlib import resources
    >>> trains = read_spikes(str(resources.files("sbidic") / "examples" / "stg_recordings.csv"))
    >>> trains.n_trains, trains.n_spikes.tolist()
    (6, [41, 54, 80, 123, 158, 2])
    """
    name = detect_format(path) if format is None else format
    if name not in FORMATS:
        raise ValueError(f"unknown spike-file format {name!r}; one of {', '.join(FORMATS)}")
    fmt = FORMATS[name]
    _check_options(path, fmt, options)
    logger.info("reading %s as %s (%s)", path, fmt.name, fmt.description)
    try:
        trains = fmt.read(path, check=check, **options)
    except ImportError as err:
        raise ValueError(
            f"{path}: reading {fmt.name} files needs {fmt.needs or err.name} "
            "(pip install 'sbidic[formats]')"
        ) from None
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not readable as {fmt.name}: {_first_line(err)}") from None
    except (OSError, KeyError, TypeError, AttributeError, IndexError, RuntimeError) as err:
        raise ValueError(f"{path}: not readable as {fmt.name}: {_first_line(err)}") from None
    if check:
        _warn_time_scale(path, trains)
    return trains


def _warn_time_scale(path, trains: SpikeTrains) -> None:
    """One warning naming the recordings faster or shorter than any shipped model
    (:func:`~sbidic.spikes.timescale.time_scale_warnings`), if any."""
    flags = time_scale_warnings(trains)
    flagged = np.flatnonzero(flags != "")
    if flagged.size:
        ids = trains.ids[flagged][:5].tolist()
        more = ", ..." if flagged.size > 5 else ""
        warnings.warn(f"{path}: {flagged.size} of {trains.n_trains} recording(s) "
                      f"({', '.join(map(str, ids))}{more}) fire faster or last shorter than "
                      f"any shipped model; the first: {flags[flagged[0]]}", UserWarning,
                      stacklevel=3)  # fmt: skip


def write_spikes(
    trains: SpikeTrains,
    path: str | os.PathLike,
    format: str | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write spike trains, all or nothing, in a format chosen by extension.

    Parameters
    ----------
    trains : SpikeTrains
    path : str or path-like
        ``.csv``, ``.nc``, ``.nwb``, ``.npz`` or ``.txt`` (checked before writing).
    format : str, optional
        Override the extension's format.
    extra : mapping of str to array_like (n_trains,), optional
        Per-train columns (labels, conductances): CSV columns, netCDF variables, NWB
        unit columns, npz arrays. Text files cannot hold them (ValueError).

    Examples
    --------
    >>> import os, tempfile
    >>> trains = SpikeTrains.from_list([[1.0, 5.0, 9.0], [2.0, 3.0]], ids=["a", "b"])
    >>> path = os.path.join(tempfile.mkdtemp(), "trains.csv")
    >>> write_spikes(trains, path)
    >>> read_spikes(path).equals(trains)
    True
    """
    from sbidic.files import atomic_outputs, check_output

    suffixes = tuple(s for f in FORMATS.values() if f.write for s in f.suffixes)
    if format is None:
        suffix = Path(path).suffix.lower()
        name = next((f.name for f in FORMATS.values() if f.write and suffix in f.suffixes), None)
        if name is None:
            raise ValueError(
                f"{path}: unknown spike-file extension {suffix or '(none)'!r}; "
                f"sbidic writes {', '.join(suffixes)}"
            )
    else:
        name = format
    fmt = FORMATS.get(name)
    if fmt is None or fmt.write is None:
        writable = [f.name for f in FORMATS.values() if f.write]
        raise ValueError(f"cannot write spike-file format {name!r}; one of {writable}")
    with atomic_outputs([check_output(path, suffixes)]) as (tmp,):
        fmt.write(trains, tmp, extra=extra)
