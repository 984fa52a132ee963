"""Degenerate populations: compensation, sampling and the result container."""

from sbidic.population.compensation import Modulation, compensate, modulate
from sbidic.population.result import Population, load_population, read_conductance_csv
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
    "read_conductance_csv",
    "sample_population",
    "sample_populations",
    "seed_population",
]
