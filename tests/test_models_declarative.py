"""Declared models: derived DICs and equations, validation errors, user models."""

from __future__ import annotations

import pickle
import re
import textwrap

import numpy as np
import pytest

from sbidic.cli import main
from sbidic.dics import dynamic_input_conductances, sensitivity_matrix
from sbidic.models import get_model
from sbidic.models.autodiff import Dual, Expr, boltzmann, derivative, exp
from sbidic.models.declarative import brian2_equations, model_card
from sbidic.models.validation import ModelError

# A two-conductance-plus-leak toy neuron declared as a user would: a fast sodium-like
# current, a slow potassium current and an ultraslow h-like current.
TOY = textwrap.dedent('''
    from sbidic.models.autodiff import boltzmann, exp, sigmoid
    from sbidic.models.base import SeedPopulation
    from sbidic.models.declarative import Channel, DeclaredModel, Gate, ModelSpec

    NA = Gate(boltzmann(-5.0, 30.0), lambda V: 0.1 + 0 * V, 3)
    K = Gate(boltzmann(-10.0, 20.0), sigmoid(8.0, -4.0, -15.0, 30.0), 4)
    H = Gate(boltzmann(6.0, 70.0), sigmoid(300.0, 1000.0, -8.0, 40.0))

    class Toy(DeclaredModel):
        spec = ModelSpec(
            name="toy", description="test neuron",
            constants={"E_Na": 50.0, "E_K": -80.0, "E_H": -20.0, "E_leak": -50.0},
            channels={
                "Na": Channel("E_Na", {"m_Na": NA}),
                "K": Channel("E_K", {"n_K": K}),
                "H": Channel("E_H", {"m_H": H}),
            },
            V_th=-50.0, V0=-70.0, timescales=("m_Na", "n_K", "m_H"),
            compensation={("K", "H"): "g_s >= 0", ("H", "K"): "otherwise"},
            seed=SeedPopulation(drawn={"K": (50.0, 100.0)}, leak_range=(0.01, 0.02),
                                target=(-5.0, 4.0, 5.0), compensated=("Na", "K", "H")),
            target_box={"g_s": (-10.0, 10.0), "g_u": (0.0, 10.0)},
            monte_carlo_ranges={"Na": (0.0, 500.0), "K": (0.0, 100.0), "H": (0.0, 1.0),
                                "leak": (0.0, 0.02)},
            protocol=(300.0, 100.0), integration=("exponential_euler", 0.01),
        )
''')


