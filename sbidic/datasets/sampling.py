"""Where dataset conductances come from: DIC targets or independent Monte-Carlo draws.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from sbidic.models import ConductanceModel, get_model
from sbidic.models.base import gamma_matching_uniform

__all__ = [
    "RANGES",
    "latin_hypercube_targets",
    "model_ranges",
    "monte_carlo_conductances",
    "split_of",
]

SPLITS = ("train", "validation", "test")


def latin_hypercube_targets(
    model: str | ConductanceModel, n: int, seed: int, box: dict | None = None
) -> np.ndarray:
    """``n`` targets ``(g_s, g_u)`` by Latin hypercube over the model's target box.

    Examples
    --------
    >>> t = latin_hypercube_targets("stg", 4, seed=0)
    >>> t.shape, bool(((t[:, 0] >= -20) & (t[:, 0] <= 20)).all())
    ((4, 2), True)
    """
    model = get_model(model)
    box = model.target_box if box is None else box
    unit = qmc.LatinHypercube(d=2, rng=np.random.default_rng(seed)).random(n)
    lo = [box["g_s"][0], box["g_u"][0]]
    hi = [box["g_s"][1], box["g_u"][1]]
    return qmc.scale(unit, lo, hi)


def monte_carlo_conductances(
    model: str | ConductanceModel,
    n: int,
    rng: np.random.Generator,
    distribution: str = "uniform",
    ranges: str = "monte_carlo",
) -> np.ndarray:
    """Independent draws of every conductance over the model's ranges.

    Parameters
    ----------
    distribution : {"uniform", "gamma"}
        Uniform over each range, or the gamma law with the same mean and variance.
    ranges : {"monte_carlo", "plausible"}
        The model's ``monte_carlo_ranges`` (``[0, high]`` boxes of the published
        surveys) or its plausible ``conductance_ranges`` (those of the published
        algorithm's populations, :attr:`ConductanceModel.conductance_ranges`).

    Returns
    -------
    ndarray, shape (n, n_conductances)
        Conductances (mS/cm^2).

    Examples
    --------
    >>> g = monte_carlo_conductances("stg", 4, rng=np.random.default_rng(0))
    >>> g.shape
    (4, 8)
    """
    model = get_model(model)
    if distribution not in ("uniform", "gamma"):
        raise ValueError(f"distribution must be 'uniform' or 'gamma', got {distribution!r}")
    box = model_ranges(model, ranges)
    g = np.empty((n, model.n_conductances))
    for j, name in enumerate(model.conductances):
        low, high = box[name]
        if distribution == "uniform":
            g[:, j] = rng.uniform(low, high, n)
        else:
            g[:, j] = rng.gamma(*gamma_matching_uniform(low, high), n)
    return g


#: Which of a model's conductance boxes Monte Carlo cells are drawn from.
RANGES = ("monte_carlo", "plausible")


def model_ranges(model: str | ConductanceModel, ranges: str = "monte_carlo") -> dict:
    """A model's ``{conductance: (low, high)}`` box named by ``ranges`` (mS/cm^2).

    Examples
    --------
    >>> model_ranges("stg", "plausible")["Na"]
    (3200.0, 13000.0)
    """
    model = get_model(model)
    if ranges not in RANGES:
        raise ValueError(f"ranges must be one of {RANGES}, got {ranges!r}")
    attribute = "monte_carlo_ranges" if ranges == "monte_carlo" else "conductance_ranges"
    box = getattr(model, attribute, None)
    if box is None:
        raise ValueError(f"model {model.name!r} declares no {attribute}")
    return box


def split_of(
    group: np.ndarray, n_groups: int, seed: int, fractions=(0.8, 0.1, 0.1)
) -> np.ndarray:
    """Assign groups (targets) to train / validation / test, never splitting a group.

    The assignment depends only on ``(n_groups, seed, fractions)``, so every chunk of a
    dataset computes the same split for its targets.

    Returns
    -------
    ndarray of str, same shape as ``group``
    """
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    order = np.random.default_rng([seed, 2**31 - 1]).permutation(n_groups)
    rank = np.empty(n_groups, dtype=int)
    rank[order] = np.arange(n_groups)
    edges = np.cumsum(np.asarray(fractions) * n_groups)
    code = np.searchsorted(edges, rank[np.asarray(group)], side="right")
    return np.asarray(SPLITS)[np.minimum(code, 2)]
