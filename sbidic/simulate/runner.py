"""Running chunks of cells at runtime or as one-off standalone programs, in this
process or in a pool of worker processes.

Each chunk is a task (a dict built by :func:`~sbidic.simulate.simulate`: model,
conductances, cell ids, steps, method, device, noise, recorded cells, initial
state); :func:`_run_chunk` builds its network (:mod:`sbidic.simulate.brian`), runs
it and reads out its spike trains (:mod:`sbidic.simulate.readout`). :func:`_run_tasks`
runs the chunks one after the other, or in a spawn-context pool of single-threaded
processes that are killed when the run fails or is interrupted. Cached C++
programs run elsewhere (:mod:`sbidic.simulate.compiled`).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from sbidic.simulate.brian import _brian_prefs, _import_brian2, _network, _run_network
from sbidic.simulate.devices import BrianDevice
from sbidic.simulate.readout import spike_trains_from_events, voltage_traces

__all__: list[str] = []


def _run_chunk(task: dict) -> dict:
    """Simulate one chunk of cells at runtime, as a one-off standalone program or with
    the vector kernel (in this process or in a pool worker)."""
    if task.get("device") == "vector":
        from sbidic.simulate.vector import run_vector_chunk

        return run_vector_chunk(task)
    b2 = _import_brian2()
    n_cells = len(task["conductances"])
    device = BrianDevice(task.get("device", "runtime"), task.get("n_threads", 1))
    with _brian_prefs(task["codegen"]), device:
        net, group, spikes, vmon, steps = _network(b2, task, n_cells)
        progress = task.get("progress")  # fraction of this chunk done (same process only)
        _run_network(b2, task, net, vmon, steps, None if device.standalone else progress)
        device.build()
        v_end = np.asarray(group.v_)
        trains, diverged = spike_trains_from_events(
            np.asarray(spikes.i), np.asarray(spikes.t_), v_end, np.asarray(group.armed),
            np.asarray(group.t_end_), n_cells, task["dt_ms"], task["n_trans"],
        )  # fmt: skip
        v_rec = None
        if vmon is not None:
            v_rec = voltage_traces(np.asarray(vmon.v_), v_end[task["record"]])
    return {"trains": trains, "v": v_rec, "diverged": diverged, "timings": device.timings}


def _chunk_bounds(n_cells: int, n_chunks: int) -> list[tuple[int, int]]:
    n_chunks = max(1, min(n_chunks, n_cells))
    edges = np.linspace(0, n_cells, n_chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


@contextlib.contextmanager
def _single_thread_env():
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _init_worker() -> None:
    from sbidic._processes import die_with_parent

    die_with_parent()  # a killed parent leaves no worker simulating
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = "1"
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pyparsing")


def _run_tasks(tasks: list[dict], n_workers: int, progress, n_cells: int) -> list[dict]:
    """Run the chunks at runtime or as one-off standalone programs: in this process,
    or in a spawn-context pool of ``n_workers`` single-threaded processes."""
    sizes = np.array([len(t["conductances"]) for t in tasks], dtype=float) / n_cells
    if n_workers == 1 or len(tasks) == 1:
        outputs = []
        for k, task in enumerate(tasks):
            if progress is not None:
                done = float(sizes[:k].sum())
                task["progress"] = lambda f, done=done, w=sizes[k]: progress(done + w * f)
            outputs.append(_run_chunk(task))
            if progress is not None:
                progress(float(sizes[: k + 1].sum()))
        return outputs
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with (
        _single_thread_env(),
        concurrent.futures.ProcessPoolExecutor(
            max_workers=min(n_workers, len(tasks)), mp_context=ctx, initializer=_init_worker
        ) as pool,
    ):
        futures = [pool.submit(_run_chunk, task) for task in tasks]
        try:
            if progress is not None:
                done = 0.0
                for k in concurrent.futures.as_completed(futures):
                    done += float(sizes[futures.index(k)])
                    progress(done)
            return [f.result() for f in futures]
        except BaseException:  # Ctrl-C, SIGTERM, a failed chunk: stop the workers now
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
