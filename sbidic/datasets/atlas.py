"""The firing atlas of a DIC dataset (``sbidic atlas``): its simulated cells, grouped
by target (:func:`sbidic.fidelity.atlas.firing_atlas`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sbidic.datasets.store import load_dataset
from sbidic.fidelity.atlas import FiringAtlas, firing_atlas
from sbidic.fidelity.scores import FidelityCriteria
from sbidic.spikes import SpikeTrains

__all__ = ["build_firing_atlas"]


def build_firing_atlas(
    dataset: str | os.PathLike, split: str = "train", criteria: FidelityCriteria | None = None
) -> FiringAtlas:
    """A :class:`~sbidic.fidelity.FiringAtlas` of one split of a DIC dataset
    (``sbidic dataset``).

    Parameters
    ----------
    dataset : path
        Dataset directory (DIC mode).
    split : str, default "train"
        Use only this split's targets (keep the test split out of anything evaluated
        on it).
    criteria : FidelityCriteria, optional
        Its ``cv_threshold`` and ``min_spikes`` label the cells.

    Raises
    ------
    ValueError
        The dataset is not in DIC mode.
    """
    ds = load_dataset(dataset, split=split)
    spec = json.loads(json.loads((Path(dataset) / "manifest.json").read_text())["spec"])
    if spec.get("mode", "dic") != "dic":
        raise ValueError(f"{dataset} is not a DIC dataset (mode {spec.get('mode')!r})")
    return firing_atlas(
        str(spec["model"]),
        SpikeTrains.from_dataset(ds, check=False),
        ds["target"].values,
        ds["target_index"].values,
        reachable=np.isfinite(ds["conductances"].values).all(axis=1),
        criteria=criteria,
    )
