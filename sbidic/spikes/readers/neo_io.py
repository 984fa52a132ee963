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
skipped. A trace that does not look like a membrane potential (median above
``down_mV - 10``, values beyond -150..+100 mV, or a mean rate above 200 Hz) is read all
the same, with a warning pointing to ``mode="extracellular"``.

``mode="extracellular"`` detects spikes in nerve or unit recordings instead, by a
threshold in robust noise SDs (:func:`sbidic.spikes.detect_extracellular`), optionally
keeping one amplitude class (``unit``); the settings, noise and event counts of each
channel are logged (INFO) on the ``sbidic.spikes`` logger. ``channel`` picks the
channels read (an index among the segment's analog channels, or a name).

Evoked spikes: a segment (sweep) whose current channel steps, recorded or commanded
(an Axon file's DAC protocol, rebuilt by Neo), gets a warning naming the step: the
spikes of a step response are evoked, and sbidic's models fire without an injected
current, so such trains are not what its estimators were trained on.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sbidic.spikes.detection import detect_spikes
from sbidic.spikes.extracellular import detect_extracellular
from sbidic.spikes.trains import SpikeTrains
from sbidic.spikes.units import ms_per_unit

__all__ = ["EXTRACELLULAR_DEFAULTS", "read_neo", "read_trace"]

logger = logging.getLogger("sbidic.spikes")

#: Settings of ``mode="extracellular"`` when not given (see ``detect_extracellular``).
EXTRACELLULAR_DEFAULTS: dict[str, Any] = {
    "polarity": "auto",
    "threshold": 7.0,
    "refractory_ms": 3.0,
    "highpass_hz": 0.0,
    "units": 1,
    "unit": None,
    "amplitude_ms": 1.5,
    "overlap_ms": 0.0,
}
#: A membrane potential stays within this range (mV, 0.1 and 99.9 percentiles).
_MEMBRANE_RANGE_MV = (-150.0, 100.0)
#: Mean rates above this (Hz) are not a neuron's.
_MAX_RATE_HZ = 200.0


def _open(path: str | os.PathLike, io: str | None):
    import neo.io

    if io is None:  # neo.io.get_io, keeping the reason the last candidate failed
        candidates = neo.io.list_candidate_ios(str(path))
        if not candidates:
            raise ValueError(f"{path}: no Neo IO reads this extension")
        reasons = []  # (IO not installed, why it failed)
        for cls in candidates:
            try:
                return cls(str(path))
            except Exception as err:  # noqa: BLE001 -- any failure: try the next IO
                why = f"{cls.__name__}: {type(err).__name__}: {err}".splitlines()[0]
                reasons.append((isinstance(err, ImportError), why))
        # an installed IO that read the file and refused it says more than a missing one
        reason = min(reasons, key=lambda r: r[0])[1]
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


def _spiketrains(
    segments: list, scale: float | None = None
) -> tuple[list[np.ndarray], list[str], list[int]]:
    """Times (ms), IDs and segment of every ``SpikeTrain``: converted from the file's
    units, or from ``scale`` ms per stored number when given (a ``time_unit``)."""
    trains, ids, where = [], [], []
    for s, seg in enumerate(segments):
        for k, st in enumerate(seg.spiketrains):
            ms = st.rescale("ms").magnitude if scale is None else st.magnitude * scale
            trains.append(np.asarray(ms, dtype=np.float64))
            ids.append(_train_id(st, k))
            where.append(s)
    return trains, ids, where


@dataclass(frozen=True)
class _Channel:
    """One column of one ``AnalogSignal`` of a segment."""

    index: int  # position among the segment's analog channels, signal by signal
    signal: Any
    column: int
    signal_name: str  # the signal's name, else signal<k>
    label: str  # the channel's name, else its column
    id: str  # the train ID: signal name, with /label for multi-channel signals
    voltage: bool

    def describe(self) -> str:
        return f"{self.index} {self.id!r} ({self.signal.units.dimensionality.string})"


def _channels(segment) -> list[_Channel]:
    import quantities as pq

    volt = pq.V.dimensionality.simplified
    out = []
    for k, sig in enumerate(segment.analogsignals):
        name = str(sig.name) if sig.name else f"signal{k}"
        names = sig.array_annotations.get("channel_names")
        for c in range(sig.shape[1]):
            label = str(names[c]) if names is not None else str(c)
            out.append(_Channel(len(out), sig, c, name, label,
                                name if sig.shape[1] == 1 else f"{name}/{label}",
                                sig.units.dimensionality.simplified == volt))  # fmt: skip
    return out


def _select(path, channels: list[_Channel], channel: Any) -> list[_Channel]:
    """The channels ``channel`` names: an index, or a channel, train-ID or signal name."""
    if channel is None:
        return [ch for ch in channels if ch.voltage]
    text = str(channel).strip()
    number = None
    if isinstance(channel, (int, float, np.number)) and not isinstance(channel, bool):
        number = float(channel)
    elif text.lstrip("-").isdigit():
        number = float(text)
    if number is not None:
        if number == int(number) and 0 <= number < len(channels):
            return [channels[int(number)]]
    else:
        named = [ch for ch in channels if text in (ch.label, ch.id, ch.signal_name)]
        if named:
            return named
    listed = ", ".join(ch.describe() for ch in channels) or "none"
    raise ValueError(f"{path}: no channel {channel!r} (an index or a name); its channels: "
                     f"{listed}")  # fmt: skip


def _trace(ch: _Channel) -> tuple[np.ndarray, np.ndarray, str]:
    """Values (mV for voltages, else the file's units), times (ms) and the unit label."""
    sig = ch.signal[:, ch.column]
    if ch.voltage:
        sig, unit = sig.rescale("mV"), "mV"
    else:
        unit = sig.units.dimensionality.string
    x = np.asarray(sig.magnitude, dtype=np.float64).ravel()
    t = np.asarray(ch.signal.times.rescale("ms").magnitude, dtype=np.float64)
    return x, t, unit


def read_trace(path: str | os.PathLike, channel: Any = None, io: str | None = None,
               ) -> tuple[np.ndarray, np.ndarray, str] | None:  # fmt: skip
    """One trace of a file Neo reads: ``(values, times_ms, unit)`` of ``channel`` (an
    index among the first segment's analog channels, or a name; default its first
    voltage channel) in the first segment, voltages in mV; None when there is no such
    channel (e.g. a file of spike trains only)."""
    reader = _open(path, io)
    try:
        blocks = reader.read(lazy=False)
    finally:
        if hasattr(reader, "close"):
            reader.close()
    segments = [seg for block in blocks for seg in block.segments]
    channels = _channels(segments[0]) if segments else []
    chosen = _select(path, channels, channel) if channels else []
    return _trace(chosen[0]) if chosen else None


def _step(x: np.ndarray, t: np.ndarray) -> tuple[float, float, float] | None:
    """``(amplitude, on_ms, off_ms)`` of a step in a command or current trace, or None.

    A step: the trace leaves its starting value (median of its first 1 %) by more than
    half its range, for 0.1-99 % of the samples, and the range is at least 20 times
    the sample-to-sample noise (robust SD of the differences).
    """
    if x.size < 10 or not np.isfinite(x).all():
        return None
    span = float(np.ptp(x))
    diff = np.diff(x)
    noise = 1.4826 * float(np.median(np.abs(diff - np.median(diff)))) / np.sqrt(2.0)
    if span <= 0.0 or span < 20.0 * noise:
        return None
    start = float(np.median(x[: max(1, x.size // 100)]))
    away = np.abs(x - start) > span / 2.0
    if not 0.001 <= away.mean() <= 0.99:
        return None
    on, off = np.flatnonzero(away)[[0, -1]]
    return float(np.median(x[away]) - start), float(t[on]), float(t[off])


def _stimulus_notes(segments: list, protocol: list | None) -> list[str]:
    """``"seg<k>: 'I' steps by +0.5 nA at 100-600 ms"`` for each segment with a current
    channel (recorded, or a DAC command of ``protocol``: ``[(values (n, c), names,
    units, times_ms (n,))]`` per segment) that steps."""
    import quantities as pq

    amp = pq.A.dimensionality.simplified
    notes = []
    for s, seg in enumerate(segments):
        found = []
        for ch in _channels(seg):
            if ch.signal.units.dimensionality.simplified == amp:
                x, t, unit = _trace(ch)
                found.append((ch.id, unit, _step(x, t)))
        if protocol is not None and s < len(protocol):
            values, names, units, t = protocol[s]
            for c in range(values.shape[1]):
                if str(units[c]).strip().lower().endswith("a"):  # pA, nA: current clamp
                    found.append((f"DAC {names[c]}", units[c], _step(values[:, c], t)))
        for name, unit, step in found:
            if step is not None:
                size, on, off = step
                notes.append(f"seg{s}: {name!r} steps by {size:+.3g} {unit} at "
                             f"{on:.0f}-{off:.0f} ms")  # fmt: skip
                break
    return notes


def _read_protocol(reader, segments: list) -> list | None:
    """The DAC command waveforms of an Axon file, per segment (see :func:`_stimulus_notes`);
    None for other IOs or when Neo cannot rebuild them."""
    if not hasattr(reader, "read_raw_protocol") or not segments:
        return None
    try:
        sigs, names, units = reader.read_raw_protocol()
        out = []
        for s, values in enumerate(sigs):
            values = np.asarray(values, dtype=np.float64)
            values = values.reshape(values.shape[0], -1)
            period = float(segments[min(s, len(segments) - 1)].analogsignals[0]
                           .sampling_period.rescale("ms").magnitude)  # fmt: skip
            out.append((values, list(names), list(units), np.arange(values.shape[0]) * period))
        return out
    except Exception:  # noqa: BLE001 -- a protocol Neo cannot rebuild: no DAC check
        return None


def _membrane_doubts(v: np.ndarray, t: np.ndarray, n_spikes: int, down_mV: float) -> list[str]:
    """Why ``v`` (mV) is unlikely to be a membrane potential; empty if it may be one."""
    doubts = []
    if v.size < 2:
        return doubts
    median = float(np.median(v))
    if median > down_mV - 10.0:
        doubts.append(f"median {median:.3g} mV: no resting potential below {down_mV:g} mV")
    lo, hi = np.percentile(v, [0.1, 99.9])
    if lo < _MEMBRANE_RANGE_MV[0] or hi > _MEMBRANE_RANGE_MV[1]:
        doubts.append(f"99.8 % of it spans {lo:.4g} to {hi:.4g} mV, beyond any membrane potential")
    rate = n_spikes / max(t[-1] - t[0], 1e-12) * 1000.0
    if rate > _MAX_RATE_HZ:
        doubts.append(f"mean rate {rate:.0f} Hz")
    return doubts


def _intracellular(path, chosen: list[_Channel], up_mV: float, down_mV: float) -> list[np.ndarray]:
    trains = []
    for ch in chosen:
        if not ch.voltage:
            raise ValueError(f"{path}: channel {ch.describe()} is not a voltage: the "
                             "intracellular rule needs mV (mode=extracellular takes any "
                             "units)")  # fmt: skip
        v, t, _ = _trace(ch)
        train = detect_spikes(v, t, up_mV=up_mV, down_mV=down_mV)[0]
        doubts = _membrane_doubts(v, t, train.size, down_mV)
        if doubts:
            warnings.warn(
                f"{path}: channel {ch.describe()} does not look like a membrane potential "
                f"({'; '.join(doubts)}), yet the intracellular rule (up {up_mV:g} mV, down "
                f"{down_mV:g} mV) was applied: {train.size} spikes. For an extracellular "
                "(nerve or unit) recording use mode=extracellular (sbidic infer: "
                "--read-option mode=extracellular --read-option channel=N; docs/formats.md)",
                UserWarning,
                stacklevel=4,
            )
        trains.append(train)
    return trains


def _extracellular(path, chosen: list[_Channel], settings: dict[str, Any]):
    trains, ids = [], []
    for ch in chosen:
        x, t, unit = _trace(ch)
        name = f"{ch.signal_name}/{ch.label}"  # the channel named, even a signal's only one
        found = detect_extracellular(x, t, **settings)
        rate = 1.0 / float(np.median(np.diff(t)))
        logger.info("%s: extracellular detection on channel %d %r (%s), %g kHz: %s", path,
                    ch.index, name, unit, rate, found.describe(f" {unit}"))  # fmt: skip
        if found.units > 1 and found.unit is None:
            for rank in range(1, found.units + 1):
                trains.append(found.times[found.classes == rank])
                ids.append(f"{name}/unit{rank}")
        else:
            trains.append(found.times)
            ids.append(name if found.unit is None else f"{name}/unit{found.unit}")
    return trains, ids


def _signals(path, segments: list, channel: Any, mode: str, up_mV: float, down_mV: float,
             settings: dict[str, Any]):  # fmt: skip
    trains, ids, where = [], [], []
    for s, seg in enumerate(segments):
        channels = _channels(seg)
        if not channels:
            continue
        chosen = _select(path, channels, channel)
        if mode == "extracellular":
            found, names = _extracellular(path, chosen, settings)
        else:
            found, names = _intracellular(path, chosen, up_mV, down_mV), [ch.id for ch in chosen]
        trains += found
        ids += names
        where += [s] * len(names)
    return trains, ids, where


def read_neo(
    path: str | os.PathLike,
    *,
    check: bool = True,
    io: str | None = None,
    source: Literal["auto", "spiketrains", "signals"] = "auto",
    mode: Literal["intracellular", "extracellular"] = "intracellular",
    channel: int | str | None = None,
    up_mV: float | None = None,
    down_mV: float | None = None,
    polarity: Literal["auto", "positive", "negative"] | None = None,
    threshold: float | None = None,
    refractory_ms: float | None = None,
    highpass_hz: float | None = None,
    units: int | None = None,
    unit: int | None = None,
    amplitude_ms: float | None = None,
    overlap_ms: float | None = None,
    time_unit: str | None = None,
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
        Read the file's ``SpikeTrain`` objects, or detect spikes in its ``AnalogSignal``
        traces; ``"auto"`` uses the spike trains if there are any, unless ``channel`` or
        ``mode="extracellular"`` asks for detection.
    mode : {"intracellular", "extracellular"}, default "intracellular"
        Detection rule: the published onset/end rule on membrane potentials
        (:func:`sbidic.spikes.detect_spikes`), or peaks beyond a threshold in robust
        noise SDs for nerve and unit recordings
        (:func:`sbidic.spikes.detect_extracellular`).
    channel : int or str, optional
        The channel(s) read: an index among each segment's analog channels (signal by
        signal, column by column), or a channel name (``"IN 8"``), train ID
        (``"Signals/IN 8"``) or signal name. Default: every voltage channel.
        ``mode="extracellular"`` also reads a chosen channel that is not in volts.
    up_mV, down_mV : float, default 10.0 and 0.0
        Intracellular mode: onset and end thresholds of the rule (mV).
    polarity, threshold, refractory_ms, highpass_hz, units, unit, amplitude_ms, overlap_ms
        Extracellular mode (see :func:`sbidic.spikes.detect_extracellular`); defaults
        ``EXTRACELLULAR_DEFAULTS``: ``"auto"``, 7.0 SDs, 3 ms, no filter, 1 class (no
        sorting), every class, 1.5 ms, no overlap rule. With ``units`` > 1 and no
        ``unit`` each class is a train, ID ``<channel>/unit<rank>``; with ``unit`` the
        kept class is ``<channel>/unit<unit>``.
    time_unit : str, optional
        Unit of the numbers of the file's ``SpikeTrain`` objects (``"s"``, ``"ms"``,
        ``"us"``), overriding the units the file states; not for detected spikes (the
        traces' sampling rate sets their times).

    Raises
    ------
    ValueError
        No Neo IO for the file, nothing of the requested ``source`` in it, an unknown
        ``channel`` (the message lists the channels), an option of the other ``mode``.

    Warns
    -----
    UserWarning
        Intracellular mode on a trace that does not look like a membrane potential.
    """
    if source not in ("auto", "spiketrains", "signals"):
        raise ValueError(f"source must be 'auto', 'spiketrains' or 'signals', got {source!r}")
    mode = str(mode).strip().lower()
    if mode not in ("intracellular", "extracellular"):
        raise ValueError(f"mode must be 'intracellular' or 'extracellular', got {mode!r}")
    given = {
        "polarity": polarity, "threshold": threshold, "refractory_ms": refractory_ms,
        "highpass_hz": highpass_hz, "units": units, "unit": unit,
        "amplitude_ms": amplitude_ms, "overlap_ms": overlap_ms,
    }  # fmt: skip
    given = {key: value for key, value in given.items() if value is not None}
    if mode == "intracellular" and given:
        verb = "applies" if len(given) == 1 else "apply"
        raise ValueError(f"{path}: {', '.join(given)} {verb} only to mode=extracellular (the "
                         "intracellular rule takes up_mV and down_mV)")  # fmt: skip
    if mode == "extracellular" and (up_mV is not None or down_mV is not None):
        raise ValueError(f"{path}: up_mV and down_mV apply only to mode=intracellular "
                         "(mode=extracellular takes threshold, in noise SDs)")  # fmt: skip
    for key, value in given.items():  # as the CLI passes them: numbers, or strings
        if key == "polarity":
            given[key] = str(value).strip().lower()
            continue
        try:
            given[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: {key} must be a number, got {value!r}") from None
    settings = {**EXTRACELLULAR_DEFAULTS, **given}
    up_mV = 10.0 if up_mV is None else float(up_mV)
    down_mV = 0.0 if down_mV is None else float(down_mV)
    detect = channel is not None or mode == "extracellular"
    if source == "spiketrains" and detect:
        raise ValueError(f"{path}: channel and mode apply to source='signals', not to the "
                         "file's spike trains")  # fmt: skip
    scale = None if time_unit is None else ms_per_unit(time_unit, path)
    no_unit = (f"{path}: time_unit applies to the file's spike trains, not to spikes "
               "detected in traces (their sampling rate sets the times)")  # fmt: skip
    if scale is not None and (detect or source == "signals"):
        raise ValueError(no_unit)
    reader = _open(path, io)
    try:
        blocks = reader.read(lazy=False)
        segments = [seg for block in blocks for seg in block.segments]
        protocol = _read_protocol(reader, segments)
    finally:
        if hasattr(reader, "close"):
            reader.close()
    stimulus = _stimulus_notes(segments, protocol)
    if stimulus:
        more = f" and {len(stimulus) - 3} more" if len(stimulus) > 3 else ""
        warnings.warn(
            f"{path}: {len(stimulus)} sweep(s) carry a current step ({'; '.join(stimulus[:3])}"
            f"{more}): their spikes are evoked by it, and sbidic's models fire without an "
            "injected current; infer from spontaneous activity (a recording without the "
            "step, or the part of each sweep outside it)", UserWarning, stacklevel=3)
    n_trains = sum(len(seg.spiketrains) for seg in segments)
    if source == "spiketrains" or (source == "auto" and n_trains and not detect):
        if not n_trains:
            raise ValueError(f"{path}: no spike trains in the file (try source='signals')")
        trains, ids, where = _spiketrains(segments, scale)
        what = "spike trains"
    else:
        if scale is not None:
            raise ValueError(no_unit)
        trains, ids, where = _signals(path, segments, channel, mode, up_mV, down_mV, settings)
        what = "voltage traces" if mode == "intracellular" else "extracellular traces"
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
