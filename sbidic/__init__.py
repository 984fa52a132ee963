"""sbidic: degenerate populations of conductance-based neuron models from spike times.

The data path: spike times -> DICs (g_s, g_u) at threshold -> population sampler ->
conductances (ArviZ ``DataTree``) -> simulation -> spike trains.
"""

from sbidic.dics import dynamic_input_conductances, sensitivity_matrix, threshold_voltage
from sbidic.models import ConductanceModel, available_models, get_model, register_model
from sbidic.population import (
    Population,
    UnreachableTargetError,
    load_population,
    sample_population,
    sample_populations,
)

__version__ = "0.1.0"

__all__ = [
    "ConductanceModel",
    "Population",
    "UnreachableTargetError",
    "available_models",
    "dynamic_input_conductances",
    "get_model",
    "load_population",
    "register_model",
    "sample_population",
    "sample_populations",
    "sensitivity_matrix",
    "threshold_voltage",
]
