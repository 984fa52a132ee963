"""Dopaminergic (DA) neuron of Qian et al. (2014), as adapted by Fyon et al. (2024).

Seven conductances ``(Na, Kd, CaL, CaN, ERG, NMDA, leak)``, no intracellular
calcium: its DICs are exactly linear in the conductances. ERG is a three-state
Markov channel (closed, open ``o``, inactivated ``i``); NMDA is a tonic conductance
with an instantaneous Mg2+ block. Units: V in mV, t in ms, conductances in mS/cm^2,
currents in uA/cm^2, C = 1 uF/cm^2.

Conventions of the published pipeline kept here: V_th = -55.5 mV (fixed), the
NMDA block counts as a purely fast DIC pathway, ERG as purely ultraslow, and the
ultraslow boundary is tau_u = 100 ms. The initial ERG occupancy is the rate
``a0(-90 mV)`` as in the reference code. ``tau_m_Na`` has a pole at V = -38.7272 mV
where it passes through 0 and turns negative within a 0.003 mV window: the DICs use
the raw value, the simulated equations guard it with ``max(tau, 0.01 ms)`` (DA spec
section 1.2). The published generator draws CaN from [0, 12], a hundred times the
range of the thesis ([0, 0.12]) and of every DA population; [0, 0.12] is used here.
NMDA is "drawn" from U[0.012, 0.012]: a constant that still consumes RNG draws, as
in the reference, so seeded populations match it.

References
----------
K. Qian, N. Yu, K. R. Tucker, E. S. Levitan, C. C. Canavier (2014). Mathematical
analysis of depolarization block mediated by slow inactivation of fast sodium
channels in midbrain dopamine neurons. J. Neurophysiol. 112(11), 2779-2790.
https://doi.org/10.1152/jn.00578.2014

A. Fyon, A. Franci, P. Sacré, G. Drion (2024). Dimensionality reduction of neuronal
degeneracy reveals two interfering physiological mechanisms. PNAS Nexus 3(10).
https://doi.org/10.1093/pnasnexus/pgae415

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783

Examples
--------
>>> import numpy as np
>>> from sbidic.dics import dynamic_input_conductances
>>> tonic = np.array([34.1176, 13.22867, 0.02156803, 0.05602838, 0.209517, 0.01155217,
...                   0.01237044])
>>> dynamic_input_conductances(DA(), tonic).round(3)
array([-12.246,   1.625,   7.063])
"""

from __future__ import annotations

from sbidic.models.autodiff import boltzmann, exp, sigmoid, tabulate
from sbidic.models.base import SeedPopulation
from sbidic.models.declarative import Channel, DeclaredModel, Gate, ModelSpec

__all__ = ["DA", "erg_rates", "tau_m_Na"]

MG = 1.4  # mM
# ERG transition rates (1/ms): closed->open a0, open->closed b0, open->inactivated ai,
# inactivated->open bi.
a0, b0 = (lambda V: 0.0036 * exp(0.0759 * V)), (lambda V: 1.2523e-5 * exp(-0.0671 * V))
ai, bi = (lambda V: 0.1 * exp(0.1189 * V)), (lambda V: 0.003 * exp(-0.0733 * V))
erg_rates = tabulate({"a0": a0, "b0": b0, "ai": ai, "bi": bi})


def tau_m_Na(V):
    """Raw Na activation time constant (ms), ``0.01 + 1 / (alpha + beta)``."""
    alpha = -(15.6504 + 0.4043 * V) / (exp(-19.565 - 0.5052 * V) - 1.0)
    return 0.01 + 1.0 / (alpha + 3.0212 * exp(-0.007463 * V))


def _erg_den(V):
    return a0(V) * (ai(V) + bi(V)) + b0(V) * bi(V)


