"""Training from a dataset directory: :func:`train_from_dataset`.

A dataset of :func:`sbidic.datasets.generate_dataset` in, a saved estimator with its
model card out (data, command, seed, wall time, validation metrics); resumable
from its checkpoint, and optionally fine-tuned from a saved estimator of another
model (:func:`_transfer`).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sbidic.inference.estimator import Augmentation, DICEstimator
from sbidic.inference.tokens import DEFAULT_MAX_SPIKES, MIN_SPIKES
from sbidic.inference.training.saving import card_path, load_estimator, save_estimator
from sbidic.inference.training.trainer import DICTrainer
from sbidic.spikes import SpikeTrains

__all__ = ["train_from_dataset"]


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
            "dataset_dir": card_path(dataset_dir),
            "n_cells": int(trains.n_trains),
            "chunks": f"{ds.attrs['n_chunks']} of {ds.attrs['chunks_total']}",
            "content_sha256": dataset_status(dataset_dir)["content_sha256"],
            "spec": spec,
        },
        "command": " ".join(sys.argv),
        "seed": seed,
        "init_from": None if init_from is None else card_path(init_from),
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
