"""The result of :func:`~sbidic.simulate.simulate`: spike trains, optional voltage
traces and the settings of the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimulationResult"]


@dataclass(frozen=True)
class SimulationResult:
    """Spike trains (and optional voltage traces) of a simulated population.

    Attributes
    ----------
    spikes : sbidic.spikes.SpikeTrains
        One train per cell, in input order, ids = ``cell_ids``; absolute times (ms) in
        ``(transient_ms, duration_ms)`` on the grid ``k * dt_ms``.
    t_ms : ndarray or None
        Time grid of ``v_mV``: ``transient_ms, transient_ms + dt_ms, ...,
        duration_ms - dt_ms``.
    v_mV : ndarray, shape (n_rec, n_samples), or None
        Membrane voltage of the recorded cells (rows in the order of ``record_v``).
    record_v : ndarray of int or None
        Indices (into the input rows) of the recorded cells.
    model : ConductanceModel
        The simulated model.
    conductances : ndarray, shape (n_cells, n_conductances)
        Maximal conductances (mS/cm^2), columns in ``model.conductances`` order.
    cell_ids : ndarray of int
        Global cell ids (they key the noise streams).
    diverged : ndarray of bool
        Cells whose voltage became non-finite (numerical blow-up); their trains are
        empty and :func:`simulate` warns about them.
    settings : dict
        Duration, transient, dt, method, code-generation target, seed, noise, chunking.
    wall_time_s : float
        Wall-clock time of the whole call.

    Examples
    --------
    >>> from sbidic.simulate import simulate
    >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])  # one STG cell
    >>> result = simulate("stg", g, duration_ms=500.0, transient_ms=100.0, record_v=True)
    >>> result.n_spikes, result.spike_list()[0][:2]
    (array([7]), array([192.44, 205.02]))
    >>> result.v_mV.shape, float(result.t_ms[0]), result.settings["method"]
    ((1, 40000), 100.0, 'exponential_euler')
    """

    spikes: Any
    t_ms: np.ndarray | None
    v_mV: np.ndarray | None
    record_v: np.ndarray | None
    model: Any
    conductances: np.ndarray
    cell_ids: np.ndarray
    diverged: np.ndarray
    settings: dict = field(default_factory=dict)
    wall_time_s: float = float("nan")

    @property
    def n_cells(self) -> int:
        return len(self.conductances)

    @property
    def n_spikes(self) -> np.ndarray:
        """Number of spikes per cell."""
        return np.array([len(s) for s in self.spike_list()], dtype=np.int64)

    def spike_list(self) -> list[np.ndarray]:
        """Spike times (ms) as a list of arrays, one per cell."""
        if hasattr(self.spikes, "to_list"):
            return self.spikes.to_list()
        return list(self.spikes)

    def __repr__(self) -> str:
        s = self.settings
        rec = 0 if self.v_mV is None else len(self.v_mV)
        return (
            f"SimulationResult(model={self.model.name!r}, n_cells={self.n_cells}, "
            f"n_spikes={int(self.n_spikes.sum())}, recorded={rec}, "
            f"window=[{s.get('transient_ms')}, {s.get('duration_ms')}) ms, "
            f"dt={s.get('dt_ms')} ms, method={s.get('method')!r})"
        )
