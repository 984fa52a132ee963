"""Small vectorised helpers for items grouped by an integer or string label."""

from __future__ import annotations

import numpy as np

__all__ = ["rank_within_groups"]


def rank_within_groups(groups) -> np.ndarray:
    """Position of every item among the items of its group, in input order.

    Examples
    --------
    >>> rank_within_groups([3, 1, 3, 3, 1])
    array([0, 0, 1, 2, 1])
    """
    inverse = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    order = np.argsort(inverse, kind="stable")
    rank = np.empty(inverse.size, dtype=np.int64)
    rank[order] = np.arange(inverse.size) - np.searchsorted(inverse[order], inverse[order])
    return rank
