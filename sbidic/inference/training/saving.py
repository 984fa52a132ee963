"""Trained estimators on disk, without pickle: weights, configuration, model card.

:func:`save_estimator` writes ``weights.safetensors``, ``config.json`` and the model
card (:func:`write_model_card`: ``model_card.json`` and ``model_card.md``);
:func:`load_estimator` reads them back.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from sbidic.inference.estimator import DICEstimator
from sbidic.inference.training.checkpoints import _state_to_tensors, _write_atomic

__all__ = ["card_path", "load_estimator", "save_estimator", "write_model_card"]


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
    from sbidic._version import __version__

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


def card_path(path: str | os.PathLike) -> str:
    """``path`` as written in model cards: relative to the working directory when inside
    it, else absolute.

    Parameters
    ----------
    path : str or path-like
        A file or directory.

    Returns
    -------
    str
        The path to show.
    """
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)
