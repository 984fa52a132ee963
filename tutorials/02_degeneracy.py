# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 2: degeneracy made visible
#
# Neurons of the same type, recorded in different animals, fire alike with maximal
# conductances that differ several-fold (Marder & Goaillard 2006). The Dynamic Input
# Conductances explain why: the firing pattern of a cell is set by its fast, slow and
# ultraslow feedback at the threshold voltage, three numbers, while the model has
# eight conductances. Fix the two that matter, (g_s, g_u), and a whole manifold of
# conductance sets remains. Here we draw 1,000 of them for one target, look at their
# spread, and simulate a few to see that they fire alike.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import sbidic
from sbidic.simulate import simulate
from sbidic.spikes import spike_features

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## One DIC target, 1,000 conductance sets
# (g_s, g_u) = (-4, 5) at V_th = -51 mV: negative slow feedback, a bursting STG cell.

# %%
n = 200 if QUICK else 1000
pop = sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=n, rng=0)
model = sbidic.get_model("stg")
g = pop.conductances[0]  # (n, 8), mS/cm^2
dics = sbidic.dynamic_input_conductances("stg", g)
print(pop)
print("largest |g_s + 4|, |g_u - 5|:", np.abs(dics[:, 1] + 4).max(), np.abs(dics[:, 2] - 5).max())
spread = g.max(axis=0) / g.min(axis=0)
for name, ratio in zip(model.conductance_labels, spread, strict=True):
    print(f"{name:>7}: max / min = {ratio:6.1f}")

# %% [markdown]
# Every cell hits the target to 1e-10, yet each conductance varies by a factor of two
# or more across the population. Pairs of conductances trade off: more of one
# compensated by more (or less) of another.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
axes[0].boxplot(g / g.max(axis=0), vert=False, showfliers=False)
axes[0].set_yticks(range(1, 9), model.conductance_labels)
axes[0].set(xlabel="g / population max", title=f"{n} cells, (g_s, g_u) = (-4, 5)")
i_cas, i_a, i_h = model.index(["CaS", "A", "H"])
axes[1].scatter(g[:, i_cas], g[:, i_a], s=4, alpha=0.4)
axes[1].set(xlabel="g_CaS (mS/cm²)", ylabel="g_A (mS/cm²)", title="a compensating pair")
axes[2].scatter(g[:, i_a], g[:, i_h], s=4, alpha=0.4, color="C1")
axes[2].set(xlabel="g_A (mS/cm²)", ylabel="g_H (mS/cm²)", title="another")
fig.tight_layout()
fig.savefig(FIGURES / "02_spread.png", dpi=80)

# %% [markdown]
# ## Do they fire alike?
# We simulate the most different cells (the extremes of g_CaS) with Brian2 and record
# their voltage.

# %%
order = np.argsort(g[:, i_cas])
picks = order[[0, len(order) // 2, -1]] if QUICK else order[[0, n // 4, n // 2, 3 * n // 4, -1]]
duration, transient = (2500.0, 1000.0) if QUICK else (6000.0, 3000.0)
sim = simulate(
    "stg", g[picks], duration_ms=duration, transient_ms=transient, record_v=True, seed=0
)
features = spike_features(sim.spikes)
print("labels:          ", features.label)
print("spikes per burst:", np.round(features.nbr_spikes_bursting, 2))
print("burst period (ms):", np.round(features.burst_period_ms, 1))

# %%
fig, axes = plt.subplots(len(picks), 1, figsize=(10, 1.3 * len(picks) + 0.6), sharex=True)
window = sim.t_ms < transient + 1500.0
for ax, row, cell in zip(axes, sim.v_mV, picks, strict=True):
    ax.plot(sim.t_ms[window], row[window], lw=0.6)
    ax.set_ylabel("V (mV)")
    ax.set_title(
        f"g_CaS = {g[cell, i_cas]:.1f}, g_A = {g[cell, i_a]:.0f}, g_H = {g[cell, i_h]:.3f}",
        fontsize=9,
        loc="left",
    )
axes[-1].set_xlabel("time (ms)")
fig.tight_layout()
fig.savefig(FIGURES / "02_traces.png", dpi=80)

# %% [markdown]
# Different conductances, same bursting: the DICs at threshold, not the individual
# conductances, determine the firing pattern. This is why sbidic infers (g_s, g_u)
# from spike times (tutorial 3) and returns populations rather than one cell.
