"""Speed and accuracy of :func:`sbidic.simulate.simulate` (Brian2).

Default run (a few minutes on one core): neuron-seconds simulated per wall-second per
core for STG and DA at N = 100 and 1000 cells, with each model's default method and
step (``sbidic.simulate.DEFAULT_INTEGRATION``), beside
a scipy ``solve_ivp`` BDF baseline (default tolerances, one cell at a time, right-hand
side ported from the model's Brian2 equations), plus the mean-ISI error of each
against the converged reference (``g_spk`` for STG, cell ``A`` for DA).

    OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py            # speed table
    OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py --large    # also N = 10000
    OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py --accuracy # method/dt study
    # + the datasets' integration settings:
    OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py --large \
        --also stg:exponential_euler:0.025 --also da:rk2:0.025

``--kernel`` prints every row of issue 29's table in one run instead (the vector kernel
against Brian2's cached C++ programs and scipy's BDF: ``bench_kernel.py``, whose
options follow it, e.g. ``--kernel --quick``).

``--accuracy`` simulates every converged reference case of both models over the full
published protocol with each candidate integration method and step, and prints the
table behind the default choice (see the docstring of ``sbidic/simulate/integration.py``).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

from sbidic.models import get_model  # noqa: E402
from sbidic.simulate import PROTOCOLS, default_integration, simulate  # noqa: E402
from sbidic.spikes import SpikeTrains, spike_features  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CANDIDATES = [
    ("exponential_euler", 0.005),
    ("exponential_euler", 0.01),
    ("exponential_euler", 0.025),
    ("exponential_euler", 0.05),
    ("rk4", 0.01),
    ("rk4", 0.025),
    ("rk4", 0.05),
    ("rk2", 0.01),
    ("rk2", 0.025),
]
ACCURACY_CELL = {"stg": "g_spk", "da": "A"}


# ------------------------------------------------------------------- references
def reference_cases(model: str) -> list[dict]:
    with open(DATA / f"reference_{model}.json") as fh:
        return json.load(fh)["simulation"]["cases"]


def features(times) -> dict:
    """Label, mean ISI, spikes per burst and burst period of one train (published
    rules, :func:`sbidic.spikes.spike_features`)."""
    f = spike_features(SpikeTrains.from_list([np.asarray(times, dtype=float)]))
    keys = ("n_spikes", "mean_isi_ms", "nbr_spikes_bursting", "burst_period_ms")
    return {"label": str(f.label[0]), **{k: float(f[k][0]) for k in keys}}


def rel_err(x: float, ref: float | None) -> float:
    if ref is None or not np.isfinite(ref) or ref == 0 or not np.isfinite(x):
        return math.nan if (ref is None or not np.isfinite(ref)) else math.inf
    return abs(x / ref - 1.0)


# -------------------------------------------------------------- numpy baseline
# Units of the port: mV, ms, uA/cm^2, uF/cm^2, mS/cm^2 all equal 1. In SI base units
# (m, kg, s, A, K, mol, cd) that means m = 1, kg = 1e14, s = 1e3, A = 1e2.
_BASE_SCALE = np.array([1.0, 1e14, 1e3, 1e2, 1.0, 1.0, 1.0])


def _scaled(quantity) -> float:
    from brian2.units.fundamentalunits import get_dimensions

    dims = np.asarray(get_dimensions(quantity)._dims, dtype=float)
    return float(np.asarray(quantity)) * float(np.prod(_BASE_SCALE**dims))


def numpy_rhs(model, g: np.ndarray):
    """``f(t, y)`` (mV/ms, 1/ms) and ``y0`` of one cell, generated from the model's
    Brian2 equations (subexpressions substituted) as plain Python float code."""
    from brian2 import Equations
    from brian2.core.namespace import DEFAULT_UNITS

    eqs = Equations(model.equations + "\nI_ext = 0*amp/meter**2 : amp/meter**2\n")
    exprs = dict(eqs.get_substituted_expressions())
    states = [s for s in model.initial_state() if s in exprs]
    missing = set(exprs) - set(states)
    states += sorted(missing)
    ns: dict = {"inf": math.inf}
    for key, value in model.namespace().items():
        ns[key] = _scaled(value)
    for j, name in enumerate(model.conductances):
        ns[f"g_{name}"] = float(g[j])  # mS/cm^2 is the unit of the port
    identifiers = set().union(*(e.identifiers for e in exprs.values()))
    for ident in identifiers - set(ns) - set(states) - {"exp", "clip"}:
        if ident in DEFAULT_UNITS:
            ns[ident] = _scaled(DEFAULT_UNITS[ident])
        else:
            raise KeyError(f"cannot resolve {ident!r} in the {model.name} equations")

    def _exp(x):
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

    def _clip(x, lo, hi):
        return min(max(x, lo), hi)

    ns["exp"], ns["clip"] = _exp, _clip
    body = "\n".join(f"    d_{s} = {exprs[s].code}" for s in states)
    src = (
        f"def rhs(t, y):\n    {', '.join(states)}, = y\n{body}\n"
        f"    return [{', '.join('d_' + s for s in states)}]\n"
    )
    exec(compile(src, f"<{model.name} rhs>", "exec"), ns)  # noqa: S102
    init = model.initial_state()
    y0 = np.array([init[s] for s in states], dtype=float)
    return ns["rhs"], y0, states


def spikes_from_trace(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Published rule on a sampled trace (onsets before the last end)."""
    on = np.flatnonzero((v[:-1] <= 10.0) & (v[1:] > 10.0)) + 1
    end = np.flatnonzero((v[:-1] >= 0.0) & (v[1:] < 0.0)) + 1
    if not len(on) or not len(end):
        return np.empty(0)
    return t[on[on < end[-1]]]


