"""Simulate populations of conductance-based cells with Brian2.

:func:`simulate` runs many cells with per-cell conductances in one Brian2 group and
returns their spike trains (published detection rule) as a :class:`SimulationResult`;
:class:`BandLimitedNoise` describes the optional band-limited noise current.
"""

from sbidic.simulate.brian import codegen_target
from sbidic.simulate.integration import (
    DEFAULT_INTEGRATION,
    FALLBACK_INTEGRATION,
    METHODS,
    PROTOCOLS,
    default_integration,
)
from sbidic.simulate.noise import BandLimitedNoise, butterworth_lowpass, std_ratio
from sbidic.simulate.result import SimulationResult
from sbidic.simulate.simulation import simulate

__all__ = [
    "DEFAULT_INTEGRATION",
    "FALLBACK_INTEGRATION",
    "METHODS",
    "PROTOCOLS",
    "BandLimitedNoise",
    "SimulationResult",
    "butterworth_lowpass",
    "codegen_target",
    "default_integration",
    "simulate",
    "std_ratio",
]
