"""Diversity of degenerate populations: how much of the conductance space they span.

Fidelity asks whether each cell fires like its recording; diversity asks how different
the cells of one population are from each other, the point of a degenerate population
(Prinz et al. 2004; Marder & Goaillard 2006). Four numbers per population:

* ``conductance_cv``: the mean, over conductances, of their coefficient of variation
  (SD / mean) across the cells;
* ``range_coverage``: the mean, over conductances, of the share of the model's
  declared plausible range (``model.conductance_ranges``) that the cells' values span,
  the span clipped to the range (1: from one end of the range to the other);
* ``outside_ranges``: the share of the cells with a conductance outside those ranges;
* ``log_volume``: the volume of the cells' one-SD ellipsoid in log-conductance space,
  as ``0.5 * sum(log(eigenvalues))`` of the covariance of ``ln g`` over the principal
  axes that carry variance (eigenvalues above 1e-12 of the largest), divided by their
  number: the log of the geometric-mean SD along those axes (natural-log units;
  ``-inf`` when the cells are all equal). Compensation ties conductances together, so
  it is lower than the per-conductance spreads suggest.

References
----------
A. A. Prinz, D. Bucher, E. Marder (2004). Similar network activity from disparate
circuit parameters. Nat. Neurosci. 7, 1345-1352. https://doi.org/10.1038/nn1352

E. Marder, J.-M. Goaillard (2006). Variability, compensation and homeostasis in
neuron and network function. Nat. Rev. Neurosci. 7, 563-574.
https://doi.org/10.1038/nrn1949
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["conductance_cv", "outside_share", "population_diversity", "range_coverage"]


def _cells(conductances) -> np.ndarray:
    g = np.asarray(conductances, dtype=float)
    if g.ndim != 3:
        raise ValueError("conductances must be (n_populations, n_cells, n_conductances), "
                         f"got shape {g.shape}")  # fmt: skip
    return g


def _bounds(g: np.ndarray, ranges) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` of one range per conductance of ``g``, checked."""
    r = np.asarray(list(ranges), dtype=float)
    if r.shape != (g.shape[2], 2):
        raise ValueError(f"need one (low, high) range per conductance ({g.shape[2]}), "
                         f"got {r.shape[0]}")  # fmt: skip
    return r[:, 0], r[:, 1]


def conductance_cv(conductances) -> np.ndarray:
    """Mean coefficient of variation of the conductances of each population.

    Parameters
    ----------
    conductances : array_like, shape (n_populations, n_cells, n_conductances)
        mS/cm^2.

    Returns
    -------
    ndarray, shape (n_populations,)
        Dimensionless; conductances that are 0 in every cell are left out; NaN for a
        population of fewer than 2 cells.

    Examples
    --------
    >>> g = np.array([[[1.0, 10.0, 0.0], [3.0, 10.0, 0.0]]])  # 2 cells, CV 0.5 and 0
    >>> conductance_cv(g).round(3).tolist()
    [0.25]
    """
    g = _cells(conductances)
    if g.shape[1] < 2:
        return np.full(g.shape[0], np.nan)
    mean = g.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.where(mean > 0, g.std(axis=1) / mean, np.nan)
    return np.nanmean(cv, axis=1)


def range_coverage(conductances, ranges: Sequence[tuple[float, float]]) -> np.ndarray:
    """Mean share of each conductance's declared range spanned by each population.

    Parameters
    ----------
    conductances : array_like, shape (n_populations, n_cells, n_conductances)
        mS/cm^2.
    ranges : sequence of (low, high)
        One range per conductance (mS/cm^2), e.g. ``model.conductance_ranges.values()``;
        ranges with ``high <= low`` are left out.

    Returns
    -------
    ndarray, shape (n_populations,)
        In [0, 1].

    Examples
    --------
    >>> g = np.array([[[1.0, 5.0], [3.0, 5.0]]])  # spans 2 of [0, 4], 0 of [0, 10]
    >>> range_coverage(g, [(0.0, 4.0), (0.0, 10.0)]).tolist()
    [0.25]
    """
    g = _cells(conductances)
    low, high = _bounds(g, ranges)
    ok = high > low
    top = np.clip(g.max(axis=1), low, high)
    bottom = np.clip(g.min(axis=1), low, high)
    share = (top - bottom)[:, ok] / (high - low)[ok]
    return share.mean(axis=1) if ok.any() else np.full(g.shape[0], np.nan)


def outside_share(conductances, ranges: Sequence[tuple[float, float]]) -> np.ndarray:
    """Share of the cells of each population with a conductance outside its range.

    Parameters
    ----------
    conductances : array_like, shape (n_populations, n_cells, n_conductances)
        mS/cm^2.
    ranges : sequence of (low, high)
        One range per conductance (mS/cm^2), bounds included.

    Returns
    -------
    ndarray, shape (n_populations,)
        In [0, 1].

    Examples
    --------
    >>> g = np.array([[[1.0, 5.0], [3.0, 11.0]]])  # the second cell leaves [0, 10]
    >>> outside_share(g, [(0.0, 4.0), (0.0, 10.0)]).tolist()
    [0.5]
    """
    g = _cells(conductances)
    low, high = _bounds(g, ranges)
    return (~((g >= low) & (g <= high)).all(axis=2)).mean(axis=1)


def _log_volume(cells: np.ndarray) -> float:
    """Log of the geometric-mean SD along the principal axes of ``ln g`` (module doc)."""
    positive = np.all(cells > 0, axis=0)
    if cells.shape[0] < 2 or not positive.any():
        return float("nan")
    logs = np.log(cells[:, positive])
    eig = np.linalg.eigvalsh(np.atleast_2d(np.cov(logs, rowvar=False)))
    if eig.max() <= 0:
        return float("-inf")
    kept = eig[eig > 1e-12 * eig.max()]
    return float(0.5 * np.mean(np.log(kept)))


def population_diversity(
    conductances, ranges: Mapping[str, tuple[float, float]] | None = None
) -> dict[str, np.ndarray]:
    """``conductance_cv``, ``range_coverage``, ``outside_ranges`` and ``log_volume`` of
    each population.

    Parameters
    ----------
    conductances : array_like, shape (n_populations, n_cells, n_conductances)
        mS/cm^2.
    ranges : mapping, optional
        Declared range per conductance, in conductance order (``model.conductance_ranges``);
        without it ``range_coverage`` and ``outside_ranges`` are NaN.

    Returns
    -------
    dict of ndarray, each shape (n_populations,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> wide = rng.uniform(1.0, 9.0, (1, 200, 2))
    >>> narrow = 5.0 + 0.1 * (wide - 5.0)
    >>> d = population_diversity(np.concatenate([wide, narrow]), {"a": (0, 10), "b": (0, 10)})
    >>> bool(d["range_coverage"][0] > d["range_coverage"][1])
    True
    >>> bool(d["log_volume"][0] - d["log_volume"][1] > 2.0)  # 10 times narrower
    True
    """
    g = _cells(conductances)
    none = np.full(g.shape[0], np.nan)
    bounds = None if ranges is None else list(ranges.values())
    return {
        "conductance_cv": conductance_cv(g),
        "range_coverage": none if bounds is None else range_coverage(g, bounds),
        "outside_ranges": none if bounds is None else outside_share(g, bounds),
        "log_volume": np.array([_log_volume(cells) for cells in g]),
    }
