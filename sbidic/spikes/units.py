"""Units of time in spike files: every reader scales the numbers it reads to ms.

>>> ms_per_unit("s")
1000.0
"""

from __future__ import annotations

import os
import re

__all__ = ["INTEGER_RE", "MS_PER_UNIT", "ms_per_unit"]

#: An integer, as train IDs are written.
INTEGER_RE = re.compile(r"[+-]?\d+")
#: Milliseconds per unit of time, by the names the readers accept.
MS_PER_UNIT = {
    "ms": 1.0,
    "millisecond": 1.0,
    "milliseconds": 1.0,
    "msec": 1.0,
    "s": 1000.0,
    "second": 1000.0,
    "seconds": 1000.0,
    "sec": 1000.0,
    "us": 1e-3,
    "\u00b5s": 1e-3,  # micro sign
    "\u03bcs": 1e-3,  # Greek mu
    "usec": 1e-3,
    "microsecond": 1e-3,
    "microseconds": 1e-3,
}


def ms_per_unit(unit: str | None, path: str | os.PathLike = "") -> float:
    """Milliseconds in one ``unit`` of time, the factor every reader applies.

    Parameters
    ----------
    unit : str or None
        ``"ms"`` (None), ``"s"``, ``"us"`` or a spelled-out form (``"seconds"``,
        ``"microsecond"``, ...); case and surrounding blanks are ignored.
    path : str or path-like, optional
        File the unit belongs to, named in the error.

    Returns
    -------
    float
        ms per ``unit`` (1000.0 for seconds).

    Raises
    ------
    ValueError
        An unknown unit, naming the file and the accepted units.

    Examples
    --------
    >>> ms_per_unit("s"), ms_per_unit(None), ms_per_unit(" US ")
    (1000.0, 1.0, 0.001)
    """
    key = "ms" if unit is None else str(unit).strip()
    scale = MS_PER_UNIT.get(key, MS_PER_UNIT.get(key.lower()))
    if scale is None:
        where = f"{path}: " if str(path) else ""
        raise ValueError(f"{where}time unit {key!r}; expected s, ms or us")
    return scale
