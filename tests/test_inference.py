"""Spike-train encoder, DIC estimator, trainer and sbi posteriors (sbidic.inference).

Fast checks on synthetic spike trains whose (g_s, g_u) label depends on the pattern
(tonic: rate set by g_u; bursting when g_s < 0: spikes per burst set by g_s, period by
g_u), so that no simulation is needed.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from sbidic.inference import (  # noqa: E402
    Augmentation,
    ConductancePosterior,
    DICEstimator,
    DICPosterior,
    DICTrainer,
    SpikeTrainEncoder,
    SpikeTruncationWarning,
    TokenStats,
    load_estimator,
    pad_trains,
    save_estimator,
    token_stats,
)
from sbidic.inference.posterior import to_datatree  # noqa: E402
from sbidic.inference.tokens import (  # noqa: E402
    as_padded,
    augment_padded,
    isi_tokens,
    timing_summaries,
)
from sbidic.spikes import SpikeTrains  # noqa: E402

SMALL_ENCODER = {"d_model": 32, "n_heads": 4, "n_blocks": 1, "embed_dim": 16, "dropout": 0.0}
SMALL_FLOW = {"flow_transforms": 2, "flow_hidden": (32, 32)}


def synthetic(n: int, seed: int, duration_ms: float = 1500.0):
    """Targets uniform in the STG box and pattern-coded spike trains (ms)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform([-20.0, 0.0], [20.0, 20.0], (n, 2))
    trains = []
    for g_s, g_u in theta:
        if g_s < 0:  # bursting: 2-6 spikes per burst, period 200-800 ms
            per_burst = 2 + int(-g_s / 5)
            period = 200.0 + 30.0 * g_u
            onsets = np.arange(rng.uniform(0, period), duration_ms, period)
            t = (onsets[:, None] + 8.0 * np.arange(per_burst)).ravel()
        else:  # tonic spiking, ISI 30-130 ms
            isi = 30.0 + 5.0 * g_u
            t = np.arange(rng.uniform(0, isi), duration_ms, isi)
        trains.append(t)
    return theta, trains


def small_estimator(seed: int = 0) -> DICEstimator:
    torch.manual_seed(seed)
    return DICEstimator(SpikeTrainEncoder(**SMALL_ENCODER), model="stg", **SMALL_FLOW)


@pytest.fixture(scope="module")
def data():
    theta, trains = synthetic(600, 0)
    return theta, trains, np.arange(600) // 4  # 4 cells per target


@pytest.fixture(scope="module")
def trained(data):
    theta, trains, groups = data
    trainer = DICTrainer(
        model="stg",
        encoder_kwargs=SMALL_ENCODER,
        estimator_kwargs=SMALL_FLOW,
        show_progress_bars=False,
    )
    trainer.append_simulations(theta, trains, groups=groups)
    trainer.train(max_epochs=12, batch_size=64, learning_rate=3e-3, seed=0, patience=None)
    return trainer


# ----------------------------------------------------------------- tokens
def test_tokens_are_log1p_isi_and_first_differences():
    t = torch.tensor([[0.0, 10.0, 30.0, 60.0], [5.0, 7.0, 9.0, float("nan")]])
    u, mask = isi_tokens(t, torch.tensor([4, 3]), torch.zeros(2), torch.ones(2))
    a = np.log1p([10.0, 20.0, 30.0])
    np.testing.assert_allclose(u[0, :, 0], a, rtol=1e-6)
    np.testing.assert_allclose(u[0, :, 1], [0.0, a[1] - a[0], a[2] - a[1]], rtol=1e-6)
    assert mask.tolist() == [[True, True, True], [True, True, False]]
    assert u[1, 2].abs().sum() == 0  # padded token zeroed


def test_token_stats_average_per_train_moments():
    trains = [[0.0, 10.0, 30.0, 35.0], [0.0, 5.0, 10.0, 15.0, 40.0], [1.0]]
    s = token_stats(trains)
    per = [np.log1p(np.diff(t)) for t in trains[:2]]
    np.testing.assert_allclose(s.mu[0], np.mean([p.mean() for p in per]))
    np.testing.assert_allclose(s.sigma[0], np.mean([p.std() for p in per]))
    np.testing.assert_allclose(s.mu[1], np.mean([np.diff(p).mean() for p in per]))
    np.testing.assert_allclose(s.sigma[1], np.mean([np.diff(p).std() for p in per]))


def test_nan_padded_negative_padded_lengths_and_list_forms_agree():
    enc = SpikeTrainEncoder(**SMALL_ENCODER).eval()
    trains = [[0.0, 12.0, 30.0, 41.0, 70.0], [3.0, 9.0, 15.0]]
    nan_padded = pad_trains(trains, pad_value=np.nan)
    neg_padded = pad_trains(trains, pad_value=-1.0)
    zero_padded = torch.nan_to_num(nan_padded, nan=0.0)
    with torch.no_grad():
        ref = enc(trains)
        for z in (
            enc(nan_padded),
            enc(neg_padded),
            enc(zero_padded, torch.tensor([5, 3])),
            enc(SpikeTrains.from_list(trains)),
        ):
            torch.testing.assert_close(z, ref, rtol=1e-5, atol=1e-6)


