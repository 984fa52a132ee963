"""Training the DIC estimator: sbi-style trainer, checkpoints, saving and loading.

:class:`DICTrainer` follows sbi's verbs: ``append_simulations(theta, x)``, ``train()``,
``build_posterior()``. Training minimises ``-log q(theta | x)`` (neural posterior
estimation, Papamakarios & Murray 2016; Greenberg et al. 2019) plus optional auxiliary
losses, with:

* augmentation of the training batches only (:class:`~.estimator.Augmentation`, half
  the trains by default); validation batches are never augmented;
* any torch device (``train(device="cuda")``); the returned estimator is on the CPU;
* a validation set that shares no target with the training set (``split`` or
  ``groups``);
* AdamW (betas 0.9 / 0.98, weight decay 1e-4), linear warm-up then cosine decay of the
  learning rate stepped per batch, gradient-norm clipping at 5;
* batches of similar-length trains (shuffled buckets), which cuts padding on CPU;
* early stopping on the validation NLL, keeping the best weights;
* resumable checkpoints written atomically after every epoch: one safetensors file
  holding the model, best model, optimiser tensors and RNG state, with the rest (epoch,
  scheduler step, early-stopping state, history, optimiser hyper-parameters) as JSON in
  its metadata (no pickle). Every epoch's randomness is derived from ``(seed, epoch)``,
  so an interrupted run resumed from its checkpoint ends with the same weights as an
  uninterrupted one.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783

G. Papamakarios, I. Murray (2016). Fast epsilon-free inference of simulation models
with Bayesian conditional density estimation. NeurIPS 29.
https://arxiv.org/abs/1605.06376

D. Greenberg, M. Nonnenmacher, J. Macke (2019). Automatic posterior transformation for
likelihood-free inference. ICML. https://arxiv.org/abs/1905.07488
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file

from sbidic.inference.encoder import SpikeTrainEncoder
from sbidic.inference.estimator import FEATURE_NAMES, Augmentation, DICEstimator
from sbidic.inference.tokens import DEFAULT_MAX_SPIKES, MIN_SPIKES, as_padded, token_stats
from sbidic.spikes import SpikeTrains, spike_features

__all__ = [
    "DICTrainer",
    "load_estimator",
    "save_estimator",
    "train_from_dataset",
    "write_model_card",
]

_CHECKPOINT = "checkpoint.safetensors"


def _as_trains(x) -> SpikeTrains:
    """Recordings as a SpikeTrains (silent trains allowed here; filtered later)."""
    if isinstance(x, SpikeTrains):
        return x
    if isinstance(x, torch.Tensor | np.ndarray) and np.ndim(x) == 2:
        p = as_padded(x, max_spikes=None, min_spikes=0)
        lens = p.lengths.numpy()
        return SpikeTrains.from_padded(p.times.numpy(), lens, check=False)
    return SpikeTrains.from_list(list(x))


def _state_to_tensors(prefix: str, state: dict) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().cpu().clone().contiguous() for k, v in state.items()}


def _optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim/{pid}/{key}"] = t.detach().cpu().clone().contiguous()
    groups = []
    for g in sd["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    return tensors, {"param_groups": groups}


def _optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for name, value in tensors.items():
        if not name.startswith("optim/"):
            continue
        _, pid, key = name.split("/", 2)
        state.setdefault(int(pid), {})[key] = value
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def _write_atomic(tensors: dict, metadata: dict, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in metadata.items()})
    os.replace(tmp, path)


def _read_checkpoint(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), framework="pt") as fh:
        meta = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
    return load_file(str(path)), meta


class DICTrainer:
    """Train a :class:`~.estimator.DICEstimator` on simulated ``(theta, spike train)`` pairs.

    Parameters
    ----------
    estimator : DICEstimator, optional
        Network to train; default: one built from ``encoder_kwargs`` /
        ``estimator_kwargs`` (seeded by ``train(seed=...)``).
    model : str, optional
        Conductance model (``"stg"``, ``"da"``): sets the DIC box (the prior support)
        and the posterior's model.
    box : dict, optional
        ``{"g_s": (lo, hi), "g_u": (lo, hi)}``; default the model's target box.
    encoder_kwargs, estimator_kwargs : dict, optional
        Passed to :class:`~.encoder.SpikeTrainEncoder` and :class:`~.estimator.DICEstimator`.
    max_spikes : int, default 250
        Spikes kept per training train (the first ones), as at inference.
    show_progress_bars : bool, default True
        tqdm bar over the batches of each epoch.

    Examples
    --------
    >>> trainer = DICTrainer(model="stg")  # doctest: +SKIP
    >>> trainer.append_simulations(theta, trains, split=split)  # doctest: +SKIP
    >>> estimator = trainer.train(max_epochs=30, checkpoint_path="run/ckpt")  # doctest: +SKIP
    >>> posterior = trainer.build_posterior()  # doctest: +SKIP
    """

    def __init__(
        self,
        estimator: DICEstimator | None = None,
        *,
        model: str | None = None,
        box=None,
        encoder_kwargs: dict | None = None,
        estimator_kwargs: dict | None = None,
        max_spikes: int | None = DEFAULT_MAX_SPIKES,
        show_progress_bars: bool = True,
    ) -> None:
        self.estimator = estimator
        self.model = model if model is not None else getattr(estimator, "model_name", None)
        self._model_given = model is not None  # else the estimator's config names it
        self.box = box
        self.encoder_kwargs = dict(encoder_kwargs or {})
        self.estimator_kwargs = dict(estimator_kwargs or {})
        self.max_spikes = max_spikes
        self.show_progress_bars = show_progress_bars
        self._parts: list[dict] = []
        self.history: list[dict] = []
        self.summary: dict = {}

    # ---------------------------------------------------------------- data
    def append_simulations(
        self,
        theta,
        x,
        *,
        groups=None,
        split=None,
    ) -> DICTrainer:
        """Add simulated pairs.

        Parameters
        ----------
        theta : array_like, shape (N, 2)
            ``(g_s, g_u)`` of each simulation.
        x : SpikeTrains, list of 1-D arrays, or padded array / Tensor (N, L)
            Spike times (ms); NaN- or negative-padded rows for a padded array.
            Trains with fewer than 3 spikes are dropped (and counted in
            ``summary``); trains longer than ``max_spikes`` keep their first
            ``max_spikes`` spikes.
        groups : array_like, shape (N,), optional
            Target (population) identifier of each simulation: the validation set is
            drawn by group, so no target is shared with the training set.
        split : array_like of str, shape (N,), optional
            Explicit ``"train"`` / ``"validation"`` (/ ``"test"``, ignored) per
            simulation, as stored by :func:`sbidic.datasets.load_dataset`. Takes
            precedence over ``groups``.

        Returns
        -------
        DICTrainer
            ``self``, for chaining.
        """
        theta = np.asarray(torch.as_tensor(theta, dtype=torch.float64))
        trains = _as_trains(x)
        n = trains.n_trains
        if theta.shape != (n, 2):
            raise ValueError(f"theta must have shape ({n}, 2) for {n} trains, got {theta.shape}")
        if not np.isfinite(theta).all():
            bad = np.flatnonzero(~np.isfinite(theta).all(axis=1))
            raise ValueError(f"theta is not finite at rows {bad[:20].tolist()}")
        part = {"theta": theta, "trains": trains}
        for name, value in (("groups", groups), ("split", split)):
            if value is not None:
                arr = np.asarray(value)
                if arr.shape != (n,):
                    raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
                part[name] = arr.astype(str) if name == "split" else arr
        if self._parts and set(part) != set(self._parts[0]):
            raise ValueError("every append_simulations call must give the same of groups/split")
        self._parts.append(part)
        return self

    def _collect(self) -> dict:
        if not self._parts:
            raise ValueError("no simulations: call append_simulations(theta, x) first")
        theta = np.concatenate([p["theta"] for p in self._parts])
        trains = SpikeTrains.concatenate([p["trains"] for p in self._parts])
        data = {"theta": theta}
        for name in ("groups", "split"):
            if name in self._parts[0]:
                data[name] = np.concatenate([p[name] for p in self._parts])
        if "groups" in data:  # groups of different calls must not collide by accident
            call = np.concatenate([np.full(len(p["theta"]), i) for i, p in enumerate(self._parts)])
            data["groups"] = np.char.add(np.char.add(call.astype(str), ":"),
                                         data["groups"].astype(str))  # fmt: skip
        feats = spike_features(trains)
        n_sp = trains.n_spikes
        keep = n_sp >= MIN_SPIKES
        box = self._box()
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
                stacklevel=3,
            )
        dropped_silent = int((~keep).sum())
        keep &= inside
        sel = np.flatnonzero(keep)
        if sel.size == 0:
            raise ValueError("no simulation with >= 3 spikes and theta inside the box")
        trains = trains[sel]
        if self.max_spikes is not None:
            padded, lens = trains.to_padded(max_len=self.max_spikes)
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

    def _model_name(self) -> str | None:
        """The model's name (a model given as ``path.py:NAME`` is saved by its name)."""
        from sbidic.models import get_model

        return None if self.model is None else get_model(self.model).name

    def _box(self):
        if self.estimator is not None:
            return self.estimator.box
        if self.box is not None:
            from sbidic.inference.estimator import _box

            return _box(self.box)
        from sbidic.models import get_model

        tb = get_model(self.model or "stg").target_box
        return (tuple(tb["g_s"]), tuple(tb["g_u"]))

    @staticmethod
    def _split(data: dict, validation_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
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

    # ------------------------------------------------------------ batches
    @staticmethod
    def _batches(
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

    @staticmethod
    def _tensors(data: dict, idx: np.ndarray, device=None) -> tuple[torch.Tensor, ...]:
        padded, lens = data["trains"][idx].to_padded()
        arrays = (
            data["theta"][idx],
            padded,
            lens.astype(np.int64),
            data["labels"][idx],
            data["features_std"][idx].astype(np.float32),
        )
        return tuple(torch.from_numpy(a).to(device) for a in arrays)

    def _validation_nll(
        self, data: dict, idx: np.ndarray, batch_size: int = 1024, device=None
    ) -> float:
        est = self.estimator
        order = idx[np.argsort(data["n_spikes"][idx], kind="stable")]
        total = 0.0
        est.eval()
        with torch.no_grad():
            for i in range(0, len(order), batch_size):
                b = order[i : i + batch_size]
                theta, times, lens, _, _ = self._tensors(data, b, device)
                total += float(est.loss(theta, times, lens)["nll"]) * len(b)
        return total / len(idx)

    # ------------------------------------------------------------ training
    def _build(self, seed: int) -> DICEstimator:
        enc_kwargs = {"max_spikes": self.max_spikes, **self.encoder_kwargs}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = SpikeTrainEncoder(**enc_kwargs)
            kwargs = {"model": self._model_name(), "box": self._box(), **self.estimator_kwargs}
            return DICEstimator(encoder, **kwargs)

    def train(
        self,
        max_epochs: int = 50,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        *,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        checkpoint_path: str | os.PathLike | None = None,
        seed: int = 0,
        max_time_s: float | None = None,
        weight_decay: float = 1e-4,
        clip_max_norm: float = 5.0,
        warmup_steps: int = 500,
        min_lr_ratio: float = 0.05,
        class_weight: float = 0.2,
        feature_weight: float = 0.2,
        show_progress_bars: bool | None = None,
        device: str | torch.device = "cpu",
    ) -> DICEstimator:
        """Train (or resume training), keep the best weights, return the estimator.

        Parameters
        ----------
        max_epochs : int
            Epochs in total (a resumed run continues up to this number).
        batch_size : int
            Training batch size.
        learning_rate : float
            Peak learning rate (AdamW).
        validation_fraction : float
            Fraction of groups (targets) held out when no ``split`` was given.
        patience : int or None
            Stop after this many epochs without a better validation NLL.
        checkpoint_path : path, optional
            Directory of the checkpoint; written after every epoch, and resumed from if
            it holds one of the same run (same data, settings and seed).
        seed : int
            Seeds the network initialisation, the validation split, the shuffling,
            the augmentation and the dropout.
        max_time_s : float, optional
            Wall-clock limit of this call, checked between batches (at least one batch
            runs): at the limit the checkpoint records the position within the epoch,
            and a later call with the same arguments resumes there, giving the same
            weights as an uninterrupted run.
        weight_decay, clip_max_norm : float
            AdamW weight decay; gradient-norm clipping.
        warmup_steps : int
            Linear warm-up (batches), capped at one epoch; then cosine decay to
            ``min_lr_ratio * learning_rate`` at ``max_epochs``.
        class_weight, feature_weight : float
            Weights of the auxiliary losses (ignored without auxiliary heads).
        show_progress_bars : bool, optional
            Override the trainer's setting.
        device : str or torch.device, default "cpu"
            Where to train (e.g. ``"cuda"``). The augmentation's random numbers are
            drawn on the CPU whatever the device, and a checkpoint resumes on any device
            (dropout draws, and so the exact weights, depend on the device).

        Returns
        -------
        DICEstimator
            The estimator with the weights of the best validation epoch, in eval mode,
            on the CPU.
            ``history`` holds per-epoch losses, ``summary`` the outcome.
        """
        from tqdm.auto import tqdm

        t_start = time.perf_counter()
        show = self.show_progress_bars if show_progress_bars is None else show_progress_bars
        data = self._collect()
        tr, va = self._split(data, validation_fraction, seed)
        if self.estimator is None:
            self.estimator = self._build(seed)
        est = self.estimator
        est.encoder.set_token_stats(token_stats(data["trains"][tr]))
        device = torch.device(device)
        f_tr = data["features"][tr]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            f_mu = np.nan_to_num(np.nanmean(f_tr, axis=0))
            f_sd = np.nan_to_num(np.nanstd(f_tr, axis=0), nan=1.0)
        f_sd = np.where(f_sd > 1e-6, f_sd, 1.0)
        est.set_feature_stats(f_mu, f_sd)
        data["features_std"] = (data["features"] - f_mu) / f_sd
        est.to(device)

        n_batches = -(-len(tr) // batch_size)
        total_steps = max(1, max_epochs * n_batches)
        warm = max(1, min(warmup_steps, n_batches))

        def lr_at(step: int) -> float:
            if step < warm:
                return learning_rate * (step + 1) / warm
            frac = min(1.0, (step - warm) / max(1, total_steps - warm))
            cosine = 0.5 * (1 + math.cos(math.pi * frac))
            return learning_rate * (min_lr_ratio + (1 - min_lr_ratio) * cosine)

        opt = torch.optim.AdamW(
            est.parameters(), lr=learning_rate, betas=(0.9, 0.98), weight_decay=weight_decay
        )
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(data["theta"][tr]).tobytes())
        digest.update(np.ascontiguousarray(data["n_spikes"][tr]).tobytes())
        digest.update(np.ascontiguousarray(va).tobytes())
        fingerprint = {
            "data": digest.hexdigest()[:16],
            "n_train": int(len(tr)),
            "n_validation": int(len(va)),
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": seed,
            "weight_decay": weight_decay,
            "clip_max_norm": clip_max_norm,
            "warmup_steps": warmup_steps,
            "min_lr_ratio": min_lr_ratio,
            "class_weight": class_weight,
            "feature_weight": feature_weight,
            "patience": patience,
            "estimator": est.config(),
        }
        state = {
            "epoch": 0,
            "step": 0,
            "best_val": math.inf,
            "best_epoch": 0,
            "bad_epochs": 0,
            "finished": False,
            "stop_reason": None,
            "train_seconds": 0.0,
        }
        history: list[dict] = []
        resume: dict = {}
        best_state = {k: v.detach().clone() for k, v in est.state_dict().items()}
        ckpt = None if checkpoint_path is None else Path(checkpoint_path) / _CHECKPOINT
        if ckpt is not None and ckpt.exists():
            tensors, meta = _read_checkpoint(ckpt)
            if meta.get("fingerprint") != json.loads(json.dumps(fingerprint)):
                raise ValueError(
                    f"{ckpt} was written by a different run (data, settings or seed differ); "
                    "use another checkpoint_path or delete it"
                )
            est.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
            best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
            _optimizer_from_flat(opt, tensors, meta["optimizer"])
            state, history = meta["state"], meta["history"]
            resume = {k: v for k, v in tensors.items() if k in ("rng/gen", "rng/epoch")}

        def save_checkpoint(extra: dict | None = None) -> None:
            if ckpt is None:
                return
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tensors = _state_to_tensors("model/", est.state_dict())
            tensors.update(_state_to_tensors("best/", best_state))
            opt_tensors, opt_meta = _optimizer_to_flat(opt)
            tensors.update(opt_tensors)
            tensors["rng/torch"] = torch.get_rng_state()
            tensors.update(extra or {})
            meta = {
                "fingerprint": fingerprint,
                "state": state,
                "history": history,
                "optimizer": opt_meta,
                "format": "sbidic.inference checkpoint v1",
            }
            _write_atomic(tensors, meta, ckpt)
            (ckpt.parent / "checkpoint.json").write_text(
                json.dumps({"state": state, "history": history}, indent=2)
            )

        stop_reason = state.get("stop_reason") if state["finished"] else None
        batches_this_call = 0
        while not state["finished"]:
            epoch = state["epoch"]
            if epoch >= max_epochs:
                stop_reason = "max_epochs"
                break
            if patience is not None and state["bad_epochs"] >= patience:
                stop_reason = "early_stopping"
                break
            t_epoch = time.perf_counter()
            rng = np.random.default_rng([seed, epoch, 1])
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            batches = self._batches(tr, data["n_spikes"], batch_size, rng)
            first = state.get("batch", 0)  # > 0: resuming an epoch stopped by the time limit
            sums = state.get("sums") or {"loss": 0.0, "nll": 0.0}
            interrupted = False
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**62)))
                if first:
                    gen.set_state(resume["rng/gen"])
                    torch.set_rng_state(resume["rng/epoch"])
                est.train()
                bar = tqdm(total=len(batches), initial=first, disable=not show, leave=False,
                           desc=f"epoch {epoch + 1}/{max_epochs}", unit="batch")  # fmt: skip
                for i in range(first, len(batches)):
                    # the wall-clock limit is checked between batches (one batch always runs)
                    if (max_time_s is not None and batches_this_call > 0
                            and time.perf_counter() - t_start > max_time_s):  # fmt: skip
                        state.update(batch=i, sums=sums, partial_seconds=state.get(
                            "partial_seconds", 0.0) + time.perf_counter() - t_epoch)  # fmt: skip
                        save_checkpoint({"rng/gen": gen.get_state(),
                                         "rng/epoch": torch.get_rng_state()})  # fmt: skip
                        interrupted = True
                        break
                    b = batches[i]
                    for group in opt.param_groups:
                        group["lr"] = lr_at(state["step"])
                    theta, times, lens, labels, feats = self._tensors(data, b, device)
                    out = est.loss(
                        theta,
                        times,
                        lens,
                        labels=labels,
                        features=feats,
                        class_weight=class_weight,
                        feature_weight=feature_weight,
                        generator=gen,
                    )
                    opt.zero_grad(set_to_none=True)
                    out["loss"].backward()
                    torch.nn.utils.clip_grad_norm_(est.parameters(), clip_max_norm)
                    opt.step()
                    state["step"] += 1
                    batches_this_call += 1
                    sums["loss"] += float(out["loss"].detach()) * len(b)
                    sums["nll"] += float(out["nll"].detach()) * len(b)
                    bar.update(1)
                    bar.set_postfix(nll=f"{float(out['nll'].detach()):.3f}")
                bar.close()
            if interrupted:
                stop_reason = "time_limit"
                break
            val = self._validation_nll(data, va, device=device)
            state["epoch"] = epoch + 1
            improved = val < state["best_val"] - 1e-4
            if improved:
                state.update(best_val=val, best_epoch=epoch + 1, bad_epochs=0)
                best_state = {k: v.detach().clone() for k, v in est.state_dict().items()}
            else:
                state["bad_epochs"] += 1
            dt = time.perf_counter() - t_epoch + state.pop("partial_seconds", 0.0)
            state.update(batch=0, sums=None)
            state["train_seconds"] += dt
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": sums["loss"] / len(tr),
                    "train_nll": sums["nll"] / len(tr),
                    "val_nll": val,
                    "lr": lr_at(state["step"] - 1),
                    "seconds": dt,
                }
            )
            if show:
                tqdm.write(
                    f"epoch {epoch + 1}: train nll {history[-1]['train_nll']:.4f}, "
                    f"val nll {val:.4f}{' *' if improved else ''} ({dt:.1f} s)"
                )
            done_epochs = state["epoch"] >= max_epochs
            done_patience = patience is not None and state["bad_epochs"] >= patience
            if done_epochs or done_patience:
                state["finished"] = True
                state["stop_reason"] = "max_epochs" if done_epochs else "early_stopping"
                stop_reason = state["stop_reason"]
            save_checkpoint()
        if stop_reason in ("max_epochs", "early_stopping") and not state["finished"]:
            state["finished"], state["stop_reason"] = True, stop_reason
            save_checkpoint()
        est.load_state_dict(best_state)
        est.to("cpu").eval()
        self.history = history
        self.summary = {
            "stop_reason": stop_reason,
            "epochs": state["epoch"],
            "best_epoch": state["best_epoch"],
            "best_val_nll": state["best_val"],
            "train_seconds": state["train_seconds"],
            "n_train": int(len(tr)),
            "n_validation": int(len(va)),
            "dropped_silent": data["dropped_silent"],
            "dropped_outside_box": data["dropped_outside"],
            "n_parameters": est.n_parameters,
            "validation_indices": va,
        }
        return est

    def build_posterior(self, model: str | None = None, rng=None):
        """The :class:`~sbidic.inference.posterior.ConductancePosterior` of the trained
        estimator (``model`` defaults to the trainer's)."""
        from sbidic.inference.posterior import ConductancePosterior

        if self.estimator is None:
            raise ValueError("train() the estimator before building the posterior")
        if model is None and self._model_given:
            model = self.model
        # None: the posterior finds the estimator's model by name, importing no file
        return ConductancePosterior(self.estimator, model=model, rng=rng)


