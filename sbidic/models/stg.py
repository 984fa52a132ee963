"""Stomatogastric (STG) neuron of Liu et al. (1998), as used by Brandoit et al. (2025).

Eight conductances ``(Na, Kd, CaT, CaS, KCa, A, H, leak)`` and an intracellular
calcium pool that drives the calcium-activated potassium current. Units: V in mV,
t in ms, conductances in mS/cm^2, currents in uA/cm^2, [Ca] in uM, C = 1 uF/cm^2.

Deviations from Liu et al. (1998), kept for compatibility with the published
pipeline: E_Ca is fixed at 80 mV instead of a Nernst potential, and calcium follows
``tau_Ca dCa/dt = -alpha (I_CaT + I_CaS) - Ca + beta`` with tau_Ca = 20 ms.

References
----------
Z. Liu, J. Golowasch, E. Marder, L. F. Abbott (1998). A model neuron with
activity-dependent conductances regulated by multiple calcium sensors.
J. Neurosci. 18(7), 2309-2320. https://doi.org/10.1523/JNEUROSCI.18-07-02309.1998

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import numpy as np

from sbidic.models.base import (
    ConductanceModel,
    DICTerms,
    SeedPopulation,
    cache_scalar_voltage,
    sigmoid,
    sigmoid_derivative,
    stack_last,
)

__all__ = ["STG"]

E_Na, E_K, E_Ca, E_H, E_leak = 50.0, -80.0, 80.0, -20.0, -50.0  # mV
TAU_CA, ALPHA_CA, BETA_CA = 20.0, 0.94, 0.05  # ms, uM per uA/cm^2, uM
K_CA = 3.0  # uM, half-activation of the KCa calcium sensor

#: Steady states x_inf(V) = 1 / (1 + exp((V + D) / C)), as (C, D) in mV.
STEADY_STATE = {
    "m_Na": (-5.29, 25.5),
    "h_Na": (5.18, 48.9),
    "m_Kd": (-11.8, 12.3),
    "m_CaT": (-7.2, 27.1),
    "h_CaT": (5.5, 32.1),
    "m_CaS": (-8.1, 33.0),
    "h_CaS": (6.2, 60.0),
    "m_KCa": (-12.6, 28.3),  # voltage part; times Ca / (Ca + 3)
    "m_A": (-8.7, 27.2),
    "h_A": (4.9, 56.9),
    "m_H": (6.0, 70.0),
}


def time_constants(V: np.ndarray | float) -> dict[str, np.ndarray]:
    """Gate time constants tau_x(V) (ms) of Liu et al. (1998), Table 2."""
    V = np.asarray(V, dtype=float)
    with np.errstate(over="ignore"):
        tau_m_CaS = 1.4 + 7.0 / (np.exp((V + 27.0) / 10.0) + np.exp((V + 70.0) / -13.0))
        tau_h_CaS = 60.0 + 150.0 / (np.exp((V + 55.0) / 9.0) + np.exp((V + 65.0) / -16.0))
    return {
        "m_Na": sigmoid(V, 1.32, -1.26, -25.0, 120.0),
        "h_Na": sigmoid(V, 0.0, 0.67, -10.0, 62.9) * sigmoid(V, 1.5, 1.0, 3.6, 34.9),
        "m_Kd": sigmoid(V, 7.2, -6.4, -19.2, 28.3),
        "m_CaT": sigmoid(V, 21.7, -21.3, -20.5, 68.1),
        "h_CaT": sigmoid(V, 105.0, -89.8, -16.9, 55.0),
        "m_CaS": tau_m_CaS,
        "h_CaS": tau_h_CaS,
        "m_KCa": sigmoid(V, 90.3, -75.1, -22.7, 46.0),
        "m_A": sigmoid(V, 11.6, -10.4, -15.2, 32.9),
        "h_A": sigmoid(V, 38.6, -29.2, -26.5, 38.9),
        "m_H": sigmoid(V, 272.0, 1499.0, -8.73, 42.2),
    }


class STG(ConductanceModel):
    """STG neuron (Liu et al. 1998) with leak-normalised DICs at V_th = -51 mV.

    Examples
    --------
    >>> import numpy as np
    >>> from sbidic.dics import dynamic_input_conductances
    >>> g_ref = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])
    >>> dynamic_input_conductances(STG(), g_ref).round(4)
    array([[-2.3013, -0.7482,  4.6153]])
    """

    name = "stg"
    description = "Stomatogastric neuron (Liu et al. 1998), 8 conductances with calcium"
    conductances = ("Na", "Kd", "CaT", "CaS", "KCa", "A", "H", "leak")
    state_variables = (
        "v", "m_Na", "h_Na", "m_Kd", "m_CaT", "h_CaT", "m_CaS", "h_CaS",
        "m_KCa", "m_A", "h_A", "m_H", "Ca",
    )  # fmt: skip
    constants = {
        "E_Na": E_Na, "E_K": E_K, "E_Ca": E_Ca, "E_H": E_H, "E_leak": E_leak,
        "tau_Ca": TAU_CA, "alpha_Ca": ALPHA_CA, "beta_Ca": BETA_CA,
    }  # fmt: skip
    V_th = -51.0
    target_box = {"g_s": (-20.0, 20.0), "g_u": (0.0, 20.0)}
    # Seed ranges from Fyon et al. (2024); Na, A and H are solved for (-6.2, 4, 5).
    seed = SeedPopulation(
        drawn={"Kd": (70.0, 140.0), "CaT": (3.0, 7.0), "CaS": (6.0, 22.0), "KCa": (140.0, 180.0)},
        leak_range=(0.007, 0.014),
        target=(-6.2, 4.0, 5.0),
        compensated=("Na", "A", "H"),
    )
    compensation_sets = (("A", "H"), ("CaS", "H"), ("CaS", "A"))
    monte_carlo_ranges = {
        "Na": (0.0, 8000.0), "Kd": (0.0, 350.0), "CaT": (0.0, 12.0), "CaS": (0.0, 50.0),
        "KCa": (0.0, 250.0), "A": (0.0, 600.0), "H": (0.0, 0.7), "leak": (0.0, 0.02),
    }  # fmt: skip

    # ------------------------------------------------------------------ kinetics
    @cache_scalar_voltage
    def gating(self, V: np.ndarray | float) -> dict[str, np.ndarray]:
        """``{gate}_inf``, ``d{gate}_inf`` (1/mV) and ``tau_{gate}`` (ms) at ``V`` (mV).

        ``m_KCa_inf`` here is only the voltage factor ``s(V)``; the steady state is
        ``Ca / (Ca + 3) * s(V)``.
        """
        out: dict[str, np.ndarray] = {}
        for gate, (C, D) in STEADY_STATE.items():
            out[f"{gate}_inf"] = sigmoid(V, 0.0, 1.0, C, D)
            out[f"d{gate}_inf"] = sigmoid_derivative(V, 0.0, 1.0, C, D)
        out.update({f"tau_{gate}": tau for gate, tau in time_constants(V).items()})
        return out

    def calcium_steady_state(
        self, V: np.ndarray | float, g: np.ndarray, x: dict[str, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Steady-state calcium ``Ca_inf`` (uM) and ``dCa_inf/dV`` (uM/mV).

        ``Ca_inf = beta - alpha (g_CaT P_CaT + g_CaS P_CaS)(V - E_Ca)`` with
        ``P = m^3 h`` at steady state.
        """
        x = self.gating(V) if x is None else x
        g = np.asarray(g, dtype=float)
        g_CaT, g_CaS = g[..., 2], g[..., 3]
        ca_inf = BETA_CA
        dca_dV = 0.0
        for g_c, ch in ((g_CaT, "CaT"), (g_CaS, "CaS")):
            m, h = x[f"m_{ch}_inf"], x[f"h_{ch}_inf"]
            dm, dh = x[f"dm_{ch}_inf"], x[f"dh_{ch}_inf"]
            ca_inf = ca_inf - ALPHA_CA * g_c * m**3 * h * (V - E_Ca)
            dca_dV = dca_dV - ALPHA_CA * g_c * (
                (3 * m**2 * h * dm + m**3 * dh) * (V - E_Ca) + m**3 * h
            )
        return ca_inf, dca_dV

    def initial_state(self) -> dict[str, float]:
        """V0 = -70 mV, Ca0 = 0.5 uM, every gate at its steady state at V0."""
        v0, ca0 = -70.0, 0.5
        x = self.gating(v0)
        state = {"v": v0}
        for gate in STEADY_STATE:
            state[gate] = float(x[f"{gate}_inf"])
        state["m_KCa"] = ca0 / (ca0 + K_CA) * state["m_KCa"]
        state["Ca"] = ca0
        return state

    # ---------------------------------------------------------------------- DICs
    def timescales(self, V):
        """``tau_f = tau_m_Na``, ``tau_s = tau_m_Kd``, ``tau_u = tau_m_H`` (ms)."""
        x = self.gating(V)
        return x["tau_m_Na"], x["tau_m_Kd"], x["tau_m_H"]

    @cache_scalar_voltage
    def _voltage_terms(self, V) -> DICTerms:
        """The DIC terms that depend on V only: every pathway but the KCa ones, and
        every static term but KCa's (left 0)."""
        x = self.gating(V)
        static, dynamic, tau, channel = [], [], [], []
        for c, ch, E in ((0, "Na", E_Na), (2, "CaT", E_Ca), (3, "CaS", E_Ca), (5, "A", E_K)):
            m, h = x[f"m_{ch}_inf"], x[f"h_{ch}_inf"]
            dynamic += [
                3 * m**2 * h * x[f"dm_{ch}_inf"] * (V - E),
                m**3 * x[f"dh_{ch}_inf"] * (V - E),
            ]
            tau += [x[f"tau_m_{ch}"], x[f"tau_h_{ch}"]]
            channel += [c, c]
        m = x["m_Kd_inf"]
        dynamic += [4 * m**3 * x["dm_Kd_inf"] * (V - E_K), x["dm_H_inf"] * (V - E_H)]
        tau += [x["tau_m_Kd"], x["tau_m_H"]]
        channel += [1, 6]
        cubic_inact = {
            ch: x[f"m_{ch}_inf"] ** 3 * x[f"h_{ch}_inf"] for ch in ("Na", "CaT", "CaS", "A")
        }
        static = [cubic_inact["Na"], m**4, cubic_inact["CaT"], cubic_inact["CaS"], 0.0,
                  cubic_inact["A"], x["m_H_inf"]]  # fmt: skip
        return DICTerms(stack_last(static), stack_last(dynamic), stack_last(tau), tuple(channel))

    def dic_terms(self, V, g) -> DICTerms:
        """Pathways of Brandoit et al. (2025), STG spec section 2.3.

        Static terms ``m^3 h``, ``m^4`` or ``m`` per channel; one pathway per gate.
        The KCa current has a voltage pathway (tau_m_KCa) and a calcium pathway
        through ``Ca_inf(V)``, weighted with the constant tau_Ca = 20 ms as in the
        published method.
        """
        x = self.gating(V)
        ca, dca = self.calcium_steady_state(V, g, x)
        s = x["m_KCa_inf"]
        m_K = ca / (ca + K_CA) * s
        kca_voltage = 4 * m_K**3 * ca / (ca + K_CA) * x["dm_KCa_inf"] * (V - E_K)
        kca_calcium = 4 * m_K**3 * K_CA * s / (ca + K_CA) ** 2 * dca * (V - E_K)
        fixed = self._voltage_terms(V)
        batch = np.shape(m_K)
        static = np.broadcast_to(fixed.static, batch + fixed.static.shape[-1:]).copy()
        static[..., 4] = m_K**4
        dynamic = np.concatenate(
            [
                np.broadcast_to(fixed.dynamic, batch + fixed.dynamic.shape[-1:]),
                stack_last([kca_voltage, kca_calcium]),
            ],
            axis=-1,
        )
        tau = stack_last([*np.moveaxis(fixed.tau, -1, 0), x["tau_m_KCa"], TAU_CA])
        return DICTerms(static, dynamic, tau, (*fixed.channel, 4, 4))

    # -------------------------------------------------------------- compensation
    def compensation_choice(self, g_s, g_u):
        """{A, H} if g_s >= 0, {CaS, H} if g_s < 0, {CaS, A} if g_u < 0.

        The rule comes from the reachability maps of Brandoit et al. (2025).
        """
        g_s, g_u = np.asarray(g_s, dtype=float), np.asarray(g_u, dtype=float)
        return np.where(g_u < 0, 2, np.where(g_s >= 0, 0, 1))

    def initial_guess(self, g_s, g_u):
        """Fitted linearisation points of the calcium conductances (mS/cm^2)."""
        g_s = np.asarray(g_s, dtype=float)
        return {"CaS": 34.12021074772369 - 2.3296612301271464 * g_s, "CaT": 24.6 - 5.14 * g_s}

    # -------------------------------------------------------------------- Brian2
    equations = """
dv/dt = (I_ext - (I_Na + I_Kd + I_CaT + I_CaS + I_KCa + I_A + I_H + I_leak)) / Cm : volt
I_Na = g_Na * m_Na**3 * h_Na * (v - E_Na) : amp/meter**2
I_Kd = g_Kd * m_Kd**4 * (v - E_K) : amp/meter**2
I_CaT = g_CaT * m_CaT**3 * h_CaT * (v - E_Ca) : amp/meter**2
I_CaS = g_CaS * m_CaS**3 * h_CaS * (v - E_Ca) : amp/meter**2
I_KCa = g_KCa * m_KCa**4 * (v - E_K) : amp/meter**2
I_A = g_A * m_A**3 * h_A * (v - E_K) : amp/meter**2
I_H = g_H * m_H * (v - E_H) : amp/meter**2
I_leak = g_leak * (v - E_leak) : amp/meter**2
dCa/dt = (-alpha_Ca * (I_CaT + I_CaS) / (uA/cm**2) - Ca + beta_Ca) / tau_Ca : 1
dm_Na/dt = (1 / (1 + exp((v/mV + 25.5) / -5.29)) - m_Na) / tau_m_Na : 1
dh_Na/dt = (1 / (1 + exp((v/mV + 48.9) / 5.18)) - h_Na) / tau_h_Na : 1
dm_Kd/dt = (1 / (1 + exp((v/mV + 12.3) / -11.8)) - m_Kd) / tau_m_Kd : 1
dm_CaT/dt = (1 / (1 + exp((v/mV + 27.1) / -7.2)) - m_CaT) / tau_m_CaT : 1
dh_CaT/dt = (1 / (1 + exp((v/mV + 32.1) / 5.5)) - h_CaT) / tau_h_CaT : 1
dm_CaS/dt = (1 / (1 + exp((v/mV + 33) / -8.1)) - m_CaS) / tau_m_CaS : 1
dh_CaS/dt = (1 / (1 + exp((v/mV + 60) / 6.2)) - h_CaS) / tau_h_CaS : 1
dm_KCa/dt = (Ca / (Ca + 3) / (1 + exp((v/mV + 28.3) / -12.6)) - m_KCa) / tau_m_KCa : 1
dm_A/dt = (1 / (1 + exp((v/mV + 27.2) / -8.7)) - m_A) / tau_m_A : 1
dh_A/dt = (1 / (1 + exp((v/mV + 56.9) / 4.9)) - h_A) / tau_h_A : 1
dm_H/dt = (1 / (1 + exp((v/mV + 70) / 6)) - m_H) / tau_m_H : 1
tau_m_Na = (1.32 - 1.26 / (1 + exp((v/mV + 120) / -25))) * ms : second
tau_h_Na = 0.67 / (1 + exp((v/mV + 62.9) / -10)) * (1.5 + 1 / (1 + exp((v/mV + 34.9) / 3.6))) * ms : second
tau_m_Kd = (7.2 - 6.4 / (1 + exp((v/mV + 28.3) / -19.2))) * ms : second
tau_m_CaT = (21.7 - 21.3 / (1 + exp((v/mV + 68.1) / -20.5))) * ms : second
tau_h_CaT = (105 - 89.8 / (1 + exp((v/mV + 55) / -16.9))) * ms : second
tau_m_CaS = (1.4 + 7 / (exp((v/mV + 27) / 10) + exp((v/mV + 70) / -13))) * ms : second
tau_h_CaS = (60 + 150 / (exp((v/mV + 55) / 9) + exp((v/mV + 65) / -16))) * ms : second
tau_m_KCa = (90.3 - 75.1 / (1 + exp((v/mV + 46) / -22.7))) * ms : second
tau_m_A = (11.6 - 10.4 / (1 + exp((v/mV + 32.9) / -15.2))) * ms : second
tau_h_A = (38.6 - 29.2 / (1 + exp((v/mV + 38.9) / -26.5))) * ms : second
tau_m_H = (272 + 1499 / (1 + exp((v/mV + 42.2) / -8.73))) * ms : second
g_Na : siemens/meter**2 (constant)
g_Kd : siemens/meter**2 (constant)
g_CaT : siemens/meter**2 (constant)
g_CaS : siemens/meter**2 (constant)
g_KCa : siemens/meter**2 (constant)
g_A : siemens/meter**2 (constant)
g_H : siemens/meter**2 (constant)
g_leak : siemens/meter**2 (constant)
"""
