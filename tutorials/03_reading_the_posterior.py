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
# # Tutorial 3: reading the posterior
#
# A point estimate of (g_s, g_u) hides what a recording cannot tell. sbidic's network
# returns a posterior q(g_s, g_u | spike times), and its width is information: a tonic
# spiking cell constrains the slow feedback g_s much less than a bursting one, because
# a wide range of positive g_s gives the same regular firing. This tutorial reads the
# posterior of a few recordings, draws it with sbi's `pairplot`, and checks its
# calibration on held-out simulations with sbi's diagnostics (simulation-based
# calibration, SBC, and TARP): a posterior is only worth reading if its 80 % intervals
# contain the truth 80 % of the time.

# %%
import os
import warnings
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import sbidic
from sbidic.datasets import load_dataset, subset_dataset
from sbidic.inference import pad_trains
from sbidic.spikes import LABEL_NAMES, SpikeTrains

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
EXAMPLES = resources.files("sbidic") / "examples"
warnings.filterwarnings("ignore", category=DeprecationWarning)
_ = torch.manual_seed(0)

# %% [markdown]
# ## DIC intervals of the example recordings, both g_s and g_u

# %%
recordings = sbidic.read_spikes(str(EXAMPLES / "stg_recordings.csv")).drop_silent()
truth = np.genfromtxt(
    str(EXAMPLES / "stg_targets.csv"), delimiter=",", names=True, dtype=None, encoding="utf-8"
)
truth = {row["ID"]: (row["g_s"], row["g_u"]) for row in truth}
posterior = sbidic.load_pretrained("stg", rng=0)
dic_posterior = posterior.dic_posterior  # q(g_s, g_u | x): an sbi NeuralPosterior
draws = dic_posterior.sample_batched((1000,), x=recordings).numpy()  # (1000, B, 2)
lo, mid, hi = np.percentile(draws, [10, 50, 90], axis=0)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for k, (ax, name) in enumerate(zip(axes, ["g_s", "g_u"], strict=True)):
    y = np.arange(recordings.n_trains)
    ax.errorbar(
        mid[:, k],
        y,
        xerr=[mid[:, k] - lo[:, k], hi[:, k] - mid[:, k]],
        fmt="o",
        label="posterior median, 80 % interval",
    )
    ax.plot([truth[i][k] for i in recordings.ids], y, "rx", label="true value")
    ax.set(xlabel=name, yticks=y, yticklabels=recordings.ids)
axes[0].legend(frameon=False, fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "03_intervals.png", dpi=80)

# %% [markdown]
# The two spiking cells (cell1, cell2) have wide g_s intervals; the three bursting
# cells narrow ones. g_u is constrained in both regimes.
#
# ## The joint posterior with sbi's `pairplot`
# The joint shape matters too: for the spiking cell g_s and g_u trade off.

# %%
from sbi.analysis import pairplot

for obs in ["cell1", "cell3"]:
    x = recordings[[list(recordings.ids).index(obs)]]
    samples = dic_posterior.sample((2000,), x=x)
    fig, _ = pairplot(
        samples,
        points=torch.tensor([truth[obs]]),
        labels=["g_s", "g_u"],
        limits=[[-20, 20], [0, 20]],
        figsize=(4.5, 4.5),
    )
    fig.suptitle(f"{obs}: q(g_s, g_u | x), true value marked", fontsize=10)
    fig.savefig(FIGURES / f"03_pairplot_{obs}.png", dpi=80)

# %% [markdown]
# ## Is the posterior calibrated? SBC and TARP on held-out simulations
# The committed STG dataset (`data/stg_dic_v1`, see the Datasets page) has a test
# split of targets the network never saw. We take one train per test target and run
# sbi's `run_sbc` and `run_tarp` on the DIC posterior. In quick mode only the first
# chunks of the dataset are read.


# %%
def committed_dataset(name: str, n_chunks: int | None = None) -> Path:
    """Directory of a committed dataset (searched upwards from here); with ``n_chunks``,
    a dataset of only its first chunks (for quick runs)."""
    root = next(p / "data" / name for p in [Path.cwd(), *Path.cwd().parents]
                if (p / "data" / name / "manifest.json").exists())  # fmt: skip
    return root if n_chunks is None else subset_dataset(root, n_chunks)


