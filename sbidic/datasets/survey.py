"""Firing-space survey of a model: Monte Carlo cells, simulated, counted per pattern.

A survey is a Monte Carlo dataset (``sbidic dataset --mode mc``: every conductance
drawn uniformly over the model's ``monte_carlo_ranges``) summarised as a
:class:`~sbidic.fidelity.firing_space.FiringSpace`. It shows which tonic rates and
which bursts (period x spikes per burst x duty cycle) the model fires at all, before
any estimator is trained, and is resumable like every dataset: rerun the same
command to continue.

References
----------
A. A. Prinz, C. P. Billimoria, E. Marder (2003). Alternative to hand-tuning
conductance-based models: construction and analysis of databases of model neurons.
J. Neurophysiol. 90(6), 3998-4015. https://doi.org/10.1152/jn.00641.2003
"""

from __future__ import annotations

import os
from pathlib import Path

from sbidic.datasets.generate import DatasetSpec, generate_dataset
from sbidic.datasets.store import load_dataset
from sbidic.fidelity.firing_space import FiringSpace
from sbidic.fidelity.survey_cells import SURVEY_CELLS_FILE, SurveyCells

__all__ = ["dataset_firing_space", "survey", "survey_cells"]


def dataset_firing_space(root: str | os.PathLike, split: str | None = None) -> FiringSpace:
    """The :class:`FiringSpace` of the finished chunks of a dataset (any mode).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()) / "mc"
    >>> spec = DatasetSpec(model="stg", n_targets=4, mode="mc", cells_per_target=1,
    ...                    duration_ms=600.0, transient_ms=100.0, targets_per_chunk=4)
    >>> _ = generate_dataset(root, spec, n_jobs=1, progress=False)
    >>> dataset_firing_space(root).n_cells
    4
    """
    from sbidic.fidelity.scores import FidelityCriteria
    from sbidic.spikes import SpikeTrains

    ds = load_dataset(root, split=split)
    cells = FidelityCriteria().summarize(SpikeTrains.from_dataset(ds, check=False))
    spec = DatasetSpec.from_json(ds.attrs["spec"])
    source = f"{root} ({spec.mode}, {ds.attrs['n_chunks']} of {ds.attrs['chunks_total']} chunks)"
    return FiringSpace.from_features(spec.model, cells, source=source)


def survey_cells(root: str | os.PathLike, per_bin: int | None = 200, seed: int = 0) -> SurveyCells:
    """The firing cells of a dataset's finished chunks (a survey, or any Monte Carlo
    dataset such as ``data/stg_mc_v1``) with their conductances, at most ``per_bin``
    per firing-space bin (:meth:`~sbidic.fidelity.SurveyCells.from_features`).

    Examples
    --------
    Ship them beside an estimator (``--verify`` then searches from them)::

        survey_cells("data/stg_mc_v1").save("sbidic/weights/stg/survey_cells.safetensors")
    """
    from sbidic.fidelity.scores import FidelityCriteria
    from sbidic.spikes import SpikeTrains

    ds = load_dataset(root)
    feats = FidelityCriteria().summarize(SpikeTrains.from_dataset(ds, check=False))
    model = DatasetSpec.from_json(ds.attrs["spec"]).model
    return SurveyCells.from_features(model, ds["conductances"].values, feats, per_bin, seed)


def survey(
    model: str,
    n_cells: int,
    output: str | os.PathLike,
    *,
    seed: int = 0,
    duration_ms: float | None = None,
    transient_ms: float | None = None,
    dt_ms: float | None = 0.025,
    method: str | None = None,
    cells_per_chunk: int = 256,
    n_jobs: int | None = 1,
    device: str = "runtime",
    progress: bool = True,
) -> FiringSpace:
    """Simulate ``n_cells`` Monte Carlo cells of ``model`` and count their patterns.

    The cells are a Monte Carlo dataset in ``output`` (resumable); the firing space
    is also written there as ``firing_space.json``, ``firing_space.csv`` and
    ``firing_space.png``, and up to 200 cells of each of its bins with their
    conductances as ``survey_cells.safetensors`` (:class:`~sbidic.fidelity.SurveyCells`:
    copied beside an estimator's weights, ``--verify`` searches from them).

    Parameters
    ----------
    model : str
        A registered model name (a model file: give the path as ``file.py:NAME``).
    n_cells : int
        Monte Carlo cells.
    output : path
        Survey directory.
    seed : int
        Root seed of the draws.
    duration_ms, transient_ms : float, optional
        Protocol (ms); default the model's. Slow bursters need windows of several
        periods.
    dt_ms : float, optional
        Integration step (ms); default 0.025 ms, the datasets' step.
    method : str, optional
        Brian2 integration method (default: the simulator's for the model).
    cells_per_chunk : int
        Cells per chunk file.
    n_jobs : int, optional
        Worker processes.
    device : str
        Brian2 device (``"runtime"``, ``"cpp_standalone"``...).
    progress : bool
        Show a progress bar.

    Returns
    -------
    FiringSpace
    """
    spec = DatasetSpec(model=model, n_targets=n_cells, mode="mc", cells_per_target=1, seed=seed,
                       duration_ms=duration_ms, transient_ms=transient_ms, dt_ms=dt_ms,
                       method=method, targets_per_chunk=cells_per_chunk)  # fmt: skip
    generate_dataset(output, spec, n_jobs=n_jobs, progress=progress, device=device)
    space = dataset_firing_space(output)
    out = Path(output)
    space.save(out / "firing_space.json")
    space.to_frame().to_csv(out / "firing_space.csv", index=False)
    survey_cells(output).save(out / SURVEY_CELLS_FILE)
    import matplotlib.pyplot as plt

    fig = space.plot()
    fig.savefig(out / "firing_space.png", dpi=110)
    plt.close(fig)
    return space
