"""DIC pipeline vs plain NPE (embedding and summary-feature conditioners), side by side.

Run (quick, small-budget NPE models you trained yourself, see docs/npe.md)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_vs_npe.py --quick \\
        --npe-embedding runs/npe_embedding --npe-features runs/npe_features \\
        --mc-data runs/stg_mc_small --write docs/npe-comparison.md

Without ``--npe-*`` the shipped NPE weights are used (``load_pretrained("stg",
estimator="npe", ...)``); ``--mc-data`` (a Monte Carlo dataset, its test split) gives
the NPE calibration checks.

Recording sets (the same for every method), from ``bench_fidelity.py``:

* ``stg-test``: one train per target of the test split of ``data/stg_dic_v1`` (true
  DICs known);
* ``stg-noisy``: the test split of ``data/stg_dic_noise5_v1`` (noisy current injection;
  the DIC pipeline uses its noisy-regime estimator, NPE its only one; every cell is
  simulated under the same noise);
* ``stg-poisson``: Poisson trains, 4-22 Hz, 3 s;
* ``da-test`` (``--model da``): one train per target of the test split of
  ``data/da_dic_v1``.

``--methods`` reruns some methods only; ``--merge`` then joins the JSON files of several
runs, later files replacing the rows (and calibration / cost entries) they hold.

Methods: ``DIC`` (the default calibrated populations), ``DIC-verify``
(``sbidic.infer(verify=True)``), ``DIC-verify-ranges`` (the same with
``spread="ranges"``), ``DIC-verify-npe`` (the same with the features NPE, that of
``--npe-features``, as proposal: ``--proposal``), ``NPE-embedding`` and
``NPE-features``.
Per method and set: ``K`` cells per recording (``--cells``) drawn with
``sbidic.infer(..., score=True)`` (DIC: the default calibrated DICs; NPE: conductance
draws) or ``verify=True``, simulated and scored with ``sbidic.fidelity`` (class,
features, van Rossum distance); diversity of the populations
(``sbidic.fidelity.population_diversity``: mean coefficient of variation of each
conductance, mean share of the model's plausible ``conductance_ranges`` covered,
clipped to them, share of cells outside them, and log volume); DIC error
(mean ``|g_s - g_s*|`` and ``|g_u - g_u*|`` of the cells against the true DICs).
Per method: calibration in its own parameter space (DIC: ``(g_s, g_u)`` on the DIC test
split; NPE: ``log g`` on the Monte Carlo test split): SBC (sbi ``run_sbc`` /
``check_sbc``: smallest KS p-value over the dimensions, mean C2ST of the ranks) and
TARP (``run_tarp`` / ``check_tarp``: ATC, KS p-value); cost: simulations of the
training set, training time from the model card, wall time from one spike train to
1,000 cells and CPU time per recording of 10 cells each for 60 test recordings in one
call (median of 3).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
METHODS = ("DIC", "DIC-verify", "DIC-verify-ranges", "DIC-verify-npe", "NPE-embedding",
           "NPE-features")  # fmt: skip
#: The NPE baselines among ``METHODS``.
NPE = ("NPE-embedding", "NPE-features")
SETS = {"stg": ("stg-test", "stg-noisy", "stg-poisson"), "da": ("da-test",)}
DATA = {"stg-test": "data/stg_dic_v1", "stg-noisy": "data/stg_dic_noise5_v1",
        "da-test": "data/da_dic_v1"}  # fmt: skip


def recordings(name: str, n: int, seed: int):
    """(trains, true (g_s, g_u) or None, noise sigma or None) of a recording set."""
    from bench_fidelity import _synthetic, _test_recordings

    if name == "stg-poisson":
        trains, _, _ = _synthetic(3 * n, seed)
        keep = np.flatnonzero(np.char.startswith(trains.ids.astype(str), "poisson"))
        keep = keep[trains.n_spikes[keep] >= 3][:n]
        return trains[keep], None, None
    return _test_recordings(ROOT / DATA[name], n, seed)


def load_methods(args) -> dict:
    import sbidic
    from sbidic.inference.npe import load_npe
    from sbidic.inference.pretrained import available_regimes

    model = args.model

    def dic(**kwargs) -> dict:  # the shipped DIC posterior of each regime
        clean = sbidic.load_pretrained(model, **kwargs)
        noisy = clean
        if "noisy" in available_regimes(model):
            noisy = sbidic.load_pretrained(model, regime="noisy", **kwargs)
        return {"clean": clean, "noisy": noisy}

    out = {"DIC": dic()}
    out["DIC-verify"] = out["DIC"]
    if "DIC-verify-ranges" in args.methods:
        out["DIC-verify-ranges"] = dic(spread="ranges")
    for cond, path in (("embedding", args.npe_embedding), ("features", args.npe_features)):
        if f"NPE-{cond}" not in args.methods and (
            cond == "embedding" or "DIC-verify-npe" not in args.methods
        ):
            continue
        post = load_npe(path) if path else sbidic.load_pretrained(model, estimator="npe",
                                                                  conditioner=cond)  # fmt: skip
        if f"NPE-{cond}" in args.methods:
            out[f"NPE-{cond}"] = {"clean": post, "noisy": post}
        if cond == "features" and "DIC-verify-npe" in args.methods:
            out["DIC-verify-npe"] = dic(spread="ranges", proposal=post)
    return out


def population_metrics(pop, truth, model) -> dict:
    """Diversity and DIC error of a Population (B recordings x K cells)."""
    from sbidic.fidelity import population_diversity

    d = population_diversity(pop.conductances, model.conductance_ranges)  # (B,) each
    out = {"cv": float(np.nanmean(d["conductance_cv"])),
           "range": float(np.nanmean(d["range_coverage"])),
           "outside": float(np.nanmean(d["outside_ranges"])),
           "log_volume": float(np.nanmean(d["log_volume"]))}  # fmt: skip
    if truth is not None:
        err = np.abs(pop.dics[..., 1:] - np.asarray(truth)[:, None, :])
        out["dic_err_gs"], out["dic_err_gu"] = (float(v) for v in err.mean(axis=(0, 1)))
    return out


def fidelity_run(posterior, trains, truth, sigma, model, args, verify: bool = False) -> dict:
    import sbidic
    from sbidic.simulate import BandLimitedNoise

    sim = {"n_jobs": args.jobs, "seed": args.seed}
    if sigma:
        sim["noise"] = BandLimitedNoise.reference(model.name, sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sbidic.infer(trains, posterior, n=args.cells, seed=args.seed, score=not verify,
                           verify=verify, simulation=sim)  # fmt: skip
    fid = res.population.fidelity
    out = {
        "recordings": int(trains.n_trains),
        "class": float(np.mean(fid.class_match)),
        "features": float(np.mean(fid.feature_match)),
        "van_rossum": float(np.nanmean(fid.van_rossum)),
        "features_per_recording": np.mean(fid.feature_match, axis=1).tolist(),
    }
    if verify:
        out["acceptance"] = float(res.report["acceptance_rate"].mean())
    out.update(population_metrics(res.population, truth, model))
    return out


def _sbc_tarp(posterior, prior, thetas, xs, n_post: int) -> dict:
    from sbi.diagnostics import check_sbc, check_tarp, run_sbc, run_tarp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranks, dap = run_sbc(thetas, xs, posterior, num_posterior_samples=n_post,
                             show_progress_bar=False)  # fmt: skip
        sbc = check_sbc(ranks, prior.sample((len(thetas),)), dap, num_posterior_samples=n_post)
        ecp, alpha = run_tarp(thetas, xs, posterior, references=None,
                              num_posterior_samples=n_post, show_progress_bar=False)  # fmt: skip
        atc, ks = check_tarp(ecp, alpha)
    return {
        "space": None,
        "n": int(len(thetas)),
        "sbc_ks_min": float(sbc["ks_pvals"].min()),
        "sbc_c2st": float(sbc["c2st_ranks"].mean()),
        "tarp_atc": float(atc),
        "tarp_ks": float(ks),
    }


def calibration(methods, args) -> dict:
    """SBC and TARP of every method in its own space, on held-out simulations."""
    import torch

    from sbidic.datasets import load_dataset
    from sbidic.inference.tokens import pad_trains
    from sbidic.spikes import SpikeTrains

    torch.manual_seed(args.seed)
    out = {}
    rng = np.random.default_rng(args.seed)
    # the DIC test cells are drawn even when DIC is not among --methods, so that the NPE
    # draws below are the same in a full run and in runs split by --methods
    ds = load_dataset(ROOT / f"data/{args.model}_dic_v1", split="test")
    trains = SpikeTrains.from_dataset(ds, check=False)
    ok = np.flatnonzero(trains.n_spikes >= 3)
    pick = np.sort(rng.choice(ok, size=min(args.sbc, ok.size), replace=False))
    dic_post = methods["DIC"]["clean"].dic_posterior
    xs = pad_trains(trains[pick], max_len=dic_post.estimator.encoder.max_spikes)
    thetas = torch.as_tensor(ds["dics"].values[pick, 1:], dtype=torch.float32)
    if "DIC" in args.methods:
        out["DIC"] = {**_sbc_tarp(dic_post, dic_post.prior, thetas, xs,
                                  args.posterior_samples), "space": "(g_s, g_u)"}  # fmt: skip
    if args.mc_data is None:
        return out
    mc = load_dataset(args.mc_data, split="test")
    mtrains = SpikeTrains.from_dataset(mc, check=False)
    g = mc["conductances"].values
    for name in [m for m in NPE if m in args.methods]:
        post = methods[name]["clean"]
        low, high = post.log_prior.low.numpy(), post.log_prior.high.numpy()
        ok = np.flatnonzero((mtrains.n_spikes >= 3) & np.all((g >= low) & (g <= high), 1))
        sel = np.sort(rng.choice(ok, size=min(args.sbc, ok.size), replace=False))
        th = torch.as_tensor(np.log(g[sel]), dtype=torch.float32)
        xm = post.encode_x(mtrains[sel])
        out[name] = {**_sbc_tarp(post.log_posterior, post.log_prior, th, xm,
                                 args.posterior_samples),
                     "space": f"log g ({g.shape[1]})"}  # fmt: skip
    return out


def cost(methods, args) -> dict:
    """Simulations, training time (model card) and time from a spike train to 1,000 cells."""
    import sbidic
    from sbidic.inference.pretrained import pretrained_dir

    tonic = np.arange(0.0, 3000.0, 100.0)
    batch = recordings(SETS[args.model][0], 60, args.seed)[0]
    card = json.loads((pretrained_dir(args.model) / "model_card.json").read_text())
    out = {"DIC": {"simulations": card["data"]["n_cells"],
                   "train_s": card.get("wall_time_s_total", card.get("wall_time_s"))}}  # fmt: skip
    for name in [m for m in NPE if m in args.methods]:
        c = methods[name]["clean"].card
        out[name] = {"simulations": c["budget"]["simulations"],
                     "train_s": c["training"]["cpu_time_s"]}  # fmt: skip
    out = {m: v for m, v in out.items() if m in args.methods}
    for name in out:
        post = methods[name]["clean"]
        sbidic.infer(tonic, post, n=10, seed=0)  # warm up
        t0 = time.perf_counter()
        sbidic.infer(tonic, post, n=1000, seed=0)
        out[name]["to_1000_cells_s"] = time.perf_counter() - t0
        times = []
        for seed in range(3):  # 10 cells per recording, in one batch: CPU, median of 3
            t0 = time.process_time()
            sbidic.infer(batch, post, n=10, seed=seed)
            times.append(time.process_time() - t0)
        out[name]["to_10_cells_cpu_ms"] = 1000 * float(np.median(times)) / batch.n_trains
    return out


def table(fid: dict, cal: dict, cst: dict) -> str:
    """Markdown tables: one row per (set, method); calibration and cost per (model,
    method). ``cal`` and ``cst`` are keyed by model, then method."""

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = [
        "| set | method | recordings | class % | features % | van Rossum | CV of g | "
        "range covered % | cells outside ranges % | log volume | DIC error g_s / g_u | "
        "verify acceptance % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in [s for sets in SETS.values() for s in sets if s in fid]:
        for m in [m for m in METHODS if m in fid[s]]:
            r = fid[s][m]
            err = (f"{r['dic_err_gs']:.2f} / {r['dic_err_gu']:.2f}" if "dic_err_gs" in r
                   else "-")  # fmt: skip
            lines.append(
                f"| {s} | {m} | {r['recordings']} | {100 * r['class']:.1f} | "
                f"{100 * r['features']:.1f} | {r['van_rossum']:.3f} | {r['cv']:.2f} | "
                f"{100 * r['range']:.1f} | {100 * r.get('outside', float('nan')):.1f} | "
                f"{r.get('log_volume', float('nan')):.2f} | {err} | "
                f"{f(r.get('acceptance') and 100 * r['acceptance'], '.1f')} |"
            )
    lines += _paired_gaps(fid)
    lines += [
        "",
        "| model | method | calibration space | SBC n | SBC min KS p | SBC C2ST ranks | "
        "TARP ATC | TARP KS p | simulations | training s (card) | spike train -> 1,000 "
        "cells (s) | 10 cells per recording, CPU ms per recording |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in [m for m in SETS if m in cst]:
        for m in [m for m in METHODS if m in cst[model]]:
            c, k = cal.get(model, {}).get(m, {}), cst[model][m]
            lines.append(
                f"| {model} | {m} | {c.get('space', '-')} | {c.get('n', '-')} | "
                f"{f(c.get('sbc_ks_min'), '.3f')} | {f(c.get('sbc_c2st'), '.2f')} | "
                f"{f(c.get('tarp_atc'), '.3f')} | {f(c.get('tarp_ks'), '.3f')} | "
                f"{k['simulations']:,} | {f(k['train_s'], '.0f')} | "
                f"{k['to_1000_cells_s']:.2f} | {f(k.get('to_10_cells_cpu_ms'), '.0f')} |"
            )
    return "\n".join(lines)


def _paired_gaps(fid: dict, reference: str = "NPE-features", n_boot: int = 10_000) -> list:
    """Feature-match gap of each method to ``reference`` on the same recordings, in
    points, with a 95 % paired bootstrap interval over recordings."""
    rng = np.random.default_rng(0)
    out = []
    for s, rows in fid.items():
        ref = rows.get(reference, {}).get("features_per_recording")
        for m, r in rows.items():
            mine = r.get("features_per_recording")
            if m == reference or ref is None or mine is None or len(mine) != len(ref):
                continue
            d = 100 * (np.asarray(mine) - np.asarray(ref))
            boot = d[rng.integers(0, d.size, (n_boot, d.size))].mean(axis=1)
            lo, hi = np.percentile(boot, [2.5, 97.5])
            out.append(f"- {s}: features % of {m} minus {reference}: {d.mean():+.1f} points "
                       f"(95 % paired bootstrap over {d.size} recordings: {lo:+.1f} to {hi:+.1f})")
    return [""] + out if out else []


def merge(parts: list[dict]) -> tuple[dict, dict, dict]:
    """Join runs (``--json`` files): later parts replace the rows they hold. Files
    written before ``--model`` existed are STG runs."""
    fid, cal, cst = {}, {}, {}
    for part in parts:
        model = part.get("args", {}).get("model", "stg")
        for s, rows in part["fidelity"].items():
            fid.setdefault(s, {}).update(rows)
        cal.setdefault(model, {}).update(part.get("calibration", {}))
        if part.get("cost"):
            cst.setdefault(model, {}).update(part["cost"])
    return fid, cal, cst


def _document(text: str, cst: dict, args) -> str:
    """The tables with a header saying what produced them and at what NPE budget."""
    head = [
        "# DIC pipeline vs NPE: side-by-side comparison",
        "",
        f"Produced by `benchmarks/bench_vs_npe.py {' '.join(sys.argv[1:])}` on "
        f"{time.strftime('%Y-%m-%d')} ({args.recordings} recordings per set, "
        f"{args.cells} cells each; the columns are defined in the script's docstring).",
        "",
    ]
    for model, rows in cst.items():
        npe = [rows[m]["simulations"] for m in NPE if m in rows]
        if "DIC" in rows and npe and min(npe) < rows["DIC"]["simulations"]:
            head += [
                f"**Small-budget placeholders ({model}).** The NPE models here were "
                f"trained on {min(npe):,} Monte Carlo simulations, not on the equal budget "
                f"of {rows['DIC']['simulations']:,} of the DIC network: these rows are not "
                "the equal-budget result (see docs/npe.md for the commands that produce it).",
                "",
            ]
    return "\n".join(head) + "\n" + text


def main(argv=None) -> int:
    from sbidic.models import get_model

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="5 recordings per set, 20 cells, 40 SBC/TARP simulations")
    p.add_argument("--recordings", type=int, default=100, help="recordings per set")
    p.add_argument("--cells", type=int, default=20, help="cells per recording (K >= 20)")
    p.add_argument("--sbc", type=int, default=300, help="SBC / TARP simulations")
    p.add_argument("--posterior-samples", type=int, default=200)
    p.add_argument("--npe-embedding", help="NPE directory (default: the shipped one)")
    p.add_argument("--npe-features", help="NPE directory (default: the shipped one)")
    p.add_argument("--mc-data", help="Monte Carlo dataset for the NPE calibration")
    p.add_argument("--model", choices=list(SETS), default="stg",
                   help="stg (sets stg-test, stg-noisy, stg-poisson) or da (da-test)")
    p.add_argument("--sets", nargs="+", choices=[s for v in SETS.values() for s in v],
                   help="recording sets (default: all of the model's)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="methods to run (default all; join runs with --merge)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", help="also write the tables (markdown) to this file")
    p.add_argument("--json", help="also write the raw results to this JSON file")
    p.add_argument("--fidelity-only", action="store_true",
                   help="only the per-set rows (run sets in parallel processes, then --merge)")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="build the tables from the --json files of earlier runs (no compute)")
    args = p.parse_args(argv)
    if args.quick:
        args.recordings, args.sbc, args.posterior_samples = 5, 40, 100
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        fid, cal, cst = merge(parts)
        if not cst:
            raise SystemExit("--merge needs one run with calibration and cost")
        full = [part for part in parts if part.get("cost")]
        for key in ("recordings", "cells"):
            setattr(args, key, full[-1]["args"][key])
        text = table(fid, cal, cst)
        print(text)
        if args.write:
            Path(args.write).write_text(_document(text, cst, args) + "\n")
        return 0
    sets = args.sets or list(SETS[args.model])
    if any(s not in SETS[args.model] for s in sets):
        raise SystemExit(f"--sets of model {args.model}: {', '.join(SETS[args.model])}")
    if args.mc_data is None and (ROOT / f"data/{args.model}_mc_v1").is_dir():
        args.mc_data = str(ROOT / f"data/{args.model}_mc_v1")
    model = get_model(args.model)
    t0 = time.perf_counter()
    methods = load_methods(args)
    fid = {}
    for s in sets:
        trains, truth, sigma = recordings(s, args.recordings, args.seed)
        fid[s] = {}
        for m in args.methods:
            post = methods[m]["noisy" if sigma else "clean"]
            fid[s][m] = fidelity_run(post, trains, truth, sigma, model, args,
                                     verify=m.startswith("DIC-verify"))  # fmt: skip
            print(f"{s} {m}: {fid[s][m]}", file=sys.stderr)
    if args.fidelity_only:
        Path(args.json).write_text(json.dumps({"fidelity": fid, "args": vars(args)}, indent=2))
        return 0
    cal = {args.model: calibration(methods, args)}
    cst = {args.model: cost(methods, args)}
    text = table(fid, cal, cst)
    print(text)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    if args.write:
        Path(args.write).write_text(_document(text, cst, args) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"fidelity": fid, "calibration": cal[args.model],
                                               "cost": cst[args.model], "args": vars(args)},
                                              indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
