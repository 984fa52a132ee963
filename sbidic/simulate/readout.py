"""The published spike rule as the Brian2 network applies it, and what is read out
of a finished run: spike trains, diverged cells and voltage traces.

Spike detection (published rule, done inside Brian2)
----------------------------------------------------
The published pipeline samples V on a grid ``t_k = k dt`` and calls a *spike onset* the
first sample above +10 mV (``V[k-1] <= 10 < V[k]``; spike time ``t_k``), an *end* a
downward crossing of 0 mV (``V[k-1] >= 0 > V[k]``), and keeps the onsets before the last
end, so a final spike that has not come back below 0 mV is dropped; only samples in the
kept window ``[transient, duration)`` count. Brian2 reproduces this exactly, without
recording V:

* ``threshold="v > 10*mV"`` with ``refractory="v > 10*mV"``: the refractory flag is
  cleared at the start of a step whose sample is ``<= 10 mV``, so a spike is emitted
  exactly at the samples ``V[k-1] <= 10 < V[k]``. Brian2 stamps it with the time of the
  step it was detected in, ``t_{k-1}``; the reported time is ``t_k``.
* the spike's reset arms a flag, and a custom event ``v < 0*mV and armed`` (the first
  sample below 0 mV after an onset, i.e. an end) disarms it and stores its time. At the
  end of the run, onsets after the last end of a still-armed cell are dropped.
* the network runs ``n - 1`` steps so that every sample it tests lies on the grid
  ``0, dt, ..., duration - dt`` (the reference's ``arange(transient, duration, dt)``);
  an onset must have its predecessor sample in the window, so spikes are kept from
  ``transient + dt`` on.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "REPOLARISATION_MV",
    "SPIKE_THRESHOLD_MV",
    "spike_trains_from_events",
    "voltage_traces",
]

#: Upward crossing of this voltage (mV) is a spike onset.
SPIKE_THRESHOLD_MV = 10.0
#: Downward crossing of this voltage (mV) ends a spike; onsets after the last end are dropped.
REPOLARISATION_MV = 0.0


def spike_trains_from_events(
    spike_i: np.ndarray,
    spike_t_s: np.ndarray,
    v_end_V: np.ndarray,
    armed: np.ndarray,
    t_end_s: np.ndarray,
    n_cells: int,
    dt_ms: float,
    n_trans: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Spike trains (ms) of the published rule from what the network recorded, and the
    cells that diverged.

    ``spike_i``/``spike_t_s`` are the spike monitor's (onsets stamped one step early,
    module docstring), ``v_end_V``, ``armed`` and ``t_end_s`` the group's final values.
    Only the first ``n_cells`` cells are kept (a cached program may hold padding).
    """
    dt_s = dt_ms * 1e-3
    v_end_V, armed, t_end_s = v_end_V[:n_cells], armed[:n_cells], t_end_s[:n_cells]
    diverged = ~np.isfinite(v_end_V)
    idx = np.asarray(spike_i, dtype=np.int64)
    step = np.rint(np.asarray(spike_t_s) / dt_s).astype(np.int64)
    end_step = np.rint(t_end_s / dt_s).astype(np.int64)
    keep = idx < n_cells
    # onset sample k = step + 1; needs k - 1 >= n_trans (predecessor in the window)
    keep &= step >= n_trans
    idx_c = np.minimum(idx, n_cells - 1)
    # onsets after the last end of a cell that never came back below 0 mV
    keep &= ~((armed[idx_c] > 0.5) & (step > end_step[idx_c]))
    # a cell whose state became NaN/inf has no meaningful train
    keep &= ~diverged[idx_c]
    idx, step = idx[keep], step[keep]
    order = np.argsort(idx, kind="stable")
    idx, step = idx[order], step[order]
    counts = np.bincount(idx, minlength=n_cells)
    times = (step + 1) * dt_ms
    return np.split(times, np.cumsum(counts)[:-1]), diverged


def voltage_traces(recorded_V: np.ndarray, v_end_V: np.ndarray) -> np.ndarray:
    """Recorded voltage ``(n_rec, n_steps)`` in volts plus the final sample, in mV."""
    return np.concatenate([recorded_V, v_end_V[:, None]], axis=1) * 1e3


def _as_spike_trains(trains: list[np.ndarray], ids: np.ndarray):
    """``SpikeTrains`` when :mod:`sbidic.spikes` is available, else the list."""
    try:
        from sbidic.spikes import SpikeTrains
    except ImportError:
        try:
            from sbidic.spikes.trains import SpikeTrains
        except ImportError:
            return trains
    return SpikeTrains.from_list(trains, ids=ids)
