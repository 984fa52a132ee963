# %% [markdown]
# # Tutorial 2: from recorded spike times to a degenerate population
#
# An experimentalist records spike times. sbidic reads them, infers the slow and
# ultraslow Dynamic Input Conductances (g_s, g_u) with a small network that returns a
# *posterior*, not just a point, and turns posterior draws into conductance sets that
# all fire like the recording. We close the loop by simulating the inferred cells with
# Brian2 and comparing their firing with the recording.
#
# Run it as a script (`python tutorials/02_from_spike_times.py`) or open it as a
# notebook with jupytext.

# %%
from importlib import resources

import numpy as np
import pandas as pd
import torch

import sbidic

# %% [markdown]
# ## 1. Read recordings
# `stg_recordings.csv` ships with sbidic: spike trains (ms) that our own simulator
# produced for five known (g_s, g_u), in the Spike2Pop format `ID,spiking_times`, and
# one "recording" with only two spikes.

# %%
examples = resources.files("sbidic") / "examples"
recordings = sbidic.read_spikes(str(examples / "stg_recordings.csv"))
print(recordings)
truth = np.genfromtxt(str(examples / "stg_targets.csv"), delimiter=",", names=True,
                      dtype=None, encoding="utf-8")  # fmt: skip

# %% [markdown]
# ## 2. Infer
# `sbidic.infer` reports every recording: its firing label, the posterior mean,
# standard deviation and 90 % interval of each DIC, and a status. The two-spike
# recording is reported as silent rather than dropped.

# %%
result = sbidic.infer(recordings, "stg", n=200, seed=0)
pd.set_option("display.width", 120)
print(result.report[["obs_id", "label", "status", "g_s_mean", "g_s_sd", "g_u_mean", "g_u_sd"]])
for row, true in zip(result.report.itertuples(), truth, strict=True):
    if row.n_cells:
        print(f"{row.obs_id}: true (g_s, g_u) = ({true['g_s']:g}, {true['g_u']:g}); "
              f"90% interval of g_s [{row.g_s_q05:.1f}, {row.g_s_q95:.1f}]")  # fmt: skip

# %% [markdown]
# Tonic spiking constrains g_s much less than bursting does: compare the `g_s_sd`
# of the spiking and bursting rows. This is the uncertainty the published point
# estimate could not show.

# %%
sd = result.report.groupby("label")["g_s_sd"].mean()
print("mean posterior sd of g_s by label:\n", sd.round(2))

# %% [markdown]
# ## 3. The posterior as an sbi object
# `load_pretrained` returns an sbi `NeuralPosterior` whose samples are conductance
# sets: each sample draws (g_s, g_u) from the DIC posterior and compensates one cell
# to it. `log_prob` is over the DICs.

# %%
posterior = sbidic.load_pretrained("stg", rng=0)
torch.manual_seed(0)
x = recordings[2]  # a bursting recording
g, dics = posterior.sample((500,), x=x, return_dics=True)
print("conductance sets:", tuple(g.shape), "columns", posterior.conductance_labels)
print("log q(true DICs | x):", float(posterior.log_prob(torch.tensor([-4.0, 5.0]), x=x)))

# %% [markdown]
# ## 4. Close the loop: do the inferred cells fire like the recording?
# Matching the DICs is not the goal; cells that fire like the recording are. By default
# the cells' DICs are the posterior draws that the estimator's *firing atlas* (how the
# simulated cells of every training target fire) ranks most likely to reproduce the
# recording. `score=True` simulates every returned cell with Brian2 and scores it
# against its recording: same class, and rate (tonic) or spikes per burst and burst
# period (bursting) within tolerance.

# %%
checked = sbidic.infer(recordings[[2]], "stg", n=10, seed=0, score=True)
print(checked.report[["obs_id", "n_simulated", "class_match", "feature_match", "van_rossum"]])
f = checked.population.fidelity
print("burst period error per cell (%):", np.round(100 * f.burst_period_error[0], 1))

# %% [markdown]
# `verify=True` keeps only cells that pass and proposes more until `n` pass or the
# budget is spent. A recording the model cannot make (here 40-spike bursts every
# 2.5 s) gets a model-adequacy line instead of silently wrong cells.

# %%
from sbidic.inference import VerifyBudget
from sbidic.spikes import SpikeTrains

burst = np.arange(40) * 5.0
impossible = SpikeTrains.from_list([np.concatenate([burst + k * 2500.0 for k in range(3)])],
                                   ids=["40-spike bursts"])  # fmt: skip
both = SpikeTrains.concatenate([recordings[[2]], impossible])
verified = sbidic.infer(both, "stg", n=10, seed=0, verify=True, budget=VerifyBudget(max_cells=20))
pd.set_option("display.max_colwidth", 200)
print(verified.report[["obs_id", "n_simulated", "n_passed", "acceptance_rate"]])
for row in verified.report.itertuples():
    print(f"{row.obs_id}: {row.adequacy or 'reproduced'}")

# %% [markdown]
# ## 5. Save for ArviZ
# One `DataTree` holds the populations (`posterior`, with one `obs_id` per recording),
# the achieved DICs and the per-recording report.

# %%
tree = result.to_datatree()
print(list(tree.children))

# %% [markdown]
# ## 6. The dopaminergic neuron
# The same call with `"da"` uses the shipped DA network (Qian et al. 2014 model,
# threshold -55.5 mV). `da_recordings.csv` holds trains our simulator produced for
# known DA targets (12 s, the first 3 s discarded).

# %%
da_recordings = sbidic.read_spikes(str(examples / "da_recordings.csv"))
da = sbidic.infer(da_recordings, "da", n=50, seed=0)
print(da.report[["obs_id", "label", "status", "g_s_mean", "g_s_sd", "g_u_mean", "g_u_sd"]])
