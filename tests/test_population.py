"""Compensation and degenerate-population sampling (Brandoit et al. 2025, section 4)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import nan_array

from sbidic import UnreachableTargetError, sample_population, sample_populations
from sbidic.dics import dynamic_input_conductances
from sbidic.models import get_model
from sbidic.population import compensate, modulate, seed_population
from sbidic.population.plan import solve_cells


def _cases(data):
    return [c for c in data["compensation"]["cases"]]


def test_compensation_cases_reproduce_reference_to_1e8(ref):
    name, data = ref
    model = get_model(name)
    for case in _cases(data):
        g_in = nan_array(case["input_population"])
        target = case["target(g_f,g_s,g_u)"]
        expected = np.array(case["output_population"])
        if target[0] is not None:  # full (g_f, g_s, g_u) solve: one linear step
            out = compensate(name, g_in, case["compensated_set"], target)
        else:  # modulation with a fixed number of solves, as the reference runs it
            lam = case["initial_lambda"] or {}
            result = modulate(
                name,
                g_in,
                target[1:],
                compensated=case["compensated_set"],
                initial_guess={k: v for k, v in lam.items() if k in model.conductances},
                tol=0.0,
                max_solves=case["n_linear_solves"],
                accelerate=False,
            )
            out = result.conductances
            assert result.n_solves == case["n_linear_solves"]
            achieved = np.array(case["achieved_dics(g_f,g_s,g_u,g_t)"])[:, :3]
            np.testing.assert_allclose(result.dics, achieved, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(out, expected, rtol=1e-8, err_msg=case["name"])


def test_fitted_linearisation_lines_match_reference(ref_stg):
    model = get_model("stg")
    for case in _cases(ref_stg):
        lam = case["initial_lambda"]
        if not lam or lam.get("CaS") is None:
            continue
        guess = model.initial_guess(case["target(g_f,g_s,g_u)"][1], 0.0)
        assert guess["CaS"] == pytest.approx(lam["CaS"], rel=1e-12)
        assert guess["CaT"] == pytest.approx(lam["CaT"], rel=1e-12)


def test_compensation_set_rule_matches_reference(ref):
    name, data = ref
    model = get_model(name)
    for case in _cases(data):
        target = case["target(g_f,g_s,g_u)"]
        if target[0] is None:
            choice = int(model.compensation_choice(target[1], target[2]))
            assert set(model.compensation_sets[choice]) == set(case["compensated_set"])


def test_seed_population_with_legacy_rng_matches_reference_draws(ref):
    name, data = ref
    g = seed_population(name, 5, np.random.RandomState(0))
    np.testing.assert_allclose(
        g, data["compensation"]["seed_population_np_random_seed_0"], rtol=1e-10
    )


def test_seed_cells_share_the_seed_dics(ref):
    name, _ = ref
    model = get_model(name)
    g = seed_population(name, 200, rng=3)
    expected = np.tile(model.seed.target, (200, 1))
    np.testing.assert_allclose(dynamic_input_conductances(name, g), expected, atol=1e-9)


@pytest.mark.parametrize("name", ["stg", "da"])
def test_200_random_targets_in_the_box_give_exactly_n_valid_cells(name):
    model = get_model(name)
    rng = np.random.default_rng(42)
    (s_lo, s_hi), (u_lo, u_hi) = model.target_box["g_s"], model.target_box["g_u"]
    targets = rng.uniform([s_lo, u_lo], [s_hi, u_hi], size=(200, 2))
    n = 40
    try:
        pop = sample_populations(name, targets, n, rng=0)
        reachable = np.ones(len(targets), dtype=bool)
    except UnreachableTargetError as err:
        # DA targets with small g_u need a negative ERG: they must be named, and the
        # other populations must still be complete in err.partial.
        assert len(err.indices) > 0
        assert "g_ERG < 0" in str(err)
        pop = err.partial
        reachable = np.ones(len(targets), dtype=bool)
        reachable[err.indices] = False
        assert np.isnan(pop.conductances[~reachable]).all()
    g = pop.conductances[reachable]
    assert g.shape == (reachable.sum(), n, model.n_conductances)
    assert np.isfinite(g).all() and (g >= 0).all()
    err = np.abs(pop.dics[reachable][..., 1:] - targets[reachable][:, None, :])
    assert err.max() <= 1e-6
    recomputed = dynamic_input_conductances(name, g)
    np.testing.assert_allclose(recomputed, pop.dics[reachable], atol=1e-9)


@pytest.mark.parametrize("name", ["stg", "da", "stg-liu"])
def test_spread_over_the_ranges_keeps_every_cell_inside_them_and_widens_the_population(name):
    model = get_model(name)
    targets = np.array(model.example_targets[:3])
    wide = sample_populations(name, targets, 200, rng=0, spread="ranges")
    g = wide.conductances
    low, high = np.array([model.conductance_ranges[c] for c in model.conductances]).T
    assert g.shape == (3, 200, model.n_conductances)
    assert ((g >= low) & (g <= high)).all()
    assert np.abs(wide.dics[..., 1:] - targets[:, None]).max() <= 1e-10
    np.testing.assert_allclose(dynamic_input_conductances(name, g.reshape(-1, g.shape[-1])),
                               wide.dics.reshape(-1, 3), atol=1e-9)  # fmt: skip
    narrow = sample_populations(name, targets, 200, rng=0).conductances
    cv = lambda x: (x.std(axis=1) / x.mean(axis=1)).mean()  # noqa: E731
    assert cv(g) > 1.2 * cv(narrow)
    seeds = seed_population(name, 500, rng=1, spread="ranges")
    for c, (lo, hi) in model.seed.drawn.items():  # drawn over the ranges, not the seed box
        column = seeds[:, model.index(c)[0]]
        r_lo, r_hi = model.conductance_ranges[c]
        assert column.min() < lo - 0.2 * (lo - r_lo) or column.max() > hi + 0.2 * (r_hi - hi)
        assert column.min() >= r_lo and column.max() <= r_hi


def test_spread_is_checked_and_names_the_ranges_that_reject_cells():
    with pytest.raises(ValueError, match="spread must be one of"):
        sample_population("stg", -4.0, 5.0, n=5, spread="wide")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(UnreachableTargetError, match="outside the model's conductance_ranges"):
            sample_population("stg", 19.0, 0.5, n=50, rng=0, spread="ranges", max_rounds=1)


def test_rejected_cells_are_resampled_to_exactly_n():
    # (g_s, g_u) = (-6, -2) in DA keeps about a third of the seed cells.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pop = sample_population("da", -6.0, -2.0, n=300, rng=1)
    assert pop.conductances.shape == (1, 300, 7)
    assert (pop.conductances >= 0).all()
    assert 0.1 < pop.acceptance[0] < 0.9


def test_single_and_batched_sampling_agree_with_the_same_seed():
    a = sample_populations("stg", [[-4.0, 5.0], [5.0, 10.0]], 50, rng=7)
    b = sample_populations("stg", [[-4.0, 5.0], [5.0, 10.0]], 50, rng=7)
    np.testing.assert_array_equal(a.conductances, b.conductances)
    c = sample_populations("stg", [[-4.0, 5.0], [5.0, 10.0]], 50, rng=8)
    assert not np.allclose(a.conductances, c.conductances)


def test_iteration_stops_once_the_residual_is_below_tolerance():
    g = seed_population("stg", 100, rng=0)
    linear = modulate("stg", g, [5.0, 10.0])  # {A, H}: S does not depend on them
    assert linear.n_solves == 1
    iterative = modulate("stg", g, [-4.0, 5.0])  # {CaS, H}: the KCa column moves
    assert 2 < iterative.n_solves < 20
    assert iterative.residual.max() <= 1e-10
    loose = modulate("stg", g, [-4.0, 5.0], tol=1e-4)
    assert loose.n_solves < iterative.n_solves


@pytest.mark.parametrize("target", [(-4.0, 5.0), (3.0, -1.0), (-20.0, 20.0)])
def test_secant_acceleration_reaches_the_same_fixed_point_in_fewer_solves(target):
    g = seed_population("stg", 200, rng=1)
    plain = modulate("stg", g, target, accelerate=False, max_solves=200)
    fast = modulate("stg", g, target)
    assert fast.n_solves < plain.n_solves
    np.testing.assert_allclose(fast.conductances, plain.conductances, rtol=1e-8)


@pytest.mark.parametrize("name", ["stg", "da"])
def test_planned_compensation_equals_the_general_path(name, monkeypatch):
    # the cached plan (constant S part, one inverse) against per-cell S(V) and solves,
    # on random targets of every compensated set, a per-cell target and a fixed schedule
    import sbidic.population.compensation as comp

    model = get_model(name)
    rng = np.random.default_rng(11)
    (s_lo, s_hi), (_, u_hi) = model.target_box["g_s"], model.target_box["g_u"]
    targets = np.column_stack([rng.uniform(s_lo, s_hi, 600), rng.uniform(-2.0, u_hi, 600)])
    runs, used = {}, []
    plan = comp.compensation_plan
    monkeypatch.setattr(comp, "compensation_plan", lambda *a: used.append(a) or plan(*a))
    for planned in (True, False):
        if not planned:
            assert used  # the first run did use plans
            monkeypatch.setattr(comp, "_planned", lambda V: False)
            monkeypatch.setattr(comp, "compensation_plan", None)  # must not be called
        seeds = seed_population(name, 600, rng=3)
        runs[planned] = (
            seeds,
            modulate(name, seeds, targets),
            modulate(name, seeds, targets[0]),
            modulate(name, seeds, targets[1], tol=0.0, max_solves=4, accelerate=False),
        )
    fast, general = runs[True], runs[False]
    np.testing.assert_allclose(fast[0], general[0], rtol=1e-12)
    for a, b in zip(fast[1:], general[1:], strict=True):
        assert a.n_solves == b.n_solves
        np.testing.assert_array_equal(a.valid, b.valid)
        np.testing.assert_allclose(a.conductances, b.conductances, rtol=1e-12)
        np.testing.assert_allclose(a.dics, b.dics, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a.residual, b.residual, atol=1e-12)
    assert fast[1].valid.sum() > 300  # most targets reached: the comparison is not empty


def test_compensation_plans_are_cached_per_model_voltage_and_set():
    from sbidic.population.plan import compensation_plan

    stg = get_model("stg")
    a = compensation_plan(stg, -51.0, (3, 6), (1, 2))
    assert compensation_plan(stg, -51.0, (3, 6), (1, 2)) is a
    assert compensation_plan(stg, -50.0, (3, 6), (1, 2)) is not a
    assert compensation_plan(stg, -51.0, (5, 6), (1, 2)) is not a
    assert a.driven and not compensation_plan(stg, -51.0, (5, 6), (1, 2)).driven
    # a plan at another voltage solves there: its cells reach their DICs at that V
    g = seed_population("stg", 20, rng=0, V=-55.0)
    np.testing.assert_allclose(dynamic_input_conductances("stg", g, V=-55.0),
                               np.tile(stg.seed.target, (20, 1)), atol=1e-9)  # fmt: skip


def test_compensated_set_can_be_overridden():
    g = seed_population("stg", 50, rng=0)
    result = modulate("stg", g, [-4.0, 5.0], compensated=("CaS", "A"))
    assert np.allclose(result.conductances[:, [0, 1, 2, 4, 6, 7]], g[:, [0, 1, 2, 4, 6, 7]])
    assert result.residual.max() <= 1e-10
    pop = sample_population("stg", -4.0, 5.0, n=20, rng=0, compensated=("CaS", "A"))
    assert np.abs(pop.dics[..., 1:] - [-4.0, 5.0]).max() <= 1e-10


def test_modulate_does_not_modify_its_input():
    g = seed_population("stg", 10, rng=0)
    before = g.copy()
    modulate("stg", g, [-4.0, 5.0])
    np.testing.assert_array_equal(g, before)


def test_singular_system_drops_that_cell_only():
    A = np.array([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [2.0, 4.0]]])
    x = solve_cells(A, np.array([[1.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(x[0], np.linalg.solve(A[0], [1.0, 1.0]))
    assert np.isnan(x[1]).all()
    A3 = np.stack([np.eye(3), np.zeros((3, 3)), 2 * np.eye(3)])
    x3 = solve_cells(A3, np.ones((3, 3)))
    np.testing.assert_allclose(x3[[0, 2]], [[1, 1, 1], [0.5, 0.5, 0.5]])
    assert np.isnan(x3[1]).all()


def test_a_singular_cell_in_a_seed_batch_leaves_the_others_intact():
    g = seed_population("stg", 4, rng=0)
    g[:, [0, 5, 6]] = np.nan
    g[2, -1] = np.inf  # infinite leak: every normalised sensitivity vanishes
    out = compensate("stg", g, ("Na", "A", "H"), (-6.2, 4.0, 5.0))
    assert np.isnan(out[2, [0, 5, 6]]).all()
    assert np.isfinite(out[[0, 1, 3]]).all()


def test_unreachable_target_error_names_the_target_and_the_reason():
    with pytest.raises(UnreachableTargetError) as info:
        sample_populations("da", [[-4.0, 5.0], [15.0, 0.5]], 16, rng=0)
    err = info.value
    assert "g_s=15, g_u=0.5" in str(err) and "g_ERG < 0" in str(err)
    np.testing.assert_array_equal(err.indices, [1])
    assert np.isfinite(err.partial.conductances[0]).all()  # nothing computed is lost
    assert np.isnan(err.partial.conductances[1]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "hh"}, "unknown model 'hh'"),
        ({"n": 0}, "positive integer"),
        ({"n": -3}, "positive integer"),
        ({"n": 2.5}, "positive integer"),
        ({"g_s": float("nan")}, "finite"),
        ({"g_u": float("inf")}, "finite"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, message):
    args = {"model": "stg", "g_s": -4.0, "g_u": 5.0, "n": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        sample_population(args.pop("model"), **args)


def test_target_outside_the_training_box_warns():
    with pytest.warns(UserWarning, match="outside the stg training box"):
        pop = sample_population("stg", 25.0, 5.0, n=5, rng=0)
    assert pop.conductances.shape == (1, 5, 8)


def test_compensate_requires_as_many_unknowns_as_constraints():
    g = seed_population("stg", 3, rng=0)
    with pytest.raises(ValueError, match="must equal the number of constrained DICs"):
        compensate("stg", g, ("A",), (None, 4.0, 5.0))
    with pytest.raises(ValueError, match="unknown conductance 'Xyz'"):
        compensate("stg", g, ("Xyz", "H"), (None, 4.0, 5.0))


def test_large_rounds_are_drawn_in_blocks_with_the_same_guarantees(monkeypatch):
    import sbidic.population.sampler as sampler

    targets = np.array([[-4.0, 5.0], [5.0, 10.0], [3.0, -1.0]])
    whole = sampler.sample_populations("stg", targets, 40, rng=3)
    monkeypatch.setattr(sampler, "ROUND_BLOCK", 16)  # 120+ cells: eight blocks
    blocked = sampler.sample_populations("stg", targets, 40, rng=3)
    again = sampler.sample_populations("stg", targets, 40, rng=3)
    np.testing.assert_array_equal(blocked.conductances, again.conductances)
    assert blocked.conductances.shape == whole.conductances.shape
    assert np.all(blocked.residual <= 1e-10) and np.all(blocked.conductances >= 0)
    np.testing.assert_allclose(blocked.dics[..., 1:], np.repeat(targets[:, None], 40, 1),
                               atol=1e-9)  # fmt: skip
