"""sbidic: degenerate populations of conductance-based neuron models from spike times.

The data path: spike times (``SpikeTrains``) -> network -> posterior over the DICs
(g_s, g_u) at threshold -> population sampler -> conductances (ArviZ ``DataTree``) ->
Brian2 simulation -> spike trains.

>>> import sbidic
>>> posterior = sbidic.load_pretrained("stg")  # doctest: +SKIP
>>> result = sbidic.infer(sbidic.read_spikes("recordings.csv"), "stg", n=100)  # doctest: +SKIP

Every public name is imported on first use; ``load_pretrained`` and ``infer`` need
PyTorch (``pip install sbidic[nn]``).
"""

from sbidic._version import __version__ as __version__

#: Public names and the module each comes from, imported on first use: ``import
#: sbidic`` stays light (the ``sbidic`` command starts in tens of milliseconds and
#: handles Ctrl-C from its first line), and torch only comes with the network.
_LAZY = {
    "dynamic_input_conductances": "sbidic.dics",
    "sensitivity_matrix": "sbidic.dics",
    "threshold_voltage": "sbidic.dics",
    "ConductanceModel": "sbidic.models",
    "available_models": "sbidic.models",
    "get_model": "sbidic.models",
    "register_model": "sbidic.models",
    "Population": "sbidic.population",
    "UnreachableTargetError": "sbidic.population",
    "load_population": "sbidic.population",
    "sample_population": "sbidic.population",
    "sample_populations": "sbidic.population",
    "SpikeTrains": "sbidic.spikes",
    "read_spikes": "sbidic.spikes",
    "infer": "sbidic.inference.infer",
    "load_pretrained": "sbidic.inference.pretrained",
}
_SUBPACKAGES = frozenset({"app", "cli", "datasets", "dics", "fidelity", "files", "inference",
                          "models", "plotting", "population", "simulate", "spikes"})  # fmt: skip


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBPACKAGES:  # sbidic.population etc. after a bare ``import sbidic``
        return importlib.import_module(f"sbidic.{name}")
    raise AttributeError(f"module 'sbidic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
