"""NWB (Neurodata Without Borders) files through ``pynwb``: spike trains in, spike
trains and populations out.

**Reading** -- the file's ``Units`` table (``/units``): one train per unit, from the
ragged ``spike_times`` column (seconds, converted to ms). The recording IDs are the
``unit_name`` column when the table has one (or the column named by ``id_column``),
else the unit ids.

**Writing** -- always a *new* file (sbidic never modifies a recording): with
``source`` it copies the session's description, start time and identifier (suffixed
``-sbidic``), so the output sits alongside the recording it came from.

- spike trains (recordings or simulations) as the ``Units`` table: unit ids are the
  train IDs when they are integers, else ``0..n-1`` with the IDs in a ``unit_name``
  column; per-train ``extra`` values (labels, ``population_ID``, conductances
  ``g_Na`` ... in mS/cm^2) become unit columns;
- populations (and ``sbidic infer``'s report) in the processing module ``sbidic``:
  :mod:`sbidic.population.nwb`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sbidic.spikes.trains import SpikeTrains
from sbidic.spikes.units import ms_per_unit

__all__ = ["read_nwb", "write_spikes_nwb"]

_NAME_COLUMN = "unit_name"
#: The processing module of the tables sbidic writes (:mod:`sbidic.population.nwb`).
SBIDIC_MODULE = "sbidic"


def read_nwb(
    path: str | os.PathLike,
    *,
    check: bool = True,
    id_column: str | None = None,
    time_unit: str | None = None,
) -> SpikeTrains:
    """Spike trains of the ``Units`` table of an NWB file (times in ms).

    Parameters
    ----------
    path : str or path-like
    check : bool, default True
        Validate the times (see :meth:`SpikeTrains.validate`).
    id_column : str, optional
        Unit column holding the recording IDs; default ``unit_name`` if present, else
        the unit ids.
    time_unit : str, optional
        Unit of ``spike_times``: seconds, as NWB prescribes (default), or ``"ms"`` /
        ``"us"`` for a file that stored other units.

    Raises
    ------
    ValueError
        Not an NWB file, no ``Units`` table or no ``spike_times`` column, an unknown
        ``id_column`` or time unit.
    """
    from pynwb import NWBHDF5IO

    scale = ms_per_unit("s" if time_unit is None else time_unit, path)

    try:
        io = NWBHDF5IO(str(path), "r")
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable NWB file ({err})") from None
    with io:
        nwb = io.read()
        units = nwb.units
        if units is None or "spike_times" not in units.colnames:
            raise ValueError(
                f"{path}: no Units table with spike_times; for voltage traces read the "
                "file with format='neo' (spike detection)"
            )
        times = np.asarray(units["spike_times"].target.data[:], dtype=np.float64) * scale
        ends = np.asarray(units["spike_times_index"].data[:], dtype=np.int64)
        column = id_column or (_NAME_COLUMN if _NAME_COLUMN in units.colnames else None)
        if column is None:
            ids = np.asarray(units.id.data[:])
        elif column not in units.colnames:
            raise ValueError(f"{path}: no unit column {column!r}; columns {list(units.colnames)}")
        else:
            ids = np.asarray(units[column].data[:])
            if ids.dtype.kind in "OSU":
                ids = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in ids])
    try:
        return SpikeTrains(times, np.concatenate([[0], ends]), ids, check=check)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def new_nwb_file(source: str | os.PathLike | None, description: str):
    """A new, empty ``pynwb.NWBFile``; with ``source``, the session metadata of that
    NWB file (identifier suffixed ``-sbidic``), else ``description``, now, a new UUID."""
    from pynwb import NWBHDF5IO, NWBFile

    meta = {
        "session_description": description,
        "identifier": str(uuid.uuid4()),
        "session_start_time": datetime.now(UTC),
    }
    if source is not None:
        with NWBHDF5IO(str(source), "r") as io:
            src = io.read()
            meta = {
                "session_description": src.session_description,
                "identifier": f"{src.identifier}-sbidic",
                "session_start_time": src.session_start_time,
            }
    return NWBFile(**meta)


def nwb_column(name: str, values: Any, n: int, description: str = ""):
    """An ``hdmf`` ``VectorData`` column of ``n`` values (strings for text values).

    Raises
    ------
    ValueError
        ``values`` is not of shape ``(n,)``.
    """
    from hdmf.common import VectorData

    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"column {name!r} must have shape ({n},), got {values.shape}")
    if values.dtype.kind in "OU":
        values = values.astype(str).tolist()
    return VectorData(name=name, description=description or name, data=values)


def units_table(trains: SpikeTrains, extra: Mapping[str, Any] | None):
    """The ``Units`` table of spike trains (times in s), ``extra`` as unit columns."""
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units

    n = trains.n_trains
    ids = np.asarray(trains.ids)
    int_ids = ids.dtype.kind in "iu"
    times = VectorData(name="spike_times", description="spike times (s)",
                       data=np.asarray(trains.times) / 1e3)  # fmt: skip
    columns = [times, VectorIndex(name="spike_times_index", data=trains.offsets[1:], target=times)]
    if not int_ids:
        columns.append(nwb_column(_NAME_COLUMN, ids.astype(str), n, "recording ID"))
    for name, values in (extra or {}).items():
        if name in ("spike_times", _NAME_COLUMN, "id"):
            raise ValueError(f"extra column {name!r} clashes with a Units column")
        columns.append(nwb_column(name, values, n))
    return Units(
        name="units",
        id=ElementIdentifiers(name="id", data=ids if int_ids else np.arange(n)),
        columns=columns,
        description="spike trains written by sbidic",
    )


def write_spikes_nwb(
    trains: SpikeTrains,
    path: str | os.PathLike,
    *,
    extra: Mapping[str, Any] | None = None,
    source: str | os.PathLike | None = None,
) -> None:
    """Write spike trains as the ``Units`` table of a new NWB file (layout: module doc).

    Parameters
    ----------
    trains : SpikeTrains
        Spike times (ms; stored in s, as NWB requires).
    path : str or path-like
        New ``.nwb`` file (overwritten).
    extra : mapping of str to array_like (n_trains,), optional
        Unit columns, e.g. ``{"label": ..., "g_Na": ...}``.
    source : str or path-like, optional
        NWB recording whose session metadata the new file copies.
    """
    from pynwb import NWBHDF5IO

    nwb = new_nwb_file(source, "spike trains (sbidic)")
    nwb.units = units_table(trains, extra)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
