"""Stomatogastric (STG) neuron of Liu et al. (1998), as used by Brandoit et al. (2025).

Eight conductances ``(Na, Kd, CaT, CaS, KCa, A, H, leak)`` and an intracellular
calcium pool that drives the calcium-activated potassium current. Units: V in mV,
t in ms, conductances in mS/cm^2, currents in uA/cm^2, [Ca] in uM, C = 1 uF/cm^2.

Deviations from Liu et al. (1998), kept for compatibility with the published
pipeline: E_Ca is fixed at 80 mV instead of a Nernst potential, and calcium follows
``tau_Ca dCa/dt = -alpha (I_CaT + I_CaS) - Ca + beta`` with tau_Ca = 20 ms. The KCa
calcium pathway is weighted with the constant tau_Ca. DICs at V_th = -51 mV with
``tau_f = tau_m_Na``, ``tau_s = tau_m_Kd``, ``tau_u = tau_m_H`` (STG spec section 2.3).
Compensation pairs from the reachability maps of Brandoit et al. (2025); seed ranges
from Fyon et al. (2024). Integration: measured in :mod:`sbidic.simulate.integration`.

References
----------
Z. Liu, J. Golowasch, E. Marder, L. F. Abbott (1998). A model neuron with
activity-dependent conductances regulated by multiple calcium sensors.
J. Neurosci. 18(7), 2309-2320. https://doi.org/10.1523/JNEUROSCI.18-07-02309.1998

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783

Examples
--------
>>> import numpy as np
>>> from sbidic.dics import dynamic_input_conductances
>>> g_ref = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])
>>> dynamic_input_conductances(STG(), g_ref).round(4)
array([[-2.3013, -0.7482,  4.6153]])
"""

from __future__ import annotations

from sbidic.models.autodiff import boltzmann, exp, sigmoid
from sbidic.models.base import SeedPopulation
from sbidic.models.declarative import Calcium, Channel, DeclaredModel, Gate, ModelSpec

__all__ = ["STG"]


class STG(DeclaredModel):
    """STG neuron (Liu et al. 1998) with leak-normalised DICs at V_th = -51 mV.

    >>> STG().conductances
    ('Na', 'Kd', 'CaT', 'CaS', 'KCa', 'A', 'H', 'leak')
    """

    spec = ModelSpec(
        name="stg",
        description="Stomatogastric neuron (Liu et al. 1998), 8 conductances with calcium",
        constants={"E_Na": 50.0, "E_K": -80.0, "E_Ca": 80.0, "E_H": -20.0, "E_leak": -50.0},
        channels={  # Liu et al. (1998), Table 2: x_inf = boltzmann(C, D), tau_x (ms)
            "Na": Channel("E_Na", {
                "m_Na": Gate(boltzmann(-5.29, 25.5), sigmoid(1.32, -1.26, -25.0, 120.0), 3),
                "h_Na": Gate(boltzmann(5.18, 48.9), lambda V: sigmoid(0.0, 0.67, -10.0, 62.9)(V)
                             * sigmoid(1.5, 1.0, 3.6, 34.9)(V))}),
            "Kd": Channel("E_K", {"m_Kd": Gate(boltzmann(-11.8, 12.3), sigmoid(7.2, -6.4, -19.2, 28.3), 4)}),
            "CaT": Channel("E_Ca", {
                "m_CaT": Gate(boltzmann(-7.2, 27.1), sigmoid(21.7, -21.3, -20.5, 68.1), 3),
                "h_CaT": Gate(boltzmann(5.5, 32.1), sigmoid(105.0, -89.8, -16.9, 55.0))}),
            "CaS": Channel("E_Ca", {
                "m_CaS": Gate(boltzmann(-8.1, 33.0), lambda V: 1.4 + 7.0 / (exp((V + 27.0) / 10.0)
                              + exp((V + 70.0) / -13.0)), 3),
                "h_CaS": Gate(boltzmann(6.2, 60.0), lambda V: 60.0 + 150.0 / (exp((V + 55.0) / 9.0)
                              + exp((V + 65.0) / -16.0)))}),
            "KCa": Channel("E_K", {"m_KCa": Gate(boltzmann(-12.6, 28.3), sigmoid(90.3, -75.1, -22.7, 46.0),
                                                 4, calcium=lambda Ca: Ca / (Ca + 3.0))}),
            "A": Channel("E_K", {
                "m_A": Gate(boltzmann(-8.7, 27.2), sigmoid(11.6, -10.4, -15.2, 32.9), 3),
                "h_A": Gate(boltzmann(4.9, 56.9), sigmoid(38.6, -29.2, -26.5, 38.9))}),
            "H": Channel("E_H", {"m_H": Gate(boltzmann(6.0, 70.0), sigmoid(272.0, 1499.0, -8.73, 42.2))}),
        },  # fmt: skip
        calcium=Calcium(tau=20.0, alpha=0.94, beta=0.05, currents=("CaT", "CaS"), initial=0.5),
        V_th=-51.0,
        V0=-70.0,
        timescales=("m_Na", "m_Kd", "m_H"),
        compensation={
            ("A", "H"): "(g_s >= 0) & (g_u >= 0)", ("CaS", "H"): "g_u >= 0", ("CaS", "A"): "otherwise",
        },  # fmt: skip
        linearisation={  # fitted linearisation points of the calcium conductances
            "CaS": "34.12021074772369 - 2.3296612301271464 * g_s", "CaT": "24.6 - 5.14 * g_s",
        },  # fmt: skip
        seed=SeedPopulation(
            drawn={"Kd": (70.0, 140.0), "CaT": (3.0, 7.0), "CaS": (6.0, 22.0), "KCa": (140.0, 180.0)},
            leak_range=(0.007, 0.014), target=(-6.2, 4.0, 5.0), compensated=("Na", "A", "H"),
        ),  # fmt: skip
        target_box={"g_s": (-20.0, 20.0), "g_u": (0.0, 20.0)},
        monte_carlo_ranges={
            "Na": (0.0, 8000.0), "Kd": (0.0, 350.0), "CaT": (0.0, 12.0), "CaS": (0.0, 50.0),
            "KCa": (0.0, 250.0), "A": (0.0, 600.0), "H": (0.0, 0.7), "leak": (0.0, 0.02),
        },  # fmt: skip
        conductance_ranges={  # 0.05 % and 99.95 % quantiles of data/stg_dic_v1, rounded out
            "Na": (3200.0, 13000.0), "Kd": (40.0, 220.0), "CaT": (1.7, 11.0), "CaS": (3.9, 130.0),
            "KCa": (75.0, 300.0), "A": (95.0, 1500.0), "H": (0.05, 1.8), "leak": (0.005, 0.019),
        },  # fmt: skip
        ranges_source=(
            "the published algorithm's populations (Brandoit et al. 2025): 0.05 % and 99.95 % "
            "quantiles of each conductance over the 204,800 cells of data/stg_dic_v1, rounded "
            "outwards to two significant digits (the box holds 99.6 % of them)"
        ),
        protocol=(6000.0, 3000.0),
        integration=("exponential_euler", 0.01),
        noise_dt_ms=0.1,
        example_targets=((8.0, 4.0), (2.0, 10.0), (-4.0, 5.0), (-12.0, 12.0), (-18.0, 6.0)),
        cell_type="stomatogastric",
    )
