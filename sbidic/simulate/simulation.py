"""Simulate populations of conductance-based cells with Brian2.

:func:`simulate` runs N cells with per-cell maximal conductances in one Brian2
``NeuronGroup`` built from a model's equations, and returns their spike trains
(and optionally voltage traces) as a :class:`SimulationResult`.

The simulation itself is spread over one module per concept:

* :mod:`sbidic.simulate.integration`: integration methods, steps and protocols per
  model, and the measurements behind them;
* :mod:`sbidic.simulate.brian`: the Brian2 network, the same on every device;
* :mod:`sbidic.simulate.readout`: the published spike rule and the spike trains and
  voltage traces read out of a run;
* :mod:`sbidic.simulate.runner`: chunks run at runtime, in a process pool;
* :mod:`sbidic.simulate.vector`: Brian2's integration statements compiled into a
  vectorised C kernel, cells in the vector lanes;
* :mod:`sbidic.simulate.compiled` and :mod:`sbidic.simulate.devices`: cached C++
  programs and the standalone devices;
* :mod:`sbidic.simulate.result`: :class:`SimulationResult`.

This module checks the arguments, chooses the device, cuts the cells into chunks
and assembles the result.

The initial state of every cell is ``model.initial_state()``.

Devices
-------
``device="auto"`` (the default) runs, without noise, the vector kernel
(:mod:`sbidic.simulate.vector`: Brian2's own update statements, compiled once per
model and step; 3-4 times the speed of Brian2's C++ programs) when it is already
built or the run is long enough to repay its build (about 4 s); then a cached Brian2
C++ program where the kernel cannot express the model; and the runtime device
otherwise, and always with noise. :mod:`sbidic.simulate.devices` lists them all.

Parallelism and memory
----------------------
``n_jobs > 1`` splits the cells into chunks run in a spawn-context process pool (one
thread each, ``OMP_NUM_THREADS=1``), for the vector kernel in that many threads of
this process (measured faster: no worker imports Brian2), or, for a cached C++
program, in that many processes of the program. With noise, cells are also chunked
so that the noise array of a chunk stays under ``max_noise_mb``. Results do not depend on the
chunking: cells are independent and each draws its noise from its own global id.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Sequence

import numpy as np

from sbidic.simulate.brian import codegen_target
from sbidic.simulate.compiled import MAX_SLOTS, is_cached, run_compiled
from sbidic.simulate.devices import resolve_device
from sbidic.simulate.integration import METHODS, default_integration
from sbidic.simulate.noise import BandLimitedNoise
from sbidic.simulate.readout import REPOLARISATION_MV, SPIKE_THRESHOLD_MV, _as_spike_trains
from sbidic.simulate.result import SimulationResult
from sbidic.simulate.runner import _chunk_bounds, _run_chunk, _run_tasks

__all__ = ["INITIAL_STATES", "simulate"]


# --------------------------------------------------------------------- validation
def _steps(value_ms: float, dt_ms: float, name: str) -> int:
    n = value_ms / dt_ms
    k = int(round(n))
    if abs(n - k) > 1e-6 * max(1.0, n):
        raise ValueError(
            f"{name} = {value_ms} ms is not a whole number of steps of dt = {dt_ms} ms"
        )
    return k


def _check_conductances(model, conductances) -> np.ndarray:
    try:
        g = np.array(conductances, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"conductances must be numeric (mS/cm^2): {err}") from None
    if g.ndim == 1:
        g = g[None, :]
    names = tuple(model.conductances)
    if g.ndim != 2 or g.shape[1] != len(names):
        raise ValueError(
            f"model {model.name!r} expects an array (n_cells, {len(names)}) of conductances "
            f"in mS/cm^2 in the order {names}, got shape {np.shape(conductances)}"
        )
    if g.shape[0] == 0:
        raise ValueError("conductances has no rows (no cell to simulate)")
    bad = ~np.isfinite(g) | (g < 0)
    if bad.any():
        rows, cols = np.nonzero(bad)
        cell, col = int(rows[0]), int(cols[0])
        more = (
            f" ({bad.sum()} bad values in {len(np.unique(rows))} cells)" if bad.sum() > 1 else ""
        )
        raise ValueError(
            f"conductance g_{names[col]} of cell {cell} is {float(g[cell, col])}; maximal "
            f"conductances must be finite and >= 0 (mS/cm^2){more}"
        )
    dead = np.flatnonzero(~g.any(axis=1))
    if dead.size:
        raise ValueError(
            f"cell {int(dead[0])} has every conductance equal to 0: a membrane without "
            f"any current cannot be integrated ({dead.size} such cells)"
        )
    return g


def _check_record(record_v, n_cells: int) -> np.ndarray | None:
    if record_v is None or record_v is False:
        return None
    if record_v is True:
        return np.arange(n_cells)
    rec = np.atleast_1d(np.asarray(record_v))
    if rec.ndim != 1 or (rec.size and rec.dtype.kind not in "iu"):
        raise ValueError(f"record_v must be None, True or integer cell indices, got {record_v!r}")
    rec = rec.astype(np.int64)
    if rec.size and (rec.min() < -n_cells or rec.max() >= n_cells):
        raise ValueError(f"record_v indices must lie in [0, {n_cells}), got {rec.tolist()}")
    return np.where(rec < 0, rec + n_cells, rec)


def _check_cell_ids(cell_ids, n_cells: int) -> np.ndarray:
    if cell_ids is None:
        return np.arange(n_cells, dtype=np.int64)
    ids = np.asarray(cell_ids)
    if ids.shape != (n_cells,) or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"cell_ids must be {n_cells} non-negative integers, got {cell_ids!r}")
    ids = ids.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(f"cell_ids must be non-negative, got min {ids.min()}")
    return ids


INITIAL_STATES = ("published", "threshold")


def _initial_state(model, g: np.ndarray, initial_state: str) -> dict:
    """State variables at t = 0: one value each, or one per cell."""
    if initial_state == "published":
        return model.initial_state()
    if initial_state == "threshold":
        return model.steady_state(model.V_th, g)
    raise ValueError(f"unknown initial_state {initial_state!r}; choose one of {INITIAL_STATES}")


#: Seconds a C++ program takes to build (measured 5-8 s on a 2-core machine).
_BUILD_S = 6.0
_NO_COMPILER: list[str] = []  # why C++ standalone failed in this process, if it did


def _dask_client(scheduler):
    """A ``distributed.Client`` for a scheduler address (or the client itself)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("scheduler= needs dask.distributed (pip install "
                         "'dask[distributed]')") from None  # fmt: skip
    return scheduler if isinstance(scheduler, Client) else Client(scheduler)