# ---------------------------------------------------------------- save / load
def save_estimator(
    estimator: DICEstimator, path_dir: str | os.PathLike, card: dict | None = None
) -> Path:
    """Write an estimator to a directory, without pickle.

    Files: ``weights.safetensors`` (the state dict), ``config.json`` (constructor
    arguments, :meth:`DICEstimator.config`), ``model_card.json`` and ``model_card.md``
    (``card``: data, command, seed, wall time, metrics, ...; versions are added).

    Returns
    -------
    Path
        The directory.
    """
    from sbidic import __version__

    path = Path(path_dir)
    path.mkdir(parents=True, exist_ok=True)
    _write_atomic(_state_to_tensors("", estimator.state_dict()), {}, path / "weights.safetensors")
    (path / "config.json").write_text(json.dumps(estimator.config(), indent=2))
    info = {
        "name": "sbidic DIC estimator",
        "model": estimator.model_name,
        "n_parameters": estimator.n_parameters,
        "sbidic_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        **(card or {}),
    }
    write_model_card(path, info)
    return path


def write_model_card(path_dir: str | os.PathLike, info: dict) -> None:
    """Write ``model_card.json`` and its readable ``model_card.md`` into ``path_dir``."""
    path = Path(path_dir)
    info = json.loads(json.dumps(info, default=_jsonable))
    (path / "model_card.json").write_text(json.dumps(info, indent=2))
    lines = [
        f"# {info['name']} ({info.get('model') or 'custom'} model)",
        "",
        "Posterior q(g_s, g_u | spike times): transformer spike-train encoder + neural spline"
        " flow, trained by neural posterior estimation (Brandoit et al. 2025, arXiv:2509.12783;"
        " Durkan et al. 2019; Papamakarios & Murray 2016; Greenberg et al. 2019).",
        "",
        "| field | value |",
        "|---|---|",
    ]
    for key, value in info.items():
        if key == "name":
            continue
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        lines.append(f"| {key} | {text.replace('|', '/')} |")
    (path / "model_card.md").write_text("\n".join(lines) + "\n")


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def load_estimator(path_dir: str | os.PathLike) -> DICEstimator:
    """Read an estimator written by :func:`save_estimator` (eval mode)."""
    path = Path(path_dir)
    config_file, weights = path / "config.json", path / "weights.safetensors"
    for f in (config_file, weights):
        if not f.exists():
            raise FileNotFoundError(f"{f} not found: {path} is not a saved estimator")
    est = DICEstimator.from_config(json.loads(config_file.read_text()))
    est.load_state_dict(load_file(str(weights)))
    return est.eval()


