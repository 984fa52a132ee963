"""Resumable training checkpoints: one safetensors file, no pickle.

:func:`write_checkpoint` writes, atomically, the model, the best model so far, the
optimiser's tensors and the RNG state as tensors, and the rest (the run's
fingerprint, epoch, scheduler step, early-stopping state, history, optimiser
hyper-parameters) as JSON in the file's metadata, with a readable
``checkpoint.json`` beside it. :func:`resume_checkpoint` restores them into the
estimator and optimiser of a run with the same fingerprint (same data, settings
and seed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

__all__ = ["CHECKPOINT", "resume_checkpoint", "write_checkpoint"]

#: File name of the checkpoint in a run's checkpoint directory.
CHECKPOINT = "checkpoint.safetensors"


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


def write_checkpoint(
    path: Path,
    estimator: torch.nn.Module,
    best_state: dict,
    opt: torch.optim.Optimizer,
    fingerprint: dict,
    state: dict,
    history: list[dict],
    extra: dict | None = None,
) -> None:
    """Write the checkpoint ``path`` (and ``checkpoint.json`` beside it); ``extra``:
    more tensors (the RNG state within an interrupted epoch)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = _state_to_tensors("model/", estimator.state_dict())
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
    _write_atomic(tensors, meta, path)
    (path.parent / "checkpoint.json").write_text(
        json.dumps({"state": state, "history": history}, indent=2)
    )


def resume_checkpoint(
    path: Path, fingerprint: dict, estimator: torch.nn.Module, opt: torch.optim.Optimizer
) -> tuple[dict, dict, list[dict], dict]:
    """Load the checkpoint ``path`` into ``estimator`` and ``opt``; return the best
    weights so far, the training state, the history and the RNG state within an
    interrupted epoch. A ``ValueError`` if another run (other data, settings or seed)
    wrote it."""
    tensors, meta = _read_checkpoint(path)
    if meta.get("fingerprint") != json.loads(json.dumps(fingerprint)):
        raise ValueError(
            f"{path} was written by a different run (data, settings or seed differ); "
            "use another checkpoint_path or delete it"
        )
    estimator.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}
    _optimizer_from_flat(opt, tensors, meta["optimizer"])
    resume = {k: v for k, v in tensors.items() if k in ("rng/gen", "rng/epoch")}
    return best_state, meta["state"], meta["history"], resume
