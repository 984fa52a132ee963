"""The models and their DICs reproduce the published implementation's numbers.

Reference: tests/data/reference_{stg,da}.json, computed with the published code of
Brandoit et al. (2025) in float64.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from sbidic.dics import (
    dynamic_input_conductances,
    sensitivity_matrix,
    threshold_voltage,
    timescale_weights,
)
from sbidic.models import get_model
from sbidic.models.da import erg_rates, tau_m_Na

RTOL = 1e-9


def _our_gating_key(ref_key: str) -> tuple[str, float | None] | None:
    """Map a reference gating name, e.g. 'd_m_inf_Na', to ours, e.g. 'dm_Na_inf'."""
    match = re.fullmatch(r"(d_)?([a-z])_inf_([A-Za-z]+)", ref_key)
    if match:
        d, gate, channel = match.groups()
        return f"{'d' if d else ''}{gate}_{channel}_inf", None
    if ref_key.startswith("tau_"):
        return ref_key, None
    return None


def test_gating_functions_match_reference(ref):
    name, data = ref
    model = get_model(name)
    V = np.array(data["gating"]["V"])
    ours = model.gating(V)
    checked = 0
    for group in ("functions", "derivatives"):
        for key, values in data["gating"][group].items():
            mapped = _our_gating_key(key)
            if mapped is None or mapped[0] not in ours:
                continue
            np.testing.assert_allclose(
                ours[mapped[0]], values, rtol=RTOL, atol=1e-300, err_msg=key
            )
            checked += 1
    assert checked >= (20 if name == "stg" else 13)


def test_stg_kca_activation_depends_on_calcium(ref_stg):
    V = np.array(ref_stg["gating"]["V"])
    x = get_model("stg").gating(V)
    for ca in (0.5, 2.0):
        np.testing.assert_allclose(
            ca / (ca + 3) * x["m_KCa_inf"],
            ref_stg["gating"]["functions"][f"m_inf_KCa(Ca={ca})"],
            rtol=RTOL,
        )
        ca_key = "0.5" if ca == 0.5 else "2"
        np.testing.assert_allclose(
            ca / (ca + 3) * x["dm_KCa_inf"],
            ref_stg["gating"]["derivatives"][f"d_m_inf_KCa_dV(Ca={ca_key})"],
            rtol=RTOL,
        )
        np.testing.assert_allclose(
            3 / (ca + 3) ** 2 * x["m_KCa_inf"],
            ref_stg["gating"]["derivatives"][f"d_m_inf_KCa_dCa(Ca={ca_key})"],
            rtol=RTOL,
        )


def test_da_erg_rates_and_nmda_block_match_reference(ref_da):
    V = np.array(ref_da["gating"]["V"])
    rates = erg_rates(V)
    x = get_model("da").gating(V)
    for rate in ("a0", "b0", "ai", "bi"):
        np.testing.assert_allclose(
            rates[rate], ref_da["gating"]["functions"][f"{rate}_ERG"], rtol=RTOL
        )
        np.testing.assert_allclose(
            rates[f"d{rate}"], ref_da["gating"]["derivatives"][f"d_{rate}_ERG"], rtol=RTOL
        )
    functions, derivatives = ref_da["gating"]["functions"], ref_da["gating"]["derivatives"]
    np.testing.assert_allclose(x["o_ERG_inf"], functions["o_inf_ERG"], rtol=RTOL)
    np.testing.assert_allclose(x["i_ERG_inf"], functions["i_inf_ERG"], rtol=RTOL)
    np.testing.assert_allclose(x["do_ERG_inf"], derivatives["d_o_inf_ERG"], rtol=RTOL)
    np.testing.assert_allclose(x["B_NMDA"], functions["NMDA_inf(Mg=1.4)"], rtol=RTOL)
    np.testing.assert_allclose(x["dB_NMDA"], derivatives["d_NMDA_inf_dV(Mg=1.4)"], rtol=RTOL)


def test_da_tau_m_singularity_is_reproduced_raw(ref_da):
    sing = ref_da["gating"]["tau_m_Na_singularity"]
    np.testing.assert_allclose(tau_m_Na(np.array(sing["V"])), sing["tau_m_Na_raw"], rtol=1e-7)


def test_default_initial_state_matches_reference(ref):
    name, data = ref
    model = get_model(name)
    state = model.initial_state()
    assert list(state) == list(model.state_variables)
    np.testing.assert_allclose(list(state.values()), data["initial_state"]["u0"], rtol=RTOL)


def _pathway_tau(model_name: str, gate: str, x: dict) -> float:
    if gate.startswith("KCa_Ca_pathway"):
        return 20.0
    if gate.startswith("o_ERG"):
        return np.inf
    if gate.startswith("NMDA"):
        return 0.0
    return float(x[f"tau_{gate}"])


def test_timescale_weights_match_reference(ref):
    name, data = ref
    model = get_model(name)
    for V, gates in data["dics"]["w_factors"].items():
        x = model.gating(float(V))
        taus = np.array([_pathway_tau(name, gate, x) for gate in gates])
        omega = timescale_weights(taus, *model.timescales(float(V)))
        expected = np.array(list(gates.values()))  # (w_fs, w_su)
        np.testing.assert_allclose(omega[0], expected[:, 0], rtol=RTOL, atol=1e-15)
        np.testing.assert_allclose(omega[0] + omega[1], expected[:, 1], rtol=RTOL, atol=1e-15)
        np.testing.assert_allclose(omega.sum(0), 1.0)


def test_sensitivity_matrices_and_dics_match_reference(ref):
    name, data = ref
    for case in data["dics"]["cases"]:
        g = np.array(case["g"])
        for entry in case["per_V"]:
            S = sensitivity_matrix(name, g, entry["V"])
            np.testing.assert_allclose(S, entry["S_normalized"], rtol=RTOL, atol=1e-14)
            dics = dynamic_input_conductances(name, g, entry["V"])
            expected = [entry["dics"][k] for k in ("g_f", "g_s", "g_u")]
            np.testing.assert_allclose(dics, expected, rtol=RTOL, err_msg=case["name"])
            np.testing.assert_allclose(dics.sum(), entry["dics"]["g_t"], rtol=RTOL, atol=1e-12)


def test_dics_are_vectorised_over_cells_and_voltages(ref):
    name, data = ref
    cases = data["dics"]["cases"]
    g = np.array([case["g"] for case in cases])
    for k, V in enumerate(data["dics"]["V_list"]):
        batch = dynamic_input_conductances(name, g, V)
        for i, case in enumerate(cases):
            expected = [case["per_V"][k]["dics"][key] for key in ("g_f", "g_s", "g_u")]
            np.testing.assert_allclose(batch[i], expected, rtol=RTOL)
    per_cell_V = np.array(data["dics"]["V_list"])
    g3 = np.repeat(g[:1], len(per_cell_V), axis=0)
    mixed = dynamic_input_conductances(name, g3, per_cell_V)
    for k, entry in enumerate(cases[0]["per_V"]):
        np.testing.assert_allclose(mixed[k], [entry["dics"][key] for key in ("g_f", "g_s", "g_u")],
                                   rtol=RTOL)  # fmt: skip


def test_stg_steady_state_calcium_matches_reference(ref_stg):
    model = get_model("stg")
    for case in ref_stg["dics"]["cases"]:
        for entry in case["per_V"]:
            if "Ca_inf" not in entry:
                continue
            ca, dca = model.calcium_steady_state(entry["V"], np.array(case["g"]))
            np.testing.assert_allclose(ca, entry["Ca_inf"], rtol=RTOL)
            np.testing.assert_allclose(dca, entry["dCa_inf_dV"], rtol=RTOL)


def test_unnormalised_dics_are_in_mS_per_cm2(ref):
    name, data = ref
    un = data["dics"]["unnormalized"]
    for entry in un["per_V"]:
        S = sensitivity_matrix(name, un["g"], entry["V"], normalize=False)
        np.testing.assert_allclose(S, entry["S_unnormalized"], rtol=RTOL, atol=1e-16)
        dics = dynamic_input_conductances(name, un["g"], entry["V"], normalize=False)
        expected = [entry["dics_unnormalized"][k] for k in ("g_f", "g_s", "g_u")]
        np.testing.assert_allclose(dics, expected, rtol=RTOL)
        normalised = dynamic_input_conductances(name, un["g"], entry["V"])
        np.testing.assert_allclose(dics, normalised * un["g"][-1], rtol=RTOL)


def test_per_cell_thresholds_match_reference_to_a_microvolt(ref):
    name, data = ref
    cases = data["threshold"]["cases"]
    g = np.array([case["g"] for case in cases])
    ours = threshold_voltage(name, g)
    expected = np.array([np.nan if c["V_th"] is None else c["V_th"] for c in cases])
    np.testing.assert_allclose(ours, expected, atol=1e-6, rtol=0)
    assert threshold_voltage(name, g[0]) == pytest.approx(expected[0], abs=1e-6)


def test_threshold_is_nan_without_a_decreasing_zero_crossing():
    leak_only = np.array([0, 0, 0, 0, 0, 0, 0, 0.01])
    assert np.isnan(threshold_voltage("stg", leak_only))


def test_dics_reject_wrong_number_of_conductances():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 8\)"):
        dynamic_input_conductances("stg", np.ones(7))
