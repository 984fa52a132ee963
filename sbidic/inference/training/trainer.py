"""The training loop: :class:`DICTrainer`.

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
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from sbidic.inference.encoder import SpikeTrainEncoder
from sbidic.inference.estimator import DICEstimator
from sbidic.inference.tokens import DEFAULT_MAX_SPIKES, token_stats
from sbidic.inference.training.checkpoints import (
    CHECKPOINT,
    resume_checkpoint,
    write_checkpoint,
)
from sbidic.inference.training.data import (
    as_trains,
    batch_tensors,
    collect_simulations,
    length_batches,
    split_by_target,
)

__all__ = ["DICTrainer"]


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
        trains = as_trains(x)
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
        """The appended simulations as one training set (:func:`.data.collect_simulations`)."""
        return collect_simulations(self._parts, self._box(), self.max_spikes)

    def _model_name(self) -> str | None:
        """The model's name (a model given as ``path.py:NAME`` is saved by its name)."""
        from sbidic.models import get_model

        return None if self.model is None else get_model(self.model).name

    def _box(self):
        if self.estimator is not None:
            return self.estimator.box
        if self.box is not None:
            from sbidic.inference.estimator import dic_box

            return dic_box(self.box)
        from sbidic.models import get_model

        tb = get_model(self.model or "stg").target_box
        return (tuple(tb["g_s"]), tuple(tb["g_u"]))

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
                theta, times, lens, _, _ = batch_tensors(data, b, device)
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
        tr, va = split_by_target(data, validation_fraction, seed)
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
        ckpt = None if checkpoint_path is None else Path(checkpoint_path) / CHECKPOINT
        if ckpt is not None and ckpt.exists():
            best_state, state, history, resume = resume_checkpoint(ckpt, fingerprint, est, opt)

        def save_checkpoint(extra: dict | None = None) -> None:
            if ckpt is None:
                return
            write_checkpoint(ckpt, est, best_state, opt, fingerprint, state, history, extra)

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
            batches = length_batches(tr, data["n_spikes"], batch_size, rng)
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
                    theta, times, lens, labels, feats = batch_tensors(data, b, device)
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
