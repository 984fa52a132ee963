"""The NPE baselines: prior, summary features, training, loading, sampling, infer, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sbidic.datasets import DatasetSpec, dataset_status, generate_dataset  # noqa: E402
from sbidic.inference.npe import (  # noqa: E402
    FEATURE_NAMES,
    NPEPosterior,
    load_npe,
    npe_prior,
    summary_features,
    train_npe,
)
from sbidic.spikes import SpikeTrains  # noqa: E402

TINY_ENCODER = {"d_model": 16, "n_heads": 2, "n_blocks": 1, "embed_dim": 8}
TONIC = np.arange(0.0, 3000.0, 100.0)
BURSTS = np.array([b * 400.0 + o for b in range(7) for o in (0.0, 15.0, 30.0, 45.0)])


@pytest.fixture(scope="module")
def mc_dataset(tmp_path_factory):
    """40 Monte Carlo STG cells, 1 s each (about 10 s)."""
    root = tmp_path_factory.mktemp("npe") / "mc"
    spec = DatasetSpec("stg", n_targets=40, mode="mc", targets_per_chunk=40, seed=5,
                       duration_ms=1000.0, transient_ms=300.0, dt_ms=0.05)  # fmt: skip
    generate_dataset(root, spec, n_jobs=1, progress=False)
    return root


@pytest.fixture(scope="module")
def trained(mc_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("npe_out")
    posts = {}
    for conditioner in ("embedding", "features"):
        posts[conditioner] = train_npe(
            mc_dataset, out / conditioner, conditioner, max_epochs=2, batch_size=8,
            encoder=TINY_ENCODER,
        )  # fmt: skip
    return out, posts


# ------------------------------------------------------------------ prior
def test_prior_is_uniform_conductances_in_log_space():
    prior = npe_prior("stg")
    theta = prior.sample((20000,))
    assert theta.shape == (20000, 8)
    g = theta.exp()
    assert bool(((g >= prior.low * 0.999) & (g <= prior.high * 1.001)).all())
    # uniform in g: the mean conductance is the middle of the range
    mid = (prior.low + prior.high) / 2
    assert torch.allclose(g.mean(0), mid, rtol=0.03)
    # analytic moments of log g match the draws
    assert torch.allclose(theta.mean(0), prior.mean, atol=0.05)
    assert torch.allclose(theta.var(0), prior.variance, rtol=0.1)
    inside = prior.log_prob(theta[:5])
    assert torch.isfinite(inside).all()
    outside = theta[:5].clone()
    outside[:, 0] = prior.high[0].log() + 1.0
    assert torch.isneginf(prior.log_prob(outside)).all()


def test_prior_over_the_plausible_ranges_is_the_models_box():
    from sbidic.models import get_model

    model = get_model("stg")
    prior = npe_prior(model, "plausible")
    low, high = np.array([model.conductance_ranges[c] for c in model.conductances]).T
    np.testing.assert_allclose(prior.low.numpy(), low, rtol=1e-6)
    np.testing.assert_allclose(prior.high.numpy(), high, rtol=1e-6)
    with pytest.raises(ValueError, match="ranges must be one of"):
        npe_prior(model, "wide")


def test_training_on_a_plausible_ranges_dataset_uses_that_prior(tmp_path):
    spec = DatasetSpec("stg", n_targets=24, mode="mc", targets_per_chunk=24, seed=5,
                       duration_ms=1000.0, transient_ms=300.0, dt_ms=0.05,
                       ranges="plausible")  # fmt: skip
    generate_dataset(tmp_path / "mc", spec, n_jobs=1, progress=False)
    post = train_npe(tmp_path / "mc", tmp_path / "out", "features", max_epochs=2,
                     batch_size=8)  # fmt: skip
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    prior = npe_prior("stg", "plausible")
    np.testing.assert_allclose(config["prior_low"], prior.low.numpy(), rtol=1e-6)
    assert "plausible" in post.card["recipe"]["prior"]
    g = post.sample_batched((50,), [TONIC])
    assert bool(((g >= prior.low * 0.999) & (g <= prior.high * 1.001)).all())


def test_prior_rejects_nonpositive_bounds():
    from sbidic.inference.npe import LogConductancePrior

    with pytest.raises(ValueError, match="0 < low < high"):
        LogConductancePrior([0.0, 1.0], [1.0, 2.0])


# --------------------------------------------------------------- features
def test_summary_features_are_finite_with_fill_values_and_flags():
    rng = np.random.default_rng(0)
    poisson = np.cumsum(rng.exponential(50.0, 60))
    trains = SpikeTrains.from_list([[], [3.0], TONIC, BURSTS, poisson, [0.0, 10.0, 20.0]])
    f = summary_features(trains)
    assert f.shape == (6, len(FEATURE_NAMES)) and f.dtype == np.float32
    assert np.isfinite(f).all()
    col = {name: f[:, j] for j, name in enumerate(FEATURE_NAMES)}
    assert col["silent"].tolist() == [1, 1, 0, 0, 0, 0]
    assert col["bursting"][3] == 1 and col["bursting"][2] == 0
    assert col["spikes_per_burst"][3] == pytest.approx(4.0)
    assert np.exp(col["log_burst_period"][3]) - 1 == pytest.approx(400.0)
    assert col["duty_cycle"][3] == pytest.approx(45.0 / 400.0)
    assert np.exp(col["log_rate"][2]) - 1 == pytest.approx(10.0)
    assert (f[:2] == np.array([1, 0, 0, 0, 0, 0, 0, 0])).all()  # silent: fill values


# --------------------------------------------------------------- training
def test_training_writes_safetensors_and_model_card(trained, mc_dataset):
    out, posts = trained
    status = dataset_status(mc_dataset)
    for conditioner in ("embedding", "features"):
        d = out / conditioner
        assert {p.name for p in d.iterdir()} >= {
            "weights.safetensors", "config.json", "model_card.json", "model_card.md"
        }
        assert not list(d.glob("*.pt")) and not list(d.glob("*.pkl"))
        card = json.loads((d / "model_card.json").read_text())
        assert card["estimator"] == "npe" and card["conditioner"] == conditioner
        assert card["data"]["silent_fraction"] == pytest.approx(status["silent_fraction"])
        assert card["budget"]["simulations"] == status["cells"] == 40
        assert 0 < card["data"]["cells_used"] <= card["data"]["train_split_cells"]
        assert card["training"]["cpu_time_s"] >= 0 and card["training"]["epochs"] >= 2
        assert card["recipe"]["flow"]["model"] == "zuko_nsf"
        assert posts[conditioner].card["data"] == card["data"]


@pytest.mark.parametrize("conditioner", ["embedding", "features"])
def test_loaded_posterior_samples_like_the_trained_one(trained, conditioner):
    out, posts = trained
    loaded = load_npe(out / conditioner)
    assert isinstance(loaded, NPEPosterior) and loaded.conditioner == conditioner
    x = [TONIC, BURSTS]
    torch.manual_seed(1)
    a = posts[conditioner].sample_batched((6,), x)
    torch.manual_seed(1)
    b = loaded.sample_batched((6,), x)
    assert torch.allclose(a, b)


@pytest.mark.parametrize("conditioner", ["embedding", "features"])
def test_sample_shapes_and_support(trained, conditioner):
    post = trained[1][conditioner]
    prior = post.prior
    g = post.sample((7,), x=TONIC)
    assert g.shape == (7, 8)
    gb = post.sample_batched((5,), SpikeTrains.from_list([TONIC, BURSTS, TONIC + 3.0]))
    assert gb.shape == (5, 3, 8)
    low, high = prior.base_dist.low * 0.999, prior.base_dist.high * 1.001
    for s in (g, gb.reshape(-1, 8)):
        assert bool(((s >= low) & (s <= high)).all())
    with pytest.raises(ValueError, match="one recording"):
        post.sample((2,), x=[TONIC, BURSTS])


def test_log_prob_has_the_jacobian_and_is_minus_inf_outside(trained):
    post = trained[1]["features"]
    g = post.sample((4,), x=BURSTS)
    lp = post.log_prob(g, x=BURSTS)
    assert lp.shape == (4,) and torch.isfinite(lp).all()
    # without the (sampled) leakage normalisation, exactly q(log g | x) / prod(g)
    x = post.encode_x([BURSTS])
    exact = post.log_prob(g, x=BURSTS, norm_posterior=False)
    ref = post.log_posterior.log_prob(g.log(), x=x, norm_posterior=False) - g.log().sum(-1)
    assert torch.allclose(exact, ref, atol=1e-5)
    assert torch.allclose(lp - exact, (lp - exact)[0])  # normalisation: a constant
    bad = g[:3].clone()
    bad[0, 0] = post.log_prior.high[0] * 2  # above the prior box
    bad[1, 2] = 0.0  # zero conductance: log undefined, outside the floored box
    bad[2, 4] = -1.0
    assert torch.isneginf(post.log_prob(bad, x=BURSTS)).all()
    with pytest.raises(ValueError, match="8 conductances"):
        post.log_prob(torch.ones(3, 2), x=BURSTS)


def test_silent_recordings_are_refused_by_name(trained):
    post = trained[1]["embedding"]
    with pytest.raises(ValueError, match=r"\['quiet'\].*fewer than 3 spikes"):
        post.encode_x(SpikeTrains.from_list([TONIC, [1.0, 2.0]], ids=["ok", "quiet"]))


def test_training_errors_are_clear(tmp_path, mc_dataset):
    import shutil

    with pytest.raises(ValueError, match="conditioner must be one of"):
        train_npe(mc_dataset, conditioner="voltage")
    dic = tmp_path / "dic"
    shutil.copytree(mc_dataset, dic)
    manifest = json.loads((dic / "manifest.json").read_text())
    spec = json.loads(manifest["spec"])
    spec["mode"] = "dic"
    manifest["spec"] = json.dumps(spec)
    (dic / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="Monte Carlo dataset"):
        train_npe(dic, conditioner="features", max_epochs=1)


# ---------------------------------------------------------------- loading
@pytest.mark.parametrize(
    ("losses", "epochs", "stop"),
    [
        ([5.0 - 0.1 * k for k in range(12)], 12, "max_epochs"),  # improves every epoch
        ([3.0, 2.0] + [2.5] * 10, 5, "early_stopping"),  # best at epoch 2, patience 3
    ],
)
def test_patience_counts_epochs_without_improvement(mc_dataset, monkeypatch, losses, epochs,
                                                    stop):  # fmt: skip
    """Validation losses scripted: training stops exactly when ``patience`` epochs in a
    row fail to improve (an earlier loop stopped after ``patience + 1`` epochs whatever
    the losses, and restarted each epoch from the best weights)."""
    from sbi.inference import NPE

    scripted = iter(losses)
    monkeypatch.setattr(NPE, "_validate_epoch", lambda self, *a, **k: next(scripted))
    post = train_npe(mc_dataset, conditioner="features", max_epochs=12, patience=3,
                     batch_size=8)  # fmt: skip
    training = post.card["training"]
    assert (training["epochs"], training["stop_reason"]) == (epochs, stop)
    assert training["best_validation_loss"] == min(losses[:epochs])


def test_load_pretrained_npe_without_weights_says_how_to_train(tmp_path):
    import sbidic
    from sbidic.inference.pretrained import npe_dir

    try:
        path = npe_dir("stg", "features")
    except ValueError as err:
        assert "sbidic train-npe" in str(err) and "--mode mc" in str(err)
        with pytest.raises(ValueError, match="train-npe"):
            sbidic.load_pretrained("stg", estimator="npe", conditioner="features")
    else:  # weights shipped
        loaded = sbidic.load_pretrained("stg", estimator="npe", conditioner="features")
        assert isinstance(loaded, NPEPosterior)
        assert path.is_dir()
    with pytest.raises(ValueError, match="conditioner must be one of"):
        sbidic.load_pretrained("stg", estimator="npe", conditioner="isi")
    with pytest.raises(ValueError, match="clean recordings only"):
        sbidic.load_pretrained("stg", estimator="npe", regime="noisy")
    with pytest.raises(ValueError, match="estimator must be 'dic' or 'npe'"):
        sbidic.load_pretrained("stg", estimator="snpe")
    with pytest.raises(FileNotFoundError, match="not a saved NPE posterior"):
        load_npe(tmp_path)


def test_load_npe_refuses_a_dic_estimator():
    from sbidic.inference.pretrained import available_pretrained, pretrained_dir

    if "stg" not in available_pretrained():
        pytest.skip("no shipped DIC estimator")
    with pytest.raises(ValueError, match="holds a DIC estimator"):
        load_npe(pretrained_dir("stg"))


# ------------------------------------------------------------------ infer
@pytest.mark.parametrize("conditioner", ["embedding", "features"])
def test_infer_with_an_npe_posterior_gives_the_dic_pipeline_outputs(trained, tmp_path,
                                                                    conditioner):  # fmt: skip
    import xarray as xr

    import sbidic
    from sbidic.inference.infer import REPORT_COLUMNS

    post = trained[1][conditioner]
    rec = [TONIC, [5.0, 900.0], BURSTS]
    res = sbidic.infer(rec, post, n=6, ids=["a", "b", "c"], seed=0, n_summary=50)
    assert list(res.report.columns) == list(REPORT_COLUMNS)
    assert res.report["n_cells"].tolist() == [6, 0, 6]
    assert res.report["status"][1].startswith("silent")
    assert np.isfinite(res.report.loc[[0, 2], ["g_s_mean", "g_u_q95"]].to_numpy()).all()
    pop = res.population
    assert pop.conductances.shape == (2, 6, 8) and list(pop.obs_id) == ["a", "c"]
    # the cells' DICs are computed from their conductances
    dics = sbidic.dynamic_input_conductances("stg", pop.conductances)
    assert np.allclose(pop.dics, dics)
    again = sbidic.infer(rec, post, n=6, ids=["a", "b", "c"], seed=0, n_summary=50)
    assert np.array_equal(again.population.conductances, pop.conductances)
    res.save(tmp_path / "pop.nc")
    tree = xr.open_datatree(tmp_path / "pop.nc")
    assert tree["posterior"]["g_Na"].sizes["obs_id"] == 2
    res.save(tmp_path / "pop.csv")
    assert (tmp_path / "pop.csv").is_file()
    with pytest.raises(ValueError, match="DIC pipeline"):
        sbidic.infer(rec, post, n=2, verify=True)
    with pytest.raises(ValueError, match="DIC pipeline"):
        sbidic.infer(rec, post, n=2, dics="mean")


def test_cli_train_npe_and_infer_estimator_kind_npe(mc_dataset, tmp_path, capsys):
    import xarray as xr

    from sbidic.cli import main
    from sbidic.spikes import write_spike_csv

    out = tmp_path / "npe_features"
    code = main(["train-npe", str(mc_dataset), "--conditioner", "features", "-o", str(out),
                 "--max-epochs", "2", "--batch-size", "8"])  # fmt: skip
    assert code == 0 and (out / "weights.safetensors").is_file()
    assert "silent fraction" in capsys.readouterr().out
    rec = tmp_path / "rec.csv"
    write_spike_csv(SpikeTrains.from_list([TONIC, BURSTS], ids=["t", "b"]), rec)
    pop = tmp_path / "pop.nc"
    code = main(["infer", str(rec), "--model", "stg", "--estimator-kind", "npe",
                 "--estimator", str(out), "-n", "4", "--seed", "0", "-o", str(pop)])  # fmt: skip
    assert code == 0
    assert xr.open_datatree(pop)["posterior"]["g_Na"].sizes["obs_id"] == 2
    code = main(["infer", str(rec), "--model", "da", "--estimator-kind", "npe",
                 "--estimator", str(out), "-n", "4"])  # fmt: skip
    assert code == 2 and "trained for model 'stg'" in capsys.readouterr().err
    code = main(["infer", str(rec), "--model", "stg", "--estimator-kind", "npe",
                 "--estimator", str(out), "--regime", "noisy", "-n", "4"])  # fmt: skip
    assert code == 2 and "clean recordings only" in capsys.readouterr().err
    code = main(["train-npe", str(tmp_path / "nothing"), "--conditioner", "features", "-o",
                 str(tmp_path / "x")])  # fmt: skip
    assert code == 2


@pytest.mark.parametrize(("model", "conditioner"), [("stg", "embedding"), ("stg", "features"),
                                                    ("da", "embedding"), ("da", "features")])
def test_shipped_npe_baselines_are_equal_budget_and_sample_conductances(model, conditioner):
    """Every shipped NPE baseline: trained on as many simulations as the shipped DIC
    network, within the 2 CPU-hour budget, and drawing one positive conductance set
    per draw."""
    import json

    import sbidic
    from sbidic.inference.pretrained import pretrained_dir

    post = sbidic.load_pretrained(model, estimator="npe", conditioner=conditioner)
    dic_card = json.loads((pretrained_dir(model) / "model_card.json").read_text())
    card = post.card
    assert card["conditioner"] == conditioner and card["data"]["spec"]["mode"] == "mc"
    assert card["budget"]["simulations"] >= dic_card["data"]["n_cells"]
    assert card["training"]["cpu_time_s"] <= 7200
    torch.manual_seed(0)
    g = post.sample((50,), x=TONIC)
    n_cond = len(sbidic.get_model(model).conductances)
    assert g.shape == (50, n_cond) and bool((g > 0).all())


def test_npe_proposal_draws_each_row_from_its_recordings_posterior(trained):
    from sbidic.inference.verify import npe_proposal

    post = trained[1]["features"]
    recs = SpikeTrains.from_list([TONIC, BURSTS])
    owner = np.array([1, 0, 1, 1, 0])
    state = torch.get_rng_state()
    g = npe_proposal(post, recs, np.random.default_rng(4))(owner)
    assert torch.equal(torch.get_rng_state(), state)  # torch's global generator untouched
    assert g.shape == (5, 8) and (g > 0).all()
    again = npe_proposal(post, recs, np.random.default_rng(4))(owner)
    np.testing.assert_array_equal(g, again)
    # the rows of one recording are distinct draws of that recording's posterior
    torch.manual_seed(0)
    tonic = post.sample((4000,), x=TONIC).double().numpy()
    torch.manual_seed(0)
    burst = post.sample((4000,), x=BURSTS).double().numpy()
    assert len({tuple(r) for r in g[owner == 1]}) == 3
    big = npe_proposal(post, recs, np.random.default_rng(5))(np.repeat([0, 1], 2000))
    gap = np.abs(np.log(tonic).mean(0) - np.log(burst).mean(0))
    j = int(np.argmax(gap))  # the conductance the two posteriors differ most in
    for k, ref in ((0, tonic), (1, burst)):
        np.testing.assert_allclose(np.log(big[2000 * k: 2000 * (k + 1), j]).mean(),
                                   np.log(ref[:, j]).mean(), atol=gap[j] / 4 + 0.02)


def test_sample_in_prior_never_hangs_on_a_recording_unlike_the_training_data(trained):
    """sbi's rejection sampling loops on a posterior whose mass lies outside the prior:
    sample_in_prior keeps the draws inside where it can and says how many were."""
    post = trained[1]["features"]
    g, share = post.sample_in_prior(50, [TONIC, BURSTS])
    assert g.shape == (50, 2, 8) and share.shape == (2,)
    low, high = post.log_prior.low, post.log_prior.high
    inside = ((g >= low * 0.999) & (g <= high * 1.001)).all(-1)
    enough = share * 20 >= 1  # filled from inside draws
    assert bool(inside[:, torch.from_numpy(enough)].all())

    class Outside:  # a flow whose every draw lies 10x above the prior box
        prior = post.log_prior

        def sample_batched(self, shape, x, **kwargs):
            assert kwargs.get("reject_outside_prior") is False
            return (high.log() + np.log(10.0)).expand(*shape, len(x), 8).clone()

    post_out = NPEPosterior(post.log_posterior, "stg", "features")
    post_out.log_posterior = Outside()
    g, share = post_out.sample_in_prior(5, [TONIC])
    assert share.tolist() == [0.0] and torch.allclose(g, high * 10.0)
    import sbidic

    res = sbidic.infer([TONIC], post_out, n=3, seed=0)
    assert "NPE: only 0.00% of its posterior draws lie inside its prior box" in (
        res.report["warning"].iloc[0])
    ok = sbidic.infer([TONIC, BURSTS], post, n=3, seed=0)
    for i, warning in enumerate(ok.report["warning"]):
        if "NPE: only" not in warning:  # no warning: every cell inside the prior box
            g = torch.from_numpy(ok.population.conductances[i]).float()
            assert bool(((g >= low * 0.999) & (g <= high * 1.001)).all())
