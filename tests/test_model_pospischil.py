"""The third model, shipped as a user's file: Pospischil et al. (2008) cortical neuron.

The DICs are checked against the paper's rate equations written out again here (with
the original ``x / (exp(x) - 1)`` forms), derivatives by central differences and the
timescale weights of Drion et al. (2015) by hand: nothing from the model file or
:mod:`sbidic.dics` is reused but the conductance order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sbidic.cli import main
from sbidic.dics import dynamic_input_conductances, threshold_voltage
from sbidic.models import get_model
from sbidic.models.autodiff import Dual, Expr, derivative, exp, exprel
from sbidic.models.declarative import model_card

ROOT = Path(__file__).parent.parent
FILE = ROOT / "examples/models/pospischil.py"
SPEC = f"{FILE}:Pospischil"
# regular-spiking cell of the paper (mS/cm^2): Na, Kd, M, CaL, leak
RS = np.array([56.0, 6.0, 0.075, 0.0, 0.0205])
IB = np.array([50.0, 5.0, 0.03, 0.2, 0.01])


@pytest.fixture(scope="module")
def model():
    return get_model(SPEC)


def _paper_rates(V):
    """(alpha, beta) in 1/ms of every gate, Pospischil et al. (2008) Eqs. 2-6."""
    vt = -56.2
    return {
        "m": (-0.32 * (V - vt - 13) / (np.exp(-(V - vt - 13) / 4) - 1),
              0.28 * (V - vt - 40) / (np.exp((V - vt - 40) / 5) - 1)),
        "h": (0.128 * np.exp(-(V - vt - 17) / 18), 4 / (1 + np.exp(-(V - vt - 40) / 5))),
        "n": (-0.032 * (V - vt - 15) / (np.exp(-(V - vt - 15) / 5) - 1),
              0.5 * np.exp(-(V - vt - 10) / 40)),
        "q": (0.055 * (-27 - V) / (np.exp((-27 - V) / 3.8) - 1), 0.94 * np.exp((-75 - V) / 17)),
        "r": (0.000457 * np.exp((-13 - V) / 50), 0.0065 / (np.exp((-15 - V) / 28) + 1)),
    }  # fmt: skip


def _gate(name, V):
    """Steady state and time constant (ms) of a gate at V."""
    if name == "p":
        tau = 608 / (3.3 * np.exp((V + 35) / 20) + np.exp(-(V + 35) / 20))
        return 1 / (1 + np.exp(-(V + 35) / 10)), tau
    a, b = _paper_rates(V)[name]
    return a / (a + b), 1 / (a + b)


def _hand_dics(g, V):
    """(g_f, g_s, g_u) / g_leak from the paper's equations: each gate's pathway
    (dp/dx)(dx_inf/dV)(V - E), split by the log-interpolated weights between
    tau_f = tau_m, tau_s = tau_n, tau_u = tau_p."""
    h = 1e-5
    x = {k: _gate(k, V)[0] for k in "mhnpqr"}
    tau = {k: _gate(k, V)[1] for k in "mhnpqr"}
    dx = {k: (_gate(k, V + h)[0] - _gate(k, V - h)[0]) / (2 * h) for k in "mhnpqr"}
    t_f, t_s, t_u = tau["m"], tau["n"], tau["p"]

    def weights(t):
        w_fs = 1.0 if t <= t_f else max(0.0, np.log(t_s / t) / np.log(t_s / t_f))
        w_su = 1.0 if t <= t_s else max(0.0, np.log(t_u / t) / np.log(t_u / t_s))
        return np.array([w_fs, w_su - w_fs, 1 - w_su])

    E_Na, E_K, E_Ca = 50.0, -90.0, 120.0
    g_Na, g_Kd, g_M, g_CaL, g_leak = g
    pathways = [  # (conductance, dp/dx * dx_inf/dV * (V - E), tau)
        (g_Na, 3 * x["m"] ** 2 * x["h"] * dx["m"] * (V - E_Na), tau["m"]),
        (g_Na, x["m"] ** 3 * dx["h"] * (V - E_Na), tau["h"]),
        (g_Kd, 4 * x["n"] ** 3 * dx["n"] * (V - E_K), tau["n"]),
        (g_M, dx["p"] * (V - E_K), tau["p"]),
        (g_CaL, 2 * x["q"] * x["r"] * dx["q"] * (V - E_Ca), tau["q"]),
        (g_CaL, x["q"] ** 2 * dx["r"] * (V - E_Ca), tau["r"]),
    ]
    dics = sum(gc * d * weights(t) for gc, d, t in pathways)
    static = (g_Na * x["m"] ** 3 * x["h"] + g_Kd * x["n"] ** 4 + g_M * x["p"]
              + g_CaL * x["q"] ** 2 * x["r"] + g_leak)  # fmt: skip
    return (dics + np.array([static, 0, 0])) / g_leak


def test_the_model_file_loads_validates_and_describes_itself(model):
    assert model.name == "pospischil"
    assert model.conductances == ("Na", "Kd", "M", "CaL", "leak")
    assert model.V_th == -50.0 and model.applied_current == 2.0
    card = model_card(model)
    assert card["applied_current_uA_cm2"] == 2.0
    assert [r["gate"] for r in card["gates"]] == ["m_Na", "h_Na", "n_Kd", "p_M", "q_CaL", "r_CaL"]
    assert card["gates"][0]["omega"] == (1.0, 0.0, 0.0)  # m_Na is tau_f: purely fast
    assert "exprel(" in model.equations  # no 0/0 left for Brian2


@pytest.mark.parametrize("cell", [RS, IB], ids=["RS", "IB"])
@pytest.mark.parametrize("V", [-55.0, -50.0, -47.0])
def test_dics_match_a_hand_computation_from_the_paper(model, cell, V):
    expected = _hand_dics(cell, V)
    got = dynamic_input_conductances(model, cell, V=V)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_the_framework_finds_a_threshold_near_v_th(model):
    # where g_t = g_f + g_s + g_u turns negative: the RS cell's and the seed cells'
    assert threshold_voltage(model, RS) == pytest.approx(-53.11, abs=0.01)
    from sbidic.population import seed_population

    seeds = seed_population(model, 50, rng=0)
    v_th = threshold_voltage(model, seeds)
    assert np.isfinite(v_th).all() and (abs(v_th - model.V_th) < 5).all()


def test_populations_reach_their_targets(model):
    from sbidic import sample_populations

    targets = np.array([[0.5, 1.0], [1.0, 4.0], [2.5, 7.0]])
    pop = sample_populations(model, targets, n=200, rng=0)
    g = pop.conductances
    assert g.shape == (3, 200, 5) and (g >= 0).all()
    dics = dynamic_input_conductances(model, g)[..., 1:]
    assert np.abs(dics - targets[:, None]).max() < 1e-8
    assert (g[..., 3].std(axis=1) > 0).all() and (g[..., 0].std(axis=1) > 0).all()  # degenerate


def test_the_applied_current_makes_it_fire(model):
    from sbidic import sample_population
    from sbidic.simulate import simulate

    cells = sample_population(model, g_s=1.0, g_u=2.0, n=2, rng=0).conductances[0]
    kw = {"duration_ms": 300.0, "transient_ms": 100.0}
    fired = simulate(model, cells, **kw)
    assert fired.settings["applied_current_uA_cm2"] == 2.0 and (fired.n_spikes >= 3).all()
    assert (simulate(model, cells, applied_current=0.0, **kw).n_spikes == 0).all()  # at rest
    with pytest.raises(ValueError, match="applied_current must be finite"):
        simulate(model, cells, applied_current=float("nan"), **kw)


def test_cli_population_and_simulate_take_the_model_file(tmp_path, capsys):
    nc, spikes = tmp_path / "pop.nc", tmp_path / "spikes.csv"
    model = ["--model", f"{FILE.relative_to(ROOT)}:Pospischil"]
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)  # the path as a user types it, relative to the checkout
    try:
        assert main(["population", *model, "--g-s", "1", "--g-u", "3", "-n", "3", "--seed", "0",
                     "-o", str(nc)]) == 0, capsys.readouterr().err  # fmt: skip
        assert main(["simulate", str(nc), *model, "--duration", "300", "--transient", "100",
                     "-o", str(spikes)]) == 0, capsys.readouterr().err  # fmt: skip
    finally:
        os.chdir(cwd)
    lines = spikes.read_text().splitlines()
    assert lines[0].startswith("ID,spiking_times") and len(lines) == 4
    assert all(len(line.split(",")) > 3 for line in lines[1:])  # every cell spiked


def test_exprel_is_exact_where_the_classic_rate_divides_zero_by_zero():
    x = np.array([-3.0, -1e-9, 0.0, 1e-9, 2.0])
    val, der = derivative(exprel, x)
    with np.errstate(invalid="ignore"):
        naive = np.expm1(x) / x
    np.testing.assert_allclose(val[x != 0], naive[x != 0], rtol=1e-12)
    assert val[2] == 1.0 and der[2] == 0.5
    ex = np.exp(x[[0, 4]])
    np.testing.assert_allclose(der[[0, 4]], (ex * (x[[0, 4]] - 1) + 1) / x[[0, 4]] ** 2)
    assert isinstance(exprel(Dual(1.0, 1.0)), Dual)
    assert exprel(-Expr("x") / 4).code == "exprel(-x / 4)"
    assert float(exprel(np.float64(0.5))) == pytest.approx(float(np.expm1(0.5) / 0.5))
    assert float(exp(0.0)) == 1.0


# ------------------------------------------------- inference with the committed estimator
ESTIMATOR = ROOT / "examples/models/pospischil_estimator"


def _tonic(rates_hz=(15.0, 40.0)):
    from sbidic.spikes import SpikeTrains

    return SpikeTrains.from_list([np.arange(1000.0, 2000.0, 1000.0 / r) for r in rates_hz],
                                 ids=["slow", "fast"])  # fmt: skip


def test_cli_infer_with_the_model_file_and_its_estimator(tmp_path, capsys):
    from sbidic.spikes import write_spikes

    csv, out = tmp_path / "rec.csv", tmp_path / "pops.csv"
    write_spikes(_tonic(), csv)
    code = main(["infer", str(csv), "--model", SPEC, "--estimator", str(ESTIMATOR), "-n", "4",
                 "--seed", "0", "--quiet", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = (tmp_path / "pops_report.csv").read_text().splitlines()
    assert len(report) == 3 and out.read_text().startswith("ID,g_Na,g_Kd,g_M,g_CaL,g_leak")
    # an estimator of another model is refused with both names
    assert main(["infer", str(csv), "--model", "stg", "--estimator", str(ESTIMATOR),
                 "-o", str(tmp_path / "x.csv")]) == 2  # fmt: skip
    assert "trained for model 'pospischil', not 'stg'" in capsys.readouterr().err


def test_the_app_offers_a_user_model_with_its_estimator(monkeypatch):
    from sbidic.app import state
    from sbidic.models import loading

    monkeypatch.setattr(state, "_ADDED", {})
    monkeypatch.setattr(loading, "_REGISTRY", dict(loading._REGISTRY))  # undone after
    assert state.add_model(SPEC, ESTIMATOR) == "pospischil"
    assert state.models()[-1] == "pospischil"
    inference = state.run_inference(state.Loaded(_tonic(), "test"), "pospischil", 3, 0)
    assert inference.result.population.conductances.shape == (2, 3, 5)
    assert f"--model {SPEC} --estimator {ESTIMATOR}" in inference.command
    sim = state.run_simulation(inference, ["fast"], np.array([0]), duration_ms=300.0,
                               transient_ms=100.0)  # fmt: skip
    assert sim.model == "pospischil" and sim.result.n_spikes[0] > 0
    with pytest.raises(ValueError, match="trained for model 'pospischil', not 'stg'"):
        state.add_model("stg", ESTIMATOR)


@pytest.mark.slow  # compiles a second set of equations (~20 s)
def test_a_division_by_zero_in_the_equations_is_one_clear_error(model):
    from sbidic import sample_population
    from sbidic.simulate import simulate

    cells = sample_population(model, g_s=0.3, g_u=1.0, n=3, rng=0).conductances[0]
    with pytest.raises(ValueError, match=r"model 'pospischil': its equations divided by zero "
                       r"during the simulation \(exponential_euler\)\. .* exprel"):  # fmt: skip
        simulate(model, cells, method="exponential_euler", dt_ms=0.01, duration_ms=400.0,
                 transient_ms=0.0)  # fmt: skip
