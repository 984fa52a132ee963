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
# # Tutorial 5: the dopaminergic neuron, and transfer from STG
#
# Nothing in sbidic is specific to the stomatogastric neuron: a model is one file
# behind the `ConductanceModel` interface, and the DIC machinery, the sampler, the
# simulator and the inference work on any registered model. The second shipped model is
# the midbrain dopaminergic (DA) neuron of Qian et al. (2014): slow pacemaking and
# bursting driven by L- and N-type calcium, ERG and NMDA currents, with its threshold at
# -55.5 mV. This tutorial samples and simulates DA populations, infers DA recordings
# with the shipped DA network, and reads what transfer learning from the STG network
# bought (its model card holds both runs).

# %%
import os
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sbidic
from sbidic.inference.pretrained import model_card
from sbidic.simulate import simulate
from sbidic.spikes import spike_features

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
EXAMPLES = resources.files("sbidic") / "examples"
pd.set_option("display.width", 140)
# the published DA protocol: 12 s simulated, the first 3 s discarded (quick: 3 s, 0.5 s)
PROTOCOL = {"duration_ms": 3000.0, "transient_ms": 500.0} if QUICK else {}

# %% [markdown]
# ## The model and a degenerate DA population

# %%
da = sbidic.get_model("da")
print(da, da.conductance_labels)
targets = [(10.0, 4.0), (-4.0, 5.0)]  # a pacemaker and a burster
n = 2 if QUICK else 3
pops = sbidic.sample_populations("da", targets, n=n, rng=0)
g = pops.conductances.reshape(-1, da.n_conductances)
sim = simulate("da", g, record_v=[0, n], seed=0, **PROTOCOL)
features = spike_features(sim.spikes)
print("labels:", features.label)

fig, axes = plt.subplots(2, 1, figsize=(10, 4), sharex=True)
for ax, row, (gs, gu) in zip(axes, sim.v_mV, targets, strict=True):
    ax.plot(sim.t_ms, row, lw=0.6)
    ax.set(ylabel="V (mV)", title=f"DA cell with (g_s, g_u) = ({gs:g}, {gu:g})")
axes[-1].set_xlabel("time (ms)")
fig.tight_layout()
fig.savefig(FIGURES / "05_da_traces.png", dpi=80)

# %% [markdown]
# ## Inferring DA recordings
# `da_recordings.csv` holds trains our simulator produced for known DA targets. The
# call is the same as for STG, with `"da"`.

# %%
recordings = sbidic.read_spikes(str(EXAMPLES / "da_recordings.csv"))
truth = pd.read_csv(EXAMPLES / "da_targets.csv").rename(
    columns={"ID": "obs_id", "g_s": "true_g_s", "g_u": "true_g_u", "label": "true_label"}
)
result = sbidic.infer(recordings, "da", n=20, seed=0)
report = result.report.merge(truth, on="obs_id")
print(
    report[["obs_id", "label", "true_g_s", "g_s_q05", "g_s_q95", "true_g_u", "g_u_q05", "g_u_q95"]]
)

fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
ok = report[report.n_cells > 0]
for ax, name in zip(axes, ["g_s", "g_u"], strict=True):
    y = np.arange(len(ok))
    ax.errorbar(
        ok[f"{name}_mean"],
        y,
        xerr=[ok[f"{name}_mean"] - ok[f"{name}_q05"], ok[f"{name}_q95"] - ok[f"{name}_mean"]],
        fmt="o",
        label="posterior mean, 90 %",
    )
    ax.plot(ok[f"true_{name}"], y, "rx", label="true value")
    ax.set(xlabel=name, yticks=y, yticklabels=ok.obs_id)
axes[0].legend(frameon=False, fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "05_da_intervals.png", dpi=80)

# %% [markdown]
# ## Transfer learning from STG
# Simulated DA data are costlier than STG data (12 s per cell instead of 6 s, and most
# random DA cells are silent), so it is tempting to start from the STG network and
# fine-tune every weight on DA (Brandoit et al. 2025):
#
# ```bash
# sbidic train data/da_dic_v1 -o runs/da_transfer --init-from sbidic/weights/stg
# ```
#
# The shipped DA card records that run against a network trained from scratch, on the
# same held-out test split:

# %%
card = model_card("da")["transfer_vs_scratch"]
rows = []
for run in ("transfer", "scratch"):
    test = card[run]["test"]
    rows.append(
        {
            "run": run,
            "stages": card[run]["stages"],
            **{
                k: test[k]["all"]
                for k in [
                    "MAE g_s (mean)",
                    "MAE g_u (mean)",
                    "coverage 80% g_s",
                    "coverage 80% g_u",
                ]
            },
        }
    )
table = pd.DataFrame(rows).set_index("run")
print(table.drop(columns="stages"))
print("selected:", card["selected"])

fig, ax = plt.subplots(figsize=(6, 3))
metrics = ["MAE g_s (mean)", "MAE g_u (mean)"]
x = np.arange(len(metrics))
for k, run in enumerate(table.index):
    ax.bar(x + 0.35 * k, table.loc[run, metrics].astype(float), width=0.35, label=run)
ax.set_xticks(x + 0.175, metrics)
ax.set(ylabel="held-out DA test MAE", title="transfer from STG vs from scratch")
ax.legend(frameon=False)
fig.tight_layout()
fig.savefig(FIGURES / "05_transfer.png", dpi=80)

# %% [markdown]
# Transfer reached nearly the same g_s accuracy, but the from-scratch network read g_u
# better, so it was shipped. Transfer remains the cheaper start for a new model with
# little data: tutorial 6 trains a network of your own.
