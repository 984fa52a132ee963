"""Training datasets: sample conductances, simulate, store chunks, read back; the firing
atlas of a dataset."""

from sbidic.datasets.atlas import build_firing_atlas
from sbidic.datasets.generate import DatasetSpec, generate_dataset, run_chunk
from sbidic.datasets.sampling import latin_hypercube_targets, monte_carlo_conductances
from sbidic.datasets.store import (
    cells_per_target,
    dataset_model,
    dataset_spec,
    dataset_status,
    dic_targets,
    load_dataset,
    subset_dataset,
)

__all__ = [
    "DatasetSpec",
    "build_firing_atlas",
    "cells_per_target",
    "dataset_model",
    "dataset_spec",
    "dataset_status",
    "dic_targets",
    "generate_dataset",
    "latin_hypercube_targets",
    "load_dataset",
    "monte_carlo_conductances",
    "run_chunk",
    "subset_dataset",
]
