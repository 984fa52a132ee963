"""Whole recordings through a network trained on windows: consecutive windows, pooled.

An estimator is trained on trains of its model's protocol window (3 s for ``stg``,
10 s for ``stg-liu``, 9 s for ``da``) and reads at most ``max_spikes`` spikes. A longer
recording is cut into consecutive windows of that length, starting at its first
spike (a remainder shorter than a window is left out), each window keeps its first
``max_spikes`` spikes, and the posteriors of the windows are pooled as an
equal-weight mixture: each recording's draws come in turn from each of its windows.
The mixture keeps the spread of one window (a product of the windows' posteriors
would treat them as independent evidence and be over-confident on a recording the
model does not describe exactly) and lets every part of the recording speak.
A recording shorter than one window is one window, as before.
"""

from __future__ import annotations

import numpy as np

from sbidic._groups import rank_within_groups
from sbidic.spikes import SpikeTrains

__all__ = ["Windows", "consecutive_windows", "pool_window_draws", "representative_windows"]


class Windows:
    """Consecutive windows of recordings (see :func:`consecutive_windows`).

    Attributes
    ----------
    trains : SpikeTrains
        One train per window (times as recorded, ms).
    owner : ndarray of int
        Recording of each window.
    count : ndarray of int
        Windows per recording.
    spikes_used : ndarray of int
        Spikes of each recording inside its windows (after ``max_spikes``).
    """

    def __init__(self, trains: SpikeTrains, owner: np.ndarray, n_recordings: int,
                 spikes_used: np.ndarray) -> None:  # fmt: skip
        self.trains, self.owner = trains, owner
        self.count = np.bincount(owner, minlength=n_recordings)
        self.spikes_used = spikes_used


def consecutive_windows(
    trains: SpikeTrains, window_ms: float | None, max_spikes: int | None, min_spikes: int = 3
) -> Windows:
    """Cut each recording into consecutive ``window_ms`` windows from its first spike.

    Parameters
    ----------
    trains : SpikeTrains
        Recordings, each with at least ``min_spikes`` spikes.
    window_ms : float or None
        Window length (ms); None: one window per recording (its first ``max_spikes``
        spikes).
    max_spikes : int or None
        Spikes kept per window (the first ones).
    min_spikes : int
        Windows with fewer spikes are left out (a recording keeps at least its
        first window).

    Examples
    --------
    >>> rec = SpikeTrains.from_list([np.arange(0.0, 9500.0, 100.0), [0.0, 10.0, 20.0]])
    >>> w = consecutive_windows(rec, 3000.0, max_spikes=250)
    >>> w.count.tolist(), w.spikes_used.tolist(), w.owner.tolist()
    ([3, 1], [90, 3], [0, 0, 0, 1])
    >>> [float(t[0]) for t in w.trains]
    [0.0, 3000.0, 6000.0, 0.0]
    """
    n = trains.n_trains
    owner_of_spike = trains.train_index
    first = trains.times[trains.offsets[:-1]]
    last = trains.times[trains.offsets[1:] - 1]
    if window_ms is None:
        full = np.ones(n, dtype=np.int64)
    else:
        full = np.maximum(1, np.floor((last - first) / window_ms).astype(np.int64))
    for _ in range(2):  # a recording without a dense window falls back to one window
        k = np.zeros_like(owner_of_spike)
        if window_ms is not None:
            k = np.floor((trains.times - first[owner_of_spike]) / window_ms).astype(np.int64)
        k = np.where(full[owner_of_spike] == 1, 0, k)
        keep = k < full[owner_of_spike]
        starts = np.concatenate([[0], np.cumsum(full)])
        group = np.where(keep, starts[owner_of_spike] + k, -1)  # window id (-1: left out)
        if max_spikes is not None:
            keep &= rank_within_groups(group) < max_spikes
        per_window = np.bincount(group[keep], minlength=int(starts[-1]))
        owner_of_window = np.repeat(np.arange(n), full)
        dense = (per_window >= min_spikes) | (full[owner_of_window] == 1)
        sparse = np.bincount(owner_of_window[dense], minlength=n) == 0
        if not sparse.any():
            break
        full = np.where(sparse, 1, full)
    keep &= dense[np.where(keep, group, 0)]
    counts = per_window[dense]
    windows = SpikeTrains(trains.times[keep], np.concatenate([[0], np.cumsum(counts)]),
                          np.arange(counts.size), check=False)  # fmt: skip
    used = np.bincount(owner_of_spike[keep], minlength=n)
    return Windows(windows, owner_of_window[dense], n, used)


def pool_window_draws(draws: np.ndarray, windows: Windows) -> np.ndarray:
    """Equal-weight mixture of the windows' posterior draws, per recording.

    Parameters
    ----------
    draws : ndarray, shape (S, n_windows, d)
        ``S`` draws of every window.
    windows : Windows

    Returns
    -------
    ndarray, shape (S, n_recordings, d)
        Draw ``s`` of recording ``i`` comes from its window ``s mod count[i]``.

    Examples
    --------
    >>> rec = SpikeTrains.from_list([np.arange(0.0, 6500.0, 100.0)])
    >>> w = consecutive_windows(rec, 3000.0, 250)
    >>> draws = np.stack([np.zeros((4, 1)), np.ones((4, 1))], axis=1)  # window 0: 0, 1: 1
    >>> pool_window_draws(draws, w)[:, 0, 0].tolist()
    [0.0, 1.0, 0.0, 1.0]
    """
    s = draws.shape[0]
    start = np.concatenate([[0], np.cumsum(windows.count)])[:-1]
    idx = start[None, :] + np.arange(s)[:, None] % windows.count[None, :]
    return draws[np.arange(s)[:, None], idx]


def representative_windows(embeddings: np.ndarray, windows: Windows) -> np.ndarray:
    """Index of each recording's window whose embedding is nearest its windows' mean
    (the window that conditions later proposals of ``verify``).

    Examples
    --------
    >>> rec = SpikeTrains.from_list([np.arange(0.0, 9500.0, 100.0)])
    >>> w = consecutive_windows(rec, 3000.0, 250)
    >>> representative_windows(np.array([[0.0], [1.0], [5.0]]), w).tolist()
    [1]
    """
    emb = np.asarray(embeddings, dtype=float)
    n = windows.count.size
    mean = np.zeros((n, emb.shape[1]))
    np.add.at(mean, windows.owner, emb)
    mean /= windows.count[:, None]
    dist = np.linalg.norm(emb - mean[windows.owner], axis=1)
    order = np.lexsort((dist, windows.owner))
    first = np.concatenate([[0], np.cumsum(windows.count)])[:-1]
    return order[first]