def _run_on_cluster(client, tasks: list[dict], progress, n_cells: int) -> list[dict]:
    """Run the chunks on a Dask cluster's workers; outputs in chunk order."""
    from distributed import as_completed

    futures = client.map(_run_chunk, tasks, pure=False)
    if progress is not None:
        done = 0
        for future in as_completed(futures):
            done += len(tasks[futures.index(future)]["conductances"])
            progress(done / n_cells)
    return client.gather(futures)


#: Most cells one call of the vector kernel steps (their state stays in the cache).
_VECTOR_CHUNK = 1024
_NO_VECTOR: list[str] = []
#: ``n_jobs`` of the vector kernel are threads of this process (else processes, as at
#: runtime); measured in docs/simulation.md.
_VECTOR_THREADS = True


def _vector_build(task: dict, n_cells: int, n_total: int, n_jobs: int,
                  explicit: bool = False) -> float | None:  # fmt: skip
    """Seconds spent building the vector kernel of ``task`` when ``device="auto"`` runs
    it (it is built, or the run would take longer at runtime than a build, and it can
    express the model), else None. ``explicit``: the user asked for the kernel, so
    what stops it is a ``ValueError``."""
    from sbidic.simulate import vector

    if _NO_VECTOR and not explicit:
        return None
    try:
        if explicit or vector.is_built(task):
            return vector.build(task)
        if _runtime_estimate_s(n_cells, n_total, n_jobs) > _BUILD_S:
            return vector.build(task)
    except vector.VectorUnsupported as err:
        if explicit:
            raise ValueError(f"device 'vector' cannot run model {task['model'].name!r}: "
                             f"{err}") from None  # fmt: skip
        if "compiler" in str(err):
            _NO_VECTOR.append(str(err))
            warnings.warn(f"the vector kernel is unavailable ({str(err)[:300]}); simulating "
                          "with Brian2's devices from now on", RuntimeWarning,
                          stacklevel=3)  # fmt: skip
    return None