test = load_dataset(committed_dataset("stg_dic_v1", 8 if QUICK else None), split="test")
trains = SpikeTrains.from_dataset(test)
first = np.unique(test["target_index"].values, return_index=True)[1]  # one train per target
first = first[trains.n_spikes[first] >= 3]  # silent trains carry no information
rng = np.random.default_rng(0)
pick = rng.choice(first, size=min(len(first), 300), replace=False)
thetas = torch.as_tensor(test["target"].values[pick], dtype=torch.float32)
xs = pad_trains(trains[pick])  # -1 padding: sbi drops rows holding NaN
labels = test["label_code"].values[pick]
print(f"{len(pick)} held-out recordings")

# %%
from sbi.diagnostics import check_sbc, run_sbc, run_tarp

n_draws = 100 if QUICK else 500
ranks, dap = run_sbc(
    thetas, xs, dic_posterior, num_posterior_samples=n_draws, show_progress_bar=False
)
stats = check_sbc(ranks, thetas, dap, num_posterior_samples=n_draws)
print("SBC KS p-values (g_s, g_u):", stats["ks_pvals"].numpy().round(3))
ecp, alpha = run_tarp(
    thetas, xs, dic_posterior, num_posterior_samples=n_draws, show_progress_bar=False
)

fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
for k, name in enumerate(["g_s", "g_u"]):
    axes[k].hist(ranks[:, k].numpy(), bins=10, range=(0, n_draws))
    axes[k].axhline(len(pick) / 10, color="k", ls="--", lw=1)
    axes[k].set(xlabel=f"rank of the true {name}", title="SBC: flat is calibrated")
axes[2].plot(alpha, ecp, label="sbidic STG")
axes[2].plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
axes[2].set(xlabel="credibility level", ylabel="expected coverage", title="TARP")
axes[2].legend(frameon=False)
fig.tight_layout()
fig.savefig(FIGURES / "03_calibration.png", dpi=80)

# %% [markdown]
# How to read these: a flat rank histogram and a TARP curve on the diagonal mean
# calibrated; a small KS p-value flags a histogram that is not flat. With a few hundred
# recordings the check is coarse, so read it with the coverages below and with the
# estimator's model card, which reports the coverage of every interval on the whole
# test split (20,448 recordings, Estimators page).
#
# ## What tonic spiking cannot tell about g_s
# Across the held-out recordings, the 80 % interval of g_s is several times wider for
# tonic spiking than for bursting cells, and it still covers the truth about as often:
# the network is not worse on spiking cells, the spike times simply carry less
# information about the slow feedback there. Populations inferred from a
# spiking recording therefore spread over a wide range of g_s, and all of them fire
# like the recording (tutorial 4).

# %%
q = dic_posterior.sample_batched((n_draws,), x=xs).numpy()  # (draws, B, 2)
lo, hi = np.percentile(q, [10, 90], axis=0)
inside = (lo <= thetas.numpy()) & (thetas.numpy() <= hi)
for code, name in enumerate(LABEL_NAMES[1:], start=1):
    sel = labels == code
    if sel.any():
        width = np.mean(hi[sel] - lo[sel], axis=0)
        cover = inside[sel].mean(axis=0)
        print(
            f"{name:>8}: n = {sel.sum():3d}; mean 80 % width g_s {width[0]:5.2f}, "
            f"g_u {width[1]:5.2f}; "
            f"coverage g_s {cover[0]:.2f}, g_u {cover[1]:.2f}"
        )

fig, ax = plt.subplots(figsize=(6, 3.5))
for code, name in enumerate(LABEL_NAMES[1:], start=1):
    sel = labels == code
    ax.scatter(thetas[sel, 0], hi[sel, 0] - lo[sel, 0], s=10, label=name)
ax.set(xlabel="true g_s (× g_leak)", ylabel="80 % interval width of g_s (× g_leak)",
       title="held-out STG recordings")
ax.legend(frameon=False)
fig.tight_layout()
fig.savefig(FIGURES / "03_width_by_class.png", dpi=80)