def _write(tmp_path, text: str, name: str = "toy.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def toy_path(tmp_path):
    return _write(tmp_path, TOY)


# ------------------------------------------------------------------ autodiff
def test_dual_numbers_give_exact_derivatives():
    f = lambda V: 2.0 / (1.0 + exp((V + 3.0) / -4.0)) ** 2 - V**3 / (V + 20.0)  # noqa: E731
    V = np.linspace(-79.0, 21.0, 11)
    val, der = derivative(f, V)
    e = np.exp((V + 3.0) / -4.0)
    exact = 4.0 * e / 4.0 / (1 + e) ** 3 - (3 * V**2 * (V + 20) - V**3) / (V + 20) ** 2
    np.testing.assert_allclose(val, f(V), rtol=1e-14)
    np.testing.assert_allclose(der, exact, rtol=1e-12)
    assert isinstance(f(Dual(1.0, 1.0)), Dual)


def test_expressions_print_as_brian2_code_with_the_same_value():
    V = Expr("v", 5)
    f = boltzmann(-5.29, 25.5)
    code = f(V).code
    assert code == "1 / (1 + exp((v + 25.5) / -5.29))"
    assert eval(code, {"exp": np.exp, "v": -30.0}) == f(-30.0)
    g = lambda V: -(1.0 - V) / (2.0 * (V - 3.0)) - 2.0**V  # noqa: E731
    assert eval(g(Expr("v", 5)).code, {"v": 1.7}) == pytest.approx(g(1.7))


# ---------------------------------------------------------- derived features
def test_equations_are_generated_from_the_declaration():
    for name in ("stg", "da"):
        model = get_model(name)
        eqs = model.equations
        assert eqs == brian2_equations(model.spec)
        for state in model.state_variables:
            assert f"d{state}/dt" in eqs
        for g in model.conductances:
            assert f"g_{g} : siemens/meter**2 (constant)" in eqs
    assert "clip(" in get_model("da").equations  # tau_m_Na guard, simulation only
    assert "Ca / (Ca + 3)" in get_model("stg").equations


def test_model_card_is_data_for_the_docs():
    card = model_card("da")
    gates = {row["gate"]: row for row in card["gates"]}
    assert gates["B_NMDA"]["omega"] == (1.0, 0.0, 0.0)
    assert gates["o_ERG"]["omega"] == (0.0, 0.0, 1.0)
    assert card["protocol_ms"] == (12000.0, 3000.0)
    assert sum(gates["m_CaN"]["omega"]) == pytest.approx(1.0)


def test_compensation_choice_follows_the_declared_rules():
    stg = get_model("stg")
    np.testing.assert_array_equal(stg.compensation_choice([1, -1, 1, -1], [1, 1, -1, -1]),
                                  [0, 1, 2, 2])  # fmt: skip
    np.testing.assert_array_equal(get_model("da").compensation_choice([-1, 0, 2], 1), [0, 1, 1])


# --------------------------------------------------------------- user models
def test_user_model_from_a_file_is_usable_end_to_end(toy_path):
    from sbidic import sample_population
    from sbidic.simulate import default_integration, simulate

    model = get_model(f"{toy_path}:Toy")
    assert model.name == "toy" and model.conductances == ("Na", "K", "H", "leak")
    g = np.array([300.0, 60.0, 0.3, 0.015])
    S = sensitivity_matrix(model, g)
    assert S.shape == (3, 4) and np.isfinite(S).all()
    np.testing.assert_allclose(dynamic_input_conductances(model, g), S @ g)
    pop = sample_population(model, g_s=2.0, g_u=5.0, n=8, rng=0)
    cells = pop.conductances[0]
    assert cells.shape == (8, 4)
    np.testing.assert_allclose(dynamic_input_conductances(model, cells)[:, 1:], [[2.0, 5.0]] * 8,
                               atol=1e-6)  # fmt: skip
    assert default_integration(model) == ("exponential_euler", 0.01)
    res = simulate(model, cells[:2], duration_ms=60.0, transient_ms=10.0)
    assert res.n_cells == 2
    clone = pickle.loads(pickle.dumps(model))  # process-pool workers reload it by path
    assert type(clone).__name__ == "Toy" and clone.name == "toy"


def test_cli_accepts_a_model_file(toy_path, tmp_path, capsys):
    out = tmp_path / "pop.csv"
    code = main(["population", "--model", f"{toy_path}:Toy", "--g-s", "2", "--g-u", "5",
                 "-n", "4", "--seed", "0", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert out.exists()
    nc, spikes = tmp_path / "pop.nc", tmp_path / "spikes.csv"
    model = ["--model", f"{toy_path}:Toy"]
    assert main(["population", *model, "--g-s", "2", "--g-u", "5", "-n", "2", "-o", str(nc)]) == 0
    protocol = ["--duration", "60", "--transient", "10", "-o", str(spikes)]
    assert main(["simulate", str(nc), *model, *protocol]) == 0, capsys.readouterr().err
    assert spikes.read_text().startswith("ID,spiking_times")
    assert main(["simulate", str(nc), "--model", "stg", *protocol]) == 2
    assert "holds a 'toy' population, not 'stg'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("Gate(boltzmann(-5.0, 30.0),", "Gate(None,"),
         r"toy\.py, line \d+: model 'toy': gate 'm_Na' of channel 'Na' has no steady-state"),
        (("sigmoid(8.0, -4.0, -15.0, 30.0), 4", "None, 4"), r"gate 'n_K' .* has no time constant"),
        (("boltzmann(-10.0, 20.0)", "lambda V: 1.0 / (V + 45.0) ** 2"),
         r"steady state of gate 'n_K' is not finite"),
        (("boltzmann(-10.0, 20.0)", "lambda V: exp(-((V + 50.0) / 5.0) ** 2)"),
         r"steady state of gate 'n_K' is not monotone"),
        (("lambda V: 0.1 + 0 * V", "lambda V: 0.0001 + 0 * V"),
         r"time constant of gate 'm_Na' is below 0\.001 ms .*seconds instead of ms"),
        (("V_th=-50.0", "V_th=-0.05"), r"V_th = -0\.05 is outside .*volts instead of mV"),
        (('"E_Na": 50.0, "E_K": -80.0, "E_H": -20.0, "E_leak": -50.0',
          '"E_Na": 0.05, "E_K": -0.08, "E_H": -0.02, "E_leak": -0.05'),  # volts
         r"volts instead of mV"),
        (('"E_Na": 50.0', '"E_Na": 50000.0'), r"E_Na = 50000\.0 is outside .*units off by 1000"),
        (('("H", "K"): "otherwise"', '("K", "Na"): "otherwise", ("H", "H"): "g_s < 0"'),
         r"only the last compensation rule|two distinct"),
        (('("K", "H"): "g_s >= 0"', '("K", "H"): "g_s >= 0", ("Na", "Ca"): "g_u < 0"'),
         r"pair \('Na', 'Ca'\) must be two distinct conductances"),
        (('("H", "K"): "otherwise"', '("H", "K"): "g_s < -100"'),
         r"no compensation rule matches"),
        (('timescales=("m_Na", "n_K", "m_H")', 'timescales=("m_Na", "n_K", "m_X")'),
         r"timescale 'm_X' is not a gate"),
        (('integration=("exponential_euler", 0.01),',
          'integration=("exponential_euler", 0.01), applied_current=5000.0,'),
         r"applied_current = 5000\.0 uA/cm\^2 exceeds 1000 in size \(units off by 1000\?\)"),
        (('integration=("exponential_euler", 0.01),',
          'integration=("exponential_euler", 0.01), applied_current=float("nan"),'),
         r"applied_current = nan must be a finite number"),
    ],
)
def test_bad_models_fail_on_load_with_one_clear_line(tmp_path, edit, match):
    old, new = edit
    assert old in TOY
    path = _write(tmp_path, TOY.replace(old, new))
    with pytest.raises(ModelError, match=match) as info:
        get_model(f"{path}:Toy")
    assert "\n" not in str(info.value)


def test_unsolvable_compensation_set_is_rejected(tmp_path):
    # Two channels with identical kinetics and reversal: their S columns are equal.
    text = TOY.replace(
        '"H": Channel("E_H", {"m_H": H}),',
        '"H": Channel("E_H", {"m_H": H}), "K2": Channel("E_K", {"n_K2": K}),',
    ).replace('"leak": (0.0, 0.02)}', '"K2": (0.0, 100.0), "leak": (0.0, 0.02)}').replace(
        '("K", "H"): "g_s >= 0"', '("K", "K2"): "g_s >= 0"'
    )
    with pytest.raises(ModelError, match=r"compensation set \('K', 'K2'\) cannot be solved"):
        get_model(f"{_write(tmp_path, text)}:Toy")


def test_model_file_errors_name_the_file(tmp_path, capsys):
    with pytest.raises(ModelError, match="does not exist"):
        get_model(str(tmp_path / "missing.py") + ":Toy")
    path = _write(tmp_path, TOY)
    message = f"{path} defines no 'Nope'; models in it: ['Toy']"
    with pytest.raises(ModelError, match=re.escape(message)):
        get_model(f"{path}:Nope")
    broken = _write(tmp_path, "x = 1\ny = undefined_name\n", "broken.py")
    with pytest.raises(ModelError, match=r"broken\.py, line 2: NameError"):
        get_model(f"{broken}:Toy")
    with pytest.raises(SystemExit):
        main(["population", "--model", f"{broken}:Toy", "--g-s", "1", "--g-u", "2"])
    err = capsys.readouterr().err
    assert "broken.py, line 2: NameError" in err.strip().splitlines()[-1]


def test_entry_point_models_are_found(monkeypatch, toy_path):
    import sbidic.models.loading as loading

    class FakeEntryPoint:
        name, value = "toy_ep", "toy_package:Toy"

        def load(self):
            return loading.load_model_file(toy_path, "Toy")

    monkeypatch.setattr(loading, "_entry_points", lambda: {"toy_ep": FakeEntryPoint()})
    assert "toy_ep" in loading.available_models()
    assert get_model("toy_ep").name == "toy"


def _steady_state_current(model, g: np.ndarray, V: float) -> float:
    """I_ss(V) (uA/cm^2) straight from the declaration: every gate at steady state,
    calcium at its steady state, no derived code of sbidic involved."""
    spec = model.spec
    V = float(V)

    def current(channel, ca=None):
        ch = spec.channels[channel]
        p = 1.0
        for gate in ch.gates.values():
            x = float(gate.inf(V)) * (gate.calcium(ca) if gate.calcium else 1.0)
            p *= x**gate.power
        return p * (V - spec.constants[ch.E])

    ca = None
    if spec.calcium:
        c = spec.calcium
        ca = c.beta - c.alpha * sum(g[model.index(k)[0]] * current(k) for k in c.currents)
    total = sum(g[i] * current(name, ca) for i, name in enumerate(spec.channels))
    return total + g[-1] * (V - spec.constants["E_leak"])


@pytest.mark.parametrize("name", ["stg", "da", "toy"])
def test_total_dic_is_the_slope_of_the_steady_state_current(name, toy_path):
    """g_f + g_s + g_u = dI_ss/dV / g_leak (Drion et al. 2015), checked against a
    central difference of I_ss computed from the declaration alone."""
    model = get_model(f"{toy_path}:Toy" if name == "toy" else name)
    g = np.mean([model.monte_carlo_ranges[c] for c in model.conductances], axis=1)
    for V in (model.V_th - 7.0, model.V_th, model.V_th + 3.0):
        h = 1e-4
        slope = (_steady_state_current(model, g, V + h) - _steady_state_current(model, g, V - h))
        slope /= 2 * h * g[-1]
        dics = dynamic_input_conductances(model, g, V)
        assert dics.sum() == pytest.approx(slope, rel=1e-6, abs=1e-6)


def test_a_declared_model_needs_a_spec():
    from sbidic.models.declarative import DeclaredModel

    with pytest.raises(ModelError, match=r"model 'Bare': spec must be a ModelSpec, got NoneType"):
        type("Bare", (DeclaredModel,), {})


@pytest.mark.parametrize("name", ["stg", "da"])
def test_a_used_model_still_pickles_for_worker_processes(name):
    from sbidic.population import sample_populations

    model = get_model(name)
    pop = sample_populations(model, [model.example_targets[0]], 3, rng=0)  # fills caches
    copy = pickle.loads(pickle.dumps(model))
    assert type(copy) is type(model)
    again = sample_populations(copy, [model.example_targets[0]], 3, rng=0)
    np.testing.assert_array_equal(again.conductances, pop.conductances)
