"""Plain text, one spike train per line, or one train as a single column of times.

Each line is ``[ID:] t1 t2 ...``: spike times separated by whitespace or commas,
optionally preceded by an identifier and a colon. A line with only ``ID:`` (or, in a
file without IDs, an empty line) is a silent train; lines starting with ``#`` are
comments. Either every train has an ID or none has (IDs ``0..n-1``, line order).
Times are in ms unless ``time_unit="s"`` (or ``"us"``; or a comment line
``# time_unit: s``). Elephant's and Neo's ASCII spike-train files (tab-separated
seconds, no IDs) read with ``time_unit="s"``.

**Single column** -- the commonest export, one spike time per line (no IDs, at least
two lines, blank lines skipped), optionally under a header line that is not a number
(``time``, ``t (s)``): it is *one* train, with a warning naming the file and the
number of times. A unit in brackets in the header (``time (s)``, ``t [ms]``) is the
times' unit unless ``time_unit`` or a ``# time_unit:`` comment says otherwise.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from sbidic.files import open_text
from sbidic.spikes.trains import SpikeTrains
from sbidic.spikes.units import INTEGER_RE, MS_PER_UNIT, ms_per_unit

__all__ = ["looks_numeric", "read_text", "starts_a_column", "write_spikes_text"]

_SEP = re.compile(r"[\s,;]+")
_UNIT_LINE = re.compile(r"#\s*time_unit\s*[:=]\s*(\S+)")
_BRACKETED = re.compile(r"[(\[]\s*([^()\[\]\s]+)\s*[)\]]")


def starts_a_column(first: str, second: str) -> bool:
    """Whether two lines open a single column of times under a header (the header is
    one field: no comma, not a number, no ``ID:``; the second line is one number).

    >>> starts_a_column("time (s)", "0.25"), starts_a_column("ID,spiking_times", "0.25")
    (True, False)
    """
    tokens = [t for t in _SEP.split(second.strip()) if t]
    one_time = ":" not in second and len(tokens) == 1 and _is_float(tokens[0])
    return one_time and "," not in first and ":" not in first and not looks_numeric(first)


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


@dataclass(frozen=True)
class _Row:
    """One line that is not a comment: its number, ``ID:`` (None: none) and tokens."""

    line: int
    rid: str | None
    tokens: list[str]


def _rows(path, lines: list[str]) -> tuple[list[_Row], str | None]:
    """The lines that are not comments, and the unit of a ``# time_unit: s`` comment."""
    rows, unit = [], None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            m = _UNIT_LINE.match(stripped)
            unit = m.group(1) if m and unit is None else unit
            continue
        rid, body = (s.strip() for s in stripped.split(":", 1)) if ":" in stripped else (
            None, stripped)  # fmt: skip
        if rid == "":
            raise ValueError(f"{path}, line {number}: empty ID before ':'")
        rows.append(_Row(number, rid, [t for t in _SEP.split(body) if t]))
    return rows, unit


def _one_time_each(rows: list[_Row]) -> bool:
    """Whether every non-blank row is a single time without an ID (a single column)."""
    return bool(rows) and all(r.rid is None and len(r.tokens) == 1 for r in rows)


def _single_column(rows: list[_Row]) -> tuple[list[_Row], _Row | None] | None:
    """The rows of a single column of times (one spike per line, blank lines skipped)
    and its header line (a first line that is not a number), or None for a file of
    one train per line."""
    if any(r.rid is not None for r in rows):
        return None
    body = [r for r in rows if r.tokens]
    first = body[0] if body else None
    if first and not all(map(_is_float, first.tokens)):
        return (body[1:], first) if _one_time_each(body[1:]) else None
    return (body, None) if len(body) > 1 and _one_time_each(body) else None


def _header_unit(header: _Row | None) -> str | None:
    """A unit named in brackets in a column header (``time (s)``, ``t [ms]``)."""
    m = _BRACKETED.search(" ".join(header.tokens)) if header else None
    return m.group(1) if m and m.group(1).strip().lower() in MS_PER_UNIT else None


def _numbers(path, row: _Row) -> np.ndarray:
    try:
        return np.array([float(t) for t in row.tokens])
    except ValueError:
        bad = next(t for t in row.tokens if not _is_float(t))
        raise ValueError(f"{path}, line {row.line}: {bad!r} is not a spike time") from None