def test_padding_and_batch_partners_do_not_change_the_embedding():
    enc = SpikeTrainEncoder(**SMALL_ENCODER).eval()
    short = [0.0, 20.0, 45.0, 60.0]
    long = list(np.arange(0.0, 2000.0, 17.0))
    wide = torch.full((1, 40), float("nan"))
    wide[0, :4] = torch.tensor(short)
    with torch.no_grad():
        alone = enc([short])
        torch.testing.assert_close(enc(wide), alone, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(enc([long, short])[1:], alone, rtol=1e-5, atol=1e-6)


def test_fewer_than_three_spikes_is_a_value_error_naming_the_row():
    enc = SpikeTrainEncoder(**SMALL_ENCODER)
    with pytest.raises(ValueError, match=r"index \[1\].*fewer than 3 spikes"):
        enc([[0.0, 10.0, 20.0], [0.0, 10.0]])
    with pytest.raises(ValueError, match="row 0 .* before a spike"):
        enc(torch.tensor([[0.0, float("nan"), 20.0, 30.0]]))


def test_long_trains_use_their_first_max_spikes_and_warn():
    enc = SpikeTrainEncoder(**{**SMALL_ENCODER, "max_spikes": 20}).eval()
    long = np.arange(0.0, 600.0, 10.0) + np.sin(np.arange(60))  # 60 spikes
    with pytest.warns(SpikeTruncationWarning, match="index \\[0\\]"):
        z = enc([long])
    with torch.no_grad():
        torch.testing.assert_close(z, enc([long[:20]]))
    enc.on_truncate = "raise"
    with pytest.raises(ValueError, match="max_spikes = 20"):
        enc([long])


def test_encoder_has_at_most_200k_parameters_at_published_sizes():
    from sbidic.inference.encoder import PUBLISHED_SIZES

    enc = SpikeTrainEncoder(**PUBLISHED_SIZES)  # d = 64, 8 heads, 4 blocks
    assert enc.n_parameters == 111_776 <= 200_000
    assert SpikeTrainEncoder().n_parameters < enc.n_parameters
    est = DICEstimator(enc, model="stg")
    assert est.n_parameters <= 400_000


# ---------------------------------------------------------- augmentation
def test_augmentation_follows_the_published_rules():
    gen = torch.Generator().manual_seed(0)
    t = torch.cumsum(torch.full((500, 40), 20.0, dtype=torch.float64), dim=1)
    lens = torch.randint(3, 41, (500,), generator=gen)
    out, new = augment_padded(t, lens, gen, jitter_ms=0.0)
    short = lens <= 10
    # no crop at <= 10 spikes; deletion undone when fewer than 5 would survive
    assert (new[short] >= torch.minimum(lens[short], torch.tensor(5))).all()
    assert (new[short] <= lens[short]).all()
    long = lens > 10
    assert (new[long] < lens[long]).all() and (new[long] >= 2).all()  # k >= n // 2
    kept = out[0, : new[0]]
    assert torch.isin(kept, t[0, : lens[0]]).all() and (torch.diff(kept) > 0).all()
    assert torch.isnan(out[torch.arange(out.shape[1])[None] >= new[:, None]]).all()


def test_augmentation_leaves_a_fraction_of_trains_clean():
    gen = torch.Generator().manual_seed(1)
    t = torch.cumsum(torch.full((2000, 40), 20.0, dtype=torch.float64), dim=1)
    lens = torch.full((2000,), 40)
    out, new = augment_padded(t, lens, gen, p_augment=0.3)
    clean = (new == 40) & (out == t).all(dim=1)
    assert 0.65 < clean.float().mean() < 0.75  # crops always shorten 40-spike trains
    out, new = augment_padded(t, lens, gen, p_augment=0.0)
    assert torch.equal(out, t) and torch.equal(new, lens)


def test_independent_augmentation_steps_give_all_four_combinations():
    gen = torch.Generator().manual_seed(2)
    t = torch.cumsum(torch.full((4000, 40), 20.0, dtype=torch.float64), dim=1)
    lens = torch.full((4000,), 40)

    def kinds(independent):
        out, new = augment_padded(t, lens, gen, p_augment=0.5, independent_steps=independent)
        cut = new < 40  # deleted or cropped (a 40-spike train is always cropped)
        on_grid = torch.where(torch.isnan(out), 0.0, torch.remainder(out, 20.0)) == 0
        jittered = ~on_grid.all(dim=1)
        return [((cut == c) & (jittered == j)).float().mean().item()
                for c in (False, True) for j in (False, True)]  # fmt: skip

    joint = kinds(False)  # clean, jitter only, cut only, both
    assert joint[1] == 0 and joint[2] == 0 and 0.45 < joint[0] < 0.55
    assert all(0.2 < f < 0.3 for f in kinds(True))


def regular_and_drifting() -> list[np.ndarray]:
    """Two 60-spike tonic trains, 50 ms ISIs: exact, and drifting by +-5 us (0.01 %)."""
    regular = np.arange(60) * 50.0
    drifting = np.cumsum(np.r_[0.0, 50.0 + 0.005 * np.linspace(-1, 1, 59)])
    return [regular, drifting]


def test_jitter_range_draws_one_log_uniform_sigma_per_train():
    gen = torch.Generator().manual_seed(4)
    t = torch.cumsum(torch.full((3000, 200), 20.0, dtype=torch.float64), dim=1)
    lens = torch.full((3000,), 200)
    out, _ = augment_padded(t, lens, gen, jitter_ms=(0.01, 2.0), p_delete=0.0,
                            crop_above=float("inf"), p_augment=1.0)  # fmt: skip
    log_sd = torch.log((out - t).std(dim=1))
    assert abs(log_sd.mean() - np.log(np.sqrt(0.02))) < 0.1  # midpoint of the log range
    assert log_sd.min() > np.log(0.008) and log_sd.max() < np.log(2.5)
    assert (log_sd < np.log(0.05)).float().mean() > 0.2  # small noise levels are seen
    assert Augmentation(jitter_ms=[0.1, 1]).jitter_ms == (0.1, 1.0)  # from JSON
    for bad in ((0.0, 1.0), (2.0, 1.0), (1.0,), -1.0):
        with pytest.raises(ValueError, match="jitter"):
            Augmentation(jitter_ms=bad)


def test_timing_summaries_match_numpy_and_ignore_padding_and_time_units():
    rng = np.random.default_rng(3)
    trains = [np.cumsum(rng.uniform(20, 60, n)) for n in (3, 7, 40)]
    p = as_padded(trains)
    got = timing_summaries(p.times, p.lengths).numpy()
    for row, train in zip(got, trains, strict=True):
        d = np.diff(train)
        cv = d.std() / d.mean()
        local = np.abs(np.diff(d)).mean() / d.mean()
        corr = np.corrcoef(d, np.arange(d.size))[0, 1]
        want = [(np.log(cv + 1e-6) + 4) / 4, (np.log(local + 1e-6) + 4) / 4, corr]
        np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6)
    wide = torch.nn.functional.pad(p.times, (0, 5), value=float("nan"))
    torch.testing.assert_close(timing_summaries(wide, p.lengths), torch.from_numpy(got))
    seconds = timing_summaries(p.times / 1000.0, p.lengths)  # scale-free
    torch.testing.assert_close(seconds, torch.from_numpy(got), rtol=1e-5, atol=1e-5)
    # a 0.01 % drift of a 50 ms ISI is resolved: the float32 tokens cannot show it
    q = as_padded(regular_and_drifting())
    s = timing_summaries(q.times, q.lengths)
    assert s[0, 0] < -2.4 and s[1, 0] > -1.5 and s[1, 2] > 0.99 and s[0, 2] == 0


