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
# # Tutorial 9: bring your own model
#
# sbidic is not tied to its two built-in neurons. A conductance-based model is one file
# of declarations (channels, gates, reversal potentials, threshold voltage, compensation
# pairs, protocol), and sbidic derives the rest: the sensitivity matrix S(V) and the
# DICs (exact derivatives, no finite differences), the compensation rule, the Brian2
# equations, populations, simulations, datasets and estimators. This tutorial walks
# through the worked example shipped in `examples/models/pospischil.py`: the cortical
# neuron of Pospischil et al. (2008), with Na, K_d, a slow M-type potassium current,
# an L-type calcium current and a leak. Unlike the STG and DA cells it does not
# pacemake: it fires under an injected current, which its protocol declares
# (`applied_current`, 2 uA/cm²).

# %%
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sbidic
from sbidic.dics import dynamic_input_conductances, threshold_voltage
from sbidic.inference.pretrained import load_estimator_or_pretrained
from sbidic.models import model_card
from sbidic.simulate import simulate

QUICK = os.environ.get("SBIDIC_TUTORIAL_QUICK") == "1"
FIGURES = Path(os.environ.get("SBIDIC_TUTORIAL_FIGURES", "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
warnings.filterwarnings("ignore", category=UserWarning)
pd.set_option("display.width", 140)
# the model's protocol: 2 s simulated, the first second discarded (quick: 0.8 s, 0.3 s)
PROTOCOL = {"duration_ms": 800.0, "transient_ms": 300.0} if QUICK else {}

# %% [markdown]
# ## 1. Load the model file
# `get_model("path/to/file.py:NAME")` imports the file and validates the declaration
# (kinetics finite, in [0, 1] and monotone around V_th, time constants in ms, reversal
# potentials in mV, compensation pairs solvable); a problem is one line naming the file
# and line. On the command line, the same string goes to `--model`.

# %%
MODEL_FILE = next(
    p / "examples/models/pospischil.py"
    for p in [Path.cwd(), *Path.cwd().parents]
    if (p / "examples/models/pospischil.py").exists()
)
model = sbidic.get_model(f"{MODEL_FILE}:Pospischil")
print(model, model.conductances, f"I_app = {model.applied_current} uA/cm^2")

card = model_card(model)
print(pd.DataFrame(card["gates"]).drop(columns="calcium").round(4).to_string(index=False))

# %% [markdown]
# The card is the model as data: every gate's steady state, slope and time constant at
# V_th = -50 mV, and its shares of the fast, slow and ultraslow feedback. Na activation
# is purely fast (it defines tau_f), K_d activation is slow (tau_s), the M current is
# ultraslow (tau_u); Na inactivation and the Ca_L gates fall in between, split by the
# log-interpolated weights of the DIC framework.
#
# ## 2. Its DICs
# The regular-spiking (RS) cell of the paper: (g_Na, g_Kd, g_M, g_CaL, g_leak) = (56, 6,
# 0.075, 0, 0.0205) mS/cm². Its threshold (where g_t = g_f + g_s + g_u turns negative)
# is found by the same routine as for STG and DA.

# %%
rs = np.array([56.0, 6.0, 0.075, 0.0, 0.0205])
V = np.linspace(-66.0, -46.0, 81)
dics = dynamic_input_conductances(model, np.broadcast_to(rs, (len(V), 5)), V=V)
v_rs = float(threshold_voltage(model, rs))
print(f"RS threshold {v_rs:.2f} mV; DICs at V_th: "
      f"{np.round(dynamic_input_conductances(model, rs), 3)}")  # fmt: skip

fig, ax = plt.subplots(figsize=(6, 3.6))
for k, name in enumerate(["g_f", "g_s", "g_u"]):
    ax.plot(V, dics[:, k], label=name)
ax.plot(V, dics.sum(1), "k--", lw=1, label="g_t")
ax.axvline(model.V_th, color="0.6", lw=1)
ax.axvline(v_rs, color="tab:red", lw=1, ls=":")
ax.set(ylim=(-8, 6), xlabel="V (mV)", ylabel="DIC (dimensionless, × g_leak)",
       title="RS cell (grey: V_th; red: g_t = 0)")
ax.legend(ncol=4, fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "09_dics.png", dpi=80)

# %% [markdown]
# ## 3. Degenerate populations
# The slow DIC comes mostly from K_d, the ultraslow one from the M current, so the model
# declares `(Kd, M)` as its compensation pair. Every population cell reaches its target
# to machine precision, and the free conductances (Na, Ca_L, leak) spread.

# %%
targets = np.array([[0.5, 1.0], [1.0, 3.0], [2.5, 7.0]])
n = 100 if QUICK else 1000
pop = sbidic.sample_populations(model, targets, n=n, rng=0)
error = np.abs(dynamic_input_conductances(model, pop.conductances)[..., 1:] - targets[:, None])
print(f"{n} cells per target, largest DIC error {error.max():.1e}")
spread = pd.DataFrame(
    {f"({gs}, {gu})": [f"{m:.3g} ± {s:.2g}" for m, s in zip(c.mean(0), c.std(0), strict=True)]
     for (gs, gu), c in zip(targets, pop.conductances, strict=True)},
    index=model.conductance_labels,
)  # fmt: skip
print(spread)

# %% [markdown]
# ## 4. Simulate
# `simulate` builds the Brian2 equations from the declaration and injects the declared
# current. Without it (`applied_current=0`) the cells sit at rest: the current is part of
# the protocol, not of the DICs (a constant current does not change the slope of the
# steady-state current).

# %%
cells = pop.conductances[:, :4].reshape(-1, 5)  # 4 cells per target
owner = np.repeat(np.arange(len(targets)), 4)
sim = simulate(model, cells, record_v=[0, 4, 8], **PROTOCOL)
rest = simulate(model, cells[:4], applied_current=0.0, **PROTOCOL)
window_s = (sim.settings["duration_ms"] - sim.settings["transient_ms"]) / 1000
rates = sim.n_spikes / window_s
for k, (gs, gu) in enumerate(targets):
    print(f"target ({gs}, {gu}): rates {np.round(rates[owner == k], 1)} Hz")
print(f"without the applied current: {rest.n_spikes.tolist()} spikes")

fig, axes = plt.subplots(3, 1, figsize=(9, 5), sharex=True)
for ax, k in zip(axes, range(3), strict=True):
    ax.plot(sim.t_ms, sim.v_mV[k], lw=0.6)
    ax.set(ylabel="V (mV)", title=f"(g_s, g_u) = ({targets[k, 0]:g}, {targets[k, 1]:g})")
axes[-1].set(xlabel="time (ms)")
fig.tight_layout()
fig.savefig(FIGURES / "09_traces.png", dpi=80)

# %% [markdown]
# Larger g_s (more K_d) and larger g_u (more M current) both slow the cell down, and
# g_u adds spike-frequency adaptation: the two DICs set the firing, as the framework
# needs for an estimator to read them back from spike times.
#
# ## 5. Infer from spike times with the model's own estimator
# An estimator is trained per model. The one committed next to the model file
# (`examples/models/pospischil_estimator`, 0.8 MB) was trained on a 3,000-cell dataset of
# this model (simulated in 3.4 minutes on one core; training stopped early after 33
# epochs, 64 s):
#
# ```bash
# sbidic dataset --model examples/models/pospischil.py:Pospischil --targets 300 \
#     --cells-per-target 10 --seed 0 --jobs 1 -o pospischil_data
# sbidic train pospischil_data --model examples/models/pospischil.py:Pospischil \
#     -o examples/models/pospischil_estimator --max-time 360 --seed 0
# ```
#
# Here it reads the spike trains simulated above (cells of known targets), and `score`
# simulates the inferred cells and compares them with each "recording". The small
# estimator reads g_u well and g_s poorly (validation mean absolute error 0.61 for g_s
# over a box of width 2.7, 0.69 for g_u over 7.5: its model card). Both DICs slow the
# cell down (section 4), so the rate alone does not separate them; the estimator has to
# read adaptation, and 3,000 cells teach it little of that. More data is the knob
# (tutorial 6).

# %%
posterior = load_estimator_or_pretrained(
    f"{MODEL_FILE}:Pospischil", MODEL_FILE.parent / "pospischil_estimator"
)
result = sbidic.infer(sim.spikes, posterior, n=2 if QUICK else 20, seed=0, score=True,
                      simulation=PROTOCOL)  # fmt: skip
report = result.report.assign(true_g_s=targets[owner, 0], true_g_u=targets[owner, 1])
columns = ["obs_id", "label", "g_s_mean", "true_g_s", "g_u_mean", "true_g_u", "class_match",
           "feature_match"]
print(report[columns].round(2).to_string(index=False))

fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
for ax, (name, box) in zip(axes, model.target_box.items(), strict=True):
    ax.errorbar(report[f"true_{name}"], report[f"{name}_mean"], yerr=report[f"{name}_sd"],
                fmt="o", ms=4)  # fmt: skip
    ax.plot(box, box, "k--", lw=1)
    ax.set(xlabel=f"true {name}", ylabel=f"posterior mean of {name}")
fig.tight_layout()
fig.savefig(FIGURES / "09_inferred.png", dpi=80)

# %% [markdown]
# From the command line, the same pipeline with the file path in `--model`:
#
# ```bash
# sbidic population --model examples/models/pospischil.py:Pospischil --g-s 1 --g-u 3 \
#     -n 100 --seed 0 -o pop.nc
# sbidic simulate pop.nc --model examples/models/pospischil.py:Pospischil -o spikes.csv
# sbidic infer spikes.csv --model examples/models/pospischil.py:Pospischil \
#     --estimator examples/models/pospischil_estimator -n 20 --score -o inferred.nc
# ```
#
# To declare your own model, copy the example and change the declarations;
# `docs/own-model.md` lists every field and the checks sbidic runs on it.
