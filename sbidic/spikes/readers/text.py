"""Plain text, one spike train per line.

Each line is ``[ID:] t1 t2 ...``: spike times separated by whitespace or commas,
optionally preceded by an identifier and a colon. A line with only ``ID:`` (or, in a
file without IDs, an empty line) is a silent train; lines starting with ``#`` are
comments. Either every train has an ID or none has (IDs ``0..n-1``, line order).
Times are in ms unless ``time_unit="s"`` (or a comment line ``# time_unit: s``).
Elephant's and Neo's ASCII spike-train files (tab-separated seconds, no IDs) read with
``time_unit="s"``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from sbidic.files import open_text
from sbidic.spikes.io import _INT_RE, _MS_PER_UNIT
from sbidic.spikes.trains import SpikeTrains

__all__ = ["looks_numeric", "read_text", "write_spikes_text"]

_SEP = re.compile(r"[\s,;]+")
_UNIT_LINE = re.compile(r"#\s*time_unit\s*[:=]\s*(\S+)")


def looks_numeric(line: str) -> bool:
    """Whether ``line`` is a train of this format (numbers, with an optional ``ID:``).

    >>> looks_numeric("3: 1.5, 2.5"), looks_numeric("ID,spiking_times")
    (True, False)
    """
    body = line.split(":", 1)[1] if ":" in line else line
    tokens = [t for t in _SEP.split(body.strip()) if t]
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return bool(tokens) or ":" in line


def read_text(
    path: str | os.PathLike, *, check: bool = True, time_unit: str | None = None
) -> SpikeTrains:
    """Read one train per line (format in the module doc).

    Raises
    ------
    ValueError
        A token that is not a number, IDs on some lines only, a repeated ID (each
        naming the line), an unknown time unit.
    """
    with open_text(path) as fh:
        lines = fh.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines are not trains
    trains, ids, where = [], [], []
    unit = time_unit
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            m = _UNIT_LINE.match(stripped)
            if m and time_unit is None:
                unit = m.group(1)
            continue
        rid, body = (s.strip() for s in stripped.split(":", 1)) if ":" in stripped else (
            None, stripped)  # fmt: skip
        if rid == "":
            raise ValueError(f"{path}, line {number}: empty ID before ':'")
        tokens = [t for t in _SEP.split(body) if t]
        try:
            trains.append(np.array([float(t) for t in tokens]))
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            raise ValueError(f"{path}, line {number}: {bad!r} is not a spike time") from None
        ids.append(rid)
        where.append(number)
    has_id = [r is not None for r in ids]
    if any(has_id) and not all(has_id):
        k = has_id.index(not has_id[0])
        raise ValueError(f"{path}, line {where[k]}: an 'ID:' prefix on some lines only")
    if not trains:
        raise ValueError(f"{path}: no spike trains (expected lines 't1 t2 ...')")
    scale = _MS_PER_UNIT.get(str(unit or "ms").strip())
    if scale is None:
        raise ValueError(f"{path}: time unit {unit!r}; expected ms or s")
    out_ids = None
    if all(has_id):
        seen: dict[str, int] = {}
        for rid, line in zip(ids, where, strict=True):
            if rid in seen:
                raise ValueError(f"{path}, line {line}: ID {rid!r} already used on line "
                                 f"{seen[rid]}")  # fmt: skip
            seen[rid] = line
        out_ids = (np.array([int(r) for r in ids]) if all(_INT_RE.fullmatch(r) for r in ids)
                   else np.array(ids, dtype=str))  # fmt: skip
    st = SpikeTrains.from_list([t * scale for t in trains], out_ids, check=False)
    if check:
        problem = st._first_problem()
        if problem is not None:
            i, msg = problem
            raise ValueError(f"{path}, line {where[i]}: {msg}; read with check=False and use "
                             "SpikeTrains.repair()")  # fmt: skip
    return st


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def write_spikes_text(trains: SpikeTrains, path: str | os.PathLike, *, extra=None) -> None:
    """Write ``ID: t1 t2 ...`` lines (ms, exact floats); ``extra`` per-train columns
    cannot be held (ValueError rather than a silent drop).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> write_spikes_text(SpikeTrains.from_list([[0.1, 2.0], []], ids=["a", "b"]), path)
    >>> print(path.read_text().strip())
    a: 0.1 2.0
    b:
    >>> read_text(path).ids
    array(['a', 'b'], dtype='<U1')
    """
    if extra:
        raise ValueError(f"{path}: a text spike file cannot hold extra columns {list(extra)}")
    for rid in trains.ids:
        if ":" in str(rid) or "\n" in str(rid) or not str(rid).strip():
            raise ValueError(f"train ID {str(rid)!r} cannot be written to a text file")
    with open(path, "w") as fh:
        for rid, train in zip(trains.ids, trains, strict=True):
            line = f"{rid.item() if hasattr(rid, 'item') else rid}: " + " ".join(
                map(repr, train.tolist())
            )
            fh.write(line.rstrip() + "\n")
