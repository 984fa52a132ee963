"""Spike trains -> posterior over the DICs (g_s, g_u) -> conductance sets.

* :mod:`~sbidic.inference.tokens`: padded spike-time tensors, log-ISI tokens,
  augmentation;
* :class:`SpikeTrainEncoder`: transformer encoder (usable as an sbi ``embedding_net``);
* :class:`DICEstimator`: encoder + conditional neural spline flow over ``(g_s, g_u)``;
* :class:`DICTrainer`: sbi-style ``append_simulations`` / ``train`` /
  ``build_posterior`` with augmentation, target-wise validation, early stopping and
  resumable safetensors checkpoints;
* :func:`refit_flow` / :func:`refit_from_dataset`: refit a trained estimator's flow on
  its frozen encoder's evaluation-mode embeddings (calibration);
* :func:`recalibrate` / :func:`recalibrate_from_dataset`: a per-class shift of the
  posterior, fitted where held-out simulation-based-calibration ranks are off;
* :class:`ConductancePosterior`: an sbi ``NeuralPosterior`` whose samples are
  conductance sets (one compensated cell per DIC draw);
* :func:`load_pretrained`: the shipped STG / DA posteriors (``estimator="npe"``: the
  NPE baseline, :mod:`sbidic.inference.npe`);
* :class:`NPEPosterior`, :func:`train_npe`, :func:`load_npe`: plain neural posterior
  estimation over all conductances, the baseline of the DIC method;
* :func:`infer`: recordings in, populations and a per-recording report out;
  :func:`iter_infer` and :class:`ResultWriter` stream them, batch by batch, to a file.
"""

from sbidic.inference.encoder import SpikeTrainEncoder
from sbidic.inference.estimator import Augmentation, DICEstimator
from sbidic.inference.infer import infer, iter_infer
from sbidic.inference.npe import NPEPosterior, load_npe, train_npe
from sbidic.inference.posterior import ConductancePosterior, DICPosterior
from sbidic.inference.pretrained import available_pretrained, load_pretrained
from sbidic.inference.recalibrate import recalibrate, recalibrate_from_dataset
from sbidic.inference.refit import refit_flow, refit_from_dataset
from sbidic.inference.result import InferenceResult, ResultWriter
from sbidic.inference.tokens import SpikeTruncationWarning, TokenStats, pad_trains, token_stats
from sbidic.inference.training import (
    DICTrainer,
    load_estimator,
    save_estimator,
    train_from_dataset,
)
from sbidic.inference.verify import DIC_STRATEGIES, VerifyBudget

__all__ = [
    "DIC_STRATEGIES",
    "Augmentation",
    "ConductancePosterior",
    "DICEstimator",
    "DICPosterior",
    "DICTrainer",
    "InferenceResult",
    "NPEPosterior",
    "ResultWriter",
    "SpikeTrainEncoder",
    "SpikeTruncationWarning",
    "TokenStats",
    "VerifyBudget",
    "available_pretrained",
    "infer",
    "iter_infer",
    "load_estimator",
    "load_npe",
    "load_pretrained",
    "pad_trains",
    "recalibrate",
    "recalibrate_from_dataset",
    "refit_flow",
    "refit_from_dataset",
    "save_estimator",
    "token_stats",
    "train_from_dataset",
    "train_npe",
]
