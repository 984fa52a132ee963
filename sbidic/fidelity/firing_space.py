"""A model's firing space: which tonic rates and which bursts its cells fire.

Cells (from a Monte Carlo survey or a DIC dataset) are counted in bins of the two
firing classes:

* **tonic spiking**: rate ``mean(1000 / ISI)`` on a log grid of 1-100 Hz;
* **bursting**: burst period on a log grid of 0.1-3 s x mean spikes per burst on a
  log grid of 2-20, with the median duty cycle (burst duration / period) per bin.

A recording's pattern lies *in* the firing space when its bin holds at least
``min_cells`` cells; :meth:`FiringSpace.covers` answers it for many recordings at
once, which is how ``sbidic infer`` names the shipped models that can fire a pattern
the chosen model cannot. Labels and features follow the published rule
(:mod:`sbidic.spikes.features`).

References
----------
A. A. Prinz, C. P. Billimoria, E. Marder (2003). Alternative to hand-tuning
conductance-based models: construction and analysis of databases of model neurons.
J. Neurophysiol. 90(6), 3998-4015. https://doi.org/10.1152/jn.00641.2003
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PERIOD_EDGES_MS", "RATE_EDGES_HZ", "SPB_EDGES", "FiringSpace"]

#: Tonic-rate bin edges (Hz): 10 log-spaced bins from 1 to 100 Hz.
RATE_EDGES_HZ = np.geomspace(1.0, 100.0, 11)
#: Burst-period bin edges (ms): 8 log-spaced bins from 0.1 to 3 s.
PERIOD_EDGES_MS = np.geomspace(100.0, 3000.0, 9)
#: Spikes-per-burst bin edges: 6 log-spaced bins from 2 to 20.
SPB_EDGES = np.geomspace(2.0, 20.0, 7)


def _bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value; -1 outside ``[edges[0], edges[-1]]`` or NaN."""
    values = np.asarray(values, dtype=float)
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    inside = np.isfinite(values) & (values >= edges[0]) & (values <= edges[-1])
    return np.where(inside, idx, -1)


