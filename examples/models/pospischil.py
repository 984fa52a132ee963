"""Cortical pyramidal neuron of Pospischil et al. (2008): Na, K_d, M, Ca_L and leak.

A worked example of a user's own model (``docs/own-model.md``): declarations only,
loaded with ``--model examples/models/pospischil.py:Pospischil``. One compartment,
C = 1 uF/cm^2, V in mV, t in ms, conductances in mS/cm^2, currents in uA/cm^2::

    C dV/dt = I_app - g_Na m^3 h (V - E_Na) - g_Kd n^4 (V - E_K) - g_M p (V - E_K)
              - g_CaL q^2 r (V - E_Ca) - g_leak (V - E_leak)

with every gate ``dx/dt = alpha_x(V) (1 - x) - beta_x(V) x``, i.e. steady state
``alpha / (alpha + beta)`` and time constant ``1 / (alpha + beta)`` (ms), and
(Pospischil et al. 2008, Table 1 and Eqs. 2-6; rates in 1/ms, V_T = -56.2 mV)::

    Na   alpha_m = -0.32 (V - V_T - 13) / (exp(-(V - V_T - 13) / 4) - 1)
         beta_m  =  0.28 (V - V_T - 40) / (exp((V - V_T - 40) / 5) - 1)
         alpha_h =  0.128 exp(-(V - V_T - 17) / 18)
         beta_h  =  4 / (1 + exp(-(V - V_T - 40) / 5))
    K_d  alpha_n = -0.032 (V - V_T - 15) / (exp(-(V - V_T - 15) / 5) - 1)
         beta_n  =  0.5 exp(-(V - V_T - 10) / 40)
    M    p_inf   =  1 / (1 + exp(-(V + 35) / 10))
         tau_p   =  tau_max / (3.3 exp((V + 35) / 20) + exp(-(V + 35) / 20)), tau_max = 608 ms
    Ca_L alpha_q =  0.055 (-27 - V) / (exp((-27 - V) / 3.8) - 1)
         beta_q  =  0.94 exp((-75 - V) / 17)
         alpha_r =  0.000457 exp((-13 - V) / 50)
         beta_r  =  0.0065 / (exp((-15 - V) / 28) + 1)

``a x / (exp(x / k) - 1)`` is written ``a k / exprel(x / k)`` (the same function
without its removable 0/0). Reversal potentials E_Na = 50, E_K = -90, E_Ca = 120
(fixed, as in the paper) and E_leak = -70 mV. The regular-spiking (RS) cell of the
paper is (g_Na, g_Kd, g_M, g_CaL, g_leak) = (56, 6, 0.075, 0, 0.0205), the
intrinsically bursting (IB) cell adds Ca_L.

Choices for sbidic, not from the paper: the cell is at rest without input, so the
protocol injects a constant I_app = 2 uA/cm^2 (``applied_current``); the DICs are
evaluated at V_th = -50 mV (the seed cells' threshold, where g_t = 0, is -52.5 mV;
at -50 mV the slow feedback of K_d is three times larger, so g_s is resolvable) with
``tau_f = tau_m``, ``tau_s = tau_n``, ``tau_u = tau_p``. The slow DIC comes from K_d
(and Na inactivation, Ca_L activation), the ultraslow one from the M current, so
(g_s, g_u) are reached by compensating (K_d, M); g_s > 0 throughout (this cell has no
slow regenerative current strong enough to make it negative at V_th): every cell
spikes tonically, and g_s and g_u set its rate and adaptation. Integration: rk4 at
0.025 ms (g_Na is tens of mS/cm^2, not stiff).

References
----------
M. Pospischil, M. Toledo-Rodriguez, C. Monier, Z. Piwkowska, T. Bal, Y. Frégnac,
H. Markram, A. Destexhe (2008). Minimal Hodgkin-Huxley type models for different
classes of cortical and thalamic neurons. Biol. Cybern. 99(4-5), 427-441.
https://doi.org/10.1007/s00422-008-0263-8
"""

from __future__ import annotations

from sbidic.models.autodiff import boltzmann, exp, exprel
from sbidic.models.base import SeedPopulation
from sbidic.models.declarative import Channel, DeclaredModel, Gate, ModelSpec

V_T, TAU_MAX = -56.2, 608.0  # mV, ms


def rates(alpha, beta, power: int = 1) -> Gate:
    """A gate from its opening and closing rates (1/ms)."""
    return Gate(lambda V: alpha(V) / (alpha(V) + beta(V)), lambda V: 1.0 / (alpha(V) + beta(V)),
                power)  # fmt: skip


class Pospischil(DeclaredModel):
    """Pospischil et al. (2008) cortical neuron, DICs at V_th = -50 mV."""

    spec = ModelSpec(
        name="pospischil",
        description="Cortical neuron (Pospischil et al. 2008): Na, Kd, M, CaL, leak",
        constants={"E_Na": 50.0, "E_K": -90.0, "E_Ca": 120.0, "E_leak": -70.0},
        channels={
            "Na": Channel("E_Na", {
                "m_Na": rates(lambda V: 1.28 / exprel(-(V - V_T - 13.0) / 4.0),
                              lambda V: 1.4 / exprel((V - V_T - 40.0) / 5.0), 3),
                "h_Na": rates(lambda V: 0.128 * exp(-(V - V_T - 17.0) / 18.0),
                              lambda V: 4.0 / (1.0 + exp(-(V - V_T - 40.0) / 5.0)))}),
            "Kd": Channel("E_K", {
                "n_Kd": rates(lambda V: 0.16 / exprel(-(V - V_T - 15.0) / 5.0),
                              lambda V: 0.5 * exp(-(V - V_T - 10.0) / 40.0), 4)}),
            "M": Channel("E_K", {"p_M": Gate(boltzmann(-10.0, 35.0), lambda V: TAU_MAX / (
                3.3 * exp((V + 35.0) / 20.0) + exp(-(V + 35.0) / 20.0)))}),
            "CaL": Channel("E_Ca", {
                "q_CaL": rates(lambda V: 0.209 / exprel((-27.0 - V) / 3.8),
                               lambda V: 0.94 * exp((-75.0 - V) / 17.0), 2),
                "r_CaL": rates(lambda V: 0.000457 * exp((-13.0 - V) / 50.0),
                               lambda V: 0.0065 / (exp((-15.0 - V) / 28.0) + 1.0))}),
        },  # fmt: skip
        V_th=-50.0,
        V0=-70.0,
        timescales=("m_Na", "n_Kd", "p_M"),
        compensation={("Kd", "M"): "otherwise"},
        seed=SeedPopulation(drawn={"CaL": (0.0, 0.2)}, leak_range=(0.015, 0.025),
                            target=(-10.0, 0.6, 2.0), compensated=("Na", "Kd", "M")),  # fmt: skip
        target_box={"g_s": (0.3, 3.0), "g_u": (0.5, 8.0)},
        monte_carlo_ranges={"Na": (0.0, 100.0), "Kd": (0.0, 40.0), "M": (0.0, 0.3),
                            "CaL": (0.0, 0.3), "leak": (0.0, 0.03)},  # fmt: skip
        protocol=(2000.0, 1000.0),
        integration=("rk4", 0.025),
        applied_current=2.0,
    )
