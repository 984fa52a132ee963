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
- populations (:func:`write_population_nwb`) in the processing module ``sbidic``: a
  table ``populations`` (one row per population: ``population_ID``, ``model``,
  ``V_th`` (mV), ``target_g_s``, ``target_g_u``, ``acceptance``) and a table
  ``population_cells`` (one row per cell: ``population_ID``, the conductances
  ``g_<name>`` (mS/cm^2), the achieved DICs ``g_f``, ``g_s``, ``g_u`` and
  ``residual``), read back by :func:`read_population_nwb`; a population with fidelity
  scores adds a ``passed`` column to ``population_cells`` and the table ``fidelity``
  (one row per cell, the columns of ``Population.fidelity_table``; neither restored
  by :func:`read_population_nwb`), and
  ``sbidic infer -o x.nwb`` the table ``report`` (one row per recording).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sbidic.spikes.io import _ms_per_unit
from sbidic.spikes.trains import SpikeTrains

__all__ = ["read_nwb", "read_population_nwb", "write_population_nwb", "write_spikes_nwb"]

_NAME_COLUMN = "unit_name"
_MODULE = "sbidic"


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

    scale = _ms_per_unit("s" if time_unit is None else time_unit, path)

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


def _new_file(source: str | os.PathLike | None, description: str):
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


def _column(name: str, values: Any, n: int, description: str = ""):
    from hdmf.common import VectorData

    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"column {name!r} must have shape ({n},), got {values.shape}")
    if values.dtype.kind in "OU":
        values = values.astype(str).tolist()
    return VectorData(name=name, description=description or name, data=values)


def _units(trains: SpikeTrains, extra: Mapping[str, Any] | None):
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units

    n = trains.n_trains
    ids = np.asarray(trains.ids)
    int_ids = ids.dtype.kind in "iu"
    times = VectorData(name="spike_times", description="spike times (s)",
                       data=np.asarray(trains.times) / 1e3)  # fmt: skip
    columns = [times, VectorIndex(name="spike_times_index", data=trains.offsets[1:], target=times)]
    if not int_ids:
        columns.append(_column(_NAME_COLUMN, ids.astype(str), n, "recording ID"))
    for name, values in (extra or {}).items():
        if name in ("spike_times", _NAME_COLUMN, "id"):
            raise ValueError(f"extra column {name!r} clashes with a Units column")
        columns.append(_column(name, values, n))
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

    nwb = _new_file(source, "spike trains (sbidic)")
    nwb.units = _units(trains, extra)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def write_population_nwb(
    pop,
    path: str | os.PathLike,
    *,
    recordings: SpikeTrains | None = None,
    report=None,
    source: str | os.PathLike | None = None,
) -> None:
    """Write a :class:`~sbidic.population.Population` (and the recordings it was
    inferred from, as the ``Units`` table) to a new NWB file (layout: module doc).

    ``pop`` may be None (every recording silent); ``report`` (a ``pandas.DataFrame``,
    :attr:`sbidic.inference.InferenceResult.report`) becomes the table ``report`` of
    the ``sbidic`` processing module, one row per recording.
    """
    from pynwb import NWBHDF5IO

    model = pop.model if pop is not None else "no"
    nwb = _new_file(source, f"{model} populations (sbidic)")
    if recordings is not None:
        nwb.units = _units(recordings, None)
    module = nwb.create_processing_module(_MODULE, "populations inferred by sbidic")
    if report is not None:
        module.add(_table("report", "per-recording report of sbidic infer", report))
    if pop is not None:
        _add_population(module, pop)
        if pop.fidelity is not None:
            module.add(_table("fidelity", "per-cell fidelity scores", pop.fidelity_table()))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def _table(name: str, description: str, frame):
    """A ``DynamicTable`` of a ``pandas.DataFrame``, one column per frame column."""
    from hdmf.common import DynamicTable

    n = len(frame)
    columns = [_column(str(c), frame[c].to_numpy(), n) for c in frame.columns]
    return DynamicTable(name=name, description=description, columns=columns)


