"""sbidic: degenerate populations of conductance-based neuron models from spike times.

The data path: spike times (``SpikeTrains``) -> network -> posterior over the DICs
(g_s, g_u) at threshold -> population sampler -> conductances (ArviZ ``DataTree``) ->
Brian2 simulation -> spike trains.

>>> import sbidic
>>> posterior = sbidic.load_pretrained("stg")  # doctest: +SKIP
>>> result = sbidic.infer(sbidic.read_spikes("recordings.csv"), "stg", n=100)  # doctest: +SKIP

``load_pretrained`` and ``infer`` need PyTorch (``pip install sbidic[nn]``) and are
imported on first use.
"""

from sbidic._version import __version__ as __version__
from sbidic.dics import dynamic_input_conductances, sensitivity_matrix, threshold_voltage
from sbidic.models import ConductanceModel, available_models, get_model, register_model
from sbidic.population import (
    Population,
    UnreachableTargetError,
    load_population,
    sample_population,
    sample_populations,
)
from sbidic.spikes import SpikeTrains, read_spikes

_LAZY = {"infer": "sbidic.inference.infer", "load_pretrained": "sbidic.inference.pretrained"}


def __getattr__(name: str):
    if name in _LAZY:  # torch is imported only when the network is used
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sbidic' has no attribute {name!r}")


__all__ = [
    "ConductanceModel",
    "Population",
    "SpikeTrains",
    "UnreachableTargetError",
    "available_models",
    "dynamic_input_conductances",
    "get_model",
    "infer",
    "load_population",
    "load_pretrained",
    "read_spikes",
    "register_model",
    "sample_population",
    "sample_populations",
    "sensitivity_matrix",
    "threshold_voltage",
]
