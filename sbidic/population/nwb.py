"""Populations in NWB files: the processing module ``sbidic`` of a new file.

:func:`write_population_nwb` writes a table ``populations`` (one row per population:
``population_ID``, ``model``, ``V_th`` (mV), ``target_g_s``, ``target_g_u``,
``acceptance``) and a table ``population_cells`` (one row per cell:
``population_ID``, the conductances ``g_<name>`` (mS/cm^2), the achieved DICs
``g_f``, ``g_s``, ``g_u`` and ``residual``), read back by
:func:`sbidic.population.result.read_population_nwb`; a population with fidelity
scores adds a ``passed`` column to ``population_cells`` and the table ``fidelity``
(one row per cell, the columns of ``Population.fidelity_table``; neither restored on
reading), and ``sbidic infer -o x.nwb`` the table ``report`` (one row per recording).
The recordings, when given, are the file's ``Units`` table
(:mod:`sbidic.spikes.readers.nwb`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sbidic.spikes import SpikeTrains
from sbidic.spikes.readers.nwb import SBIDIC_MODULE, new_nwb_file, nwb_column, units_table

__all__ = ["read_population_fields", "write_population_nwb"]


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

    Parameters
    ----------
    pop : Population or None
        The populations (one per recording or target).
    path : str or path-like
        New ``.nwb`` file (overwritten).
    recordings : SpikeTrains, optional
        Written as the ``Units`` table.
    report : pandas.DataFrame, optional
        One row per recording.
    source : str or path-like, optional
        NWB recording whose session metadata the new file copies.
    """
    from pynwb import NWBHDF5IO

    model = pop.model if pop is not None else "no"
    nwb = new_nwb_file(source, f"{model} populations (sbidic)")
    if recordings is not None:
        nwb.units = units_table(recordings, None)
    module = nwb.create_processing_module(SBIDIC_MODULE, "populations inferred by sbidic")
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
    columns = [nwb_column(str(c), frame[c].to_numpy(), n) for c in frame.columns]
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
            nwb_column("population_ID", obs_col, n_t, "recording or target ID"),
            nwb_column("model", np.full(n_t, pop.model), n_t, "conductance-based model"),
            nwb_column("V_th", np.full(n_t, float(pop.V_th)), n_t, "DIC threshold voltage (mV)"),
            nwb_column("target_g_s", pop.target[:, 0], n_t, "target slow DIC g_s"),
            nwb_column("target_g_u", pop.target[:, 1], n_t, "target ultraslow DIC g_u"),
            nwb_column("acceptance", pop.acceptance, n_t, "fraction of drawn cells kept"),
        ],
    )
    flat_g = pop.conductances.reshape(n_t * n_c, -1)
    flat_d = pop.dics.reshape(n_t * n_c, 3)
    cells = DynamicTable(
        name="population_cells",
        description="one row per cell; conductances in mS/cm^2",
        columns=[
            nwb_column("population_ID", np.repeat(obs_col, n_c), n_t * n_c,
                       "population of the cell"),
            *(nwb_column(label, flat_g[:, k], n_t * n_c, f"maximal conductance {label} (mS/cm^2)")
              for k, label in enumerate(pop.labels)),
            *(nwb_column(name, flat_d[:, k], n_t * n_c, f"achieved DIC {name} at V_th")
              for k, name in enumerate(("g_f", "g_s", "g_u"))),
            nwb_column("residual", pop.residual.reshape(-1), n_t * n_c, "max DIC error"),
            *([nwb_column("passed", np.asarray(pop.fidelity.as_dict()["passed"], bool).reshape(-1),
                       n_t * n_c, "the simulated cell reproduces its recording")]
              if pop.fidelity is not None else []),
        ],
    )  # fmt: skip
    module.add(populations)
    module.add(cells)


def read_population_fields(path: str | os.PathLike) -> dict[str, Any]:
    """The fields of the population written by :func:`write_population_nwb`, as the
    keyword arguments of :class:`~sbidic.population.Population`
    (:func:`sbidic.population.result.read_population_nwb` builds it).

    Parameters
    ----------
    path : str or path-like
        An ``.nwb`` file.

    Returns
    -------
    dict of str to Any
        ``model``, ``conductance_names``, ``V_th``, ``target``, ``conductances``,
        ``dics``, ``residual``, ``acceptance``, ``obs_id``.

    Raises
    ------
    ValueError
        No ``sbidic`` processing module with the two population tables.
    """
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        module = nwb.processing.get(SBIDIC_MODULE)
        if module is None or "populations" not in module.data_interfaces:
            raise ValueError(f"{path}: no '{SBIDIC_MODULE}/populations' table (no populations)")
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
    return dict(
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