def _runtime_estimate_s(n_cells: int, n_total: int, n_jobs: int) -> float:
    """Rough wall time of the runtime device: about 12 us of interpreter overhead per
    step plus 0.3 us per cell and step, over ``n_jobs`` processes (measured on the
    published protocols: STG 18 us per step at 20 cells, 248 us at 1,000; DA 14 us at
    4 cells, 51 us at 100)."""
    return n_total * (12e-6 + 0.3e-6 * math.ceil(n_cells / n_jobs))


# -------------------------------------------------------------------------- main
def simulate(
    model,
    conductances,
    *,
    duration_ms: float | None = None,
    transient_ms: float | None = None,
    dt_ms: float | None = None,
    method: str | None = None,
    record_v: bool | int | Sequence[int] | None = None,
    noise: BandLimitedNoise | None = None,
    seed: int | None = None,
    cell_ids: Sequence[int] | None = None,
    codegen: str = "auto",
    n_jobs: int = 1,
    max_noise_mb: float = 512.0,
    progress=None,
    device: str = "auto",
    applied_current: float | None = None,
    initial_state: str = "published",
    scheduler=None,
) -> SimulationResult:
    """Simulate a population of cells and detect their spikes (published rule).

    Parameters
    ----------
    model : str or ConductanceModel
        ``"stg"``, ``"da"`` or a model instance.
    conductances : array_like, shape (n_cells, n_conductances) or (n_conductances,)
        Maximal conductances in mS/cm^2, columns in ``model.conductances`` order.
    duration_ms : float, optional
        Total simulated time, transient included (default: the model's published
        protocol, 6000 ms for STG and 12000 ms for DA).
    transient_ms : float, optional
        Initial time discarded (default 3000 ms for both models).
    dt_ms : float, optional
        Integration step; duration and transient must be whole multiples of it.
        Default: the model's entry in :data:`DEFAULT_INTEGRATION` (0.01 ms for STG,
        0.025 ms for DA).
    method : str, optional
        Brian2 integration method, one of :data:`METHODS`. Default: the model's entry
        in :data:`DEFAULT_INTEGRATION` (``"exponential_euler"`` for STG, ``"rk4"`` for
        DA).
    record_v : None, True, int or sequence of int
        Cells (row indices) whose voltage is returned for ``t >= transient_ms``;
        ``True`` records all.
    noise : BandLimitedNoise, optional
        Band-limited Gaussian current added to every cell (its own stream per cell).
    seed : int, optional
        Root seed of the noise streams; ``None`` draws fresh entropy (stored in
        ``result.settings["seed"]``). Unused without noise.
    cell_ids : sequence of int, optional
        Global ids of the cells (default ``0 .. n_cells - 1``); the noise stream of a
        cell depends only on ``(seed, cell_id)``.
    codegen : {"auto", "cython", "numpy"}
        Brian2 code-generation target of the runtime device; ``"auto"`` uses cython
        when a compiler works.
    n_jobs : int, default 1
        Worker processes (``-1``: all cores); threads with ``device="vector"``;
        OpenMP threads with a one-off ``device="cpp_standalone"`` program (with
        noise); unused with ``device="cuda"``. Results are identical to ``n_jobs=1``.
    max_noise_mb : float, default 512
        Largest noise array (MB) per chunk of cells; more cells are run in chunks.
    progress : callable, optional
        ``progress(fraction)`` with the fraction of the simulation done, every 2 s of
        wall time in one process and per finished chunk with ``n_jobs > 1`` or a
        standalone device.
    device : {"auto", "vector", "runtime", "cpp_standalone", "cuda_standalone", "cuda"}
        Where the cells run (:mod:`sbidic.simulate.devices`). ``"vector"``: Brian2's
        integration statements in a vectorised C kernel (:mod:`sbidic.simulate.vector`;
        no noise), tested against Brian2's runtime on the accuracy criteria; ``n_jobs``
        threads. Brian2's devices: ``"runtime"`` steps the
        network from Python. ``"cpp_standalone"`` without noise runs a compiled C++
        program built once per settings and cached (:mod:`sbidic.simulate.compiled`;
        the first call builds it in about 6 s, later calls only run it, ``n_jobs``
        processes at a time); with noise, and ``"cuda"``, compile the whole run into one
        program each call. ``"auto"`` (default), without noise: the vector kernel when
        it is already built or when the runtime device would take longer than
        building it, else (a model the kernel cannot express) the cached C++ program
        on the same rule; the runtime device otherwise (always with noise, or where no
        compiler works, with a warning). Spike detection is the same on every device; spike
        times can differ in the last bits of floating point between devices, which
        irregular cells amplify.
    applied_current : float, optional
        Constant current injected in every cell (uA/cm^2, positive depolarises),
        added to the noise if any. Default: the model's ``applied_current`` (0 for
        STG and DA).
    initial_state : {"published", "threshold"}
        ``"published"`` (default): every cell starts from ``model.initial_state()``,
        as in the published protocol. ``"threshold"``: each cell starts at rest at
        its model's ``V_th``, every gate and calcium at their steady state there
        (``model.steady_state(V_th, g)``). It does not allow a shorter transient
        (:mod:`sbidic.simulate.integration`, "Shorter transients": it changes the
        firing label of 14 % of STG cells); it is kept for such experiments.

    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``tcp://host:8786``) or client: the chunks of cells
        run on its workers (two per worker thread), with ``device="runtime"`` or
        ``"vector"``; results equal a local run's. Needs ``dask.distributed``.

    Returns
    -------
    SimulationResult

    Examples
    --------
    One STG cell over a short protocol (the published one is the default):

    >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])
    >>> simulate("stg", g, duration_ms=500.0, transient_ms=100.0)  # doctest: +ELLIPSIS
    SimulationResult(model='stg', n_cells=1, n_spikes=7, ..., window=[100.0, 500.0) ms, ...)

    Raises
    ------
    ValueError
        For negative or non-finite conductances, a cell whose conductances are all
        zero, a wrong number of conductances,
        ``dt_ms >= duration_ms``, ``transient_ms`` outside ``[0, duration_ms)``, an
        unknown method or code-generation target, or bad ``record_v``/``cell_ids``.
    """
    from sbidic.models import get_model

    t_start = time.perf_counter()
    model = get_model(model)
    g = _check_conductances(model, conductances)
    n_cells = len(g)

    default = getattr(model, "protocol", None)
    if duration_ms is None or transient_ms is None:
        if default is None:
            raise ValueError(
                f"model {model.name!r} has no default protocol; give duration_ms and transient_ms"
            )
        duration_ms = default[0] if duration_ms is None else duration_ms
        transient_ms = default[1] if transient_ms is None else transient_ms
    default_method, default_dt = default_integration(model)
    method = default_method if method is None else method
    dt_ms = default_dt if dt_ms is None else dt_ms
    try:
        duration_ms, transient_ms, dt_ms = float(duration_ms), float(transient_ms), float(dt_ms)
    except (TypeError, ValueError) as err:
        raise ValueError(f"duration_ms, transient_ms and dt_ms must be numbers: {err}") from None
    for name, val in (
        ("duration_ms", duration_ms),
        ("transient_ms", transient_ms),
        ("dt_ms", dt_ms),
    ):
        if not math.isfinite(val):
            raise ValueError(f"{name} must be finite, got {val}")
    if dt_ms <= 0:
        raise ValueError(f"dt_ms must be > 0, got {dt_ms}")
    if dt_ms >= duration_ms:
        raise ValueError(f"dt_ms = {dt_ms} must be smaller than duration_ms = {duration_ms}")
    if transient_ms < 0:
        raise ValueError(f"transient_ms must be >= 0, got {transient_ms}")
    if transient_ms >= duration_ms:
        raise ValueError(
            f"transient_ms = {transient_ms} must be smaller than duration_ms = {duration_ms}"
        )
    n_total = _steps(duration_ms, dt_ms, "duration_ms")
    n_trans = _steps(transient_ms, dt_ms, "transient_ms")
    if n_total - n_trans < 2:
        raise ValueError("the kept window must hold at least 2 steps of dt")
    if method not in METHODS:
        raise ValueError(f"unknown integration method {method!r}; choose one of {METHODS}")
    device = "auto" if device == "auto" else resolve_device(device)
    if codegen not in ("auto", "cython", "numpy"):
        codegen_target(codegen)  # raises, naming the choices
    if noise is not None and not isinstance(noise, BandLimitedNoise):
        raise TypeError(
            f"noise must be a BandLimitedNoise (e.g. BandLimitedNoise(std=1.0)), got {noise!r}"
        )
    rec = _check_record(record_v, n_cells)
    ids = _check_cell_ids(cell_ids, n_cells)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if int(n_jobs) != n_jobs or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs}")
    n_jobs = int(n_jobs)
    if applied_current is None:
        applied_current = getattr(model, "applied_current", 0.0)
    try:
        applied_current = float(applied_current)
    except (TypeError, ValueError):
        raise ValueError(f"applied_current must be a number (uA/cm^2), "
                         f"got {applied_current!r}") from None  # fmt: skip
    if not math.isfinite(applied_current):
        raise ValueError(f"applied_current must be finite, got {applied_current}")

    noise_info = None
    if noise is not None:
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        elif int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        noise_info = noise.describe(dt_ms)  # also checks the filter fits the noise grid
        if not (math.isfinite(max_noise_mb) and max_noise_mb > 0):
            raise ValueError(f"max_noise_mb must be finite and > 0, got {max_noise_mb}")
        per_cell_mb = n_total * 8 / 1e6
        n_chunks = math.ceil(n_cells * per_cell_mb / max_noise_mb)
    else:
        n_chunks = 1
    initial = _initial_state(model, g, initial_state)

    client = _dask_client(scheduler) if scheduler is not None else None
    if client is not None:
        n_jobs = max(1, 2 * sum(client.nthreads().values()))  # chunks for the cluster

    def chunk_tasks(device: str) -> list[dict]:
        compiled = device == "cpp_standalone" and noise is None
        # runtime, vector: one process per chunk; one-off standalone: one program (OpenMP,
        # GPU); cached C++ programs: chunks of at most MAX_SLOTS cells, n_jobs at a time
        n_workers = n_jobs if device in ("runtime", "vector") or compiled else 1
        most = MAX_SLOTS if compiled else _VECTOR_CHUNK if device == "vector" else n_cells
        n = max(n_chunks, n_workers, math.ceil(n_cells / most))
        tasks = []
        for a, b in _chunk_bounds(n_cells, n):
            local = None
            if rec is not None:
                local = np.unique(rec[(rec >= a) & (rec < b)]) - a
            tasks.append(
                {
                    "model": model,
                    "offset": a,
                    "conductances": g[a:b],
                    "cell_ids": ids[a:b],
                    "dt_ms": dt_ms,
                    "n_total": n_total,
                    "n_trans": n_trans,
                    "method": method,
                    "codegen": device,  # runtime: Brian2's target, resolved below
                    "device": device,
                    "n_threads": n_jobs,
                    "noise": noise,
                    "applied_current": applied_current,
                    "seed": seed,
                    "record": local,
                    "initial": {k: v if np.ndim(v) == 0 else v[a:b] for k, v in initial.items()},
                }
            )
        return tasks

    if device == "vector" and noise is not None:
        raise ValueError("device 'vector' does not simulate noise; use device='auto' or "
                         "'runtime' (Brian2) for noisy runs")  # fmt: skip
    auto = device == "auto"
    vector_build_s = None
    if auto:
        device = "runtime"
        if noise is None:
            vector_build_s = _vector_build(chunk_tasks("vector")[0], n_cells, n_total, n_jobs)
        if vector_build_s is not None:
            device = "vector"
        elif noise is None and not _NO_COMPILER and codegen_target(codegen) == "cython":
            tasks = chunk_tasks("cpp_standalone")
            if _runtime_estimate_s(n_cells, n_total, n_jobs) > _BUILD_S or all(
                is_cached(task) for task in tasks
            ):
                device = "cpp_standalone"
    tasks = chunk_tasks(device)
    outputs = None
    if device == "cpp_standalone" and noise is None:
        try:
            outputs = run_compiled(tasks, n_jobs, progress)
        except RuntimeError as err:
            if not auto:
                raise
            _NO_COMPILER.append(str(err))
            warnings.warn(
                f"C++ standalone is unavailable ({str(err)[:300]}); simulating with the "
                "runtime device from now on. Pass device='runtime' to silence this.",
                RuntimeWarning,
                stacklevel=2,
            )
            device = "runtime"
            tasks = chunk_tasks(device)
    if device == "vector" and not auto:
        vector_build_s = _vector_build(tasks[0], n_cells, n_total, n_jobs, explicit=True)
    if device == "runtime":  # resolved here only: it imports Brian2
        target = codegen_target(codegen)
        for task in tasks:
            task["codegen"] = target
    else:
        target = device  # the standalone devices and the vector kernel make their own code
    if outputs is None and client is not None:
        if device not in ("runtime", "vector"):
            raise ValueError(f"scheduler= runs the runtime or vector device, not {device!r}")
        outputs = _run_on_cluster(client, tasks, progress, n_cells)
    if outputs is None and device == "vector" and n_jobs > 1 and _VECTOR_THREADS:
        from sbidic.simulate.vector import run_vector_chunks

        outputs = run_vector_chunks(tasks, n_jobs, progress, n_cells)
    if outputs is None:
        parallel = device in ("runtime", "vector")
        outputs = _run_tasks(tasks, n_jobs if parallel else 1, progress, n_cells)

    if client is not None and client is not scheduler:
        client.close()
    trains: list[np.ndarray] = []
    for out in outputs:
        trains.extend(out["trains"])
    diverged = np.concatenate([out["diverged"] for out in outputs])
    if diverged.any():
        bad = np.flatnonzero(diverged)
        warnings.warn(
            f"{bad.size} of {n_cells} cells diverged (non-finite voltage) with {method} at "
            f"dt = {dt_ms} ms, e.g. cell {int(bad[0])}; their spike trains are left empty "
            "(see result.diverged). Use a smaller dt or an exponential method.",
            RuntimeWarning,
            stacklevel=2,
        )

    t_ms = v_mV = None
    if rec is not None:
        t_ms = (n_trans + np.arange(n_total - n_trans)) * dt_ms
        rows: dict[int, np.ndarray] = {}
        for task, out in zip(tasks, outputs, strict=True):
            for r, loc in enumerate(task["record"]):
                rows[task["offset"] + int(loc)] = out["v"][r]
        v_mV = np.stack([rows[int(c)] for c in rec]) if len(rec) else np.empty((0, len(t_ms)))

    settings = {
        "duration_ms": duration_ms,
        "transient_ms": transient_ms,
        "dt_ms": dt_ms,
        "method": method,
        "codegen": target,
        "device": device,
        "seed": seed,
        "noise": noise_info,
        "applied_current_uA_cm2": applied_current,
        "n_jobs": n_jobs,
        "n_chunks": len(tasks),
        # standalone devices: seconds to generate + compile + run, and to run only
        **{
            key: sum(out["timings"].get(key, 0.0) for out in outputs)
            + (vector_build_s or 0.0) * (key == "build_s")
            for key in ("build_s", "run_s")
            if device != "runtime"
        },
        "spike_threshold_mV": SPIKE_THRESHOLD_MV,
        "repolarisation_mV": REPOLARISATION_MV,
        "initial_state": initial_state,
    }
    return SimulationResult(
        spikes=_as_spike_trains(trains, ids),
        t_ms=t_ms,
        v_mV=v_mV,
        record_v=rec,
        model=model,
        conductances=g,
        cell_ids=ids,
        diverged=diverged,
        settings=settings,
        wall_time_s=time.perf_counter() - t_start,
    )
