"""The app's matplotlib figures; every one is also downloadable (PNG, SVG).

They only draw what the library computed: posterior draws
(``sample_dics``), the population's achieved DICs and conductances, simulated traces
(:func:`sbidic.plotting.plot_population`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["FIGURES", "comparison", "distributions", "pairplot", "posterior", "raster", "trace"]

#: Downloadable figures: key -> title.
FIGURES = {
    "posterior": "posterior over (g_s, g_u)",
    "raster": "recording raster",
    "distributions": "conductance distributions",
    "pairplot": "pair plot",
    "comparison": "recording vs simulated cells",
}


def _figure(*args, **kwargs):
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)  # not pyplot: figures are made in worker threads


def _index(ids, obs_id) -> int:
    ids = [str(x) for x in ids]
    if str(obs_id) not in ids:
        raise ValueError(f"no recording {obs_id!r}")
    return ids.index(str(obs_id))


@lru_cache(maxsize=4)
def _posterior(model: str):
    from sbidic.inference.pretrained import load_pretrained

    return load_pretrained(model)


def posterior(inference, obs_id, n_draws: int = 2000):
    """Posterior draws of ``(g_s, g_u)`` for one recording, its 90 % intervals, and the
    achieved DICs of its population's cells on top."""
    import torch

    rep = inference.result.report
    row = rep[rep.obs_id.astype(str) == str(obs_id)].iloc[0]
    fig = _figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    if row.n_cells == 0:
        ax.text(0.5, 0.5, f"{obs_id}: {row.status}", ha="center", va="center")
        ax.set_axis_off()
        return fig
    trains = inference.loaded.trains
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(inference.seed)
        draws = _posterior(inference.model).sample_dics(
            (n_draws,), x=trains[_index(trains.ids, obs_id)]
        ).numpy()  # fmt: skip
    ax.hexbin(draws[:, 0], draws[:, 1], gridsize=35, cmap="Greys", mincnt=1)
    ax.axvspan(row.g_s_q05, row.g_s_q95, color="tab:blue", alpha=0.08, label="90 % interval")
    ax.axhspan(row.g_u_q05, row.g_u_q95, color="tab:blue", alpha=0.08)
    pop = inference.result.population
    dics = pop.dics[_index(pop.obs_id, obs_id)]
    ax.scatter(dics[:, 1], dics[:, 2], s=12, color="tab:red", label="population's cells")
    ax.set_xlabel("g_s (slow DIC)")
    ax.set_ylabel("g_u (ultraslow DIC)")
    ax.set_title(f"{obs_id}: posterior draws (grey) and cells (red)", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def raster(trains, obs_id):
    """The recording's spike raster."""
    fig = _figure(figsize=(8, 1.6))
    ax = fig.subplots()
    ax.eventplot([trains[_index(trains.ids, obs_id)]], colors="tab:red")
    ax.set_yticks([])
    ax.set_xlabel("time (ms)")
    ax.set_title(f"recording {obs_id}", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def distributions(pop, obs_id):
    """Box plots of one population's conductances, raw (mS/cm^2) and divided by their
    maximum over the population (as Spike2Pop's results window)."""
    g = pop.conductances[_index(pop.obs_id, obs_id)]
    scale = g.max(axis=0)
    scale[scale == 0] = 1.0
    fig = _figure(figsize=(10, 4))
    raw, scaled = fig.subplots(1, 2)
    for ax, values, title in ((raw, g, "conductances (mS/cm²)"),
                              (scaled, g / scale, "conductance / max")):  # fmt: skip
        ax.boxplot(values, vert=False, showfliers=False)
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, values.shape)
        ax.scatter(values, np.arange(1, g.shape[1] + 1) + jitter, s=4, alpha=0.4)
        ax.set_yticks(np.arange(1, g.shape[1] + 1), pop.labels)
        ax.set_title(title, fontsize=10)
    raw.set_xscale("symlog", linthresh=1e-2)
    raw.set_xlim(left=0)
    fig.suptitle(f"population of {obs_id}: {g.shape[0]} cells", fontsize=10)
    fig.tight_layout()
    return fig


def pairplot(pop, obs_id, names):
    """Pair plot of chosen conductances of one population."""
    labels = list(pop.labels)
    names = [n for n in names if n in labels] or labels[:3]
    g = pop.conductances[_index(pop.obs_id, obs_id)][:, [labels.index(n) for n in names]]
    k = len(names)
    fig = _figure(figsize=(2.2 * k + 1, 2.2 * k + 0.5))
    axes = np.atleast_2d(fig.subplots(k, k, squeeze=False))
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if i == j:
                ax.hist(g[:, i], bins=20, color="tab:gray")
            else:
                ax.scatter(g[:, j], g[:, i], s=5)
            if i == k - 1:
                ax.set_xlabel(names[j])
            if j == 0:
                ax.set_ylabel(names[i])
    fig.suptitle(f"population of {obs_id} (mS/cm²)", fontsize=10)
    fig.tight_layout()
    return fig


def comparison(sim, trains, obs_id, max_cells: int = 6):
    """The recording's raster above the simulated cells of its population: voltage
    traces (or rasters), scaled conductances (:func:`sbidic.plotting.plot_population`)."""
    import matplotlib.pyplot as plt

    from sbidic.models import get_model
    from sbidic.plotting import plot_population

    rows = np.flatnonzero(sim.population_id == str(obs_id))
    if rows.size == 0:
        raise ValueError(f"no simulated cells of recording {obs_id!r}")
    spikes = sim.result.spikes[rows]
    spikes = type(spikes)(spikes.times, spikes.offsets, ids=sim.cell_id[rows], check=False)
    v = sim.result.v_mV
    recorded = rows[rows < (0 if v is None else len(v))]
    fig = plot_population(
        spikes, sim.conductances[rows], get_model(sim.model).conductance_labels,
        recording=trains[_index(trains.ids, obs_id)],
        v_mV=None if recorded.size == 0 else v[recorded], t_ms=sim.result.t_ms,
        max_cells=max_cells, title=f"recording {obs_id} and simulated cells",
    )  # fmt: skip
    plt.close(fig)  # plot_population uses pyplot: keep pyplot's registry empty
    return fig


def trace(preview):
    """The first seconds of the trace spikes were detected in, the spikes marked
    (a :class:`~sbidic.app.state.TracePreview`)."""
    fig = _figure(figsize=(10, 2.6), dpi=100)
    ax = fig.add_subplot()
    ax.plot(preview.time_ms / 1000.0, preview.values, lw=0.5, color="0.3")
    if preview.spikes_ms.size:
        level = np.interp(preview.spikes_ms, preview.time_ms, preview.values)
        ax.plot(preview.spikes_ms / 1000.0, level, "v", color="tab:red", ms=4,
                label=f"{preview.spikes_ms.size} detected spikes")  # fmt: skip
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(preview.unit)
    span = (preview.time_ms[-1] - preview.time_ms[0]) / 1000.0
    ax.set_title(f"{preview.channel}: first {span:.1f} s", fontsize=9)
    fig.tight_layout()
    return fig
