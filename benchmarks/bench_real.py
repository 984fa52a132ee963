"""Real recordings: verified populations of each shipped model, per recording.

Runs ``sbidic.infer(verify=True)`` (default criterion and budget) on the spike-time
CSVs of the real crab STG recordings in ``../shared/real`` (see its README; they are
not part of the project) with each model, and prints per recording and model: the
recording's pattern, the cells simulated and passed, the acceptance rate, the share
of simulated cells with the recording's features, the burst period and spikes per
burst (tonic: rate) of the recording and the median of the returned cells, what the
network read (windows pooled) and the report's warning / adequacy line::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_real.py --models stg stg-liu da -n 20

``--coverage SURVEY_DIR`` instead measures how much of a model's own firing space
``--verify`` reaches: one train per occupied bin of its survey (``sbidic survey``;
Monte Carlo cells, conductances no estimator saw) is inferred and verified::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_real.py \\
        --coverage SURVEY --models stg-liu -n 5

``--jobs 2`` simulates on two processes. Nothing is cached: a run takes minutes per
(recording, model) pair.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sbidic.fidelity import FidelityCriteria  # noqa: E402
from sbidic.inference import infer  # noqa: E402
from sbidic.spikes import SpikeTrains, read_spikes  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"
RECORDINGS = ("STG_B_pdn_PD.csv", "STG_D_lvn_LP.csv", "STG_A_tonic_unit.csv")


def pattern(feats: dict, i: int) -> str:
    """``bursting 609 ms x 7.5`` or ``tonic 5.4 Hz``."""
    if feats["label"][i] == 2:
        return f"bursting {feats['period'][i]:.0f} ms x {feats['spb'][i]:.1f}"
    if feats["label"][i] == 1:
        return f"tonic {feats['rate'][i]:.1f} Hz"
    return "silent"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REAL, help="folder of the recordings")
    ap.add_argument("--models", nargs="+", default=["stg", "stg-liu", "da"])
    ap.add_argument("-n", type=int, default=20, help="cells per recording (default 20)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recordings", nargs="+", default=list(RECORDINGS))
    ap.add_argument("--proposal", metavar="npe|DIR",
                    help="verify with an NPE proposal (sbidic infer --proposal): 'npe' each "
                    "model's shipped baseline, or a directory ('{model}' replaced); a model "
                    "without one runs without")  # fmt: skip
    ap.add_argument("--spread", choices=("seed", "ranges"), default="seed")
    ap.add_argument("--coverage", type=Path, metavar="SURVEY",
                    help="instead: verify one train of each occupied bin of a survey "
                    "directory (sbidic survey) with the first --models model")  # fmt: skip
    args = ap.parse_args()
    if args.coverage is not None:
        return coverage(args.coverage, args.models[0], args.n, args.seed, args.jobs)
    if not args.real.is_dir():
        raise SystemExit(f"{args.real} not found: the real recordings are in ../shared/real")
    trains = SpikeTrains.concatenate([read_spikes(args.real / name) for name in args.recordings])
    crit = FidelityCriteria()
    rec = crit.summarize(trains)
    rows = []
    for model in args.models:
        t0 = time.perf_counter()
        posterior, model = _posterior(model, args.proposal, args.spread)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = infer(trains, posterior, n=args.n, seed=args.seed, verify=True,
                        simulation={"n_jobs": args.jobs})  # fmt: skip
        wall = time.perf_counter() - t0
        pop, report = res.population, res.report
        for i, rid in enumerate(trains.ids):
            r = report.iloc[i]
            j = list(pop.obs_id).index(rid)
            f = pop.fidelity
            passed = f.passed[j]
            chosen = passed if passed.any() else np.ones_like(passed)
            if rec["label"][i] == 2:
                cells = (f"{np.nanmedian(f.burst_period_ms[j][chosen]):.0f} ms x "
                         f"{np.nanmedian(f.spikes_per_burst[j][chosen]):.1f}")  # fmt: skip
            else:
                cells = f"{np.nanmedian(f.rate_hz[j][chosen]):.1f} Hz"
            rows.append((str(rid), model, pattern(rec, i), int(r.n_simulated), int(r.n_passed),
                         r.acceptance_rate, r.feature_match, cells, r.status,
                         r.adequacy or r.warning or "ok", wall, r.conductance_cv,
                         r.range_coverage))  # fmt: skip
    head = (f"{'recording':<22}{'model':<13}{'recording pattern':<24}{'simulated':>10}"
            f"{'passed':>8}{'accept':>8}{'features':>9}  {'cells (median)':<18}"
            f"{'CV of g':>8}{'ranges':>8}{'s':>6}")
    print(head)
    for r in rows:
        print(f"{r[0]:<22}{r[1]:<13}{r[2]:<24}{r[3]:>10}{r[4]:>8}{r[5]:>8.0%}{r[6]:>9.0%}  "
              f"{r[7]:<18}{r[11]:>8.2f}{r[12]:>8.0%}{r[10]:>6.0f}")  # fmt: skip
    print()
    for r in rows:
        print(f"{r[0]} / {r[1]}: network read {r[8]}; {r[9]}")


def _posterior(model: str, proposal: str | None, spread: str):
    """The shipped posterior of ``model`` (with an NPE ``proposal`` where it has one) and
    its label in the table (``+npe`` with a proposal)."""
    from sbidic.inference import load_pretrained
    from sbidic.inference.npe import load_npe

    if proposal is None:
        return load_pretrained(model, spread=spread), model
    try:
        npe = (load_pretrained(model, estimator="npe", conditioner="features")
               if proposal == "npe" else load_npe(proposal.format(model=model)))  # fmt: skip
    except FileNotFoundError:
        return load_pretrained(model, spread=spread), model
    return load_pretrained(model, spread=spread, proposal=npe), f"{model}+npe"


def coverage(survey_dir: Path, model: str, n: int, seed: int, jobs: int) -> None:
    """Share of a survey's non-silent firing-space bins that ``--verify`` reproduces.

    One Monte Carlo cell per occupied bin (the first in cell order) gives the recording:
    its simulated train, from conductances no estimator was trained on.
    """
    from sbidic.datasets import load_dataset
    from sbidic.fidelity.firing_space import PERIOD_EDGES_MS, RATE_EDGES_HZ, SPB_EDGES, _bin

    ds = load_dataset(survey_dir)
    trains = SpikeTrains.from_dataset(ds, check=False)
    feats = FidelityCriteria().summarize(trains)
    tonic = np.where(feats["label"] == 1, _bin(feats["rate"], RATE_EDGES_HZ), -1)
    period = np.where(feats["label"] == 2, _bin(feats["period"], PERIOD_EDGES_MS), -1)
    spb = np.where(feats["label"] == 2, _bin(feats["spb"], SPB_EDGES), -1)
    key = np.where(tonic >= 0, tonic, np.where((period >= 0) & (spb >= 0),
                                               100 + 10 * period + spb, -1))  # fmt: skip
    bins, first = np.unique(key, return_index=True)
    first = first[bins >= 0]
    bins = bins[bins >= 0]
    recordings = trains[first]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = infer(recordings, model, n=n, seed=seed, verify=True,
                    simulation={"n_jobs": jobs})  # fmt: skip
    passed = res.report["n_passed"].to_numpy() > 0
    print(f"{model}: {passed.sum()} of {len(bins)} occupied bins of {survey_dir} reproduced by "
          f"--verify (n={n}, default budget): {passed.mean():.0%} "
          f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    for b, ok, i in zip(bins, passed, first, strict=True):
        what = (f"tonic {RATE_EDGES_HZ[b]:.3g}-{RATE_EDGES_HZ[b + 1]:.3g} Hz" if b < 100 else
                f"bursting {PERIOD_EDGES_MS[(b - 100) // 10]:.0f}-"
                f"{PERIOD_EDGES_MS[(b - 100) // 10 + 1]:.0f} ms x "
                f"{SPB_EDGES[b % 10]:.3g}-{SPB_EDGES[b % 10 + 1]:.3g}")  # fmt: skip
        print(f"  {'ok  ' if ok else 'MISS'} {what:<36} {pattern(feats, i)}")


if __name__ == "__main__":
    main()
