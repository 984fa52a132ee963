"""The population as an ArviZ DataTree, netCDF and Spike2Pop CSV."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from sbidic import load_population, sample_populations


@pytest.fixture(scope="module")
def pop():
    return sample_populations("stg", [[-4.0, 5.0], [5.0, 10.0]], 30, rng=0)


def test_datatree_holds_one_variable_per_conductance_with_sample_dims(pop):
    tree = pop.to_datatree()
    post = tree["posterior"]
    assert list(post.data_vars) == [f"g_{c}" for c in pop.conductance_names]
    assert post["g_Na"].dims == ("chain", "draw", "obs_id")
    assert post["g_Na"].shape == (1, 30, 2)
    np.testing.assert_array_equal(post["g_CaS"].values[0, :, 1], pop.conductances[1, :, 3])
    assert post.attrs["model"] == "stg"
    assert post.attrs["V_th_mV"] == -51.0
    assert post.attrs["units"] == "mS/cm^2"


def test_datatree_dics_group_has_targets_and_achieved_dics(pop):
    dics = pop.to_datatree()["dics"]
    np.testing.assert_array_equal(dics["target"].values, [[-4.0, 5.0], [5.0, 10.0]])
    assert dics["achieved"].dims == ("chain", "draw", "obs_id", "dic")
    assert list(dics["dic"].values) == ["g_f", "g_s", "g_u"]
    np.testing.assert_allclose(dics["achieved"].sel(dic="g_s").values[0, :, 0], -4.0, atol=1e-9)


def test_arviz_summary_and_plot_dist_work(pop):
    import arviz_stats

    summary = arviz_stats.summary(pop.to_datatree())
    assert "g_Na[0]" in summary.index
    assert summary.loc["g_CaS[1]", "mean"] == pytest.approx(
        pop.conductances[1, :, 3].mean(), rel=1e-2
    )

    import matplotlib

    matplotlib.use("Agg")
    import arviz_plots

    arviz_plots.plot_dist(pop.to_datatree(), var_names=["g_Na", "g_H"])


def test_netcdf_round_trip_is_exact(pop, tmp_path):
    path = tmp_path / "pop.nc"
    pop.save(path)
    back = load_population(path)
    assert back.model == pop.model and back.V_th == pop.V_th
    assert back.conductance_names == pop.conductance_names
    for field in ("conductances", "dics", "residual", "target", "acceptance", "obs_id"):
        np.testing.assert_array_equal(getattr(back, field), getattr(pop, field))


def test_csv_export_is_spike2pop_compatible(pop, tmp_path):
    path = tmp_path / "pop.csv"
    pop.save(path)
    with open(path) as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["ID", "g_Na", "g_Kd", "g_CaT", "g_CaS", "g_KCa", "g_A", "g_H", "g_leak"]
    assert len(rows) == 1 + 2 * 30
    assert [r[0] for r in rows[1:]] == ["0"] * 30 + ["1"] * 30
    np.testing.assert_array_equal(np.array(rows[31][1:], dtype=float), pop.conductances[1, 0])