def test_timing_branch_starts_at_zero_and_then_reads_the_drift(tmp_path):
    from sbidic.inference.training.from_dataset import _transfer

    source = small_estimator()
    source.set_flow_shift([[0.0, 0.0], [0.0, 0.1]])  # a recalibration of the source
    save_estimator(source, tmp_path / "src")
    assert load_estimator(tmp_path / "src").flow_shift[1, 1] == pytest.approx(0.1)
    est = _transfer(load_estimator(tmp_path / "src"), "stg", timing_features=True).eval()
    assert est.encoder.config()["timing_features"] and not source.encoder.timing_features
    assert not est.flow_shift.any()  # training from it starts without the shift
    x = regular_and_drifting()
    torch.testing.assert_close(est.embed(x), source.eval().embed(x))  # unchanged at start
    with torch.no_grad():
        torch.nn.init.normal_(est.encoder.timing[-1].weight)
    z = est.embed(x)
    assert (z[0] - z[1]).abs().max() > 1e-2  # only the summaries tell them apart
    save_estimator(est, tmp_path / "timing")
    torch.testing.assert_close(load_estimator(tmp_path / "timing").embed(x), z)
    q = as_padded(x)
    tokens, mask = isi_tokens(q.times, q.lengths, est.encoder.mu, est.encoder.sigma)
    with pytest.raises(ValueError, match="timing features"):
        est.encoder.encode_tokens(tokens, mask)


def test_augmentation_only_in_training_mode(data):
    theta, trains, _ = data
    est = small_estimator()
    p = as_padded(trains[:32])
    th = torch.from_numpy(theta[:32])

    def nll(seed):
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return float(est.loss(th, p.times, p.lengths, generator=gen)["nll"])

    est.eval()
    assert nll(0) == nll(1)
    est.train()
    assert nll(0) != nll(1)
    assert nll(0) == nll(0)


# --------------------------------------------------------------- training
def test_training_lowers_the_loss(trained):
    hist = trained.history
    assert len(hist) == 12
    assert hist[-1]["train_nll"] < hist[0]["train_nll"] - 0.3
    assert trained.summary["best_val_nll"] < hist[0]["val_nll"]


def test_validation_never_shares_a_target_with_training(trained, data):
    groups = data[2]
    val = trained.summary["validation_indices"]
    train = np.setdiff1d(np.arange(len(groups)), val)
    assert not set(groups[val]) & set(groups[train])


def test_explicit_split_and_silent_trains(data):
    theta, trains, groups = data
    split = np.where(groups % 5 == 0, "validation", "train")
    split[-4:] = "test"
    trains = list(trains[:-8]) + [[1.0]] * 4 + list(trains[-4:])
    trainer = DICTrainer(model="stg", encoder_kwargs=SMALL_ENCODER,
                         estimator_kwargs=SMALL_FLOW, show_progress_bars=False)  # fmt: skip
    trainer.append_simulations(theta, trains, split=split)
    trainer.train(max_epochs=1, batch_size=128, seed=0)
    assert trainer.summary["dropped_silent"] == 4
    assert trainer.summary["n_validation"] == int((split == "validation").sum())
    assert trainer.summary["n_train"] == int((split == "train").sum()) - 4


def test_padded_tensors_and_lists_are_the_same_training_data(data):
    theta, trains, _ = data
    a = DICTrainer(model="stg").append_simulations(theta[:20], trains[:20])._collect()
    b = DICTrainer(model="stg").append_simulations(theta[:20], pad_trains(trains[:20]))
    b = b._collect()
    np.testing.assert_array_equal(a["trains"].offsets, b["trains"].offsets)
    np.testing.assert_allclose(a["trains"].times, b["trains"].times, rtol=1e-6)  # float32 x
    np.testing.assert_array_equal(a["labels"], b["labels"])


def test_checkpoint_resume_equals_uninterrupted_run(data, tmp_path):
    theta, trains, groups = data
    theta, trains, groups = theta[:160], trains[:160], groups[:160]

    def run(ckpt, **kw):
        trainer = DICTrainer(model="stg", encoder_kwargs=SMALL_ENCODER,
                             estimator_kwargs=SMALL_FLOW, show_progress_bars=False)  # fmt: skip
        trainer.append_simulations(theta, trains, groups=groups)
        est = trainer.train(max_epochs=3, batch_size=32, seed=3, checkpoint_path=ckpt, **kw)
        return trainer, est

    _, full = run(None)
    first, _ = run(tmp_path / "ckpt", max_time_s=1e-9)  # stopped after its first batch
    assert first.summary["stop_reason"] == "time_limit" and first.summary["epochs"] == 0
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.pkl"))
    meta = json.loads((tmp_path / "ckpt" / "checkpoint.json").read_text())
    assert meta["state"]["epoch"] == 0 and meta["state"]["batch"] == 1
    for _ in range(5):  # more interruptions, each after one batch, mid-epoch and between
        run(tmp_path / "ckpt", max_time_s=1e-9)
    resumed_trainer, resumed = run(tmp_path / "ckpt")
    assert resumed_trainer.summary["epochs"] == 3
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with pytest.raises(ValueError, match="different run"):
        trainer = DICTrainer(model="stg", encoder_kwargs=SMALL_ENCODER,
                             estimator_kwargs=SMALL_FLOW, show_progress_bars=False)  # fmt: skip
        trainer.append_simulations(theta, trains, groups=groups)
        trainer.train(max_epochs=3, batch_size=32, seed=4, checkpoint_path=tmp_path / "ckpt")


