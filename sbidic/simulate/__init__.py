"""Simulate populations of conductance-based cells with Brian2.

:func:`simulate` runs many cells with per-cell conductances in one Brian2 group and
returns their spike trains (published detection rule) as a :class:`SimulationResult`;
:class:`BandLimitedNoise` describes the optional band-limited noise current.
"""

from sbidic.simulate.brian import (
    DEFAULT_INTEGRATION,
    FALLBACK_INTEGRATION,
    METHODS,
    PROTOCOLS,
    SimulationResult,
    codegen_target,
    default_integration,
    simulate,
)
from sbidic.simulate.noise import BandLimitedNoise, butterworth_lowpass, std_ratio

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
