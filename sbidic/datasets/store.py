"""Reading generated datasets back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sbidic.datasets.generate import DatasetSpec, decode_spike_steps
from sbidic.datasets.sampling import SPLITS, split_of

__all__ = [
    "cells_per_target",
    "dataset_model",
    "dataset_spec",
    "dataset_status",
    "dic_targets",
    "load_dataset",
    "subset_dataset",
]


def _chunks(root: Path) -> list[Path]:
    return sorted((root / "chunks").glob("chunk_*.nc"))


def subset_dataset(
    root: str | os.PathLike, n_chunks: int, out: str | os.PathLike | None = None
) -> Path:
    """A dataset of the first ``n_chunks`` finished chunks of ``root``, for quick runs.

    The chunks are linked, not copied; the manifest is copied. ``out`` defaults to a
    new temporary directory (named like ``root``).

    Returns
    -------
    Path
        The new dataset directory, readable by :func:`load_dataset`.
    """
    import shutil
    import tempfile

    root = Path(root)
    chunks = _chunks(root)
    if not chunks:
        raise FileNotFoundError(f"no finished chunks in {root / 'chunks'}")
    if int(n_chunks) < 1:
        raise ValueError(f"n_chunks must be >= 1, got {n_chunks}")
    sub = Path(out) if out is not None else Path(tempfile.mkdtemp()) / root.name
    (sub / "chunks").mkdir(parents=True)
    shutil.copy(root / "manifest.json", sub)
    for chunk in chunks[: int(n_chunks)]:
        (sub / "chunks" / chunk.name).symlink_to(chunk.resolve())
    return sub


def dataset_spec(ds) -> dict:
    """The :class:`DatasetSpec` fields of a dataset loaded by :func:`load_dataset`
    (its ``spec`` attribute, a JSON string or already a dict), as a dict."""
    spec = ds.attrs["spec"]
    return json.loads(spec) if isinstance(spec, str) else dict(spec)


def dataset_model(ds, model=None, *, source: str = "the dataset manifest"):
    """The model of a dataset loaded by :func:`load_dataset`, found without importing
    a model file its manifest names.

    Parameters
    ----------
    ds : xarray.Dataset
        A dataset from :func:`load_dataset`.
    model : str or ConductanceModel, optional
        The model the user gave (``--model``). A dataset of a model file needs it:
        the file (code) is imported only when the user names it.
    source : str
        The manifest, as named in error messages.

    Returns
    -------
    ConductanceModel

    Raises
    ------
    ValueError
        The manifest names a model file that ``model`` does not give, an unknown
        model, or another model than ``model``.
    """
    from sbidic.models import is_model_file, model_from_data

    stored = str(dataset_spec(ds)["model"])
    resolved = model_from_data(stored, model, source=source)
    if (model is not None and not is_model_file(stored)
            and stored.lower() not in (resolved.name.lower(), str(model).lower())):  # fmt: skip
        raise ValueError(f"{source} is a dataset of the model {stored!r}, not {resolved.name!r}")
    return resolved


def dic_targets(ds) -> np.ndarray:
    """The ``(g_s, g_u)`` of each cell of a loaded dataset, float64 ``(N, 2)``: its target
    DICs, or the DICs it achieved where it has no target (Monte Carlo datasets)."""
    target = np.asarray(ds["target"].values, dtype=np.float64)
    achieved = np.asarray(ds["dics"].values, dtype=np.float64)[:, 1:]
    return np.where(np.isfinite(target), target, achieved)


def cells_per_target(rows, target_index, k: int = 1, seed: int = 0) -> np.ndarray:
    """At most ``k`` of ``rows`` (cell indices) per target, drawn at random, sorted.

    For simulation-based calibration: cells of one target share their DICs, so their
    recordings are not independent draws; drawing ``k = 1`` per target among *all* its
    cells and only then dropping the silent ones gives draws of theta from the prior
    and x from p(x | theta, not silent), what the estimator was trained on.

    Parameters
    ----------
    rows : array_like of int
        Candidate cells (e.g. the held-out split's).
    target_index : array_like of int
        Target of every cell of the dataset (its ``target_index`` variable).
    k : int, default 1
    seed : int, default 0

    Examples
    --------
    >>> target = np.array([0, 0, 0, 1, 1, 2])
    >>> cells_per_target(np.arange(6), target, k=1, seed=0).tolist()
    [2, 3, 5]
    >>> len(cells_per_target(np.arange(6), target, k=2))
    5
    """
    target_index = np.asarray(target_index)
    shuffled = np.random.default_rng(seed).permutation(np.asarray(rows, dtype=np.int64))
    group = target_index[shuffled]
    order = np.argsort(group, kind="stable")  # each target's cells, in shuffled order
    rank = np.empty(shuffled.size, dtype=np.int64)
    rank[order] = np.arange(shuffled.size) - np.searchsorted(group[order], group[order])
    return np.sort(shuffled[rank < int(k)])


def load_dataset(root: str | os.PathLike, split: str | None = None):
    """All finished chunks of a dataset as one ``xarray.Dataset``.

    Parameters
    ----------
    root : path
        Dataset directory written by :func:`generate_dataset`.
    split : {"train", "validation", "test"}, optional
        Keep only the cells of that split (splits are by target).

    Returns
    -------
    xarray.Dataset
        Dimension ``train`` (one per cell, coordinate ``train_id`` = global cell id) with
        ``conductances``, ``target``, achieved ``dics``, ``target_index``, ``split``,
        ``label_code``, ``diverged`` (1: the integration blew up and the cell is
        labelled silent; -1: not recorded, chunks written before 2026-11-26) and the
        spike features (recomputed from the trains); spike times
        (ms) as a CF contiguous ragged array: read them with
        ``sbidic.spikes.SpikeTrains.from_dataset``.
    """
    import xarray as xr

    from sbidic.spikes import SpikeTrains, spike_features

    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(root)
    files = _chunks(root)
    if not files:
        raise FileNotFoundError(f"no finished chunks in {root / 'chunks'}")
    spec = DatasetSpec.from_json(json.loads((root / "manifest.json").read_text())["spec"])
    parts, trains = [], []
    for path in files:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
        n = ds["n_spikes"].values
        times = decode_spike_steps(ds["spike_step_delta"].values, n, float(ds.attrs["dt_ms"]))
        offsets = np.concatenate([[0], np.cumsum(n)])
        chunk_trains = SpikeTrains(times, offsets, ds["cell_id"].values, check=False)
        # The split is a function of the target index (chunks written before
        # 2026-11-26 stored "test" cells with the "train" code, so it is recomputed).
        cell_split = split_of(ds["target_index"].values, spec.n_targets, spec.seed,
                              spec.fractions)  # fmt: skip
        ds = ds.drop_vars("split_code").assign(split=("cell", cell_split))
        if "diverged" not in ds:  # chunks written before 2026-11-26: not recorded
            ds["diverged"] = ("cell", np.full(ds.sizes["cell"], -1, np.int8))
        keep = np.arange(ds.sizes["cell"])
        if split is not None:
            keep = np.flatnonzero(cell_split == split)
        trains.append(chunk_trains[keep])
        cells = ds.drop_vars(["spike_step_delta", "unreachable_target", "n_spikes"])
        parts.append(cells.isel(cell=keep).drop_vars("cell_id"))
    spikes = SpikeTrains.concatenate(trains)
    cells = xr.concat(parts, dim="cell", data_vars="all", coords="minimal", compat="override")
    cells = cells.rename({"cell": "train"})
    features = spike_features(spikes).to_dataset().drop_vars(["train_id", "label_code"])
    out = spikes.to_dataset(features)
    out = out.assign(dict(cells.data_vars))
    out.attrs["spec"] = json.loads((root / "manifest.json").read_text())["spec"]
    out.attrs["n_chunks"] = len(files)
    out.attrs["chunks_total"] = spec.n_chunks
    return out


def dataset_status(root: str | os.PathLike) -> dict:
    """How far a dataset is: chunks done, cells, silent fraction, unreachable targets,
    diverged cells (integration blow-ups, counted among the silent ones; chunks
    written before 2026-11-26 do not record them and are counted apart), CPU time,
    size, and a content hash.

    ``content_sha256`` hashes every variable's name, dtype, shape and values of every
    finished chunk, in chunk order, and no attributes (which hold timings): two runs of
    the same spec give the same hash, whatever the interruptions.
    """
    import hashlib

    import xarray as xr

    root = Path(root)
    spec = DatasetSpec.from_json(json.loads((root / "manifest.json").read_text())["spec"])
    files = _chunks(root)
    cells = silent = unreachable = diverged = unrecorded = 0
    cpu = 0.0
    digest = hashlib.sha256()
    for path in files:
        with xr.open_dataset(path) as ds:
            for name in sorted(map(str, ds.variables)):
                values = np.ascontiguousarray(ds[name].values)
                digest.update(f"{path.name}/{name}:{values.dtype.str}:{values.shape}".encode())
                raw = values.tobytes() if values.dtype.kind != "O" else repr(values.tolist())
                digest.update(raw if isinstance(raw, bytes) else raw.encode())
            cells += ds.sizes["cell"]
            silent += int((ds["label_code"].values == 0).sum())
            unreachable += ds.sizes.get("unreachable", 0)
            if "diverged" in ds:
                diverged += int((ds["diverged"].values == 1).sum())
            else:
                unrecorded += 1
            cpu += float(ds.attrs.get("wall_time_s", 0.0))
    return {
        "chunks_done": len(files),
        "chunks_total": spec.n_chunks,
        "cells": cells,
        "non_silent": cells - silent,
        "silent_fraction": round(silent / cells, 4) if cells else float("nan"),
        "unreachable_targets": unreachable,
        "diverged_cells": diverged,
        "chunks_without_diverged_flag": unrecorded,
        "cpu_hours": round(cpu / 3600, 3),
        "megabytes": round(sum(p.stat().st_size for p in files) / 2**20, 2),
        "content_sha256": digest.hexdigest(),
    }
