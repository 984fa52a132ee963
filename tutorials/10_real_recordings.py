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
# # Tutorial 10: a real recording, from the raw nerve signal to verified cells
#
# The earlier tutorials used trains that sbidic's own simulator made. This one starts
# from what an experimentalist has: an extracellular nerve recording of the pyloric
# rhythm of the crab stomatogastric ganglion (the PD neurons on the pdn nerve, Marder
# lab). The steps are those of the [Real recordings](../real-recordings.md) page:
#
# 1. detect the spikes of one unit in the raw trace (the extracellular mode);
# 2. ask which shipped model can fire the pattern at all (firing atlases);
# 3. infer a verified population with that model and compare it with the recording;
# 4. read what the report says for the published STG variant, which cannot.
#
# The recording (`B_baseline.abf`) is public but not shipped with sbidic: set
# `SBIDIC_REAL_DIR` to the folder holding it. Without it (and in the quick mode the
# tests use) the tutorial builds a synthetic nerve trace from a bundled `stg-liu`
# example train, so every step still runs.

# %%
import os
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import sbidic
from sbidic.inference.model_choice import choose_model, models_covering, shipped_firing_spaces
from sbidic.simulate import simulate
from sbidic.spikes import SpikeTrains
from sbidic.spikes.extracellular import detect_extracellular

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
EXAMPLES = resources.files("sbidic") / "examples"
REAL = Path(os.environ.get("SBIDIC_REAL_DIR", "../shared/real")) / "B_baseline.abf"
N = 2 if QUICK else 20  # cells wanted
USE_REAL = REAL.exists() and not QUICK

# %% [markdown]
# ## 1. Spikes from the raw trace
# Nerve signals have no resting potential: spikes are brief deflections of either sign
# on top of noise. `detect_extracellular` thresholds the trace at a multiple of its
# robust noise SD (median absolute deviation / 0.6745), keeps the larger of two peaks
# closer than the refractory gap, and can sort events into amplitude classes when a
# nerve carries several units. On the file, `sbidic.read_spikes` does the same with
# `mode="extracellular"` (or `--read-option mode=extracellular` on the command line).

# %%
if USE_REAL:
    import neo

    signal = neo.io.AxonIO(str(REAL)).read_block().segments[0].analogsignals[0]
    trace = np.asarray(signal.magnitude[:, 1], dtype=float)  # channel 1, IN 8: the pdn nerve
    t_ms = np.asarray(signal.times.rescale("ms").magnitude)
else:  # a synthetic nerve trace: a bundled slow burster, biphasic spikes, noise
    example = sbidic.read_spikes(str(EXAMPLES / "stg-liu_recordings.csv"))
    bursting = example.ids[np.argmax([np.diff(t).std() for t in example])]
    true_times = example[list(example.ids).index(bursting)]
    t_ms = np.arange(true_times[0] - 200.0, true_times[-1] + 200.0, 0.1)  # 10 kHz
    rng = np.random.default_rng(0)
    trace = rng.normal(0.0, 0.01, t_ms.size)
    shape = np.diff(np.exp(-0.5 * (np.arange(-1.0, 1.0, 0.1) / 0.25) ** 2)) * 2.0
    for s in true_times:
        i = int((s - t_ms[0]) / 0.1)
        trace[i - 10 : i + 9] += shape

found = detect_extracellular(trace, t_ms, threshold=7.0, refractory_ms=3.0)
print(f"{found.times.size} spikes; noise SD {found.noise_sd:.3g}, level {found.level:.3g} "
      f"({found.polarity} peaks)")  # fmt: skip
recording = SpikeTrains.from_list([found.times], ids=["PD" if USE_REAL else "synthetic"])

