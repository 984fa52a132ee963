"""Stomatogastric (STG) neuron of Liu et al. (1998) with their slow calcium pool.

The published pipeline's STG model (:mod:`sbidic.models.stg`) clears calcium in
``tau_Ca = 20 ms``; Liu et al. (1998) and Prinz et al. (2003) use ``tau_Ca = 200 ms``.
The slow pool lets calcium build up over a burst and the calcium-activated potassium
current end it after hundreds of milliseconds, which gives the burst periods of
recorded pyloric neurons (0.5-2 s) that the published variant cannot reach (its
bursts last 0.1-0.2 s). Everything else is the published declaration: channels,
reversal potentials (E_Ca fixed at 80 mV), V_th = -51 mV, timescales, compensation
rule and target box. The KCa calcium pathway of the DICs is weighted with the
constant ``tau_Ca`` as in the published variant, here 200 ms.

The seed population and the protocol come from the model's firing-space survey
(``sbidic survey``; ``docs/real-recordings.md``): 13 s simulated, the first 3 s
discarded, so the 10 s window holds at least five periods of a 2 s burster.

References
----------
Z. Liu, J. Golowasch, E. Marder, L. F. Abbott (1998). A model neuron with
activity-dependent conductances regulated by multiple calcium sensors.
J. Neurosci. 18(7), 2309-2320. https://doi.org/10.1523/JNEUROSCI.18-07-02309.1998

A. A. Prinz, C. P. Billimoria, E. Marder (2003). Alternative to hand-tuning
conductance-based models: construction and analysis of databases of model neurons.
J. Neurophysiol. 90(6), 3998-4015. https://doi.org/10.1152/jn.00641.2003

Examples
--------
>>> from sbidic.models import get_model
>>> model = get_model("stg-liu")
>>> model.spec.calcium.tau, model.conductances == get_model("stg").conductances
(200.0, True)
"""

from __future__ import annotations

import dataclasses

from sbidic.models.base import SeedPopulation
from sbidic.models.declarative import Calcium, DeclaredModel
from sbidic.models.stg import STG

__all__ = ["STGLiu"]


class STGLiu(DeclaredModel):
    """STG neuron (Liu et al. 1998) with ``tau_Ca = 200 ms``: bursts of 0.1-2 s."""

    spec = dataclasses.replace(
        STG.spec,
        name="stg-liu",
        description="Stomatogastric neuron (Liu et al. 1998) with their 200 ms calcium "
        "pool: slow pyloric bursting",
        calcium=Calcium(tau=200.0, alpha=0.94, beta=0.05, currents=("CaT", "CaS"), initial=0.5),
        seed=SeedPopulation(  # survey: slow bursters have less Na and more KCa (g_f near 0)
            drawn={"Kd": (70.0, 140.0), "CaT": (3.0, 7.0), "CaS": (6.0, 22.0),
                   "KCa": (170.0, 250.0)},
            leak_range=(0.007, 0.014), target=(0.0, 4.0, 5.0), compensated=("Na", "A", "H"),
        ),  # fmt: skip
        conductance_ranges={  # 0.05 % and 99.95 % quantiles of data/stg_liu_dic_v1, rounded out
            "Na": (1300.0, 5600.0), "Kd": (42.0, 220.0), "CaT": (1.8, 11.0), "CaS": (3.9, 120.0),
            "KCa": (94.0, 400.0), "A": (110.0, 1600.0), "H": (0.034, 1.8), "leak": (0.0051, 0.019),
        },  # fmt: skip
        ranges_source=(
            "the published algorithm's populations (Brandoit et al. 2025): 0.05 % and 99.95 % "
            "quantiles of each conductance over the 25,600 cells of data/stg_liu_dic_v1, rounded "
            "outwards to two significant digits (the box holds 99.6 % of them)"
        ),
        protocol=(13000.0, 3000.0),
        example_targets=((8.0, 12.0), (2.0, 10.0), (-4.0, 4.0), (-6.0, 15.0), (-12.0, 12.0)),
    )
