"""Degenerate populations: compensation, sampling and the result container."""

from sbidic.population.compensation import Modulation, compensate, modulate
from sbidic.population.result import Population, load_population
from sbidic.population.sampler import (
    UnreachableTargetError,
    sample_population,
    sample_populations,
    seed_population,
)

__all__ = [
    "Modulation",
    "Population",
    "UnreachableTargetError",
    "compensate",
    "load_population",
    "modulate",
    "sample_population",
    "sample_populations",
    "seed_population",
]
