"""The vector kernel against Brian2's cached C++ programs and scipy's BDF (issue 29).

Every row in one run on one core (``OMP_NUM_THREADS=1``, ``n_jobs=1``), baselines
beside the new path, programs and kernels built before timing (build seconds are not
counted); ratios are what compares across machines::

    OMP_NUM_THREADS=1 python benchmarks/bench_kernel.py            # about 5 minutes
    OMP_NUM_THREADS=1 python benchmarks/bench_kernel.py --quick    # shorter runs

Rows: ns per cell and step for STG (1,000 cells) and DA (100 cells) at each model's
default integration; ``sbidic infer`` of one bundled STG recording with ``-n 100
--verify`` (the Brian2 baseline forced by marking the kernel unavailable), and how many
of the cells the kernel verified pass again when Brian2 simulates them; ``sbidic
simulate`` of 20 STG cells over the published 6 s protocol against scipy's BDF (the
published solver, one cell at a time, from ``bench_simulate.py``); and dataset
CPU-hours per 100,000 STG cells at the published protocol and the datasets' step
(6000 ms at dt = 0.025 ms), from the measured ns per cell and step.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_simulate import bdf_speed_and_error, population  # noqa: E402

from sbidic.models import get_model  # noqa: E402
from sbidic.simulate import PROTOCOLS, simulate  # noqa: E402
from sbidic.simulate import simulation as simulation_module  # noqa: E402

RECORDINGS = Path(__file__).resolve().parents[1] / "sbidic" / "examples" / "stg_recordings.csv"


def ns_per_cell_step(model: str, n: int, duration_ms: float, device: str) -> float:
    """Wall ns per cell and step of ``simulate`` (build excluded: built beforehand)."""
    g = population(model, n, np.random.default_rng(0))
    dt = get_model(model).integration[1]
    kwargs = {"duration_ms": duration_ms, "transient_ms": duration_ms / 2, "device": device}
    simulate(model, g[: min(n, 4)], **kwargs)  # build (cached programs are per size)
    res = simulate(model, g, **kwargs)
    wall = res.wall_time_s - res.settings.get("build_s", 0.0)
    return wall / (n * round(duration_ms / dt)) * 1e9


def infer_verify(vector: bool, n: int):
    """Seconds of ``infer`` + ``--verify`` (n cells) on the first bundled STG recording,
    and the result."""
    from sbidic.inference import infer
    from sbidic.spikes import read_spikes

    one = read_spikes(RECORDINGS).to_list()[:1]
    blocked = simulation_module._NO_VECTOR
    if not vector:
        blocked.append("benchmark baseline: Brian2 devices")
    try:
        t0 = time.perf_counter()
        result = infer(one, "stg", n=n, verify=True, seed=0, simulation={"n_jobs": 1})
        return time.perf_counter() - t0, result, one
    finally:
        blocked.clear()


def passing_on_brian2(result, recordings) -> tuple[int, int]:
    """Cells the vector kernel verified (passed) that pass again when Brian2's cached
    C++ program simulates them: (passing on Brian2, verified)."""
    from sbidic.fidelity import simulate_and_score
    from sbidic.spikes import SpikeTrains

    pop = result.population
    flags = np.asarray(pop.fidelity.as_dict()["passed"], dtype=bool)[0]
    g = pop.conductances[0][flags]
    trains = SpikeTrains.from_list(recordings)
    index = np.zeros(len(g), dtype=int)
    _, scores = simulate_and_score("stg", g, trains, index, device="cpp_standalone")
    return int(np.sum(scores.passed)), len(g)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter runs (noisier ratios)")
    args = p.parse_args(argv)
    stg_ms, da_ms = (100.0, 400.0) if args.quick else (300.0, 1000.0)
    rows = []

    def row(what: str, base: float, new: float, unit: str, baseline: str) -> None:
        rows.append((what, baseline, base, new, unit))
        print(f"{what:46} {baseline:22} {base:>10.3g} {new:>10.3g} {unit:12} "
              f"{base / new:>6.1f}x", flush=True)  # fmt: skip

    print(f"{'':46} {'baseline':22} {'baseline':>10} {'vector':>10} {'unit':12} {'ratio':>7}")
    stg = {d: ns_per_cell_step("stg", 1000, stg_ms, d) for d in ("cpp_standalone", "vector")}
    row("STG ns per cell-step, 1,000 cells", stg["cpp_standalone"], stg["vector"], "ns",
        "Brian2 C++ (cached)")  # fmt: skip
    da = {d: ns_per_cell_step("da", 100, da_ms, d) for d in ("cpp_standalone", "vector")}
    row("DA ns per cell-step, 100 cells", da["cpp_standalone"], da["vector"], "ns",
        "Brian2 C++ (cached)")  # fmt: skip
    infer_verify(True, 20)  # builds what the verification needs
    infer_verify(False, 20)
    base_s = infer_verify(False, 100)[0]
    fast_s, result, recordings = infer_verify(True, 100)
    row("infer one STG recording -n 100 --verify", base_s, fast_s, "s",
        "Brian2 devices (auto)")  # fmt: skip
    again, verified = passing_on_brian2(result, recordings)
    print(f"{'  its verified cells passing on Brian2 C++':46} {again} of {verified}", flush=True)
    T = PROTOCOLS["stg"][0]
    bdf = bdf_speed_and_error("stg", 2000.0)[0]  # neuron-seconds per wall second
    g = population("stg", 20, np.random.default_rng(0))
    for device in ("cpp_standalone", "vector"):
        simulate("stg", g, device=device)
    walls = {}
    for device in ("cpp_standalone", "vector"):
        res = simulate("stg", g, device=device)
        walls[device] = res.wall_time_s - res.settings.get("build_s", 0.0)
    bdf_wall = 20 * T / 1e3 / bdf
    print(f"{'simulate 20 STG cells x 6 s, speed-up vs BDF':46} {'scipy BDF':22} "
          f"{1.0:>10.3g} {bdf_wall / walls['vector']:>10.3g} {'x BDF':12} "
          f"(Brian2 C++: {bdf_wall / walls['cpp_standalone']:.1f}x BDF)")  # fmt: skip
    steps = 100_000 * round(6000.0 / 0.025)
    row("dataset CPU-hours per 100k STG cells", stg["cpp_standalone"] * steps / 3.6e12,
        stg["vector"] * steps / 3.6e12, "CPU-hours", "Brian2 C++ (cached)")  # fmt: skip


if __name__ == "__main__":
    main()