def _ids(path, rows: list[_Row]) -> np.ndarray | None:
    """The trains' IDs (None: no line has one); IDs on some lines only, or a repeated
    one, is an error naming the line."""
    has_id = [r.rid is not None for r in rows]
    if any(has_id) and not all(has_id):
        k = has_id.index(not has_id[0])
        raise ValueError(f"{path}, line {rows[k].line}: an 'ID:' prefix on some lines only")
    if not any(has_id):
        return None
    seen: dict[str, int] = {}
    for r in rows:
        if r.rid in seen:
            raise ValueError(f"{path}, line {r.line}: ID {r.rid!r} already used on line "
                             f"{seen[r.rid]}")  # fmt: skip
        seen[r.rid] = r.line
    ids = [r.rid for r in rows]
    return (np.array([int(r) for r in ids]) if all(INTEGER_RE.fullmatch(r) for r in ids)
            else np.array(ids, dtype=str))  # fmt: skip


def _column_train(path, rows: list[_Row], header: _Row | None, scale: float, check: bool,
                  note: str = ""):  # fmt: skip
    """One train of a single column of times (a warning says so, with ``note``)."""
    times = np.concatenate([_numbers(path, r) for r in rows]) * scale
    skipped = f", header {' '.join(header.tokens)!r} skipped{note}" if header else ""
    warnings.warn(f"{path}: one time per line: read the {times.size} times as one train"
                  f"{skipped} (a file of several trains holds one train per line, "
                  "'ID: t1 t2 ...')", UserWarning, stacklevel=4)  # fmt: skip
    if check:
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(times) | (times < 0) | np.r_[False, ~(times[1:] > times[:-1])]
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            _, msg = SpikeTrains.from_list([times], check=False)._first_problem()
            raise ValueError(f"{path}, line {rows[k].line}: one time per line, read as one "
                             f"train: {msg}; read with check=False and use "
                             "SpikeTrains.repair()")  # fmt: skip
    return SpikeTrains.from_list([times], check=False)


def read_text(
    path: str | os.PathLike, *, check: bool = True, time_unit: str | None = None
) -> SpikeTrains:
    """Read one train per line, or one train from a single column of times (format in
    the module doc).

    Parameters
    ----------
    path : str or path-like
    check : bool, default True
        Validate the times (see :meth:`SpikeTrains.validate`).
    time_unit : str, optional
        ``"ms"`` (default), ``"s"`` or ``"us"``; overrides a ``# time_unit:`` comment
        and a unit in a column header.

    Raises
    ------
    ValueError
        A token that is not a number, IDs on some lines only, a repeated ID (each
        naming the line), an unknown time unit.

    Warns
    -----
    UserWarning
        A single column of times, read as one train (naming the file and the count).

    Examples
    --------
    >>> import tempfile, pathlib, warnings
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "times.csv"
    >>> _ = path.write_text("time (s)\\n0.5\\n1.25\\n2.0\\n")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     st = read_text(path)
    >>> st.n_trains, st[0].tolist()
    (1, [500.0, 1250.0, 2000.0])
    >>> "read the 3 times as one train" in str(caught[0].message)
    True
    """
    with open_text(path) as fh:
        lines = fh.read().splitlines()
    rows, comment_unit = _rows(path, lines)
    column = _single_column(rows)
    header_unit = _header_unit(column[1]) if column else None
    unit = next((u for u in (time_unit, comment_unit, header_unit) if u is not None), None)
    scale = ms_per_unit(unit, path)
    if column is not None:
        said = time_unit is None and comment_unit is None and header_unit is not None
        note = f", times in {unit} as it says" if said else ""
        return _column_train(path, column[0], column[1], scale, check, note)
    while rows and not rows[-1].tokens and rows[-1].rid is None:
        rows.pop()  # trailing blank lines are not trains
    if not rows:
        raise ValueError(f"{path}: no spike trains (expected lines 't1 t2 ...')")
    trains = [_numbers(path, r) * scale for r in rows]
    st = SpikeTrains.from_list(trains, _ids(path, rows), check=False)
    if check:
        problem = st._first_problem()
        if problem is not None:
            i, msg = problem
            raise ValueError(f"{path}, line {rows[i].line}: {msg}; read with check=False and "
                             "use SpikeTrains.repair()")  # fmt: skip
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
