"""Speed of :func:`sbidic.simulate.simulate` on each Brian2 device (runtime, C++ and
CUDA standalone), on the same Monte Carlo STG populations.

Each run is ``DEVICE:CELLS``; every run simulates the first CELLS cells of one Monte
Carlo draw (uniform over the model's ranges, ``--seed``) over the published protocol
(6000 ms, spikes kept after 3000 ms) and prints wall time (for the standalone devices
split into generate + compile + run, and run alone) and neuron-seconds simulated per
wall-second. ``--save DIR`` writes each run's spike trains (``DEVICE_CELLS.npz``:
times, offsets) so that runs on different machines can be compared with
``--compare A.npz B.npz`` (label agreement and spike-feature differences, cell by
cell).

    # CPU here (runtime, and C++ standalone with 2 threads):
    OMP_NUM_THREADS=1 python benchmarks/bench_devices.py --runs runtime:1000 cpp_standalone:1000
    # GPU machine (brian2cuda + nvcc), the numbers in docs/simulation.md:
    python benchmarks/bench_devices.py --runs cuda:1000 cuda:100000 --save out/
    python benchmarks/bench_devices.py --compare out/cuda_1000.npz out/runtime_1000.npz
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

from sbidic.datasets.sampling import monte_carlo_conductances  # noqa: E402
from sbidic.models import get_model  # noqa: E402
from sbidic.simulate import simulate  # noqa: E402
from sbidic.spikes import SpikeTrains, spike_features  # noqa: E402


def _run(model, g, device: str, args) -> tuple[dict, SpikeTrains]:
    kwargs = {"dt_ms": args.dt, "method": args.method, "duration_ms": args.duration,
              "transient_ms": args.duration / 2 if args.duration else None}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    t0 = time.perf_counter()
    sim = simulate(model, g, device=device, n_jobs=args.jobs, **kwargs)
    wall = time.perf_counter() - t0
    s = sim.settings
    simulated_s = len(g) * s["duration_ms"] / 1000.0
    row = {
        "device": s["device"],
        "cells": len(g),
        "dt_ms": s["dt_ms"],
        "wall_s": wall,
        "build_s": s.get("build_s", float("nan")),
        "run_s": s.get("run_s", float("nan")),
        "neuron_s_per_s": simulated_s / wall,
        "neuron_s_per_s_run": simulated_s / s["run_s"] if s.get("run_s") else float("nan"),
        "silent_pct": 100 * float(np.mean(sim.spikes.n_spikes < 3)),
    }
    return row, sim.spikes


def _print(rows: list[dict]) -> None:
    head = ("device", "cells", "dt ms", "wall s", "build s", "run s", "neuron-s/s",
            "(run only)", "silent %")  # fmt: skip
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(
            f"{r['device']} | {r['cells']} | {r['dt_ms']} | {r['wall_s']:.1f} | "
            f"{r['build_s']:.1f} | {r['run_s']:.1f} | {r['neuron_s_per_s']:.0f} | "
            f"{r['neuron_s_per_s_run']:.0f} | {r['silent_pct']:.1f}"
        )


def _load(path: str) -> SpikeTrains:
    with np.load(path) as f:
        return SpikeTrains(f["times"], f["offsets"])


def compare(a: SpikeTrains, b: SpikeTrains) -> dict:
    """Cell-by-cell agreement of two simulations of the same cells."""
    fa, fb = spike_features(a), spike_features(b)
    n = min(len(a), len(b))
    same_label = fa.label_code[:n] == fb.label_code[:n]
    same_count = np.abs(a.n_spikes[:n] - b.n_spikes[:n]) <= 1
    both = (fa.label_code[:n] > 0) & same_label
    with np.errstate(all="ignore"):
        isi = np.abs(fa.mean_isi_ms[:n] - fb.mean_isi_ms[:n]) / fb.mean_isi_ms[:n]
    return {
        "cells": n,
        "same label %": 100 * same_label.mean(),
        "spike count within 1 %": 100 * same_count.mean(),
        "mean-ISI rel. error, median % (firing cells)": 100 * float(np.nanmedian(isi[both])),
        "mean-ISI rel. error < 1 % (firing cells) %": 100 * float(np.mean(isi[both] < 0.01)),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=["runtime:200", "cpp_standalone:200"],
                   metavar="DEVICE:CELLS")  # fmt: skip
    p.add_argument("--model", default="stg")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float,
                   help="ms, the first half discarded (default: the published protocol)")
    p.add_argument("--dt", type=float, help="ms (default: the model's)")
    p.add_argument("--method", help="Brian2 method (default: the model's)")
    p.add_argument("--jobs", type=int, default=1, help="runtime processes / OpenMP threads")
    p.add_argument("--save", metavar="DIR", help="write each run's spike trains here")
    p.add_argument("--compare", nargs=2, metavar="NPZ", help="compare two saved runs")
    args = p.parse_args(argv)
    if args.compare:
        for key, value in compare(*map(_load, args.compare)).items():
            print(f"{key:>46}: {value:.4g}")
        return 0
    model = get_model(args.model)
    runs = [(d, int(n)) for d, n in (r.split(":") for r in args.runs)]
    g_all = monte_carlo_conductances(model, max(n for _, n in runs),
                                     np.random.default_rng(args.seed), "uniform")  # fmt: skip
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, {args.model}, seed {args.seed}")  # fmt: skip
    rows = []
    for device, n in runs:
        row, trains = _run(model, g_all[:n], device, args)
        rows.append(row)
        print(row, flush=True)
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            np.savez_compressed(Path(args.save) / f"{device}_{n}.npz",
                                times=trains.times, offsets=trains.offsets)  # fmt: skip
    _print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
