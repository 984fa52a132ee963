"""Population sampler speed: milliseconds and cells per second on one core.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_population.py`` (or ``make bench``).
``ms`` is the median wall time, ``cpu ms`` the median CPU time of the same call (on a
loaded machine the wall time also counts the time other processes hold the core).

For each model and a target that uses each compensated set, times
``sample_population`` for n cells (median of repeats), beside a baseline run in the
same process: the published algorithm's schedule (a fixed 6 linear solves, no early
stop, no resampling) on the same seed cells. The last rows time one batched call for
1000 targets x 100 cells. The published implementation needs about 2-12 ms for 250
cells at one target (Brandoit et al. 2025, timing notebook).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

from sbidic import get_model, sample_population, sample_populations  # noqa: E402
from sbidic.population import modulate, seed_population  # noqa: E402

TARGETS = {
    "stg": [(5.0, 10.0), (-4.0, 5.0), (3.0, -1.0)],
    "da": [(-4.0, 5.0), (6.0, 10.0)],
}


def timed(fn, repeats: int, cpu: bool = False) -> float:
    """Median wall time of ``fn()`` in seconds (``cpu``: median CPU time of this
    thread, which a loaded machine inflates less)."""
    clock = time.thread_time if cpu else time.perf_counter
    fn()  # warm caches
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return float(np.median(times))


def published_schedule(model: str, target, n: int, seed: int) -> np.ndarray:
    """Seed cells, then exactly 6 solves (``iterations=5``), then drop invalid cells."""
    g = seed_population(model, n, rng=seed)
    result = modulate(model, g, target, tol=0.0, max_solves=6, accelerate=False)
    return result.conductances[result.valid]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 250, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # (3, -1) lies outside the training box

    header = (
        f"{'model':<6}{'target (g_s,g_u)':<18}{'set':<12}{'n':>7}{'ms':>10}{'cpu ms':>10}"
        f"{'cells/s':>12}{'6-solve ms':>12}{'speed-up':>10}{'solves':>8}{'max err':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, targets in TARGETS.items():
        model = get_model(name)
        for target in targets:
            choice = int(model.compensation_choice(*target))
            cset = "{" + ",".join(model.compensation_sets[choice]) + "}"
            for n in args.sizes:
                reps = args.repeats if n <= 1000 else max(2, args.repeats // 3)
                ours = timed(partial(sample_population, name, *target, n, rng=0), reps)
                cpu = timed(partial(sample_population, name, *target, n, rng=0), reps, cpu=True)
                base = timed(partial(published_schedule, name, target, n, 0), reps)
                pop = sample_population(name, *target, n, rng=0)
                solves = modulate(name, seed_population(name, n, rng=0), target).n_solves
                err = np.abs(pop.dics[..., 1:] - target).max()
                print(
                    f"{name:<6}{str(target):<18}{cset:<12}{n:>7}{ours * 1e3:>10.3f}"
                    f"{cpu * 1e3:>10.3f}{n / ours:>12.3g}{base * 1e3:>12.3f}{base / ours:>10.2f}"
                    f"{solves:>8}{err:>10.1e}"
                )
    rng = np.random.default_rng(0)
    for name in TARGETS:
        box = get_model(name).target_box
        lo, hi = [box["g_s"][0], max(box["g_u"][0], 2.0)], [box["g_s"][1], box["g_u"][1]]
        targets = rng.uniform(lo, hi, size=(1000, 2))
        seconds = timed(partial(sample_populations, name, targets, 100, rng=0), 2)
        print(
            f"{name:<6}{'1000 targets':<18}{'(mixed)':<12}{'x100':>7}{seconds * 1e3:>10.1f}"
            f"{'':>10}{1000 * 100 / seconds:>12.3g}"
        )


if __name__ == "__main__":
    main()
