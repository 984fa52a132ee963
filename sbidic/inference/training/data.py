"""The training data pipeline: simulated ``(theta, spike train)`` pairs to tensors.

:func:`as_trains` reads the trains of ``DICTrainer.append_simulations``;
:func:`collect_simulations` keeps the non-silent trains inside the DIC box and adds
their firing labels and features; :func:`split_by_target` draws the validation set
by target; :func:`length_batches` cuts shuffled batches of similar-length trains
(less padding on CPU); :func:`batch_tensors` pads a batch into tensors. The
augmentation of the training batches happens in the estimator's loss
(:class:`~sbidic.inference.estimator.Augmentation`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from sbidic.inference.estimator import FEATURE_NAMES
from sbidic.inference.tokens import MIN_SPIKES, as_padded
from sbidic.spikes import SpikeTrains, spike_features

__all__ = [
    "as_trains",
    "batch_tensors",
    "collect_simulations",
    "length_batches",
    "split_by_target",
]


def as_trains(x) -> SpikeTrains:
    """Recordings as a SpikeTrains (silent trains allowed here; filtered later)."""
    if isinstance(x, SpikeTrains):
        return x
    if isinstance(x, torch.Tensor | np.ndarray) and np.ndim(x) == 2:
        p = as_padded(x, max_spikes=None, min_spikes=0)
        lens = p.lengths.numpy()
        return SpikeTrains.from_padded(p.times.numpy(), lens, check=False)
    return SpikeTrains.from_list(list(x))


def collect_simulations(parts: list[dict], box, max_spikes: int | None) -> dict:
    """The appended simulations as one training set: non-silent trains (at least
    ``MIN_SPIKES`` spikes, the first ``max_spikes`` kept) whose ``theta`` lies inside
    ``box``, with their spike counts, firing labels and log spike features; warns
    about, and counts, what it drops."""
    if not parts:
        raise ValueError("no simulations: call append_simulations(theta, x) first")
    theta = np.concatenate([p["theta"] for p in parts])
    trains = SpikeTrains.concatenate([p["trains"] for p in parts])
    data = {"theta": theta}
    for name in ("groups", "split"):
        if name in parts[0]:
            data[name] = np.concatenate([p[name] for p in parts])
    if "groups" in data:  # groups of different calls must not collide by accident
        call = np.concatenate([np.full(len(p["theta"]), i) for i, p in enumerate(parts)])
        data["groups"] = np.char.add(np.char.add(call.astype(str), ":"),
                                     data["groups"].astype(str))  # fmt: skip
    feats = spike_features(trains)
    n_sp = trains.n_spikes
    keep = n_sp >= MIN_SPIKES
    inside = (
        (theta[:, 0] > box[0][0])
        & (theta[:, 0] < box[0][1])
        & (theta[:, 1] > box[1][0])
        & (theta[:, 1] < box[1][1])
    )
    if (~inside & keep).any():
        warnings.warn(
            f"{int((~inside & keep).sum())} simulation(s) have theta outside the box "
            f"{box} and are dropped",
            UserWarning,
            stacklevel=4,  # the caller of DICTrainer.train (through DICTrainer._collect)
        )
    dropped_silent = int((~keep).sum())
    keep &= inside
    sel = np.flatnonzero(keep)
    if sel.size == 0:
        raise ValueError("no simulation with >= 3 spikes and theta inside the box")
    trains = trains[sel]
    if max_spikes is not None:
        padded, lens = trains.to_padded(max_len=max_spikes)
        trains = SpikeTrains.from_padded(padded, lens, trains.ids, check=False)
    label = (feats.label_code[sel] == 2).astype(np.int64)  # 0 spiking, 1 bursting
    f = np.stack([np.asarray(feats[name], dtype=float)[sel] for name in FEATURE_NAMES], 1)
    f = np.log1p(np.where(f > 0, f, np.nan))
    f[label == 1, 0] = np.nan
    f[label == 0, 1:] = np.nan
    out = {
        "theta": theta[sel],
        "trains": trains,
        "n_spikes": trains.n_spikes,
        "labels": label,
        "features": f,
        "dropped_silent": dropped_silent,
        "dropped_outside": int((~inside & (n_sp >= MIN_SPIKES)).sum()),
    }
    for name in ("groups", "split"):
        if name in data:
            out[name] = data[name][sel]
    return out


def split_by_target(data: dict, validation_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Training and validation indices: the explicit ``split`` if any, else a random
    ``validation_fraction`` of the groups (targets), so no target is in both."""
    n = len(data["theta"])
    if "split" in data:
        tr = np.flatnonzero(data["split"] == "train")
        va = np.flatnonzero(data["split"] == "validation")
        if tr.size == 0 or va.size == 0:
            n_groups = len(np.unique(data["groups"])) if "groups" in data else n
            raise ValueError(
                f"training needs non-silent trains in both the 'train' and the "
                f"'validation' split; got {tr.size} and {va.size} (from {n_groups} "
                "targets with non-silent trains). Splits are by target, 10 % of the "
                "targets in validation by default: generate at least 10 targets, more "
                "where many cells are silent"
            )
        return tr, va
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    groups = data.get("groups", np.arange(n))
    uniq, inv = np.unique(groups, return_inverse=True)
    if len(uniq) < 2:
        raise ValueError("need at least two groups (targets) to split off a validation set")
    rng = np.random.default_rng([seed, 7])
    n_val = min(max(1, int(round(validation_fraction * len(uniq)))), len(uniq) - 1)
    val_groups = np.zeros(len(uniq), bool)
    val_groups[rng.permutation(len(uniq))[:n_val]] = True
    return np.flatnonzero(~val_groups[inv]), np.flatnonzero(val_groups[inv])


def length_batches(
    idx: np.ndarray, n_spikes: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar-length trains (buckets of 50 batches)."""
    perm = idx[rng.permutation(len(idx))]
    group = batch_size * 50
    batches = []
    for g in range(0, len(perm), group):
        chunk = perm[g : g + group]
        chunk = chunk[np.argsort(n_spikes[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_tensors(data: dict, idx: np.ndarray, device=None) -> tuple[torch.Tensor, ...]:
    """``(theta, padded times, lengths, labels, standardised features)`` of the
    simulations ``idx``, as tensors on ``device``."""
    padded, lens = data["trains"][idx].to_padded()
    arrays = (
        data["theta"][idx],
        padded,
        lens.astype(np.int64),
        data["labels"][idx],
        data["features_std"][idx].astype(np.float32),
    )
    return tuple(torch.from_numpy(a).to(device) for a in arrays)
