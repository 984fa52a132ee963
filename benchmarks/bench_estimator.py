"""DIC estimator accuracy, calibration and speed on a dataset's held-out split.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_estimator.py \\
        --data DATASET_DIR --estimator ESTIMATOR_DIR [--split test] [--n-samples 200]

On the target-wise held-out split (``test`` by default; silent trains are counted and
skipped), with no test-time augmentation (unlike the published evaluation, which kept
5 % deletion and random crops on), reports:

* MAE of g_s and g_u for the posterior mean and median, overall and per firing class
  (spiking / bursting, the published CV <= 0.15 rule); the published STG network has
  MAE g_s / g_u = 2.85 / 1.75 overall, 4.65 / 2.30 spiking, 0.81 / 1.14 bursting
  (Brandoit et al. 2025, on augmented test trains);
* expected coverage of the central 50 / 80 / 95 % credible intervals of each DIC (a
  calibrated posterior gives the nominal level);
* the mean width of the 80 % intervals (posterior breadth per class);
* throughput in recordings/s on one core, at batch sizes 1 and 512, timed interleaved:
  the encoder alone, encoder + ``n_samples`` posterior draws with sbidic's sampler and
  with zuko's own (the baseline), and the matrix-product floor of the draws;
* with ``--sbc-samples N``, simulation-based calibration per class (sbi's ``run_sbc`` /
  ``check_sbc``, TARP), and the mean rank of each DIC with its standard error clustered
  by target (valid with several cells per target, where the KS test is not);
* with ``--sbc-redraws R`` as well, how often the per-class KS test fails: the ranks
  are computed once over every non-silent cell of the split, then ``--cells-per-target
  K`` cells per target are drawn R times and each draw gets the four KS tests (g_s and
  g_u in each class) at p <= 0.01, next to the rate for exactly uniform ranks of the
  same sizes (about 1 % per test, 4 % per draw). One draw passing or failing says
  little; the rate over many draws is the calibration criterion's power.

Calibration wants independent recordings drawn from the prior: ``--split
validation+test --cells-per-target 1`` draws one cell of every held-out target (silent
ones dropped after the draw).

Robustness: ``--delete-crop`` evaluates on incomplete trains instead (each spike deleted
with probability 0.05 and trains of more than 10 spikes randomly cropped, with no
jitter: the published evaluation protocol), ``--jitter MS`` adds Gaussian timing noise
of that standard deviation to every spike; both use a fixed seed. With
``--update-card`` such runs are stored under ``perturbed_test_metrics`` in the card, and
runs on other splits or with ``--cells-per-target`` under ``held_out_metrics``.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

LEVELS = (0.5, 0.8, 0.95)
#: Published test MAE (g_s, g_u) of the point-estimate network (Brandoit et al. 2025),
#: measured with test-time augmentation on; DA has no per-class numbers.
PUBLISHED = {
    "stg": {"all": (2.85, 1.75), "spiking": (4.65, 2.30), "bursting": (0.81, 1.14)},
    "da": {"all": (2.41, 1.10)},
}


def _posterior_summaries(est, trains, n_samples: int, chunk: int = 512) -> dict:
    """Mean, median and central-interval bounds per recording, from samples."""
    qs = sorted({q for lv in LEVELS for q in ((1 - lv) / 2, (1 + lv) / 2)})
    out = {"mean": [], "median": [], "q": []}
    q_t = torch.tensor(qs, dtype=torch.float64)
    for start in range(0, len(trains), chunk):
        s = est.sample(n_samples, trains[start : start + chunk])  # (n, b, 2)
        out["mean"].append(s.mean(0))
        out["median"].append(s.median(0).values)
        out["q"].append(torch.quantile(s, q_t, dim=0).permute(1, 0, 2))  # (b, q, 2)
    res = {k: torch.cat(v).numpy() for k, v in out.items()}
    res["q_levels"] = qs
    return res


def _throughput(est, trains, batch: int, n_samples: int, repeats: int) -> tuple[float, ...]:
    """Recordings per second: encoder only, encoder + ``n_samples`` draws with
    sbidic's sampler (:func:`sbidic.inference.flows.sample_flow`), the same with
    zuko's own ``flow(context).sample`` (the baseline, same run), and the arithmetic
    floor of the draws alone (the hidden-layer matrix products every draw needs)."""
    n = len(trains)
    idx = np.arange(batch) % n
    sub = trains[idx]

    def zuko_draws():
        with torch.no_grad():
            est.from_flow_space(est.flow(est.embed(sub)).sample((n_samples,)))

    # the floor of any sampler of this flow: each draw passes once through the hidden
    # (square) layers of every transform's hyper-network; time those matrix products
    from zuko.nn import MaskedLinear

    hidden = [m.weight.T.contiguous() for t in est.flow.transform.transforms
              for m in list(t.hyper)[2:-1] if isinstance(m, MaskedLinear)]  # fmt: skip
    rows = torch.randn(batch * n_samples, hidden[0].shape[0]) if hidden else None

    def floor():
        for w in hidden:
            torch.mm(rows, w)

    work = (lambda: est.embed(sub), lambda: est.sample(n_samples, sub), zuko_draws, floor)
    rates = [0.0] * len(work)
    reps = repeats * max(1, 64 // batch)  # small batches: more calls, less timer noise
    with torch.no_grad():
        for f in work:
            f()  # warm-up (the first flow sample also pays one-time set-up costs)
        for _ in range(reps):  # interleaved, so that load changes hit every column alike
            for j, f in enumerate(work):
                t0 = time.perf_counter()
                f()
                rates[j] += time.perf_counter() - t0
    return tuple(batch * reps / t for t in rates)


def _calibration(est, trains, theta, label, target, n_samples: int):
    """Simulation-based calibration per class with sbi's own diagnostics.

    ``run_sbc`` ranks of each DIC (KS p-value of their uniformity by ``check_sbc``),
    and TARP (``run_tarp`` / ``check_tarp``: ATC and KS p-value) on the DIC posterior,
    for all recordings and per firing class, with the mean rank and its standard
    error clustered by ``target`` (:func:`~sbidic.inference.recalibrate.clustered_mean`:
    cells of one target share their DICs, so their ranks are correlated and the KS
    test over several cells per target is anti-conservative). The test targets are
    Latin-hypercube draws from the training box, i.e. from the prior, as SBC requires.
    Returns the rows and the ranks ``(N, 2)``.
    """
    from sbi.diagnostics import check_sbc, check_tarp, run_sbc, run_tarp

    from sbidic.inference import DICPosterior, pad_trains
    from sbidic.inference.recalibrate import clustered_mean

    post = DICPosterior(est)
    x = pad_trains(trains)  # negative padding: sbi drops NaN-padded rows
    thetas = torch.as_tensor(theta, dtype=torch.float32)
    torch.manual_seed(1)
    ranks, dap = run_sbc(thetas, x, post, num_posterior_samples=n_samples,
                         show_progress_bar=False)  # fmt: skip
    rows = []
    for name, mask in (("all", label > 0), ("spiking", label == 1), ("bursting", label == 2)):
        m = torch.from_numpy(mask)
        if int(m.sum()) < 10 or np.unique(target[mask]).size < 2:
            continue
        stats = check_sbc(ranks[m], thetas[m], dap[m], num_posterior_samples=n_samples)
        ecp, alpha = run_tarp(thetas[m], x[m], post, num_posterior_samples=n_samples,
                              show_progress_bar=False)  # fmt: skip
        atc, tarp_p = check_tarp(ecp, alpha)
        unit = ranks[m].double().numpy() / n_samples
        (mean_g_s, se_g_s), (mean_g_u, se_g_u) = (
            clustered_mean(unit[:, j], target[mask]) for j in (0, 1)
        )
        rows.append({
            "class": name, "n": int(m.sum()),
            "SBC rank KS p g_s": float(stats["ks_pvals"][0]),
            "SBC rank KS p g_u": float(stats["ks_pvals"][1]),
            "mean rank g_s": mean_g_s, "mean rank g_u": mean_g_u,
            "SE mean rank g_s": se_g_s, "SE mean rank g_u": se_g_u,
            "TARP ATC": float(atc), "TARP KS p": float(tarp_p),
        })  # fmt: skip
    return rows, ranks


def _sbc_redraws(ranks, label_all, target_all, keep, *, k: int, seeds, n_samples: int,
                 alpha: float = 0.01) -> list[dict]:
    """Share of draws of ``k`` cells per target whose per-class KS test rejects.

    ``ranks`` (N, 2) are the ``run_sbc`` ranks of the cells ``keep`` (indices into the
    whole split, whose labels and targets are ``label_all`` / ``target_all``). Each draw
    picks ``k`` cells of every target among all of the split's cells, silent included,
    then drops the silent ones (the protocol of ``--cells-per-target``), and tests each
    class's g_s and g_u ranks with sbi's ``check_uniformity_frequentist`` (KS). Two
    reference columns give the same tests on exactly uniform ranks of the same sizes:
    independent ones (what a calibrated posterior would give if the cells of one
    target were independent), and ones linked within each target as the split's ranks
    are (``within-target correlation``, see :func:`_linked_uniform_ranks`). Cells of
    a target share their DICs, so even a calibrated posterior ranks them alike and the
    KS test over ``k > 1`` cells per target rejects more often than its level; the
    linked reference says how often. It takes the correlation from the ranks under
    test, so a bias that differs from target to target raises it too: the truth lies
    between the two references.
    """
    from sbi.diagnostics.sbc import check_uniformity_frequentist

    from sbidic.datasets import cells_per_target

    position = np.full(len(label_all), -1)
    position[keep] = np.arange(len(keep))
    label = label_all[keep]  # of the ranked cells, in the order of ``ranks``
    target = target_all[keep]
    z = torch.special.ndtri((torch.as_tensor(ranks).double() + 0.5) / (n_samples + 1))
    rho = {code: [_intraclass_correlation(z[label == code, j].numpy(), target[label == code])
                  for j in (0, 1)] for code in (1, 2)}  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    # p-values: (spiking, bursting) x (g_s, g_u)
    got, uniform, linked = np.empty((3, len(seeds), 4))
    sizes = np.empty((len(seeds), 2))
    for r, seed in enumerate(seeds):
        pick = cells_per_target(np.arange(len(label_all)), target_all, k, seed)
        pick = position[pick[label_all[pick] > 0]]
        if (pick < 0).any():
            raise ValueError("--sbc-redraws needs the ranks of every non-silent cell")
        for i, code in enumerate((1, 2)):
            rows = pick[label[pick] == code]
            sizes[r, i] = rows.size
            got[r, 2 * i : 2 * i + 2] = check_uniformity_frequentist(ranks[rows], n_samples)
            fair = torch.randint(0, n_samples + 1, (rows.size, 2), generator=gen)
            uniform[r, 2 * i : 2 * i + 2] = check_uniformity_frequentist(fair, n_samples)
            alike = _linked_uniform_ranks(target[rows], rho[code], n_samples, gen)
            linked[r, 2 * i : 2 * i + 2] = check_uniformity_frequentist(alike, n_samples)
    names = ("spiking g_s", "spiking g_u", "bursting g_s", "bursting g_u", "any")
    got, uniform, linked = (np.column_stack([p, p.min(axis=1)]) for p in (got, uniform, linked))
    sizes = sizes[:, [0, 0, 1, 1]].sum(axis=0).tolist() + [float(sizes.sum())]
    corr = [*rho[1], *rho[2], float("nan")]
    return [{"class": name, "n per draw": sizes[i] / len(seeds),
             "draws failing": float(np.mean(got[:, i] <= alpha)),
             "uniform ranks failing": float(np.mean(uniform[:, i] <= alpha)),
             "within-target correlation": corr[i],
             "linked uniform ranks failing": float(np.mean(linked[:, i] <= alpha)),
             "median KS p": float(np.median(got[:, i]))}
            for i, name in enumerate(names)]  # fmt: skip


def _intraclass_correlation(values: np.ndarray, groups: np.ndarray) -> float:
    """Share of the variance of ``values`` that their groups share (one-way ANOVA
    estimator for unequal group sizes, clipped to [0, 0.99]; 0 without two groups or
    without a group of two).

    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(4000), 2)
    >>> x = 0.8**0.5 * rng.standard_normal(4000)[groups] + 0.2**0.5 * rng.standard_normal(8000)
    >>> round(_intraclass_correlation(x, groups), 1)
    0.8
    """
    _, inv, n_g = np.unique(groups, return_inverse=True, return_counts=True)
    n, g = len(values), len(n_g)
    if g < 2 or n <= g:
        return 0.0
    means = np.bincount(inv, weights=values) / n_g
    between = (n_g * (means - values.mean()) ** 2).sum() / (g - 1)
    within = ((values - means[inv]) ** 2).sum() / (n - g)
    n0 = (n - (n_g**2).sum() / n) / (g - 1)
    rho = (between - within) / (between + (n0 - 1) * within)
    return float(np.clip(rho, 0.0, 0.99))


def _linked_uniform_ranks(groups: np.ndarray, rho, n_samples: int, gen) -> torch.Tensor:
    """Exactly uniform ranks (0..n_samples) of g_s and g_u, correlated within each of
    ``groups`` by ``rho`` (one per DIC) on the normal scale (a Gaussian copula); g_s
    and g_u independent of each other, as in the independent reference."""
    _, inv = np.unique(groups, return_inverse=True)
    shared = torch.randn(int(inv.max()) + 1, 2, generator=gen, dtype=torch.float64)
    own = torch.randn(len(inv), 2, generator=gen, dtype=torch.float64)
    r = torch.as_tensor(rho, dtype=torch.float64)
    u = torch.special.ndtr(r.sqrt() * shared[torch.from_numpy(inv)] + (1 - r).sqrt() * own)
    return (u * (n_samples + 1)).floor().clamp(max=n_samples).long()


def _print_rows(rows: list[dict], fmt: str = ".3f") -> None:
    """One column per class, one row per metric."""
    keys = [k for k in rows[0] if k != "class"]
    width = max(len(k) for k in keys) + 2
    col = max(12, *(len(r["class"]) + 2 for r in rows))
    print("metric".ljust(width) + "".join(r["class"].rjust(col) for r in rows))
    for k in keys:
        cells = []
        for r in rows:
            v = r.get(k, float("nan"))
            cells.append(f"{v:{col}d}" if isinstance(v, int) else f"{v:{col}{fmt}}")
        print(k.ljust(width) + "".join(cells))


def _perturbation_name(args) -> str:
    parts = (["deletion 5 % + crops"] if args.delete_crop else []) + (
        [f"jitter {args.jitter:g} ms"] if args.jitter > 0 else []
    )
    return " + ".join(parts) or "none"


def _load_splits(data: str, splits: str):
    """The cells of one split, or of several joined by '+' (e.g. validation+test)."""
    import xarray as xr

    from sbidic.datasets import load_dataset
    from sbidic.spikes import SpikeTrains

    parts = [load_dataset(data, split=s) for s in splits.split("+")]
    if len(parts) == 1:
        return parts[0]
    trains = SpikeTrains.concatenate([SpikeTrains.from_dataset(p, check=False) for p in parts])
    cells = [p.drop_dims("spike") for p in parts]
    cells = xr.concat(cells, dim="train", data_vars="minimal", coords="minimal", compat="override")
    return xr.merge([cells, trains.to_dataset()], compat="override")


def _perturb(trains, args):
    """Test trains with the requested deletion / crops / jitter (fixed seed)."""
    from sbidic.inference.tokens import augment_padded
    from sbidic.spikes import SpikeTrains

    times, lens = trains.to_padded()
    g = torch.Generator().manual_seed(args.seed + 1)
    t, n = augment_padded(
        torch.from_numpy(times),
        torch.from_numpy(lens.astype(np.int64)),
        g,
        jitter_ms=args.jitter,
        p_delete=0.05 if args.delete_crop else 0.0,
        crop_above=10 if args.delete_crop else float("inf"),
    )
    return SpikeTrains.from_padded(t.numpy(), n.numpy(), check=False)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print a table; return the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="dataset directory")
    parser.add_argument("--estimator", required=True, help="saved estimator directory")
    parser.add_argument(
        "--split", default="test", help="held-out split, or splits joined by '+' (default: test)"
    )
    parser.add_argument(
        "--cells-per-target",
        type=int,
        default=None,
        metavar="K",
        help="draw at most K cells of each target, then drop the silent ones (SBC wants "
        "independent recordings: K=1 with --split validation+test)",
    )
    parser.add_argument("--n-samples", type=int, default=200, help="posterior draws/recording")
    parser.add_argument("--max-recordings", type=int, default=None,
                        help="evaluate a random subset of this size")  # fmt: skip
    parser.add_argument(
        "--throughput-repeats",
        type=int,
        default=3,
        help="timing repeats (0: skip the throughput measurement)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--delete-crop",
        action="store_true",
        help="5 %% spike deletion + random crops (published protocol)",
    )
    parser.add_argument("--jitter", type=float, default=0.0, metavar="MS",
                        help="Gaussian spike-time jitter, ms (default 0)")  # fmt: skip
    parser.add_argument("--sbc-samples", type=int, default=0, metavar="N",
                        help="also run sbi's SBC and TARP per class with N posterior draws "
                        "per recording (e.g. 200; 0: skip)")  # fmt: skip
    parser.add_argument("--sbc-redraws", type=int, default=0, metavar="R",
                        help="with --sbc-samples and --cells-per-target K: rank every cell "
                        "once, then repeat the K-per-target draw R times and report how "
                        "often the per-class KS test fails")  # fmt: skip
    parser.add_argument("--update-card", action="store_true",
                        help="store the metrics in the estimator's model card")  # fmt: skip
    args = parser.parse_args(argv)
    if args.sbc_redraws and (not args.sbc_samples or args.cells_per_target is None
                             or args.max_recordings is not None):  # fmt: skip
        parser.error("--sbc-redraws needs --sbc-samples and --cells-per-target, and no "
                     "--max-recordings")  # fmt: skip

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    from sbidic.datasets import cells_per_target, dic_targets
    from sbidic.inference import load_estimator
    from sbidic.spikes import SpikeTrains

    est = load_estimator(args.estimator)
    ds = _load_splits(args.data, args.split)
    trains = SpikeTrains.from_dataset(ds, check=False)
    theta = dic_targets(ds)
    label_all = np.asarray(ds["label_code"].values)
    target_all = np.asarray(ds["target_index"].values)
    keep = np.arange(len(label_all))
    if args.cells_per_target is not None and not args.sbc_redraws:
        # cells drawn among all of a target's, silent included, then the silent dropped:
        # theta ~ prior, x ~ p(x | theta, not silent), as the estimator was trained
        keep = cells_per_target(keep, target_all, args.cells_per_target, args.seed)
    n_silent = int((label_all[keep] == 0).sum())
    keep = keep[label_all[keep] > 0]
    if args.max_recordings is not None and keep.size > args.max_recordings:
        rng = np.random.default_rng(args.seed)
        keep = np.sort(rng.choice(keep, args.max_recordings, replace=False))
    if keep.size == 0:
        raise SystemExit(f"no non-silent recording in split {args.split!r}")
    trains, theta, label, target = trains[keep], theta[keep], label_all[keep], target_all[keep]
    perturbation = _perturbation_name(args)
    if perturbation != "none":
        trains = _perturb(trains, args)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncation warnings: counted below
        t0 = time.perf_counter()
        summ = _posterior_summaries(est, trains, args.n_samples)
        t_eval = time.perf_counter() - t0
        speed = {
            b: _throughput(est, trains, b, args.n_samples, args.throughput_repeats)
            for b in (1, 512)
            if args.throughput_repeats > 0
        }
        calibration, redraws = [], []
        if args.sbc_samples:
            calibration, ranks = _calibration(est, trains, theta, label, target,
                                              args.sbc_samples)  # fmt: skip
        if args.sbc_redraws:
            seeds = range(args.seed, args.seed + args.sbc_redraws)
            redraws = _sbc_redraws(ranks, label_all, target_all, keep,
                                   k=args.cells_per_target, seeds=seeds,
                                   n_samples=args.sbc_samples)  # fmt: skip
    max_spikes = est.encoder.max_spikes
    n_trunc = int((trains.n_spikes > max_spikes).sum()) if max_spikes else 0

    rows = []
    for name, mask in (("all", label > 0), ("spiking", label == 1), ("bursting", label == 2)):
        if not mask.any():
            continue
        row = {"class": name, "n": int(mask.sum())}
        for kind in ("mean", "median"):
            err = np.abs(summ[kind][mask] - theta[mask]).mean(axis=0)
            row[f"MAE g_s ({kind})"], row[f"MAE g_u ({kind})"] = err
        for lv in LEVELS:
            lo = summ["q"][mask][:, summ["q_levels"].index((1 - lv) / 2)]
            hi = summ["q"][mask][:, summ["q_levels"].index((1 + lv) / 2)]
            inside = (theta[mask] >= lo) & (theta[mask] <= hi)
            cov = inside.mean(axis=0)
            row[f"coverage {lv:.0%} g_s"], row[f"coverage {lv:.0%} g_u"] = cov
            if lv == 0.8:  # posterior breadth: tonic spiking constrains g_s less
                w = (hi - lo).mean(axis=0)
                row["80% CI width g_s"], row["80% CI width g_u"] = w
        rows.append(row)

    print(f"estimator {args.estimator} ({est.n_parameters} parameters, model "
          f"{est.model_name}); data {args.data}, split {args.split!r}")  # fmt: skip
    print(f"{keep.size} non-silent recordings ({n_silent} silent skipped, {n_trunc} "
          f"truncated to {max_spikes} spikes); {args.n_samples} posterior draws each; "
          f"test-time perturbation: {perturbation}; evaluation {t_eval:.1f} s on one "
          "core")  # fmt: skip
    print()
    _print_rows(rows)
    keys = [k for k in rows[0] if k != "class"]
    width = max(len(k) for k in keys) + 2
    published = PUBLISHED.get(est.model_name or "", {})
    for r in rows:
        if r["class"] in published:
            ref = published[r["class"]]
            r["published MAE g_s"], r["published MAE g_u"] = ref
    if published:
        cells = [
            f"{published[r['class']][0]:.2f}/{published[r['class']][1]:.2f}"
            if r["class"] in published else "" for r in rows
        ]  # fmt: skip
        print("published MAE g_s/g_u".ljust(width) + "".join(c.rjust(12) for c in cells))
    if speed:
        print()
        print("throughput (one core)".ljust(width) + "batch 1".rjust(14) + "batch 512".rjust(14))
    whats = ("encoder only", f"+ {args.n_samples} draws", f"+ {args.n_samples} draws, zuko",
             f"{args.n_samples} draws, matmul floor")  # fmt: skip
    for j, what in enumerate(whats if speed else ()):
        print(
            f"{what} [recordings/s]".ljust(width)
            + "".join(f"{speed[b][j]:14.1f}" for b in (1, 512))
        )
    if calibration:
        print(f"\ncalibration (sbi run_sbc / check_sbc / run_tarp, {args.sbc_samples} draws; "
              "uniform ranks: KS p > 0.01 (independent recordings), mean rank 0.5 within "
              "about 2 SE (SE clustered by target); TARP ATC near 0)")  # fmt: skip
        _print_rows(calibration, ".3g")
    if redraws:
        print(f"\nper-class KS test (p <= 0.01) over {args.sbc_redraws} draws of "
              f"{args.cells_per_target} cell(s) per target (seeds {args.seed}.."
              f"{args.seed + args.sbc_redraws - 1}): share of draws failing, and the share "
              "for exactly uniform ranks of the same sizes")  # fmt: skip
        _print_rows(redraws, ".3g")
    result = {"rows": rows, "throughput": speed, "n_silent": n_silent, "n_truncated": n_trunc,
              "calibration": calibration, "sbc_redraws": redraws}  # fmt: skip
    if args.update_card:
        import json
        from pathlib import Path

        from sbidic.inference.training import write_model_card

        card_path = Path(args.estimator) / "model_card.json"
        card = json.loads(card_path.read_text())
        metrics = {
            "split": args.split,
            "data": args.data,
            "n_recordings": int(keep.size),
            "n_silent_skipped": n_silent,
            "n_posterior_draws": args.n_samples,
            "test_time_perturbation": perturbation,
            "by_class": rows,
            **({"calibration_by_class": calibration} if calibration else {}),
            **({"sbc_redraws": {"draws": args.sbc_redraws,
                                "cells_per_target": args.cells_per_target,
                                "tests": redraws}} if redraws else {}),
            "throughput_recordings_per_s_one_core": {
                f"batch_{b}": {
                    "encoder": v[0],
                    f"encoder+{args.n_samples}_draws": v[1],
                    f"encoder+{args.n_samples}_draws_zuko_sampler": v[2],
                    f"{args.n_samples}_draws_matmul_floor": v[3],
                }
                for b, v in speed.items()
            },
            "command": "python benchmarks/bench_estimator.py " + " ".join(argv or sys.argv[1:]),
        }
        if args.split != "test" or args.cells_per_target is not None:
            metrics["cells_per_target"] = args.cells_per_target
            key = f"{args.split}, {args.cells_per_target or 'all'} cell(s) per target"
            if args.sbc_redraws:  # every cell scored, the K-per-target draw repeated
                key += f", {args.sbc_redraws} draws"
            trained_on = Path(card.get("data", {}).get("dataset_dir", args.data)).name
            if Path(args.data).name != trained_on:  # e.g. a fresh held-out dataset
                key = f"{Path(args.data).name}: {key}"
            card.setdefault("held_out_metrics", {})[key] = metrics
        elif perturbation == "none":
            card["test_metrics"] = metrics
        else:
            card.setdefault("perturbed_test_metrics", {})[perturbation] = metrics
        write_model_card(card_path.parent, card)
        print(f"held-out metrics written to {card_path}")
    return result


if __name__ == "__main__":
    main()
