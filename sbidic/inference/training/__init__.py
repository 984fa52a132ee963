"""Training the DIC estimator: sbi-style trainer, checkpoints, saving and loading.

* :mod:`~sbidic.inference.training.data`: the data pipeline, simulated
  ``(theta, spike train)`` pairs to batches of tensors;
* :mod:`~sbidic.inference.training.trainer`: :class:`DICTrainer`, the training loop
  (``append_simulations`` / ``train`` / ``build_posterior``);
* :mod:`~sbidic.inference.training.checkpoints`: resumable checkpoints;
* :mod:`~sbidic.inference.training.saving`: :func:`save_estimator`,
  :func:`load_estimator` and model cards;
* :mod:`~sbidic.inference.training.from_dataset`: :func:`train_from_dataset`, a
  dataset directory in, a saved estimator out.
"""

from sbidic.inference.training.from_dataset import train_from_dataset
from sbidic.inference.training.saving import load_estimator, save_estimator, write_model_card
from sbidic.inference.training.trainer import DICTrainer

__all__ = [
    "DICTrainer",
    "load_estimator",
    "save_estimator",
    "train_from_dataset",
    "write_model_card",
]
