"""Figures of a simulated population, in the style of the Spike2Pop results window."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_population"]


def plot_population(
    spikes,
    conductances: np.ndarray,
    conductance_names: Sequence[str],
    recording=None,
    v_mV: np.ndarray | None = None,
    t_ms: np.ndarray | None = None,
    max_cells: int = 6,
    title: str | None = None,
):
    """Voltage traces (or rasters) of a population beside its conductances.

    Parameters
    ----------
    spikes : SpikeTrains
        Simulated trains of the population's cells (ms).
    conductances : ndarray, shape (n_cells, n_conductances)
        Their maximal conductances (mS/cm^2).
    conductance_names : sequence of str
        Column names, e.g. ``model.conductance_labels``.
    recording : SpikeTrains or array_like, optional
        The recorded input train, drawn on top, shifted to start with the first
        simulated spike window.
    v_mV, t_ms : ndarray, optional
        Voltage traces of the first cells, shape (n_rec, n_samples), and their times.
    max_cells : int
        Rows of individual cells drawn.

    Returns
    -------
    matplotlib.figure.Figure
        Row 1: the recording's raster and a box plot of every conductance divided by
        its maximum over the population; one row per cell: its trace or raster and a
        bar chart of its scaled conductances.

    Examples
    --------
    Three cells of one population, drawn as rasters (no voltage traces given):

    >>> import matplotlib.pyplot as plt
    >>> from sbidic import SpikeTrains, sample_population
    >>> pop = sample_population("stg", -4.0, 5.0, n=3, rng=0)
    >>> trains = SpikeTrains.from_list([np.arange(0.0, 1000.0, 100.0)] * 3)
    >>> fig = plot_population(trains, pop.conductances[0], pop.labels)
    >>> len(fig.axes)  # recording row + one row per cell, two panels each
    8
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    g = np.asarray(conductances, dtype=float)
    scale = g.max(axis=0)
    scale[scale == 0] = 1.0
    scaled = g / scale
    n_rows = 1 + min(max_cells, len(g))
    fig, axes = plt.subplots(
        n_rows, 2, figsize=(11, 1.6 * n_rows + 1), gridspec_kw={"width_ratios": [3, 1]},
        squeeze=False,
    )  # fmt: skip
    window = [np.inf, -np.inf]
    for train in spikes:
        if len(train):
            window = [min(window[0], train[0]), max(window[1], train[-1])]
    if t_ms is not None:
        window = [t_ms[0], t_ms[-1]]

    ax = axes[0, 0]
    if recording is not None:
        rec = np.asarray(recording[0] if hasattr(recording, "n_trains") else recording, float)
        if len(rec) and np.isfinite(window[0]):
            rec = rec - rec[0] + window[0]
        ax.eventplot([rec], colors="tab:red")
        ax.set_title("recorded spike train")
    else:
        ax.eventplot(list(spikes)[:max_cells * 4], colors="k", linelengths=0.8)
        ax.set_title("simulated spike trains")
    if np.isfinite(window[0]):
        ax.set_xlim(*window)
    ax.set_yticks([])

    ax = axes[0, 1]
    ax.boxplot(scaled, vert=False, showfliers=False)
    ticks = np.arange(1, len(conductance_names) + 1)
    ax.set_yticks(ticks, [f"{c} / max" for c in conductance_names])
    ax.set_xlim(0, 1.05)
    ax.set_title("conductances / max")

    for row in range(1, n_rows):
        cell = row - 1
        ax = axes[row, 0]
        if v_mV is not None and cell < len(v_mV):
            ax.plot(t_ms, v_mV[cell], lw=0.6, color="tab:blue")
            ax.set_ylabel("V (mV)")
        else:
            ax.eventplot([spikes[cell]], colors="tab:blue")
            ax.set_yticks([])
        if np.isfinite(window[0]):
            ax.set_xlim(*window)
        ax.set_title(f"cell {spikes.ids[cell]}", fontsize=9, loc="left")
        axes[row, 1].barh(np.arange(len(conductance_names)), scaled[cell], color="tab:gray")
        axes[row, 1].set_yticks([])
        axes[row, 1].set_xlim(0, 1.05)
    axes[-1, 0].set_xlabel("time (ms)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