def bdf_run(model, g, t_stop: float, t_start: float, grid_dt: float = 0.05):
    """One cell with ``solve_ivp(method="BDF")`` at default tolerances."""
    from scipy.integrate import solve_ivp

    rhs, y0, states = numpy_rhs(model, np.asarray(g, dtype=float))
    t_eval = np.arange(t_start, t_stop, grid_dt)
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        sol = solve_ivp(rhs, (0.0, t_eval[-1]), y0, method="BDF", t_eval=t_eval)
    wall = time.perf_counter() - t0
    v = sol.y[states.index("v")]
    return spikes_from_trace(sol.t, v), wall, sol


# --------------------------------------------------------------------- speed
def population(model: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` cells: the non-silent reference cells, each jittered by +-5 %."""
    cases = [c for c in reference_cases(model) if c["converged"]["n_spikes"] > 0]
    base = np.array([c["g"] for c in cases])
    g = base[np.arange(n) % len(base)]
    return g * rng.uniform(0.95, 1.05, size=g.shape)


def brian_speed(model: str, n: int, duration_ms: float, method: str, dt_ms: float) -> float:
    g = population(model, n, np.random.default_rng(0))
    res = simulate(model, g, duration_ms=duration_ms, transient_ms=0.0, dt_ms=dt_ms, method=method)
    return n * duration_ms / 1e3 / res.wall_time_s


def mean_isi_error(model: str, method: str, dt_ms: float) -> float:
    case = next(c for c in reference_cases(model) if c["name"] == ACCURACY_CELL[model])
    T, tr = PROTOCOLS[model]
    res = simulate(model, case["g"], duration_ms=T, transient_ms=tr, dt_ms=dt_ms, method=method)
    ref = case["converged"]["features"]["mean_isi_ms"]
    return rel_err(features(res.spike_list()[0])["mean_isi_ms"], ref)


def bdf_speed_and_error(model_name: str, short_ms: float) -> tuple[float, float, float]:
    """BDF neuron-s per wall-s (every non-silent reference cell, the same cells the
    Brian2 populations are made of, over ``short_ms``) and mean-ISI error of the
    accuracy cell over the full protocol (with that run's wall time)."""
    model = get_model(model_name)
    cases = [c for c in reference_cases(model_name) if c["converged"]["n_spikes"] > 0]
    wall = 0.0
    for c in cases:
        wall += bdf_run(model, c["g"], short_ms, 0.0)[1]
    speed = len(cases) * short_ms / 1e3 / wall
    case = next(c for c in reference_cases(model_name) if c["name"] == ACCURACY_CELL[model_name])
    T, tr = PROTOCOLS[model_name]
    spikes, full_wall, _ = bdf_run(model, case["g"], T, tr)
    err = rel_err(features(spikes)["mean_isi_ms"], case["converged"]["features"]["mean_isi_ms"])
    return speed, err, full_wall


def speed_table(large: bool, duration_ms: float, extra: dict | None = None) -> None:
    """Speed table; ``extra`` maps a model to more ``(method, dt_ms)`` rows to time."""
    sizes = [100, 1000] + ([10000] if large else [])
    print(
        "# Brian2 (default method and dt per model) vs scipy solve_ivp BDF (default "
        "tolerances rtol 1e-3, atol 1e-6, one cell at a time)."
    )
    print(
        f"# Brian2: {duration_ms:g} ms per cell, reference cells jittered +-5 %, one "
        "process, OMP_NUM_THREADS=1, cython compiled before timing."
    )
    print(
        f"# BDF speed: each non-silent reference cell once, {duration_ms:g} ms from the default "
        "initial state. mean-ISI err: full protocol, g_spk (STG) / A (DA), vs converged."
    )
    header = (
        f"{'model':5} {'engine':30} {'N':>6} {'neuron-s/wall-s/core':>21} "
        f"{'vs BDF':>8} {'mean-ISI err':>13}"
    )
    print(header)
    print("-" * len(header))
    for model in ("stg", "da"):
        # compile / warm the cython cache
        simulate(
            model,
            population(model, 2, np.random.default_rng(1)),
            duration_ms=20.0,
            transient_ms=0.0,
        )
        bdf, bdf_err, bdf_full = bdf_speed_and_error(model, duration_ms)
        for method, dt in [default_integration(model), *(extra or {}).get(model, [])]:
            brian_err = mean_isi_error(model, method, dt)
            for n in sizes:
                s = brian_speed(model, n, duration_ms, method, dt)
                print(
                    f"{model:5} {f'brian2 {method} {dt}':30} {n:>6} {s:>21.1f} "
                    f"{s / bdf:>7.1f}x {brian_err:>12.3%}"
                )
                sys.stdout.flush()
        print(
            f"{model:5} {'scipy BDF (1 cell at a time)':30} {'1':>6} {bdf:>21.2f} "
            f"{1.0:>7.1f}x {bdf_err:>12.3%}   (full-protocol run: {bdf_full:.1f} s)"
        )


# ------------------------------------------------------------ populations users wait for
USER_ROWS = [("stg", 20), ("stg", 1000), ("da", 4), ("da", 100)]


def users_table(rows, devices) -> None:
    """Issue 12's rows: whole published protocols of the populations users simulate
    (verification, the app), per device, as ratios to scipy BDF in the same run."""
    print(
        "# Published protocol (STG 6000 ms, DA 12000 ms), default integration, reference "
        "cells jittered +-5 %, one core (OMP_NUM_THREADS=1, n_jobs=1)."
    )
    print(
        "# wall s excludes 'build s', the one-off build of a cached C++ program (0 when it "
        "was cached). BDF: each non-silent reference cell over 2000 ms, one at a time."
    )
    header = (
        f"{'model':5} {'cells':>6} {'device':15} {'wall s':>8} {'build s':>8} "
        f"{'neuron-s/s':>11} {'vs BDF':>8} {'mean-ISI err':>13}"
    )
    print(header)
    print("-" * len(header))
    bdf: dict = {}
    err: dict = {}
    for model, n in rows:
        if model not in bdf:
            bdf[model] = bdf_speed_and_error(model, 2000.0)[0]
            err[model] = mean_isi_error(model, *default_integration(model))
        T, tr = PROTOCOLS[model]
        g = population(model, n, np.random.default_rng(0))
        for device in devices:
            res = simulate(model, g, device=device)
            build = res.settings.get("build_s", float("nan"))
            wall = res.wall_time_s - (build if np.isfinite(build) else 0.0)
            speed = n * T / 1e3 / wall
            print(
                f"{model:5} {n:>6} {device:15} {wall:>8.2f} {build:>8.1f} "
                f"{speed:>11.1f} {speed / bdf[model]:>7.1f}x {err[model]:>12.3%}"
            )
            sys.stdout.flush()
        print(f"{model:5} {1:>6} {'scipy BDF':15} {'':>8} {'':>8} {bdf[model]:>11.2f} {1:>7.1f}x")


# ------------------------------------------------------------------ accuracy
def accuracy_table(candidates, speed_n: int = 200, speed_ms: float = 500.0) -> None:
    print(
        "# Every converged reference case, full protocol (STG 3000-6000 ms of 6000, DA "
        "3000-12000 ms of 12000), all cases of a model in one group."
    )
    print(
        f"# ms/neuron-s: wall time per simulated neuron-second at N={speed_n} "
        f"({speed_ms:g} ms), one core, cython, compiled beforehand."
    )
    for model in ("stg", "da"):
        cases = reference_cases(model)
        g = np.array([c["g"] for c in cases])
        T, tr = PROTOCOLS[model]
        print(f"\n## {model.upper()}: cases {[c['name'] for c in cases]}")
        head = (
            f"{'method':18} {'dt':>6} {'labels ok':>9} {'max |dn|':>8} "
            f"{'max ISI err':>11} {'max |d spb|':>11} {'max period err':>14} "
            f"{'ms/neuron-s':>11}  per-case n (ref)"
        )
        print(head)
        print("-" * len(head))
        for method, dt in candidates:
            res = simulate(model, g, duration_ms=T, transient_ms=tr, dt_ms=dt, method=method)
            ok = 0
            dn = isi = spb = per = 0.0
            per_case = []
            for c, train in zip(cases, res.spike_list(), strict=True):
                f = features(train)
                ref = c["converged"]["features"]
                ok += f["label"] == ref["label"]
                dn = max(dn, abs(f["n_spikes"] - c["converged"]["n_spikes"]))
                if ref["mean_isi_ms"]:
                    isi = max(isi, rel_err(f["mean_isi_ms"], ref["mean_isi_ms"]))
                if ref["label"] == "bursting":
                    spb = max(spb, abs(f["nbr_spikes_bursting"] - ref["nbr_spikes_bursting"]))
                    per = max(per, rel_err(f["burst_period_ms"], ref["burst_period_ms"]))
                per_case.append(f"{f['n_spikes']}({c['converged']['n_spikes']})")
            gs = population(model, speed_n, np.random.default_rng(0))
            r2 = simulate(
                model, gs, duration_ms=speed_ms, transient_ms=0.0, dt_ms=dt, method=method
            )
            ms_per_ns = 1e3 * r2.wall_time_s / (speed_n * speed_ms / 1e3)
            print(
                f"{method:18} {dt:>6} {ok:>5}/{len(cases):<3} {dn:>8.0f} {isi:>11.3%} "
                f"{spb:>11.2f} {per:>14.3%} {ms_per_ns:>11.2f}  {' '.join(per_case)}"
            )
            sys.stdout.flush()


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--kernel" in argv:  # issue 29's rows: bench_kernel.py, with the other options
        import bench_kernel

        bench_kernel.main([a for a in argv if a != "--kernel"])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernel", action="store_true",
                   help="instead: every row of issue 29 (bench_kernel.py; --quick shorter)")
    p.add_argument("--large", action="store_true", help="also N = 10000")
    p.add_argument("--accuracy", action="store_true", help="method/dt study instead")
    p.add_argument(
        "--duration-ms",
        type=float,
        default=1000.0,
        help="simulated time per cell in the speed table",
    )
    p.add_argument(
        "--also", action="append", default=[], metavar="MODEL:METHOD:DT",
        help="also time this integration, e.g. stg:exponential_euler:0.025 (the dataset's)",
    )  # fmt: skip
    p.add_argument(
        "--users", nargs="*", metavar="MODEL:CELLS",
        help="instead: whole-protocol rows of issue 12 (default "
        + " ".join(f"{m}:{n}" for m, n in USER_ROWS) + ")",
    )  # fmt: skip
    p.add_argument("--devices", nargs="+", default=["runtime", "cpp_standalone"],
                   help="devices of the --users rows")  # fmt: skip
    args = p.parse_args(argv)
    if args.users is not None:
        rows = [(m, int(n)) for m, n in (r.split(":") for r in args.users)] or USER_ROWS
        users_table(rows, args.devices)
        return
    extra: dict = {}
    for item in args.also:
        try:
            model, method, dt = item.split(":")
            extra.setdefault(model, []).append((method, float(dt)))
        except ValueError:
            p.error(f"--also expects MODEL:METHOD:DT, got {item!r}")
    if args.accuracy:
        accuracy_table(CANDIDATES)
    else:
        speed_table(args.large, args.duration_ms, extra)


if __name__ == "__main__":
    main()