fig, ax = plt.subplots(figsize=(10, 2.5))
show = t_ms < t_ms[0] + 3000.0
ax.plot(t_ms[show], trace[show], lw=0.4, color="0.3")
peaks = found.times[found.times < t_ms[0] + 3000.0]
ax.plot(peaks, np.interp(peaks, t_ms, trace), "v", color="tab:red", ms=4)
sign = 1 if found.polarity == "positive" else -1
ax.axhline(found.median + sign * found.level, color="tab:red", lw=0.6, ls="--")
ax.set(xlabel="time (ms)", title="detected spikes (red) and the threshold (dashed)")
fig.tight_layout()
fig.savefig(FIGURES / "10_detection.png", dpi=80)

# %% [markdown]
# ## 2. Which model can fire it?
# Every shipped estimator carries a *firing atlas*: how the cells of its training data
# fire. A model reaches a pattern when its atlas holds at least 5 cells in the
# pattern's bin (tonic rate, or burst period x spikes per burst, on log grids). The
# published `stg` variant (calcium time constant 20 ms) bursts at 0.1-0.2 s; `stg-liu`
# (200 ms, as Liu et al. 1998) reaches the slow pyloric rhythm.

# %%
spaces = shipped_firing_spaces()
reach = models_covering(recording, spaces)[0]
for name, ok in zip(spaces, reach, strict=True):
    print(f"{name:>8}: {'reaches' if ok else 'does not reach'} the pattern")
model, why = choose_model(recording, "stomatogastric")
print(why)

# %% [markdown]
# ## 3. A verified population
# `verify=True` simulates every proposed cell with Brian2 and keeps those that fire
# like the recording (same class, burst period within 10 %, spikes per burst within
# 0.5). After the first round the proposals move through the conductance space from the
# closest cells, simulated or from the model's survey (a sequential Monte Carlo
# search), each cell still compensated to its DIC target. A long recording is read as
# consecutive 10 s windows whose posteriors are pooled; the report's `status` says how
# much was used.

# %%
simulation = {"n_jobs": 1}
if QUICK:  # seconds, not minutes: a short protocol, no verification
    simulation.update(duration_ms=1000.0, transient_ms=200.0)
result = sbidic.infer(recording, model, n=N, seed=0, verify=not QUICK, score=QUICK,
                      simulation=simulation)  # fmt: skip
report = result.report
print(report[["obs_id", "label", "status", "n_simulated", "n_passed", "adequacy"]].T.to_string())

# %%
fidelity = result.population.fidelity
order = np.argsort(~fidelity.passed[0], kind="stable")[:6]
sim = simulate(model, result.population.conductances[0][order], **(
    {"duration_ms": 1000.0, "transient_ms": 200.0} if QUICK else {}))  # fmt: skip
fig, ax = plt.subplots(figsize=(10, 3))
window = 5000.0 if not QUICK else 800.0
rec = recording[0][(recording[0] >= recording[0][0]) & (recording[0] < recording[0][0] + window)]
cells = [t[t < t[0] + window] - t[0] if len(t) else t for t in sim.spikes]
ax.eventplot([rec - rec[0], *cells], colors=["tab:red"] + ["k"] * len(cells), linelengths=0.8)
ax.set(xlabel="time from each train's first spike (ms; aligned, not simulated in sync)",
       ylabel="train", title=f"recording (red) and {len(cells)} cells of {model}")  # fmt: skip
fig.tight_layout()
fig.savefig(FIGURES / "10_recording_vs_cells.png", dpi=80)

# %% [markdown]
# ## 4. When the model cannot fire the pattern
# With the published `stg` model the same call says so in the report instead of
# returning cells that look fine on paper: the `warning` column names the models whose
# atlas reaches the pattern. With `verify`, the search then starts from the model's
# survey cells that fire the pattern (the published model fires PD-like bursts in 11 of
# its 204,800 Monte Carlo cells), and stops after its first round when none does.

# %%
published = sbidic.infer(recording, "stg", n=N, seed=0)
print(published.report[["obs_id", "warning"]].T.to_string())

# %% [markdown]
# On the three real recordings of the Real recordings page, `stg-liu` gives 20 verified
# cells of 20 for each (PD, LP and the tonic unit) within the default budget; `da`
# reproduces LP and the tonic unit, the published `stg` PD and the tonic unit: see that
# page for the measured table.
