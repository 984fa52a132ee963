# %% [markdown]
# # Tutorial 1: a degenerate population from two numbers
#
# Dynamic Input Conductances (DICs) summarise a conductance-based model at its
# threshold voltage by three feedback gains: fast (g_f), slow (g_s) and ultraslow
# (g_u). Cells with the same (g_s, g_u) fire alike, whatever their individual
# conductances. This tutorial samples such a *degenerate population* for the STG
# neuron, checks its DICs, looks at it with ArviZ and simulates a few cells.
#
# Run it as a script (`python tutorials/01_degenerate_population.py`) or open it as a
# notebook with jupytext.

# %%
import matplotlib

matplotlib.use("Agg")
import numpy as np

import sbidic

# %% [markdown]
# ## 1. Sample 500 cells with (g_s, g_u) = (-4, 5)
# Negative g_s (slow positive feedback) makes an STG cell burst.

# %%
pop = sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=500, rng=0)
print(pop)
g = pop.conductances[0]  # (500, 8) in mS/cm^2, columns g_Na ... g_leak
print("g_CaS range (mS/cm^2):", g[:, 3].min().round(2), "-", g[:, 3].max().round(2))

# %% [markdown]
# ## 2. Every cell has the target DICs
# The DICs are linear in the conductances (up to the calcium dependence of KCa), which
# is what the compensation algorithm exploits.

# %%
dics = sbidic.dynamic_input_conductances("stg", g)
print("max |g_s - (-4)|:", np.abs(dics[:, 1] + 4).max())
print("max |g_u - 5|:   ", np.abs(dics[:, 2] - 5).max())
print("per-cell thresholds (mV):", sbidic.threshold_voltage("stg", g[:3]).round(2))

# %% [markdown]
# ## 3. ArviZ
# The population is an ArviZ `DataTree`: each conductance is a variable of the
# `posterior` group with dims (chain, draw, obs_id).

# %%
import arviz_stats

tree = pop.to_datatree()
print(arviz_stats.summary(tree, kind="stats").round(3))

# %% [markdown]
# ## 4. Simulate a few cells with Brian2
# All cells share the firing pattern: bursting.

# %%
from sbidic.simulate import simulate
from sbidic.spikes import spike_features

result = simulate("stg", g[:8], duration_ms=2000.0, transient_ms=1000.0)
features = spike_features(result.spikes)
print("labels:", features.label)
print("spikes per burst:", features.nbr_spikes_bursting.round(2))
