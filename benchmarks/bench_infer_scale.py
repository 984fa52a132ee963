"""How ``sbidic infer`` scales with the number of recordings: wall time and peak memory.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_infer_scale.py --sizes 1000 10000

Each size runs ``sbidic infer`` (the command a user runs: CSV in, netCDF out, default
settings, ``-n`` cells per recording) in a fresh process on recordings drawn from the
bundled examples (tonic and bursting STG trains, repeated with small time shifts), and
reports wall time, recordings per second and the process's peak resident memory.
Recordings are processed in bounded batches (``sbidic.infer(batch_size=256)``), each
batch's reference cycles collected and the heap trimmed (``sbidic._memory``), so the
memory should stay flat as the number of recordings grows, but for the recordings
themselves (spike times and report rows: about 1 MB per 1,000). Besides the peak, each
run reports the median of its resident memory over its second half (sampled every
0.1 s), which a single large batch does not move; the last lines give the growth of
both from the smallest to the largest size (README and ``docs/pipeline.md``, Scale).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_recordings(n: int, path: Path, seed: int = 0) -> None:
    from sbidic.spikes import SpikeTrains, read_spikes, write_spikes

    base = read_spikes(ROOT / "sbidic" / "examples" / "stg_recordings.csv")
    base = base[np.flatnonzero(base.n_spikes >= 3)]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, base.n_trains, n)
    trains = [base[int(i)] + rng.uniform(0, 5) for i in pick]
    write_spikes(SpikeTrains.from_list(trains, ids=[f"r{i}" for i in range(n)]), path)


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: on a shared machine
    the wall time of a one-core job grows with the load, its CPU time much less."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def run(n: int, cells: int, workdir: Path, suffix: str = ".nc") -> dict:
    rec = workdir / f"rec{n}.csv"
    make_recordings(n, rec)
    out = workdir / f"pop{n}{suffix}"
    argv = ["infer", str(rec), "--model", "stg", "-n", str(cells), "--seed", "0", "--quiet",
            "-o", str(out)]  # fmt: skip
    # a fresh process per size, reporting its own peak resident memory and the median
    # of its resident memory sampled every 0.1 s over the second half of the run
    code = (
        "import os, resource, sys, threading, time\n"
        "from sbidic.cli import main\n"
        "page, rss = os.sysconf('SC_PAGE_SIZE'), []\n"
        "def sample():\n"
        "    with open('/proc/self/statm') as f:\n"
        "        while True:\n"
        "            f.seek(0); rss.append(int(f.read().split()[1]) * page); time.sleep(0.1)\n"
        "threading.Thread(target=sample, daemon=True).start()\n"
        f"rc = main({argv!r})\n"
        "half = sorted(rss[len(rss) // 2:])\n"
        "at = rss.index(max(rss)) / len(rss) if rss else 0\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,\n"
        "      half[len(half) // 2] if half else 0, at, file=sys.stderr)\n"
        "sys.exit(rc)"
    )
    t0, cpu0 = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True)  # fmt: skip
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    peak, median, at = done.stderr.strip().splitlines()[-1].split()
    return {"recordings": n, "wall_s": wall, "cpu_s": cpu, "load": os.getloadavg()[0],
            "rate": n / wall, "peak_mb": int(peak) / 2**20, "median_mb": int(median) / 2**20,
            "peak_at": float(at),
            "output_mb": out.stat().st_size / 2**20}  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--output-format", choices=("nc", "csv"), default="nc",
                   help="populations file written by sbidic infer (default nc)")  # fmt: skip
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows.append(run(n, args.cells, Path(tmp), "." + args.output_format))
            r = rows[-1]
            print(f"{n} recordings: {r['wall_s']:.1f} s ({r['cpu_s']:.1f} CPU s), peak RSS "
                  f"{r['peak_mb']:.0f} MB (sampled maximum at {r['peak_at']:.0%} of the run), "
                  f"median RSS (second half) {r['median_mb']:.0f} MB",
                  flush=True)  # fmt: skip
    print("\n| recordings | cells each | wall s | CPU s | recordings/s | peak RSS MB "
          "| median RSS MB, second half | output MB | load (1 min) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['recordings']} | {args.cells} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
              f"{r['rate']:.1f} | {r['peak_mb']:.0f} | {r['median_mb']:.0f} | "
              f"{r['output_mb']:.0f} | {r['load']:.1f} |")  # fmt: skip
    print(f"\n{os.cpu_count()} cores; a load above 1 means other processes shared them")
    if len(rows) > 1:
        by_size = sorted(rows, key=lambda r: r["recordings"])
        a, b = by_size[0], by_size[-1]
        for key, name in (("peak_mb", "peak RSS"), ("median_mb", "median RSS")):
            slope = (b[key] - a[key]) / (b["recordings"] - a["recordings"]) * 1000
            print(f"{name} from {a['recordings']} to {b['recordings']} recordings: "
                  f"{a[key]:.0f} -> {b[key]:.0f} MB ({b[key] / a[key] - 1:+.1%}, "
                  f"{slope:.1f} MB per 1,000 recordings)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