@dataclass(frozen=True, eq=False)
class FiringSpace:
    """Counts of a model's cells per firing-pattern bin.

    Attributes
    ----------
    model : str
        The model's name.
    source : str
        Where the cells come from (a survey or dataset directory and its command).
    n_cells, n_silent : int
        Cells counted, and those with fewer than 3 spikes.
    tonic : ndarray of int, shape (10,)
        Tonic cells per rate bin (:data:`RATE_EDGES_HZ`).
    bursting : ndarray of int, shape (8, 6)
        Bursting cells per (period, spikes per burst) bin (:data:`PERIOD_EDGES_MS`,
        :data:`SPB_EDGES`).
    duty : ndarray of float, shape (8, 6)
        Median duty cycle of each bursting bin (NaN where empty).
    outside : int
        Firing cells outside every bin (e.g. tonic above 100 Hz, bursts of a
        single interior burst).

    Examples
    --------
    >>> nan = np.nan
    >>> cells = {"label": np.array([0, 1, 2, 2]), "rate": np.array([nan, 5.4, 9.0, 9.0]),
    ...          "period": np.array([nan, nan, 600.0, 650.0]),
    ...          "spb": np.array([nan, nan, 7.0, 8.0]), "duty": np.array([nan, nan, .2, .3])}
    >>> space = FiringSpace.from_features("toy", cells)
    >>> space.n_silent, int(space.tonic.sum()), int(space.bursting.sum())
    (1, 1, 2)
    >>> recordings = {"label": np.array([2, 2, 1]), "rate": np.array([nan, nan, 50.0]),
    ...               "period": np.array([609.0, 2000.0, nan]),
    ...               "spb": np.array([7.5, 7.5, nan])}
    >>> space.covers(recordings).tolist()
    [True, False, False]
    """

    model: str
    source: str
    n_cells: int
    n_silent: int
    tonic: np.ndarray
    bursting: np.ndarray
    duty: np.ndarray
    outside: int

    @classmethod
    def from_features(
        cls, model: str, cells: dict[str, np.ndarray], source: str = ""
    ) -> FiringSpace:
        """Count cells given as :func:`sbidic.fidelity.scores.summarize` returns them
        (``label``, ``rate`` in Hz, ``period`` in ms, ``spb``, ``duty``)."""
        label = np.asarray(cells["label"])
        tonic_bin = np.where(label == 1, _bin(cells["rate"], RATE_EDGES_HZ), -1)
        period_bin = np.where(label == 2, _bin(cells["period"], PERIOD_EDGES_MS), -1)
        spb_bin = np.where(label == 2, _bin(cells["spb"], SPB_EDGES), -1)
        tonic = np.bincount(tonic_bin[tonic_bin >= 0], minlength=len(RATE_EDGES_HZ) - 1)
        shape = (len(PERIOD_EDGES_MS) - 1, len(SPB_EDGES) - 1)
        in_burst = (period_bin >= 0) & (spb_bin >= 0)
        flat = np.ravel_multi_index((period_bin[in_burst], spb_bin[in_burst]), shape)
        bursting = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)
        duty = np.full(shape[0] * shape[1], np.nan)
        values = np.asarray(cells["duty"], dtype=float)[in_burst]
        if flat.size:  # median per bin: sort by (bin, value), take each bin's middle
            order = np.lexsort((values, flat))
            bins, start, count = np.unique(flat[order], return_index=True, return_counts=True)
            lo = values[order][start + (count - 1) // 2]
            hi = values[order][start + count // 2]
            duty[bins] = (lo + hi) / 2
        firing = int(np.sum(label > 0))
        return cls(
            model=str(model), source=str(source), n_cells=int(label.size),
            n_silent=int(np.sum(label == 0)), tonic=tonic, bursting=bursting,
            duty=duty.reshape(shape), outside=firing - int(tonic.sum()) - int(bursting.sum()),
        )  # fmt: skip

    @classmethod
    def from_atlas(cls, atlas) -> FiringSpace:
        """The cells of a :class:`~sbidic.fidelity.atlas.FiringAtlas` (what the DIC
        pipeline of a trained estimator produces; no duty cycles: NaN)."""
        keep = atlas.label >= 0
        cells = {"label": atlas.label[keep], "rate": atlas.rate[keep],
                 "period": atlas.period[keep], "spb": atlas.spb[keep],
                 "duty": np.full(int(keep.sum()), np.nan)}  # fmt: skip
        return cls.from_features(atlas.model, cells, source=f"firing atlas of {atlas.model}")

    def covers(self, recordings: dict[str, np.ndarray], min_cells: int = 1) -> np.ndarray:
        """Whether each recording's pattern bin holds at least ``min_cells`` cells.

        ``recordings`` as in :meth:`from_features` (``duty`` not needed); silent
        recordings are covered when the space has silent cells, patterns outside every
        bin are not covered.
        """
        label = np.asarray(recordings["label"])
        tonic_bin = _bin(recordings["rate"], RATE_EDGES_HZ)
        period_bin = _bin(recordings["period"], PERIOD_EDGES_MS)
        spb_bin = _bin(recordings["spb"], SPB_EDGES)
        out = np.zeros(label.shape, dtype=bool)
        out[label == 0] = self.n_silent >= min_cells
        t = (label == 1) & (tonic_bin >= 0)
        out[t] = self.tonic[tonic_bin[t]] >= min_cells
        b = (label == 2) & (period_bin >= 0) & (spb_bin >= 0)
        out[b] = self.bursting[period_bin[b], spb_bin[b]] >= min_cells
        return out

    def occupied_bins(self) -> int:
        """Non-empty bins (tonic and bursting together)."""
        return int(np.count_nonzero(self.tonic) + np.count_nonzero(self.bursting))

    def to_frame(self):
        """One row per non-empty bin: ``class``, bin bounds, ``cells``, ``share`` of the
        firing cells and the median ``duty_cycle`` (a ``pandas.DataFrame``)."""
        import pandas as pd

        firing = max(self.n_cells - self.n_silent, 1)
        rows = [
            {"class": "tonic", "rate_hz_low": RATE_EDGES_HZ[i],
             "rate_hz_high": RATE_EDGES_HZ[i + 1], "cells": int(c), "share": c / firing}
            for i, c in enumerate(self.tonic) if c
        ]  # fmt: skip
        for i, j in zip(*np.nonzero(self.bursting), strict=True):
            c = self.bursting[i, j]
            rows.append({"class": "bursting", "period_ms_low": PERIOD_EDGES_MS[i],
                         "period_ms_high": PERIOD_EDGES_MS[i + 1], "spb_low": SPB_EDGES[j],
                         "spb_high": SPB_EDGES[j + 1], "cells": int(c), "share": c / firing,
                         "duty_cycle": self.duty[i, j]})  # fmt: skip
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A few lines: cells, classes, ranges of tonic rate and burst period."""
        firing = self.n_cells - self.n_silent
        lines = [f"{self.model}: {self.n_cells} cells, {self.n_silent} silent, "
                 f"{int(self.tonic.sum())} tonic, {int(self.bursting.sum())} bursting in the "
                 "grid, "
                 f"{self.outside} firing outside it; {self.occupied_bins()} of "
                 f"{self.tonic.size + self.bursting.size} bins occupied"]  # fmt: skip
        if self.tonic.any():
            nz = np.flatnonzero(self.tonic)
            lo, hi = RATE_EDGES_HZ[nz[0]], RATE_EDGES_HZ[nz[-1] + 1]
            lines.append(f"  tonic rates {lo:.3g}-{hi:.3g} Hz")
        if self.bursting.any():
            p, s = np.nonzero(self.bursting)
            lines.append(f"  burst periods {PERIOD_EDGES_MS[p.min()]:.0f}-"
                         f"{PERIOD_EDGES_MS[p.max() + 1]:.0f} ms, spikes per burst "
                         f"{SPB_EDGES[s.min()]:.3g}-{SPB_EDGES[s.max() + 1]:.3g}")  # fmt: skip
        if firing:
            slow = self.bursting[PERIOD_EDGES_MS[1:] > 500.0].sum()
            lines.append(f"  bursts slower than 0.5 s: {int(slow)} cells "
                         f"({slow / firing:.1%} of firing)")  # fmt: skip
        return "\n".join(lines)

    def plot(self, axes=None):
        """Tonic-rate histogram and (period x spikes per burst) heat map; returns the figure."""
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm

        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=(1, 1.3))
        else:
            fig = axes[0].figure
        ax = axes[0]
        ax.bar(RATE_EDGES_HZ[:-1], self.tonic, width=np.diff(RATE_EDGES_HZ), align="edge",
               edgecolor="k", color="tab:blue")  # fmt: skip
        ax.set(xscale="log", xlabel="tonic rate (Hz)", ylabel="cells",
               title=f"{self.model}: tonic spiking")  # fmt: skip
        ax = axes[1]
        counts = np.where(self.bursting > 0, self.bursting, np.nan)
        mesh = ax.pcolormesh(PERIOD_EDGES_MS / 1000.0, SPB_EDGES, counts.T, cmap="viridis",
                             norm=LogNorm(vmin=1, vmax=max(int(self.bursting.max()), 2)))
        ax.set(xscale="log", yscale="log", xlabel="burst period (s)", ylabel="spikes per burst",
               title=f"{self.model}: bursting (cells per bin, log scale)")  # fmt: skip
        ax.set_xticks([0.1, 0.2, 0.5, 1.0, 2.0, 3.0], ["0.1", "0.2", "0.5", "1", "2", "3"])
        ax.set_yticks([2, 3, 4, 6, 10, 20], ["2", "3", "4", "6", "10", "20"])
        ax.minorticks_off()
        fig.colorbar(mesh, ax=ax, label="cells")
        fig.tight_layout()
        return fig

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (counts, duty cycles, bin edges)."""
        data = {
            "model": self.model, "source": self.source, "n_cells": self.n_cells,
            "n_silent": self.n_silent, "outside": self.outside, "tonic": self.tonic.tolist(),
            "bursting": self.bursting.tolist(),
            "duty": [[None if np.isnan(v) else float(v) for v in row] for row in self.duty],
            "rate_edges_hz": RATE_EDGES_HZ.tolist(), "period_edges_ms": PERIOD_EDGES_MS.tolist(),
            "spb_edges": SPB_EDGES.tolist(),
        }  # fmt: skip
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> FiringSpace:
        """Read what :meth:`save` wrote.

        Raises
        ------
        ValueError
            The file is not a firing space of this grid.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            grid_ok = (np.allclose(data["rate_edges_hz"], RATE_EDGES_HZ)
                       and np.allclose(data["period_edges_ms"], PERIOD_EDGES_MS)
                       and np.allclose(data["spb_edges"], SPB_EDGES))  # fmt: skip
            duty = np.array([[np.nan if v is None else v for v in row] for row in data["duty"]])
            space = cls(model=data["model"], source=data["source"], n_cells=int(data["n_cells"]),
                        n_silent=int(data["n_silent"]), tonic=np.asarray(data["tonic"], dtype=int),
                        bursting=np.asarray(data["bursting"], dtype=int), duty=duty,
                        outside=int(data["outside"]))  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path} is not a firing space file: {err}") from None
        if not grid_ok or space.bursting.shape != space.duty.shape:
            raise ValueError(f"{path} was written on another bin grid")
        return space
