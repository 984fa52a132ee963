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
# # Tutorial 1: from spike times to populations in five lines
#
# This is `make demo`, explained. An experimentalist has spike times; a modeller wants
# conductance-based cells that fire the same way. Because many conductance sets fire
# alike (*degeneracy*), the honest answer is not one cell but a population. sbidic
# infers the slow and ultraslow Dynamic Input Conductances (g_s, g_u) of each
# recording with a neural posterior, then compensates thousands of random cells onto
# those DICs, and can check every cell by simulating it with Brian2.
#
# Run it as a script (`python tutorials/01_five_lines.py`) or as a notebook
# (`jupytext --to ipynb tutorials/01_five_lines.py`). `SBIDIC_TUTORIAL_QUICK=1` runs
# small sizes (the test suite does).

# %%
import os
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sbidic

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 90)
EXAMPLES = resources.files("sbidic") / "examples"
N = 3 if QUICK else 20  # cells per recording
# quick mode: 3 s simulations instead of the published 6 s protocol
QUICK_SIM = {"simulation": {"duration_ms": 3000.0, "transient_ms": 1000.0}} if QUICK else {}

# %% [markdown]
# ## The five lines

# %%
recordings = sbidic.read_spikes(str(EXAMPLES / "stg_recordings.csv"))  # 1. read
result = sbidic.infer(recordings, "stg", n=N, seed=0, verify=True, **QUICK_SIM)  # 2. infer

print(result.report[["obs_id", "label", "status", "g_s_mean", "g_u_mean", "acceptance_rate"]])
tree = result.to_datatree()  # 3. an ArviZ DataTree
result.save(FIGURES / "01_populations.nc")  # 4. netCDF (or .csv)
print(tree["posterior"])  # 5. the conductances: (chain, draw, obs_id)

# %% [markdown]
# **1. Read.** `read_spikes` reads the Spike2Pop CSV format (`ID,spiking_times`, times
# in ms) or a CF-ragged netCDF file into a `SpikeTrains`. The example file holds five
# trains our own simulator produced for known (g_s, g_u) and one cell with two spikes.
#
# **2. Infer.** For every recording the shipped STG network gives a posterior over
# (g_s, g_u); the report gives its mean, sd and 90 % interval. `verify=True`
# simulates every proposed cell with Brian2 (the published protocol: 6 s, the first
# 3 s discarded) and keeps only those that fire like the recording (same class, rate
# or burst period within 10 %, spikes per burst within 0.5). The recording with two
# spikes is reported as *silent*, not dropped: a train that short says nothing about
# the DICs.
#
# **3-5. Use.** The population is an ArviZ `DataTree` (one `obs_id` per non-silent
# recording) with a `fidelity` group (every cell's scores) and the report.

# %%
print(result.report[["obs_id", "n_spikes", "g_s_q05", "g_s_q95", "g_u_q05", "g_u_q95"]])
for row in result.report.itertuples():
    print(f"{row.obs_id}: {row.status}; {row.adequacy or ''}")

# %% [markdown]
# ## What came back
#
# Left: the recordings. Right: the conductances of every returned cell of each
# recording, divided by the largest value of its column. Within one recording the
# cells differ several-fold in most conductances, yet every one of them was
# simulated and fires like the recording: that is the degeneracy the population keeps.

# %%
pop = result.population
labels = pop.conductance_names
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 2]})
trains = [t - t[0] if len(t) else t for t in recordings.to_list()]
axes[0].eventplot(trains, colors="k", linelengths=0.7)
axes[0].set(xlim=(0, 3000), xlabel="time from first spike (ms)", title="recordings")
axes[0].set_yticks(range(recordings.n_trains), recordings.ids)
g = pop.conductances  # (recordings, cells, conductances)
scaled = g / g.reshape(-1, g.shape[-1]).max(axis=0)
for k, obs in enumerate(pop.obs_id):
    x = np.arange(len(labels)) + 0.25 * k
    axes[1].plot(np.repeat(x[None], g.shape[1], 0).T, scaled[k].T, ".", ms=3, color=f"C{k}")
    axes[1].plot([], [], ".", color=f"C{k}", label=str(obs))
axes[1].set_xticks(np.arange(len(labels)) + 0.25, labels, rotation=45)
axes[1].set(ylabel="g / max", title=f"{g.shape[1]} verified cells per recording")
axes[1].legend(frameon=False, fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "01_recordings_and_populations.png", dpi=80)

# %% [markdown]
# The same from the command line: `sbidic infer recordings.csv --model stg -n 20
# --seed 0 --verify -o populations.nc`. Next: tutorial 2 looks at one population up
# close.
