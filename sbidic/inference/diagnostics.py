"""Warnings about recordings the estimator was not trained for.

The DIC estimator only knows targets inside its box (the model's ``target_box``): its
posterior cannot leave the box, so a recording that needs a target outside it gets a
posterior piled against an edge (e.g. ``g_u = 0``), not a wide one.
:func:`prior_edge_flags` names those recordings from the report's 5 % / 95 %
quantiles. :func:`sbidic.infer` reports these flags only for models without a shipped
firing atlas and for patterns outside the atlas: some patterns the model fires sit at
an edge of the box (STG tonic firing at 5-10 Hz has ``g_u`` of 0-3 in the training
data), and there the atlas, built from simulated cells, vouches for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["EDGE_TOLERANCE", "join_warnings", "prior_edge_flags"]

#: Share of the box width within which a posterior quantile counts as on the edge.
EDGE_TOLERANCE = 0.05

_DICS = ("g_s", "g_u")


def _as_box(box) -> dict[str, tuple[float, float]]:
    """``{"g_s": (lo, hi), "g_u": (lo, hi)}`` of a dict or ``((lo, hi), (lo, hi))``."""
    pairs = [box[d] for d in _DICS] if isinstance(box, Mapping) else list(box)
    out = {}
    for name, pair in zip(_DICS, pairs, strict=True):
        lo, hi = (float(v) for v in pair)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"box[{name!r}] must be (lo, hi) with lo < hi, got {pair}")
        out[name] = (lo, hi)
    return out


def prior_edge_flags(summary: Any, box, tol: float = EDGE_TOLERANCE) -> np.ndarray:
    """A warning per recording whose posterior sits against an edge of the estimator's box.

    A recording is flagged when its whole 90 % posterior interval of ``g_s`` or ``g_u``
    lies within ``tol`` times the box width of an edge (the 95 % quantile near the
    lower edge, or the 5 % quantile near the upper edge): the posterior is piled
    against the edge of what the estimator was trained on, so the recording is
    probably out of its distribution (a posterior that merely touches an edge, as
    for a true value near it, is not flagged). Vectorised over recordings.

    Parameters
    ----------
    summary : pandas.DataFrame or mapping of array_like
        Columns ``g_s_q05``, ``g_s_q95``, ``g_u_q05``, ``g_u_q95`` (the report of
        :func:`sbidic.infer`), one entry per recording; NaN (a silent recording)
        gives no warning.
    box : dict or ((float, float), (float, float))
        ``{"g_s": (lo, hi), "g_u": (lo, hi)}``, the estimator's target box
        (``estimator.box``).
    tol : float, default 0.05
        Distance to an edge, as a share of the box width, that counts as on it.

    Returns
    -------
    ndarray of str, shape (n_recordings,)
        ``""``, or ``"out of distribution: posterior piled against the prior edge
        g_u = 0"`` (several edges joined by ``", "``).

    Examples
    --------
    >>> box = {"g_s": (-10.0, 10.0), "g_u": (0.0, 20.0)}
    >>> summary = {"g_s_q05": [-3.0, -2.0, -9.9, np.nan],
    ...            "g_s_q95": [2.0, 1.0, -9.5, np.nan],
    ...            "g_u_q05": [0.1, 0.0, 19.2, np.nan],
    ...            "g_u_q95": [9.0, 0.5, 19.9, np.nan]}
    >>> for flag in prior_edge_flags(summary, box).tolist():
    ...     print(repr(flag))
    ''
    'out of distribution: posterior piled against the prior edge g_u = 0'
    'out of distribution: posterior piled against the prior edges g_s = -10, g_u = 20'
    ''
    """
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be finite and >= 0, got {tol}")
    limits = _as_box(box)
    columns = {}
    for name in _DICS:
        for q in ("q05", "q95"):
            key = f"{name}_{q}"
            try:
                columns[key] = np.asarray(summary[key], dtype=float).reshape(-1)
            except KeyError:
                raise ValueError(f"summary has no column {key!r}") from None
    n = columns["g_s_q05"].size
    if any(v.size != n for v in columns.values()):
        raise ValueError("the quantile columns must have one entry per recording")
    hits = []  # (mask, "g_u = 0") per edge, in a fixed order
    for name in _DICS:
        lo, hi = limits[name]
        margin = tol * (hi - lo)
        with np.errstate(invalid="ignore"):
            hits.append((columns[f"{name}_q95"] <= lo + margin, f"{name} = {lo:g}"))
            hits.append((columns[f"{name}_q05"] >= hi - margin, f"{name} = {hi:g}"))
    mask = np.stack([m for m, _ in hits])  # (4, n)
    labels = [label for _, label in hits]
    code = (mask.astype(np.int64) << np.arange(len(hits))[:, None]).sum(axis=0)
    table = []
    for c in range(2 ** len(hits)):
        edges = [label for k, label in enumerate(labels) if c >> k & 1]
        if not edges:
            table.append("")
        else:
            plural = "s" if len(edges) > 1 else ""
            table.append("out of distribution: posterior piled against the prior "
                         f"edge{plural} {', '.join(edges)}")  # fmt: skip
    return np.asarray(table, dtype=object)[code].astype(str)


def join_warnings(*columns) -> np.ndarray:
    """Per-recording warnings of several sources joined by ``"; "`` (empty ones left
    out); each column is array_like of str or one str for every recording.

    Examples
    --------
    >>> join_warnings(["", "a", "b", ""], ["", "", "c", "d"]).tolist()
    ['', 'a', 'b; c', 'd']
    >>> join_warnings(["x", ""], "").tolist()
    ['x', '']
    """
    arrays = np.broadcast_arrays(*[np.asarray(c, dtype=object) for c in columns])
    if not arrays:
        return np.empty(0, dtype=str)
    joined = ["; ".join(str(w) for w in row if isinstance(w, str) and w)
              for row in zip(*(a.reshape(-1) for a in arrays), strict=True)]  # fmt: skip
    return np.asarray(joined, dtype=object).astype(str).reshape(arrays[0].shape)
