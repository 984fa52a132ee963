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
# # Tutorial 4: simulate and check
#
# Matching the DICs is a means; the goal is cells that *fire like the recording*. The
# only way to know is to simulate them. sbidic simulates whole populations in one
# Brian2 group (`sbidic.simulate.simulate`) and scores every simulated cell against
# its recording (`sbidic.fidelity.score_trains`): same class (silent, tonic, bursting),
# then the rate (tonic) or spikes per burst and burst period (bursting) within
# tolerance, plus the van Rossum distance. This tutorial closes the loop by hand, then
# adds a noisy injected current, as in many patch-clamp recordings.

# %%
import os
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sbidic
from sbidic.fidelity import score_trains
from sbidic.simulate import BandLimitedNoise, simulate

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
EXAMPLES = resources.files("sbidic") / "examples"
pd.set_option("display.width", 140)
N = 2 if QUICK else 20  # cells per recording
# the published STG protocol: 6 s simulated, the first 3 s discarded (quick: 2.5 s, 0.5 s)
PROTOCOL = {"duration_ms": 2500.0, "transient_ms": 500.0} if QUICK else {}

# %% [markdown]
# ## Infer populations, then simulate them
# A tonic (cell1) and a bursting (cell3) recording; `sbidic.infer` without `verify`
# returns cells at the calibrated DICs, not yet simulated.

# %%
recordings = sbidic.read_spikes(str(EXAMPLES / "stg_recordings.csv"))[[0, 2]]
result = sbidic.infer(recordings, "stg", n=N, seed=0)
g = result.population.conductances  # (2 recordings, N cells, 8)
owner = np.repeat(np.arange(recordings.n_trains), N)  # recording of each cell
sim = simulate("stg", g.reshape(-1, g.shape[-1]), record_v=[0, N], seed=0, **PROTOCOL)
print(sim.spikes)

# %% [markdown]
# ## Score every cell against its recording

# %%
scores = score_trains(recordings, sim.spikes, owner)
table = pd.DataFrame(
    {
        "recording": recordings.ids[owner],
        "label": scores.label,
        "passed": scores.passed,
        "rate error": scores.rate_error,
        "spikes/burst error": scores.spikes_per_burst_error,
        "burst period error": scores.burst_period_error,
        "van Rossum": scores.van_rossum,
    }
)
print(table.round(3).head(2 * N))
print(table.groupby("recording")["passed"].mean().rename("fraction passed"))

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
for k, ax in enumerate(axes):
    rec = recordings[k]
    cells = [
        t - sim.spikes[i][0] if len(t := sim.spikes[i]) else t for i in np.flatnonzero(owner == k)
    ]
    ax.eventplot([rec - rec[0], *cells], colors=["tab:red"] + ["k"] * len(cells), linelengths=0.8)
    ax.set(
        ylabel="cell",
        title=f"{recordings.ids[k]}: recording (red) and {N} inferred cells, "
        f"{scores.passed[owner == k].mean():.0%} pass",
    )
axes[-1].set(xlim=(0, 2000), xlabel="time from first spike (ms)")
fig.tight_layout()
fig.savefig(FIGURES / "04_rasters.png", dpi=80)

# %% [markdown]
# `sbidic.infer(..., score=True)` does exactly this and stores the scores in the
# population's `fidelity` group; `verify=True` also drops the cells that fail and
# proposes new ones until `n` pass (tutorial 1).
#
# ## Noisy current injection
# Real recordings are made with noise in the input. `BandLimitedNoise.reference("stg")`
# is the current of the published noisy datasets: white noise of sigma = 5 uA/cm² on a
# 0.1 ms grid, low-pass filtered at 1 kHz (about 2.1 uA/cm² injected), one stream per
# cell from the seed.

# %%
noise = BandLimitedNoise.reference("stg")
print(f"injected noise: std {noise.effective_std():.2f} uA/cm^2")
noisy = simulate(
    "stg", g.reshape(-1, g.shape[-1]), record_v=[0, N], noise=noise, seed=1, **PROTOCOL
)
noisy_scores = score_trains(recordings, noisy.spikes, owner)
for k, name in enumerate(recordings.ids):
    print(
        f"{name}: {scores.passed[owner == k].mean():.0%} pass without noise, "
        f"{noisy_scores.passed[owner == k].mean():.0%} with noise"
    )

fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
window = sim.t_ms < sim.t_ms[0] + 1000.0
for k, ax in enumerate(axes):
    ax.plot(sim.t_ms[window], sim.v_mV[k][window], lw=0.6, label="no noise")
    ax.plot(noisy.t_ms[window], noisy.v_mV[k][window], lw=0.6, alpha=0.8, label="noisy injection")
    ax.set(ylabel="V (mV)", title=f"one inferred cell of {recordings.ids[k]}")
axes[0].legend(frameon=False, loc="upper right")
axes[-1].set_xlabel("time (ms)")
fig.tight_layout()
fig.savefig(FIGURES / "04_noise.png", dpi=80)

# %% [markdown]
# Noise jitters the spikes and can change the rate and the burst structure, so an estimator
# trained on clean simulations is over-confident on such recordings. For those, sbidic
# ships an STG network fine-tuned on noisy simulations:
# `sbidic.infer(recordings, sbidic.load_pretrained("stg", regime="noisy"))`, or
# `sbidic infer --regime noisy` (see the Estimators page for its calibration).