def _add_population(module, pop) -> None:
    from hdmf.common import DynamicTable

    n_t, n_c = pop.n_targets, pop.n_cells
    obs = np.asarray(pop.obs_id)
    obs_col = obs.astype(str) if obs.dtype.kind not in "iu" else obs
    populations = DynamicTable(
        name="populations",
        description=f"one row per population of {pop.model} cells (sbidic)",
        columns=[
            _column("population_ID", obs_col, n_t, "recording or target ID"),
            _column("model", np.full(n_t, pop.model), n_t, "conductance-based model"),
            _column("V_th", np.full(n_t, float(pop.V_th)), n_t, "DIC threshold voltage (mV)"),
            _column("target_g_s", pop.target[:, 0], n_t, "target slow DIC g_s"),
            _column("target_g_u", pop.target[:, 1], n_t, "target ultraslow DIC g_u"),
            _column("acceptance", pop.acceptance, n_t, "fraction of drawn cells kept"),
        ],
    )
    flat_g = pop.conductances.reshape(n_t * n_c, -1)
    flat_d = pop.dics.reshape(n_t * n_c, 3)
    cells = DynamicTable(
        name="population_cells",
        description="one row per cell; conductances in mS/cm^2",
        columns=[
            _column("population_ID", np.repeat(obs_col, n_c), n_t * n_c, "population of the cell"),
            *(_column(label, flat_g[:, k], n_t * n_c, f"maximal conductance {label} (mS/cm^2)")
              for k, label in enumerate(pop.labels)),
            *(_column(name, flat_d[:, k], n_t * n_c, f"achieved DIC {name} at V_th")
              for k, name in enumerate(("g_f", "g_s", "g_u"))),
            _column("residual", pop.residual.reshape(-1), n_t * n_c, "max DIC error"),
            *([_column("passed", np.asarray(pop.fidelity.as_dict()["passed"], bool).reshape(-1),
                       n_t * n_c, "the simulated cell reproduces its recording")]
              if pop.fidelity is not None else []),
        ],
    )  # fmt: skip
    module.add(populations)
    module.add(cells)


def read_population_nwb(path: str | os.PathLike):
    """The :class:`~sbidic.population.Population` written by :func:`write_population_nwb`.

    Raises
    ------
    ValueError
        No ``sbidic`` processing module with the two population tables.
    """
    from pynwb import NWBHDF5IO

    from sbidic.population import Population

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        module = nwb.processing.get(_MODULE)
        if module is None or "populations" not in module.data_interfaces:
            raise ValueError(f"{path}: no '{_MODULE}/populations' table (no populations)")
        try:
            pops = {c: np.asarray(module["populations"][c].data[:])
                    for c in module["populations"].colnames}  # fmt: skip
            table = module["population_cells"]
            cols = {c: np.asarray(table[c].data[:]) for c in table.colnames}
        except KeyError as err:
            raise ValueError(f"{path}: incomplete population tables ({err})") from None
    n_t = len(pops["population_ID"])
    n_c = len(cols["population_ID"]) // max(n_t, 1)
    labels = [c for c in cols if c.startswith("g_") and c not in ("g_f", "g_s", "g_u")]
    model = pops["model"][0]
    obs = pops["population_ID"]
    if obs.dtype.kind in "OS":
        obs = np.array([x.decode() if isinstance(x, bytes) else str(x) for x in obs])
    return Population(
        model=model.decode() if isinstance(model, bytes) else str(model),
        conductance_names=tuple(c[2:] for c in labels),
        V_th=float(pops["V_th"][0]),
        target=np.stack([pops["target_g_s"], pops["target_g_u"]], axis=1),
        conductances=np.stack([cols[c] for c in labels], axis=1).reshape(n_t, n_c, -1),
        dics=np.stack([cols[c] for c in ("g_f", "g_s", "g_u")], axis=1).reshape(n_t, n_c, 3),
        residual=cols["residual"].reshape(n_t, n_c),
        acceptance=pops["acceptance"],
        obs_id=obs,
    )