# ----------------------------------------------------------------- entry point
def _card_path(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when inside it (model cards)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _transfer(source: DICEstimator, model: str, timing_features: bool = False) -> DICEstimator:
    """A copy of ``source`` for a conductance model: same weights, the model's DIC box
    (the flow lives in box-normalised coordinates). ``timing_features`` adds the
    encoder's timing branch if ``source`` lacks it; it starts at zero, so the copy
    computes what ``source`` does until it is trained."""
    from sbidic.models import get_model

    config = source.config()
    model = get_model(model)
    config["model"] = model.name  # a user's file model is saved by its name, not its path
    config["box"] = {k: list(v) for k, v in model.target_box.items()}
    config["encoder"]["timing_features"] |= timing_features
    config.pop("flow_shift", None)  # a recalibration belongs to the source's training
    est = DICEstimator.from_config(config)
    state = {k: v for k, v in source.state_dict().items() if k not in ("box_lo", "box_hi")}
    missing, unexpected = est.load_state_dict(state, strict=False)
    new = {k for k in missing if k.startswith("encoder.timing.")}
    if set(missing) - new != {"box_lo", "box_hi"} or unexpected:
        raise ValueError(f"cannot transfer weights: missing {missing}, unexpected {unexpected}")
    return est


def train_from_dataset(
    dataset_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    max_epochs: int = 50,
    max_time_s: float | None = None,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    patience: int | None = 10,
    encoder_kwargs: dict | None = None,
    estimator_kwargs: dict | None = None,
    max_spikes: int | None = DEFAULT_MAX_SPIKES,
    show_progress_bars: bool = True,
    n_eval_samples: int = 100,
    init_from: str | os.PathLike | None = None,
    p_augment: float | None = None,
    independent_steps: bool | None = None,
    jitter_ms: float | tuple[float, float] | None = None,
    timing_features: bool = False,
    model=None,
    **train_kwargs,
) -> DICEstimator:
    """Train an estimator on a dataset written by :func:`sbidic.datasets.generate_dataset`.

    Uses the dataset's target-wise ``split`` ("train" / "validation"; "test" is left
    for :mod:`benchmarks.bench_estimator`), theta = the target ``(g_s, g_u)`` (the
    achieved DICs for Monte-Carlo datasets), drops silent trains. The checkpoint lives
    in ``out_dir/checkpoint`` (rerun the same call to resume); the trained estimator is
    saved to ``out_dir`` (:func:`save_estimator`) with a model card holding the data,
    command, seed, wall time and validation metrics (NLL, MAE of the posterior mean
    overall and per firing class).

    ``init_from`` (a directory of :func:`save_estimator`, e.g. the shipped STG network)
    starts from those weights instead of a fresh network: transfer learning by
    fine-tuning every weight (Brandoit et al. 2025 transfer STG -> DA). The DIC box
    becomes the new model's; the token and feature statistics are recomputed on the
    new training data; ``encoder_kwargs`` / ``estimator_kwargs`` must then be None.

    ``p_augment``, ``independent_steps`` and ``jitter_ms`` override those fields of the
    augmentation (:class:`~.estimator.Augmentation`; default: the estimator's, 0.5,
    False and 2 ms for a new one). ``timing_features`` gives the encoder the
    whole-train ISI-variability summaries (:class:`~.encoder.SpikeTrainEncoder`); with
    ``init_from`` it adds that branch (starting at zero) to the loaded encoder.

    ``model`` is the dataset's model (default: the one its manifest names). A dataset
    of a model of your own needs it (``path.py:NAME``, or the model): a model file
    named in a manifest is data and is never imported
    (:func:`~sbidic.models.model_from_data`).

    Returns
    -------
    DICEstimator
    """
    from sbidic.datasets import (
        dataset_model,
        dataset_spec,
        dataset_status,
        dic_targets,
        load_dataset,
    )

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    t0 = time.perf_counter()
    ds = load_dataset(dataset_dir)
    spec = dataset_spec(ds)
    model = dataset_model(ds, model, source=str(Path(dataset_dir) / "manifest.json"))
    theta = dic_targets(ds)
    trains = SpikeTrains.from_dataset(ds, check=False)
    split = np.asarray(ds["split"].values).astype(str)
    fit = np.flatnonzero(split != "test")
    estimator = None
    if init_from is not None:
        if encoder_kwargs or estimator_kwargs:
            raise ValueError("init_from fixes the architecture: drop encoder/estimator kwargs")
        estimator = _transfer(load_estimator(init_from), model, timing_features)
    elif timing_features:
        encoder_kwargs = {**(encoder_kwargs or {}), "timing_features": True}
    changes = {"p_augment": p_augment, "independent_steps": independent_steps,
               "jitter_ms": jitter_ms}  # fmt: skip
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:  # Augmentation checks the values
        if estimator is None:
            estimator_kwargs = dict(estimator_kwargs or {})
            aug = estimator_kwargs.get("augmentation", Augmentation())
            estimator_kwargs["augmentation"] = replace(aug, **changes)
        else:
            estimator.augmentation = replace(estimator.augmentation, **changes)
    trainer = DICTrainer(
        estimator,
        model=model,
        encoder_kwargs=encoder_kwargs,
        estimator_kwargs=estimator_kwargs,
        max_spikes=max_spikes,
        show_progress_bars=show_progress_bars,
    )
    trainer.append_simulations(
        theta[fit],
        trains[fit],
        split=split[fit],
        groups=np.asarray(ds["target_index"].values)[fit],
    )
    out = Path(out_dir)
    est = trainer.train(
        max_epochs=max_epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        checkpoint_path=out / "checkpoint",
        seed=seed,
        max_time_s=max_time_s,
        **train_kwargs,
    )
    metrics = {"best_val_nll": trainer.summary["best_val_nll"]}
    val = np.flatnonzero((split == "validation") & (trains.n_spikes >= MIN_SPIKES))
    if val.size:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mean = est.point_estimate(trains[val], n_samples=n_eval_samples).numpy()
        err = np.abs(mean - theta[val])
        label = np.asarray(ds["label_code"].values)[val]
        metrics["val_mae"] = {"g_s": float(err[:, 0].mean()), "g_u": float(err[:, 1].mean())}
        for code, name in ((1, "spiking"), (2, "bursting")):
            m = label == code
            if m.any():
                metrics[f"val_mae_{name}"] = {
                    "g_s": float(err[m, 0].mean()),
                    "g_u": float(err[m, 1].mean()),
                }
    summary = {k: v for k, v in trainer.summary.items() if k != "validation_indices"}
    card = {
        "data": {
            "dataset_dir": _card_path(dataset_dir),
            "n_cells": int(trains.n_trains),
            "chunks": f"{ds.attrs['n_chunks']} of {ds.attrs['chunks_total']}",
            "content_sha256": dataset_status(dataset_dir)["content_sha256"],
            "spec": spec,
        },
        "command": " ".join(sys.argv),
        "seed": seed,
        "init_from": None if init_from is None else _card_path(init_from),
        "wall_time_s": time.perf_counter() - t0,
        "training": summary,
        "train_settings": {
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "patience": patience,
            "max_time_s": max_time_s,
            **train_kwargs,
        },
        "metrics": metrics,
        "history": trainer.history,
        "torch_threads": torch.get_num_threads(),
    }
    save_estimator(est, out, card)
    return est