class DA(DeclaredModel):
    """Midbrain dopaminergic neuron (Qian et al. 2014) with DICs at V_th = -55.5 mV.

    >>> DA().conductances
    ('Na', 'Kd', 'CaL', 'CaN', 'ERG', 'NMDA', 'leak')
    """

    spec = ModelSpec(
        name="da",
        description="Dopaminergic neuron (Qian et al. 2014), 7 conductances, linear DICs",
        constants={"E_Na": 60.0, "E_K": -85.0, "E_Ca": 60.0, "E_leak": -50.0, "E_NMDA": 0.0, "Mg": MG},
        channels={
            "Na": Channel("E_Na", {
                "m_Na": Gate(boltzmann(-9.7264, 30.0907), tau_m_Na, 3, tau_min=0.01),
                "h_Na": Gate(boltzmann(10.7665, 54.0289), lambda V: 0.4 + 1.0 / (
                    5.0754e-4 * exp(-0.063213 * V) + 9.7529 * exp(0.13442 * V)))}),
            "Kd": Channel("E_K", {"n_Kd": Gate(boltzmann(-12.0, 25.0), sigmoid(20.0, -18.0, -10.0, 38.0), 3)}),
            "CaL": Channel("E_Ca", {"m_CaL": Gate(boltzmann(-2.0, 50.0), sigmoid(30.0, -28.0, -3.0, 45.0), 2)}),
            "CaN": Channel("E_Ca", {"m_CaN": Gate(boltzmann(-7.0, 30.0), sigmoid(30.0, -25.0, -6.0, 55.0))}),
            "ERG": Channel("E_K", {  # Markov states; purely ultraslow in the DICs
                "o_ERG": Gate(lambda V: a0(V) * bi(V) / _erg_den(V), float("inf"), initial=a0,
                              ode=lambda V, s: a0(V) * (1 - s["o_ERG"] - s["i_ERG"])
                              + bi(V) * s["i_ERG"] - (ai(V) + b0(V)) * s["o_ERG"]),
                "i_ERG": Gate(lambda V: a0(V) * ai(V) / _erg_den(V), float("inf"), 0, initial=0.0,
                              ode=lambda V, s: ai(V) * s["o_ERG"] - bi(V) * s["i_ERG"])}),
            "NMDA": Channel("E_NMDA", {"B_NMDA": Gate(lambda V: 1.0 / (1.0 + MG / 10.0 * exp(-0.08 * V)), 0.0)}),
        },  # fmt: skip
        V_th=-55.5,
        V0=-90.0,
        timescales=("m_Na", "n_Kd", 100.0),
        compensation={("ERG", "CaL"): "g_s < 0", ("ERG", "Kd"): "otherwise"},
        seed=SeedPopulation(
            drawn={"Kd": (6.0, 10.0), "CaL": (0.015, 0.075), "NMDA": (0.012, 0.012)},
            leak_range=(0.0087, 0.017), target=(-12.95, 0.5, 5.0), compensated=("Na", "CaN", "ERG"),
        ),  # fmt: skip
        target_box={"g_s": (-10.0, 15.0), "g_u": (0.0, 20.0)},
        monte_carlo_ranges={
            "Na": (0.0, 60.0), "Kd": (0.0, 20.0), "CaL": (0.0, 0.1), "CaN": (0.0, 0.12),
            "ERG": (0.0, 0.25), "NMDA": (0.0, 0.02 * 0.12 / 0.013), "leak": (0.0, 0.02),
        },  # fmt: skip
        conductance_ranges={  # 0.05 % and 99.95 % quantiles of data/da_dic_v1, rounded out
            "Na": (17.0, 62.0), "Kd": (3.4, 120.0), "CaL": (0.01, 0.77), "CaN": (0.0064, 0.11),
            "ERG": (0.0, 1.2), "NMDA": (0.0059, 0.021), "leak": (0.0063, 0.023),
        },  # fmt: skip
        ranges_source=(
            "the published algorithm's populations (Brandoit et al. 2025): 0.05 % and 99.95 % "
            "quantiles of each conductance over the 150,758 cells of data/da_dic_v1, rounded "
            "outwards to two significant digits (the box holds 99.7 % of them)"
        ),
        protocol=(12000.0, 3000.0),
        integration=("rk4", 0.025),
        noise_dt_ms=0.05,
        example_targets=((10.0, 4.0), (6.0, 10.0), (2.0, 6.0), (-2.0, 8.0), (-4.0, 5.0)),
        cell_type="dopaminergic",
    )
