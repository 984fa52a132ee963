"""Any electrophysiology file Neo reads (Spike2 ``.smr``/``.smrx``, Axon ``.abf``,
Plexon, Blackrock, NIX, NWB through ``NWBIO``, ...): its spike trains directly, or the
spikes sbidic detects in its voltage traces.

Every block and segment is read. ``SpikeTrain`` times are converted to ms; each train's
ID is its ``name``, else its ``id``/``unit_id``/``channel_id`` annotation, else its
position; when IDs repeat (the same unit in several segments) they are prefixed with
``seg<k>/``. ``AnalogSignal`` channels with voltage units are converted to mV and
ms and go through :func:`sbidic.spikes.detect_spikes` (the published onset/end rule,
thresholds ``up_mV`` and ``down_mV``); a channel's ID is ``<signal name>`` or
``<signal name>/<channel name or index>``. Signals in other units (currents) are
skipped.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np

from sbidic.spikes.detection import detect_spikes
from sbidic.spikes.trains import SpikeTrains

__all__ = ["read_neo"]


def _open(path: str | os.PathLike, io: str | None):
    import neo.io

    if io is None:  # neo.io.get_io, keeping the reason the last candidate failed
        candidates = neo.io.list_candidate_ios(str(path))
        if not candidates:
            raise ValueError(f"{path}: no Neo IO reads this extension")
        for cls in candidates:
            try:
                return cls(str(path))
            except Exception as err:  # noqa: BLE001 -- any failure: try the next IO
                reason = f"{cls.__name__}: {type(err).__name__}: {err}".splitlines()[0]
        raise ValueError(f"{path}: not readable by Neo ({reason})")
    cls = getattr(neo.io, io, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"{path}: neo.io has no IO class {io!r}")
    return cls(str(path))


def _train_id(st: Any, k: int) -> str:
    if st.name:
        return str(st.name)
    for key in ("id", "unit_id", "channel_id"):
        if key in st.annotations:
            return str(st.annotations[key])
    return str(k)


def _unique(ids: list[str], segments: list[int]) -> np.ndarray:
    if len(set(ids)) < len(ids):
        ids = [f"seg{s}/{i}" for i, s in zip(ids, segments, strict=True)]
    if all(i.lstrip("-").isdigit() for i in ids):
        return np.array([int(i) for i in ids])
    return np.array(ids, dtype=str)


def _spiketrains(segments: list) -> tuple[list[np.ndarray], list[str], list[int]]:
    trains, ids, where = [], [], []
    for s, seg in enumerate(segments):
        for k, st in enumerate(seg.spiketrains):
            trains.append(np.asarray(st.rescale("ms").magnitude, dtype=np.float64))
            ids.append(_train_id(st, k))
            where.append(s)
    return trains, ids, where


def _signals(segments: list, up_mV: float, down_mV: float):
    import quantities as pq

    parts, ids, where = [], [], []
    for s, seg in enumerate(segments):
        for k, sig in enumerate(seg.analogsignals):
            if sig.units.dimensionality.simplified != pq.V.dimensionality.simplified:
                continue
            v = np.asarray(sig.rescale("mV").magnitude, dtype=np.float64).T
            t = np.asarray(sig.times.rescale("ms").magnitude, dtype=np.float64)
            name = sig.name or f"signal{k}"
            channels = sig.array_annotations.get("channel_names")
            for c in range(v.shape[0]):
                label = str(channels[c]) if channels is not None else str(c)
                ids.append(name if v.shape[0] == 1 else f"{name}/{label}")
                where.append(s)
            parts.append(detect_spikes(v, t, up_mV=up_mV, down_mV=down_mV))
    return [train for p in parts for train in p], ids, where


def read_neo(
    path: str | os.PathLike,
    *,
    check: bool = True,
    io: str | None = None,
    source: Literal["auto", "spiketrains", "signals"] = "auto",
    up_mV: float = 10.0,
    down_mV: float = 0.0,
) -> SpikeTrains:
    """Spike trains from any file Neo reads (module doc: what is kept, how IDs are made).

    Parameters
    ----------
    path : str or path-like
    check : bool, default True
        Validate the times (see :meth:`SpikeTrains.validate`).
    io : str, optional
        A ``neo.io`` class name (``"Spike2IO"``, ``"AxonIO"``, ``"NixIO"``,
        ``"NWBIO"``, ...); default ``neo.io.get_io`` picks one by extension.
    source : {"auto", "spiketrains", "signals"}, default "auto"
        Read the file's ``SpikeTrain`` objects, or detect spikes in its voltage
        ``AnalogSignal`` traces; ``"auto"`` uses the spike trains if there are any.
    up_mV, down_mV : float, default 10.0 and 0.0
        Onset and end thresholds of the detection rule (mV).

    Raises
    ------
    ValueError
        No Neo IO for the file, nothing of the requested ``source`` in it.
    """
    if source not in ("auto", "spiketrains", "signals"):
        raise ValueError(f"source must be 'auto', 'spiketrains' or 'signals', got {source!r}")
    reader = _open(path, io)
    try:
        blocks = reader.read(lazy=False)
    finally:
        if hasattr(reader, "close"):
            reader.close()
    segments = [seg for block in blocks for seg in block.segments]
    n_trains = sum(len(seg.spiketrains) for seg in segments)
    if source == "spiketrains" or (source == "auto" and n_trains):
        if not n_trains:
            raise ValueError(f"{path}: no spike trains in the file (try source='signals')")
        trains, ids, where = _spiketrains(segments)
        what = "spike trains"
    else:
        trains, ids, where = _signals(segments, up_mV, down_mV)
        what = "voltage traces"
        if not ids:
            found = sum(len(seg.analogsignals) for seg in segments)
            raise ValueError(f"{path}: no spike trains and no voltage traces (mV) among its "
                             f"{found} analog signal(s)")  # fmt: skip
    st = SpikeTrains.from_list(trains, _unique(ids, where), check=False)
    if check:
        problem = st._first_problem()
        if problem is not None:
            raise ValueError(f"{path}: {what}, {problem[1]}")
    return st