def test_save_load_round_trip_without_pickle(trained, tmp_path):
    est = trained.estimator
    save_estimator(est, tmp_path / "est", card={"seed": 0, "metrics": {"x": 1.0}})
    files = sorted(p.name for p in (tmp_path / "est").iterdir())
    assert files == ["config.json", "model_card.json", "model_card.md", "weights.safetensors"]
    card = json.loads((tmp_path / "est" / "model_card.json").read_text())
    assert card["seed"] == 0 and card["n_parameters"] == est.n_parameters
    loaded = load_estimator(tmp_path / "est")
    x = [np.arange(0.0, 1000.0, 50.0), np.arange(0.0, 900.0, 33.0)]
    theta = torch.tensor([[5.0, 10.0], [-3.0, 4.0]])
    torch.testing.assert_close(loaded.log_prob(theta, x), est.log_prob(theta, x))
    assert loaded.encoder.token_stats == est.encoder.token_stats


# ---------------------------------------------------------- the estimator
def test_estimator_samples_stay_in_the_box_and_summaries_have_shapes(trained):
    est = trained.estimator
    _, x = synthetic(5, 9)
    s = est.sample(300, x)
    assert s.shape == (300, 5, 2)
    assert (s[..., 0] > -20).all() and (s[..., 0] < 20).all()
    assert (s[..., 1] > 0).all() and (s[..., 1] < 20).all()
    assert est.sample(7, x[0]).shape == (7, 2)
    assert est.point_estimate(x, n_samples=100, kind="median").shape == (5, 2)
    lo, hi = est.credible_interval(x, 0.8, n_samples=200)
    assert lo.shape == hi.shape == (5, 2) and (lo <= hi).all()
    assert torch.isneginf(est.log_prob(torch.tensor([25.0, 5.0]), x[0]))


def test_estimator_beats_the_prior_mean(trained):
    theta, x = synthetic(200, 5)
    mean = trained.estimator.point_estimate(x, n_samples=100).numpy()
    mae = np.abs(mean - theta).mean(axis=0)
    baseline = np.abs(theta - theta.mean(axis=0)).mean(axis=0)
    assert (mae < 0.8 * baseline).all(), (mae, baseline)


# -------------------------------------------------------------- posteriors
@pytest.fixture(scope="module")
def posterior(trained):
    return trained.build_posterior(rng=0)


def test_conductance_samples_reach_their_dic_draws(posterior):
    from sbidic.dics import dynamic_input_conductances
    from sbidic.models import get_model

    x = np.arange(0.0, 1500.0, 60.0)
    g, dics = posterior.sample((64,), x=x, return_dics=True)
    model = get_model("stg")
    assert g.shape == (64, model.n_conductances) and dics.shape == (64, 2)
    assert (g >= 0).all()
    achieved = dynamic_input_conductances(model, g.numpy())[:, 1:]
    np.testing.assert_allclose(achieved, dics.numpy(), atol=1e-6)
    lp = posterior.log_prob(g, x=x)  # conductance sets are evaluated at their DICs
    torch.testing.assert_close(lp, posterior.log_prob(dics, x=x), rtol=1e-4, atol=1e-4)


def test_posterior_shapes_and_default_x(posterior):
    _, x = synthetic(3, 11)
    n_cond = len(posterior.conductance_labels)
    assert posterior.sample((2, 3), x=x[0]).shape == (2, 3, n_cond)
    assert posterior.sample_batched((4,), x=x).shape == (4, 3, n_cond)
    padded = pad_trains(x, pad_value=np.nan)  # sbi 0.27 would reject this x_o
    assert posterior.sample_batched((4,), x=padded).shape == (4, 3, n_cond)
    posterior.set_default_x(padded[1:2])
    assert posterior.sample((5,)).shape == (5, n_cond)
    assert posterior.sample_dics((6,)).shape == (6, 2)
    assert posterior.log_prob(torch.zeros(10, 2) + 5.0).shape == (10,)
    with pytest.raises(ValueError, match="one recording"):
        posterior.sample((5,), x=padded)
    view = posterior.dic_posterior
    assert isinstance(view, DICPosterior) and view.sample((8,)).shape == (8, 2)
    assert view.sample_batched((8,), x=padded).shape == (8, 3, 2)


def test_unreachable_dic_draws_are_redrawn_not_dropped(posterior, monkeypatch):
    import sbidic.inference.posterior as post_mod
    from sbidic.population import UnreachableTargetError

    real = post_mod.sample_populations
    calls = []

    def flaky(model, targets, n, **kw):
        pop = real(model, targets, n, **kw)
        calls.append(len(targets))
        if len(calls) == 1:  # first round: pretend draws 0 and 3 are unreachable
            bad = np.array([0, 3])
            pop.conductances[bad] = np.nan
            raise UnreachableTargetError("unreachable", targets[bad], bad, pop)
        return pop

    monkeypatch.setattr(post_mod, "sample_populations", flaky)
    g = posterior.sample_batched((5,), x=synthetic(2, 3)[1])
    assert g.shape[:2] == (5, 2) and torch.isfinite(g).all()
    assert calls == [10, 2]


