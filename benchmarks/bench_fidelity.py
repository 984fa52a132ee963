"""Fidelity benchmark: do the inferred populations fire like the recordings?

Run (quick, ~minutes)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fidelity.py --quick

and the full run (resumable: finished (set, strategy) cells are cached in ``--cache``)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_fidelity.py \\
        --recordings 500 --cells 20 --jobs 2 --write docs/fidelity.md

Recording sets (``--sets``):

* ``stg-test`` / ``da-test``: one train per target of the held-out test split of the
  committed datasets (``data/<model>_dic_v1``; the true DICs are known);
* ``stg-noisy``: the test split of the noisy-injection STG dataset, inferred with the
  noisy-regime estimator (``load_pretrained("stg", regime="noisy")``; strategy
  ``clean-network``: the clean estimator, calibrated, for comparison); the cells are
  simulated under the same noise (sigma from the dataset's manifest, own seed);
* ``stg-synthetic``: generated with ``--seed``: Poisson trains (4-22 Hz), regular
  tonic trains (4-22 Hz) and burst trains (3-8 spikes at 100 Hz, 190-390 ms periods),
  3 s each, a third of each; no true DICs.

Strategies: ``posterior`` / ``mean`` / ``shrunk`` / ``calibrated``
(``sbidic.infer(dics=...)``: DICs of each cell from the full posterior, the posterior
mean, draws shrunk half-way to the mean, or the posterior draws the firing atlas of the
training split ranks most likely to reproduce the recording; the default), ``true``
(populations at the true DICs, where known) and ``verify`` (``sbidic.infer(verify=True)``
on the first ``--verify-recordings`` recordings).
Every cell is simulated with ``sbidic.simulate`` (the model's published protocol and
default integration) and scored with ``sbidic.fidelity`` (class by ISI CV 0.15; tonic:
rate within 10 %; bursting: spikes per burst within 0.5 and burst period within 10 %).

Under noise, ``verify`` also re-simulates the passed cells under a fresh noise draw and
reports the share that pass again (``--noise-draws``: the realisations each verified
cell must match under, ``VerifyBudget.noise_draws``).

Columns: class and feature match (% of cells; per recording class), silent cells (%
of cells whose recording is not silent), mean van Rossum distance to the recording
(1/ms, tau = mid-range ISI) and its ratio to the true-DIC population's (the paper's
R_VR, < 1 is better than the truth), recordings no returned cell reproduces, and for
``verify`` the acceptance rate, recordings delivered in full and seconds per
population.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = ("stg-test", "stg-noisy", "da-test", "stg-synthetic")
STRATEGIES = ("posterior", "mean", "shrunk", "calibrated", "clean-network", "true", "verify")
DATA = {
    "stg-test": "data/stg_dic_v1",
    "stg-noisy": "data/stg_dic_noise5_v1",
    "da-test": "data/da_dic_v1",
}


def _test_recordings(path: Path, n: int, seed: int):
    """One non-silent train per test target (a random cell), the true DICs, noise sigma."""
    from sbidic.datasets import load_dataset
    from sbidic.spikes import SpikeTrains

    ds = load_dataset(path, split="test")
    spec = json.loads(json.loads((path / "manifest.json").read_text())["spec"])
    trains = SpikeTrains.from_dataset(ds, check=False)
    ok = np.flatnonzero(trains.n_spikes >= 3)
    rng = np.random.default_rng(seed)
    ok = ok[rng.permutation(ok.size)]
    _, first = np.unique(ds["target_index"].values[ok], return_index=True)
    pick = np.sort(ok[first])
    pick = pick[rng.permutation(pick.size)[:n]]
    sub = trains[pick]
    ids = np.array([f"t{int(t)}" for t in ds["target_index"].values[pick]])
    sub = SpikeTrains(sub.times, sub.offsets, ids=ids)
    return sub, ds["target"].values[pick], spec.get("noise_sigma")


def _synthetic(n: int, seed: int):
    from sbidic.spikes import SpikeTrains

    rng = np.random.default_rng(seed)
    trains, ids = [], []
    for i in range(n):
        kind = ("poisson", "regular", "bursts")[i % 3]
        if kind == "bursts":
            k, period = rng.integers(3, 9), rng.uniform(190, 390)
            one = np.arange(k) * 10.0
            t = np.concatenate([b * period + one for b in range(int(3000 // period))])
        else:
            rate = rng.uniform(4, 22)
            if kind == "regular":
                t = np.arange(0.0, 3000.0, 1000.0 / rate)
            else:
                t = np.cumsum(rng.exponential(1000.0 / rate, size=200))
                t = t[t < 3000.0]
        trains.append(np.round(t, 3))
        ids.append(f"{kind}{i}")
    return SpikeTrains.from_list(trains, ids=ids).repair(drop_invalid=True)[0], None, None


def _load(name: str, n: int, seed: int):
    if name == "stg-synthetic":
        return ("stg", *_synthetic(n, seed))
    return (name.split("-")[0], *_test_recordings(ROOT / DATA[name], n, seed))


def _cells_summary(fid, rec_label) -> dict:
    """Per-cell shares from flat FidelityScores."""
    out = {
        "cells": int(fid.passed.size),
        "class": float(np.mean(fid.class_match)),
        "features": float(np.mean(fid.feature_match)),
        "silent": float(np.mean(fid.label_code == 0)),
    }
    for code, name in ((1, "spiking"), (2, "bursting")):
        sel = fid.recording_label_code == code
        out[f"features_{name}"] = float(np.mean(fid.feature_match[sel])) if sel.any() else None
        out[f"class_{name}"] = float(np.mean(fid.class_match[sel])) if sel.any() else None
    return out


def run_one(name, strategy, recs, truth, model, noise_sigma, args) -> dict:
    """Simulate and score one (set, strategy); returns a JSON-able summary."""
    import sbidic
    from sbidic.fidelity import population_diversity, recording_summary, score_population
    from sbidic.inference.verify import VerifyBudget
    from sbidic.models import get_model
    from sbidic.simulate import BandLimitedNoise

    regime = "noisy" if noise_sigma and strategy != "clean-network" else "clean"
    proposal = {}
    if args.proposal == "npe":
        proposal["proposal"] = sbidic.load_pretrained(model, estimator="npe",
                                                      conditioner="features")  # fmt: skip
    elif args.proposal:
        from sbidic.inference.npe import load_npe

        proposal["proposal"] = load_npe(args.proposal.format(model=model))
    posterior = sbidic.load_pretrained(model, regime=regime, spread=args.spread, **proposal)
    dics = "calibrated" if strategy == "clean-network" else strategy

    sim = {"n_jobs": args.jobs, "seed": args.seed}
    if noise_sigma:
        sim["noise"] = BandLimitedNoise.reference(model, noise_sigma)
    t0 = time.perf_counter()
    extra = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if strategy == "true":
            pop = sbidic.sample_populations(model, truth, args.cells, rng=args.seed,
                                            spread=args.spread)  # fmt: skip
            pop = type(pop)(**{**pop.__dict__, "obs_id": recs.ids})
            fid = score_population(pop, recs, **sim)
        elif strategy == "verify":
            sub = recs[: args.verify_recordings]
            budget = VerifyBudget(noise_draws=args.noise_draws)
            res = sbidic.infer(sub, posterior, n=args.cells, seed=args.seed, verify=True,
                               budget=budget, simulation=sim)  # fmt: skip
            fid, pop = res.population.fidelity, res.population
            rep = res.report
            if noise_sigma:  # do the passed cells pass again under a fresh noise draw?
                again = score_population(pop, sub, **{**sim, "seed": args.seed + 10_000})
                extra["pass_again"] = float(again.passed[fid.passed].mean())
                extra["passed_cells"] = int(fid.passed.sum())
            extra |= {
                "acceptance_rate": float(rep["acceptance_rate"].mean()),
                "delivered": float(np.mean(rep["n_passed"] == args.cells)),
                "returned_pass": float(np.mean(fid.passed)),
                "seconds_per_population": (time.perf_counter() - t0) / len(sub),
                "simulated_per_population": float(rep["n_simulated"].mean()),
            }
            recs = sub
        else:
            res = sbidic.infer(recs, posterior, n=args.cells, seed=args.seed, dics=dics,
                               score=True, simulation=sim)  # fmt: skip
            fid, pop = res.population.fidelity, res.population
    per_rec = recording_summary(fid, recs)
    out = _cells_summary(fid.reshape(-1), None)
    out.update(extra)
    diversity = population_diversity(pop.conductances, get_model(model).conductance_ranges)
    out.update({k: float(np.nanmean(v)) for k, v in diversity.items()})
    out["recordings"] = int(recs.n_trains)
    out["not_reproduced"] = int(np.sum(per_rec["n_passed"] == 0))
    out["van_rossum"] = float(np.nanmean(fid.van_rossum))
    out["van_rossum_per_recording"] = np.nanmean(fid.van_rossum, axis=1).tolist()
    out["class_per_recording"] = np.mean(fid.class_match, axis=1).tolist()
    out["features_per_recording"] = np.mean(fid.feature_match, axis=1).tolist()
    out["label_per_recording"] = fid.recording_label_code[:, 0].tolist()
    out["recording_ids"] = [str(i) for i in recs.ids]
    out["wall_s"] = time.perf_counter() - t0
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table(results: dict) -> str:
    head = ("| set | strategy | recordings | class % | features % | spiking / bursting features % "
            "| silent cells % | van Rossum (1/ms) | R_VR vs true | not reproduced | verify: "
            "acceptance, delivered, s/population | CV of g | ranges covered % | cells outside "
            "ranges % |")  # fmt: skip
    lines = [head, "|" + "---|" * 14]
    for name in SETS:
        true = results.get(f"{name}/true")
        for strategy in STRATEGIES:
            r = results.get(f"{name}/{strategy}")
            if r is None:
                continue
            ratio = "-"
            if true is not None:
                mine = dict(zip(r["recording_ids"], r["van_rossum_per_recording"], strict=True))
                ref = dict(zip(true["recording_ids"], true["van_rossum_per_recording"],
                               strict=True))  # fmt: skip
                common = [k for k in mine if k in ref and ref[k] > 0]
                if common:
                    ratio = f"{np.nanmedian([mine[k] / ref[k] for k in common]):.2f}"
            ver = "-"
            if strategy == "verify":
                ver = (f"{_pct(r['acceptance_rate'])} %, {_pct(r['delivered'])} %, "
                       f"{r['seconds_per_population']:.0f} s")  # fmt: skip
            lines.append(
                f"| {name} | {strategy} | {r['recordings']} | {_pct(r['class'])} | "
                f"{_pct(r['features'])} | {_pct(r['features_spiking'])} / "
                f"{_pct(r['features_bursting'])} | {_pct(r['silent'])} | "
                f"{r['van_rossum']:.3f} | {ratio} | {r['not_reproduced']} | {ver} | "
                f"{r.get('conductance_cv', np.nan):.2f} | {_pct(r.get('range_coverage'))} | "
                f"{_pct(r.get('outside_ranges'))} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--recordings", type=int, default=500, help="recordings per set")
    p.add_argument("--cells", type=int, default=20, help="cells per recording")
    p.add_argument("--verify-recordings", type=int, default=20)
    p.add_argument("--jobs", type=int, default=1, help="simulation processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-draws", type=int, default=3,
                   help="verify under noise: realisations each cell must match under")
    p.add_argument("--spread", choices=("seed", "ranges"), default="seed",
                   help="where populations draw their free conductances (sample_populations)")
    p.add_argument("--proposal", metavar="npe|DIR",
                   help="verify: part of the cells start from NPE draws (ConductancePosterior's "
                   "proposal): 'npe' the shipped features baseline, or an NPE directory "
                   "('{model}' is replaced by the model name)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="12 recordings x 5 cells, 3 verified")
    p.add_argument("--cache", default=str(ROOT / ".bench_cache" / "fidelity"))
    p.add_argument("--write", metavar="MD", help="also write the table to this markdown file")
    p.add_argument("--append", action="store_true", help="append to --write instead")
    args = p.parse_args(argv)
    if args.quick:
        args.recordings, args.cells, args.verify_recordings = 12, 5, 3
    spread = "" if args.spread == "seed" else f"_{args.spread}"
    spread += "" if args.noise_draws == 3 else f"_d{args.noise_draws}"
    if args.proposal:
        spread += "_proposal-" + Path(args.proposal.format(model="m")).name
    cache = Path(args.cache) / f"r{args.recordings}_c{args.cells}_s{args.seed}{spread}"
    cache.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.sets:
        model, recs, truth, noise_sigma = _load(name, args.recordings, args.seed)
        for strategy in args.strategies:
            if (strategy == "true" and truth is None) or (
                strategy == "clean-network" and noise_sigma is None
            ):
                continue
            key = f"{name}/{strategy}"
            path = cache / f"{name}_{strategy}.json"
            if path.exists():
                results[key] = json.loads(path.read_text())
            else:
                results[key] = run_one(name, strategy, recs, truth, model, noise_sigma, args)
                path.write_text(json.dumps(results[key]))
            r = results[key]
            print(f"{key}: class {_pct(r['class'])} %, features {_pct(r['features'])} %, "
                  f"CV of g {r.get('conductance_cv', np.nan):.2f}, ranges covered "
                  f"{_pct(r.get('range_coverage'))} %, cells outside "
                  f"{_pct(r.get('outside_ranges'))} %"
                  + (f", pass again under fresh noise {_pct(r['pass_again'])} % of "
                     f"{r['passed_cells']}" if "pass_again" in r else "")
                  + f" ({r['wall_s']:.0f} s)",
                  flush=True)  # fmt: skip
    text = table(results)
    cmd = (f"python benchmarks/bench_fidelity.py --recordings {args.recordings} --cells "
           f"{args.cells} --verify-recordings {args.verify_recordings} --seed {args.seed}")
    print("\n" + text)
    if args.write:
        head = (
            "# Fidelity benchmark\n\n"
            "Do the inferred populations fire like the recordings? Every cell simulated with "
            "Brian2 and scored with `sbidic.fidelity` (see `benchmarks/bench_fidelity.py` for "
            "the sets, strategies and columns).\n"
        )
        section = (f"\n`{cmd} --sets {' '.join(args.sets)} --strategies "
                   f"{' '.join(args.strategies)}`\n\n{text}\n")  # fmt: skip
        if args.append and Path(args.write).exists():
            with open(args.write, "a") as fh:
                fh.write(section)
        else:
            Path(args.write).write_text(head + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
