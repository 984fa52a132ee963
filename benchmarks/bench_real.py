"""Real recordings: verified populations of each shipped model, per recording.

Runs ``sbidic.infer(verify=True)`` (default criterion and budget) on the spike-time
CSVs of the real crab STG recordings in ``../shared/real`` (see its README; they are
not part of the project) with each model, and prints per recording and model: the
recording's pattern, the cells simulated and passed, the acceptance rate, the share
of simulated cells with the recording's features, the burst period and spikes per
burst (tonic: rate) of the recording and the median of the returned cells, what the
network read (windows pooled) and the report's warning / adequacy line::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_real.py --models stg stg-liu da -n 20

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
    args = ap.parse_args()
    if not args.real.is_dir():
        raise SystemExit(f"{args.real} not found: the real recordings are in ../shared/real")
    trains = SpikeTrains.concatenate([read_spikes(args.real / name) for name in args.recordings])
    crit = FidelityCriteria()
    rec = crit.summarize(trains)
    rows = []
    for model in args.models:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = infer(trains, model, n=args.n, seed=args.seed, verify=True,
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
                         r.adequacy or r.warning or "ok", wall))  # fmt: skip
    head = (f"{'recording':<22}{'model':<9}{'recording pattern':<24}{'simulated':>10}"
            f"{'passed':>8}{'accept':>8}{'features':>9}  {'cells (median)':<18}{'s':>6}")
    print(head)
    for r in rows:
        print(f"{r[0]:<22}{r[1]:<9}{r[2]:<24}{r[3]:>10}{r[4]:>8}{r[5]:>8.0%}{r[6]:>9.0%}  "
              f"{r[7]:<18}{r[10]:>6.0f}")  # fmt: skip
    print()
    for r in rows:
        print(f"{r[0]} / {r[1]}: network read {r[8]}; {r[9]}")


if __name__ == "__main__":
    main()