def test_datatree_of_samples_has_one_obs_id_per_recording(posterior):
    x = SpikeTrains.from_list(synthetic(3, 4)[1], ids=["a", "b", "c"])
    g, dics = posterior.sample_batched((20,), x=x, return_dics=True)
    tree = posterior.to_datatree(g, obs_ids=x.ids, dic_draws=dics)
    post = tree["posterior"]
    assert list(post["obs_id"].values) == ["a", "b", "c"]
    assert post["g_Na"].shape == (1, 20, 3)
    assert float(tree["dics"]["residual"].max()) < 1e-6
    pop = posterior.sample_population(x, 10)
    assert pop.conductances.shape == (3, 10, len(posterior.conductance_labels))
    assert list(pop.obs_id) == ["a", "b", "c"]
    assert to_datatree(g[:, 0], "stg")["posterior"]["g_Na"].shape == (1, 20, 1)


def test_sbc_and_tarp_run_on_the_dic_posterior(trained):
    from sbi.diagnostics import run_sbc, run_tarp

    theta, x = synthetic(20, 21)
    xs = pad_trains(x)  # -1 padding: run_sbc/run_tarp drop rows holding NaN
    view = DICPosterior(trained.estimator)
    thetas = torch.as_tensor(theta, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranks, dap = run_sbc(thetas, xs, view, num_posterior_samples=50,
                             show_progress_bar=False)  # fmt: skip
        ecp, alpha = run_tarp(thetas, xs, view, num_posterior_samples=50,
                              show_progress_bar=False, num_bins=5)  # fmt: skip
    assert ranks.shape == (20, 2) and dap.shape == (20, 2)
    assert ecp.shape == alpha.shape


def test_dic_map_and_conductance_map(posterior):
    view = posterior.dic_posterior.set_default_x(np.arange(0.0, 1000.0, 40.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = view.map(num_iter=5, num_init_samples=50, num_to_optimize=5)
    assert m.shape == (1, 2) and torch.isfinite(view.log_prob(m)).all()
    with pytest.raises(NotImplementedError, match="dic_posterior"):
        posterior.map()


def test_pairplot_runs_on_samples(posterior):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sbi.analysis import pairplot

    s = posterior.dic_posterior.sample((200,), x=np.arange(0.0, 1000.0, 40.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fig, _ = pairplot(s, labels=["g_s", "g_u"])
    plt.close(fig)


def test_encoder_is_an_sbi_embedding_net_on_nan_padded_data():
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn
    from sbi.utils import BoxUniform

    theta, trains = synthetic(200, 2)
    x = pad_trains(trains, pad_value=np.nan)
    assert torch.isnan(x).any()
    torch.manual_seed(0)
    enc = SpikeTrainEncoder(**SMALL_ENCODER)
    net = posterior_nn("zuko_nsf", embedding_net=enc, z_score_x="none", hidden_features=32,
                       num_transforms=2)  # fmt: skip
    prior = BoxUniform(torch.tensor([-20.0, 0.0]), torch.tensor([20.0, 20.0]))
    inference = NPE(prior=prior, density_estimator=net, show_progress_bars=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inference.append_simulations(torch.as_tensor(theta, dtype=torch.float32), x,
                                     exclude_invalid_x=False)  # fmt: skip
        inference.train(max_num_epochs=2, training_batch_size=50)
        post = inference.build_posterior()
    s = post.posterior_estimator.sample(torch.Size([10]), condition=x[:1])
    assert s.shape[0] == 10 and torch.isfinite(s).all()


# -------------------------------------------------- dataset entry point + bench
@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from sbidic.datasets import DatasetSpec, generate_dataset

    root = tmp_path_factory.mktemp("tiny_stg")
    spec = DatasetSpec(
        "stg",
        n_targets=8,
        cells_per_target=4,
        targets_per_chunk=4,
        duration_ms=1500,
        transient_ms=500,
        fractions=(0.5, 0.25, 0.25),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate_dataset(root, spec, n_jobs=1, progress=False)
    return root


def _bench_estimator_module():
    """``benchmarks/bench_estimator.py`` as a module (benchmarks are not a package)."""
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "bench_estimator.py"
    spec = importlib.util.spec_from_file_location("bench_estimator", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_train_from_dataset_and_benchmark_end_to_end(tiny_dataset, tmp_path, capsys):
    from sbidic.inference import train_from_dataset

    out = tmp_path / "est"
    est = train_from_dataset(tiny_dataset, out, seed=0, max_epochs=2, batch_size=16,
                             encoder_kwargs=SMALL_ENCODER, estimator_kwargs=SMALL_FLOW,
                             show_progress_bars=False, n_eval_samples=20)  # fmt: skip
    card = json.loads((out / "model_card.json").read_text())
    assert card["seed"] == 0 and card["training"]["epochs"] == 2
    assert "best_val_nll" in card["metrics"] and card["data"]["spec"]["model"] == "stg"
    from sbidic.datasets import dataset_status

    assert card["data"]["content_sha256"] == dataset_status(tiny_dataset)["content_sha256"]
    assert isinstance(est, DICEstimator)

    bench = _bench_estimator_module()
    bench.main(["--data", str(tiny_dataset), "--estimator", str(out), "--n-samples", "50",
                "--throughput-repeats", "1", "--split", "validation"])  # fmt: skip
    text = capsys.readouterr().out
    assert "MAE g_s" in text and "coverage 95%" in text and "recordings/s" in text
    result = bench.main(["--data", str(tiny_dataset), "--estimator", str(out), "--split", "train",
                         "--throughput-repeats", "0", "--sbc-samples", "20"])  # fmt: skip
    assert "SBC rank KS p g_u" in capsys.readouterr().out
    row = result["calibration"][0]
    assert row["n"] >= 10 and 0 < row["SE mean rank g_u"] < 0.5
    result = bench.main(["--data", str(tiny_dataset), "--estimator", str(out), "--split", "train",
                         "--throughput-repeats", "0", "--sbc-samples", "20",
                         "--cells-per-target", "1", "--sbc-redraws", "4"])  # fmt: skip
    assert "share of draws failing" in capsys.readouterr().out
    redraws = {r["class"]: r for r in result["sbc_redraws"]}
    assert set(redraws) == {"spiking g_s", "spiking g_u", "bursting g_s", "bursting g_u", "any"}
    assert all(0 <= r["draws failing"] <= 1 for r in redraws.values())
    with pytest.raises(SystemExit):  # the redraws need every cell's rank
        bench.main(["--data", str(tiny_dataset), "--estimator", str(out), "--sbc-redraws", "4"])
    # metrics on a dataset the estimator was not trained on are stored under its name
    fresh = tmp_path / "fresh_set"
    fresh.symlink_to(tiny_dataset, target_is_directory=True)
    for data in (tiny_dataset, fresh):
        bench.main(["--data", str(data), "--estimator", str(out), "--split", "train",
                    "--throughput-repeats", "0", "--cells-per-target", "1",
                    "--update-card"])  # fmt: skip
    held = json.loads((out / "model_card.json").read_text())["held_out_metrics"]
    assert set(held) == {"train, 1 cell(s) per target", "fresh_set: train, 1 cell(s) per target"}


def test_sbc_redraws_fail_on_biased_ranks_only():
    bench = _bench_estimator_module()
    rng = np.random.default_rng(0)
    target = np.repeat(np.arange(2000), 3)
    label = np.tile([1, 2, 0], 2000)  # one spiking, one bursting, one silent cell per target
    keep = np.flatnonzero(label > 0)
    uniform = torch.from_numpy(rng.integers(0, 101, (keep.size, 2)))
    biased = uniform.clone()
    biased[label[keep] == 2, 1] = torch.from_numpy(rng.integers(0, 81, int((label == 2).sum())))
    kwargs = dict(k=2, seeds=range(10), n_samples=100)
    fair = {r["class"]: r for r in bench._sbc_redraws(uniform, label, target, keep, **kwargs)}
    bad = {r["class"]: r for r in bench._sbc_redraws(biased, label, target, keep, **kwargs)}
    assert 2000 < fair["any"]["n per draw"] < 3300 and fair["any"]["draws failing"] <= 0.2
    assert bad["bursting g_u"]["draws failing"] == 1.0
    assert bad["spiking g_u"]["draws failing"] <= 0.2


def test_sbc_redraws_reference_links_the_cells_of_a_target():
    """Calibrated ranks that the cells of a target share fail the KS test over two
    cells per target more often than independent ranks; the linked reference says so."""
    from scipy.stats import norm

    bench = _bench_estimator_module()
    rng = np.random.default_rng(0)
    target = np.repeat(np.arange(1300), 16)
    label = np.where(np.arange(1300) % 2 == 0, 1, 2)[target]
    z = 0.8**0.5 * rng.standard_normal((1300, 2))[target]
    z = z + 0.2**0.5 * rng.standard_normal((target.size, 2))
    ranks = torch.from_numpy(np.minimum(norm.cdf(z) * 201, 200).astype(np.int64))
    rows = bench._sbc_redraws(ranks, label, target, np.arange(target.size), k=2,
                              seeds=range(40), n_samples=200)  # fmt: skip
    for r in rows[:4]:
        assert abs(r["within-target correlation"] - 0.8) < 0.05
    anyone = rows[-1]
    assert anyone["linked uniform ranks failing"] >= anyone["uniform ranks failing"] + 0.1


def test_token_stats_round_trip():
    s = TokenStats((1.0, 0.0), (0.5, 0.7))
    assert TokenStats.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="sigma > 0"):
        TokenStats((1.0, 0.0), (0.0, 1.0))


def test_conductance_posterior_needs_a_model(trained):
    est = trained.estimator
    assert ConductancePosterior(est).model.name == "stg"
    est2 = small_estimator()
    est2.model_name = None
    with pytest.raises(ValueError, match="conductance model"):
        ConductancePosterior(est2)


def test_transfer_starts_from_saved_weights_with_the_new_box(tiny_dataset, tmp_path):
    from sbidic.inference import load_estimator, save_estimator, train_from_dataset
    from sbidic.inference.training.from_dataset import _transfer

    source = small_estimator()
    save_estimator(source, tmp_path / "src")
    moved = _transfer(load_estimator(tmp_path / "src"), "da")
    assert moved.model_name == "da" and moved.box == ((-10.0, 15.0), (0.0, 20.0))
    for name, value in source.state_dict().items():
        if name not in ("box_lo", "box_hi"):
            torch.testing.assert_close(moved.state_dict()[name], value)
    est = train_from_dataset(tiny_dataset, tmp_path / "ft", seed=0, max_epochs=1,
                             batch_size=16, init_from=tmp_path / "src", p_augment=0.25,
                             show_progress_bars=False, n_eval_samples=10)  # fmt: skip
    card = json.loads((tmp_path / "ft" / "model_card.json").read_text())
    assert card["init_from"].endswith("src")
    assert source.augmentation.p_augment == 0.5 and est.augmentation.p_augment == 0.25
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["augmentation"]["p_augment"] == 0.25
    new, old = est.config()["encoder"], source.encoder.config()
    assert new.pop("stats") != old.pop("stats") and new == old  # stats refit on the new data
    with pytest.raises(ValueError, match="init_from fixes the architecture"):
        train_from_dataset(tiny_dataset, tmp_path / "x", init_from=tmp_path / "src",
                           encoder_kwargs=SMALL_ENCODER)  # fmt: skip
    with pytest.raises(ValueError, match="p_augment must be in"):
        train_from_dataset(tiny_dataset, tmp_path / "x", init_from=tmp_path / "src",
                           p_augment=1.5)  # fmt: skip
    with pytest.raises(ValueError, match="p_augment must be in"):
        Augmentation(p_augment=-0.1)


def test_sbi_ready_x_refuses_silent_trains_and_drop_silent_removes_them():
    st = SpikeTrains.from_list([[0.0, 10.0, 30.0], [5.0]], ids=["a", "quiet"])
    with pytest.raises(ValueError, match=r"\['quiet'\].*drop_silent"):
        pad_trains(st)
    x = pad_trains(st.drop_silent())
    assert x.shape == (1, 3) and not torch.isnan(x).any()


@pytest.mark.parametrize("features", [2, 3])
def test_fast_flow_sampler_is_zukos_transformation_of_the_same_base_draws(features):
    import zuko

    from sbidic.inference.flows import sample_flow

    torch.manual_seed(0)
    flow = zuko.flows.NSF(features, 5, transforms=3, hidden_features=(16, 16))
    for p in flow.parameters():  # move off the identity-like initialisation
        p.data += 0.3 * torch.randn_like(p)
    context = torch.randn(7, 5)
    with torch.no_grad():
        torch.manual_seed(1)
        expected = flow(context).sample((50,))
        torch.manual_seed(1)
        got = sample_flow(flow, context, 50)
    assert got.shape == (50, 7, features)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[:, 0], got[:, 1])  # contexts differ


def test_fast_flow_sampler_leaves_no_reference_cycles():
    """A cycle would hold a batch's spline parameters until the cyclic collector runs
    (torch's ``Transform.inv`` and the inverse keep each other)."""
    import gc

    import zuko

    from sbidic.inference.flows import sample_flow

    flow = zuko.flows.NSF(2, 3, transforms=2, hidden_features=(16,))
    context = torch.randn(4, 3)
    with torch.no_grad():
        sample_flow(flow, context, 5)  # first call: lazily created module state
        gc.collect()
        gc.disable()
        try:
            sample_flow(flow, context, 5)
            assert gc.collect() == 0
        finally:
            gc.enable()


def test_fast_flow_sampler_falls_back_to_zuko_for_other_flows():
    import zuko

    from sbidic.inference.flows import sample_flow

    flow = zuko.flows.CNF(2, 3)
    context = torch.randn(2, 3)
    with torch.no_grad():
        torch.manual_seed(1)
        expected = flow(context).sample((4,))
        torch.manual_seed(1)
        torch.testing.assert_close(sample_flow(flow, context, 4), expected)


def _refit_problem(n: int = 240):
    """Trains whose rate and regularity follow theta, and a small untrained estimator."""
    from sbidic.inference import DICEstimator, SpikeTrainEncoder

    rng = np.random.default_rng(0)
    theta = np.column_stack([rng.uniform(-15, 15, n), rng.uniform(1, 19, n)])
    trains = []
    for g_s, g_u in theta:
        isi = np.exp(3.5 + 0.05 * g_s) * (1 + 0.02 * g_u * rng.standard_normal(40)).clip(0.2)
        trains.append(np.cumsum(isi))
    times, lengths = SpikeTrains.from_list(trains).to_padded()
    torch.manual_seed(0)
    enc = SpikeTrainEncoder(d_model=16, n_heads=2, n_blocks=1, embed_dim=8)
    est = DICEstimator(enc, model="stg", flow_transforms=2, flow_hidden=(16,))
    return (est.eval(), torch.from_numpy(theta), torch.from_numpy(times),
            torch.from_numpy(lengths.astype(np.int64)))  # fmt: skip


def test_refit_flow_fits_only_the_flow_and_keeps_the_best_epoch():
    from sbidic.inference.refit import embed_views, refit_flow

    est, theta, times, lengths = _refit_problem()
    est.set_flow_shift([[0.0, 0.0], [0.0, 0.1]])  # a recalibration of the old flow
    encoder = {k: v.clone() for k, v in est.encoder.state_dict().items()}
    holdout = np.arange(len(lengths)) % 5 == 0
    out = refit_flow(est, theta, times, lengths, holdout, views=2, epochs=3,
                     learning_rate=3e-3, batch_size=32)  # fmt: skip
    assert out["n_fit"] + out["n_holdout"] == len(lengths) and len(out["history"]) == 3
    assert out["best_holdout_nll"] < out["initial_holdout_nll"] - 0.1
    best = min(h["holdout_nll"] for h in out["history"])
    assert out["best_holdout_nll"] == best
    assert all(torch.equal(v, est.encoder.state_dict()[k]) for k, v in encoder.items())
    assert all(p.requires_grad for p in est.parameters())
    assert not est.flow_shift.any()
    # view 0 is the clean trains' evaluation-mode embedding
    views = embed_views(est, times, lengths, 2, seed=1)
    torch.testing.assert_close(views[0], est.embed(times, lengths))
    assert not torch.allclose(views[0], views[1])


def test_flow_shift_translates_samples_and_density_consistently():
    """The per-class shift moves every draw by ``p @ shift`` in the flow's space and
    ``log_prob`` follows (a translation: unit Jacobian); zero is the default."""
    est, theta, times, lengths = _refit_problem(6)
    assert est.config()["flow_shift"] == [[0.0, 0.0], [0.0, 0.0]]
    shift = torch.tensor([[0.3, -0.2], [0.1, 0.4]])
    with torch.no_grad():
        p = torch.softmax(est.class_head(est.embed(times, lengths)), dim=-1)
    torch.manual_seed(3)
    before = est.sample(5, times, lengths)
    lp_before = est.log_prob(theta, times, lengths)
    est.set_flow_shift(shift)
    torch.manual_seed(3)
    after = est.sample(5, times, lengths)
    moved = est.to_flow_space(after)[0] - est.to_flow_space(before)[0]
    torch.testing.assert_close(moved, (p @ shift).expand(5, -1, -1), atol=2e-4, rtol=0)
    # log q_shifted(theta) = log q(theta') + log|dz/dtheta| - log|dz'/dtheta'| with z' = z - s
    z, ladj = est.to_flow_space(theta)
    moved_theta = est.from_flow_space(z - p @ shift)
    est.set_flow_shift(torch.zeros(2, 2))
    lp_moved = est.log_prob(moved_theta, times, lengths)
    ladj_moved = est.to_flow_space(moved_theta)[1]
    torch.testing.assert_close(est.log_prob(theta, times, lengths), lp_before)
    est.set_flow_shift(shift)
    torch.testing.assert_close(est.log_prob(theta, times, lengths),
                               lp_moved + ladj - ladj_moved, atol=1e-4, rtol=0)  # fmt: skip
    # saved in the config; a new flow (or a refit) drops it
    torch.testing.assert_close(type(est).from_config(est.config()).flow_shift, shift)
    est.replace_flow()
    assert not est.flow_shift.any()


@pytest.mark.parametrize(
    ("shift", "message"),
    [([0.1, 0.2], "finite \\(2, 2\\)"), ([[0, float("nan")], [0, 0]], "finite"),
     ([[0, 0], [0, 0.1]], "class head")],
)
def test_flow_shift_rejects_bad_values(shift, message):
    from sbidic.inference import DICEstimator, SpikeTrainEncoder

    enc = SpikeTrainEncoder(d_model=8, n_heads=2, n_blocks=1, embed_dim=4)
    est = DICEstimator(enc, flow_transforms=1, flow_hidden=(8,), aux_heads=message != "class head")
    if message == "class head":
        est.set_flow_shift(np.zeros((2, 2)))  # zero needs no class head
    with pytest.raises(ValueError, match=message):
        est.set_flow_shift(shift)
    assert not est.flow_shift.any()


def test_recalibrate_shifts_only_the_miscalibrated_class_and_dic():
    """Truths drawn from q itself, then moved up in g_u for bursting recordings only:
    only that (class, DIC) is shifted, and fresh draws then rank the truths at 1/2."""
    from sbidic.inference.recalibrate import recalibrate

    est, _, times, lengths = _refit_problem(400)
    labels = np.arange(400) % 2
    torch.manual_seed(0)
    z, _ = est.to_flow_space(est.sample(1, times, lengths)[0])
    with torch.no_grad():
        p = torch.softmax(est.class_head(est.embed(times, lengths)), dim=-1)
    z[:, 1] += torch.from_numpy(labels == 1) * p[:, 1] * 1.5
    theta = est.from_flow_space(z)
    report = recalibrate(est, times, theta, labels, lengths=lengths, n_samples=100, seed=1)
    rows = {(r["class"], r["dic"]): r for r in report["rows"]}
    assert rows["bursting", "g_u"]["p_value"] < 1e-6 and rows["bursting", "g_u"]["mean_rank"] > 0.6
    assert rows["bursting", "g_u"]["shift"] == pytest.approx(1.5, abs=0.3)
    assert [r["shift"] for k, r in rows.items() if k != ("bursting", "g_u")] == [0.0] * 3
    assert est.flow_shift[1, 1] == pytest.approx(rows["bursting", "g_u"]["shift"])
    torch.manual_seed(2)  # independent draws from the recalibrated estimator
    draws = est.sample(200, times, lengths)
    ranks = (draws < theta).double().mean(0)[torch.from_numpy(labels == 1), 1]
    assert abs(float(ranks.mean()) - 0.5) < 0.04


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"labels": np.full(10, 2)}, "labels must be 0"), ({"alpha": 0.0}, "alpha"),
     ({"n_samples": 1}, "n_samples"), ({"theta": np.full((10, 2), 50.0)}, "inside the estimator"),
     ({"theta": np.zeros((9, 2))}, "theta of shape")],
)
def test_recalibrate_rejects_bad_input(kwargs, message):
    from sbidic.inference.recalibrate import recalibrate

    est, theta, times, lengths = _refit_problem(10)
    args = {"theta": theta, "labels": np.arange(10) % 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        recalibrate(est, times, lengths=lengths, **args)
    assert not est.flow_shift.any()


@pytest.mark.parametrize("bad", ["all", "none", "short"])
def test_refit_flow_needs_a_holdout_of_whole_trains(bad):
    from sbidic.inference.refit import refit_flow

    est, theta, times, lengths = _refit_problem(20)
    holdout = {"all": np.ones(20, bool), "none": np.zeros(20, bool), "short": np.ones(3, bool)}
    with pytest.raises(ValueError, match="holdout"):
        refit_flow(est, theta, times, lengths, holdout[bad], views=1, epochs=1)


def test_embed_bounds_the_attention_of_each_chunk_and_keeps_the_order(monkeypatch):
    """Chunks hold at most ``max_pairs`` spike pairs (recordings x longest squared), so
    memory does not grow with the recordings' length; the embeddings are unchanged."""
    from sbidic.inference import DICEstimator, SpikeTrainEncoder

    torch.manual_seed(0)
    enc = SpikeTrainEncoder(d_model=16, n_heads=2, n_blocks=1, embed_dim=8)
    est = DICEstimator(enc, model="stg", flow_transforms=1, flow_hidden=(8,)).eval()
    rng = np.random.default_rng(0)
    trains = SpikeTrains.from_list([np.cumsum(rng.uniform(5, 50, k))
                                    for k in rng.integers(3, 120, 40)])  # fmt: skip
    with torch.no_grad():
        whole = est.encoder.encode_padded(*map(torch.from_numpy, trains.to_padded()))
        shapes = []
        real = est.encoder.encode_padded
        monkeypatch.setattr(est.encoder, "encode_padded",
                            lambda t, n: shapes.append(t.shape) or real(t, n))  # fmt: skip
        chunked = est.embed(trains, chunk_size=16, max_pairs=20_000)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    assert len(shapes) > 3 and all(n <= 16 and (n == 1 or n * length**2 <= 20_000)
                                   for n, length in shapes)  # fmt: skip
