"""Compiled C++ programs of a model's network, built once and re-run with new cells.

A Brian2 C++ standalone program runs every time step outside Python, so it has none of
the runtime device's per-step interpreter overhead, but building it takes seconds
(code generation and compilation). Here a program is built once per *layout*: model
(equations and constants), integration method and step, protocol (steps in total and
in the transient), number of cell *slots*, recorded cells and applied current. It is
kept in a cache directory and re-run for every new population: the conductances and
the initial state of each cell are handed to the program on its command line (Brian2's
``run_args``, files of raw values), so no call after the first compiles anything.

* The cache lives in ``$SBIDIC_CACHE_DIR`` (default ``$XDG_CACHE_HOME/sbidic`` or
  ``~/.cache/sbidic``), under ``programs/<key>``; a program takes about 0.6 MB. The
  key hashes everything the program depends on, Brian2's version, the compiler flags
  and the machine (the flags include ``-march=native``), so a stale program is never
  run; delete the directory to reclaim the space.
* Populations are padded up to a slot count with four sizes per octave
  (:func:`slot_count`: 20 cells run in 20 slots, 33 in 40), so nearby sizes share a
  program while at most a fifth of the work is padding; larger populations run in
  chunks of at most :data:`MAX_SLOTS` cells of one program, ``n_jobs`` processes at a
  time.
* Processes building the same program wait for each other (a lock file) and publish it
  atomically, so concurrent callers never run a half-written program.
* The manifest (``sbidic.json``) keeps a digest of the program and its static arrays: a
  program whose manifest is unreadable or whose files changed since its build (a
  truncated copy, a full disk) is rebuilt, never run.

References
----------
Stimberg M, Brette R, Goodman DFM (2019). Brian 2, an intuitive and efficient neural
simulator. eLife 8:e47314.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sbidic._leftovers import RANDOM_PATTERN, TAG_PATTERN, remove_leftovers, writer_tag
from sbidic._processes import die_with_parent, guarded, interruptible

__all__ = [
    "MAX_SLOTS",
    "CompiledProgram",
    "ProgramError",
    "cache_directory",
    "is_cached",
    "run_compiled",
    "slot_count",
]

#: Most cells one program simulates at once; more run in chunks of one program.
MAX_SLOTS = 256
#: Version of the network layout written by this module; part of every key.
_LAYOUT = 2
_OUTPUTS = {  # result name: (object, variable)
    "spike_i": ("spikes", "i"),
    "spike_t": ("spikes", "t"),
    "v": ("group", "v"),
    "armed": ("group", "armed"),
    "t_end": ("group", "t_end"),
    "v_recorded": ("vmon", "v"),
}


class ProgramError(RuntimeError, OSError):
    """A compiled program failed to run (a RuntimeError, and an OSError: the command
    line reports it in one line)."""


#: Programs whose digest this process checked: directory -> (size, mtimes) then.
_VERIFIED: dict[Path, tuple[int, ...]] = {}


def _program_files(directory: Path) -> list[Path]:
    """The files a program runs from: ``main`` and its static arrays."""
    return [directory / "main", *sorted((directory / "static_arrays").glob("*"))]


def _digest(directory: Path) -> str:
    """SHA-256 of the program's files (names and contents)."""
    h = hashlib.sha256()
    for path in _program_files(directory):
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def _stamp(directory: Path) -> tuple[int, ...]:
    """Size and modification times of ``main`` and the manifest (a changed file shows)."""
    main, manifest = (directory / "main").stat(), (directory / "sbidic.json").stat()
    return (main.st_size, main.st_mtime_ns, manifest.st_mtime_ns)


def _cached_manifest(directory: Path) -> dict | None:
    """The manifest of the program built in ``directory``, or None when there is none
    or it is damaged: unreadable or incomplete, or the program's files differ from the
    digest it keeps (checked once per process while they are unchanged)."""
    manifest = directory / "sbidic.json"
    if not manifest.exists():
        return None
    try:
        info = json.loads(manifest.read_text())
        int(info["n_slots"]), dict(info["inputs"]), dict(info["outputs"])
        stamp = _stamp(directory)
        if _VERIFIED.get(directory) != stamp:
            if _digest(directory) != info["digest"]:
                return None
            _VERIFIED[directory] = stamp
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


#: Names of the folders in which programs are built (``.<key>.<host>-<pid>.<random>``).
_STAGING_PATTERN = rf"\.[^.]+\.{TAG_PATTERN}\.{RANDOM_PATTERN}"
#: Names of the folders of the programs' inputs and results in the temporary directory.
_RUNS_PATTERN = rf"sbidic_runs?_{TAG_PATTERN}\.{RANDOM_PATTERN}"


def _run_directory(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder ``<prefix><host>-<pid>.<random>`` for the programs' inputs and
    results; those of killed processes are removed first."""
    remove_leftovers(tempfile.gettempdir(), _RUNS_PATTERN)
    return tempfile.TemporaryDirectory(prefix=f"{prefix}{writer_tag()}.")


def cache_directory() -> Path:
    """Directory of the compiled programs: ``$SBIDIC_CACHE_DIR/programs``, by default
    under ``$XDG_CACHE_HOME/sbidic`` or ``~/.cache/sbidic``."""
    root = os.environ.get("SBIDIC_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        root = os.path.join(base, "sbidic")
    return Path(root) / "programs"


def slot_count(n_cells: int) -> int:
    """Cells a program is built for to run ``n_cells``: exact up to 8, then rounded up
    to a multiple of a quarter of the power of two below (four sizes per octave).

    Examples
    --------
    >>> [slot_count(n) for n in (1, 8, 9, 20, 33, 1000, 2048)]
    [1, 8, 10, 20, 40, 1024, 2048]
    """
    if n_cells < 1:
        raise ValueError(f"n_cells must be >= 1, got {n_cells}")
    if n_cells <= 8:
        return int(n_cells)
    quarter = 2 ** (int(n_cells).bit_length() - 3)
    return -(-int(n_cells) // quarter) * quarter


def _key(layout: Mapping[str, Any]) -> str:
    import brian2

    prefs = brian2.prefs
    text = json.dumps(
        {
            **layout,
            "layout_version": _LAYOUT,
            "brian2": brian2.__version__,
            "compiler": [
                str(prefs.codegen.cpp.compiler),
                list(prefs.codegen.cpp.extra_compile_args_gcc),
            ],  # fmt: skip
            "machine": [platform.machine(), platform.node(), platform.system()],
        },
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _layout(task: Mapping[str, Any], n_slots: int) -> dict[str, Any]:
    model = task["model"]
    return {
        "model": model.name,
        "equations": model.equations,
        "namespace": {k: repr(v) for k, v in sorted(model.namespace().items())},
        "conductances": list(model.conductances),
        "state": sorted(task["initial"]),
        "method": task["method"],
        "dt_ms": float(task["dt_ms"]),
        "n_total": int(task["n_total"]),
        "n_trans": int(task["n_trans"]),
        "n_slots": int(n_slots),
        "record": None if task["record"] is None else [int(r) for r in task["record"]],
        "applied_current": float(task["applied_current"]),
    }


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive lock on ``path`` (POSIX ``flock``; no lock where it is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _program_directory(task: Mapping[str, Any], n_slots: int) -> tuple[Path, dict]:
    layout = _layout(task, n_slots)
    return cache_directory() / _key(layout), layout


def is_cached(task: Mapping[str, Any]) -> bool:
    """Whether the program that runs ``task`` is already built."""
    directory, _ = _program_directory(task, slot_count(len(task["conductances"])))
    return _cached_manifest(directory) is not None


class CompiledProgram:
    """A built C++ standalone program of one network layout.

    Get one with :meth:`for_task` (built on first use, then read from the cache) and
    simulate cells with :meth:`run`.

    Attributes
    ----------
    directory : pathlib.Path
        The program's directory in the cache (``main``, ``static_arrays/``,
        ``sbidic.json``).
    n_slots : int
        Cells the program simulates per run.
    build_s : float
        Seconds spent building it in this call (0 when it came from the cache).
    """

    def __init__(self, directory: Path, manifest: dict, build_s: float = 0.0) -> None:
        self.directory = Path(directory)
        self.manifest = manifest
        self.n_slots = int(manifest["n_slots"])
        self.build_s = float(build_s)

    @classmethod
    def for_task(cls, task: Mapping[str, Any], n_slots: int) -> CompiledProgram:
        """The program that runs ``task``'s network with ``n_slots`` cells, built into
        the cache unless it is already there (``task`` as in
        :func:`sbidic.simulate.brian._network`; its conductances and initial values
        only serve as placeholders). A damaged cached program is rebuilt."""
        directory, layout = _program_directory(task, n_slots)
        root = directory.parent
        info = _cached_manifest(directory)
        if info is not None:
            return cls(directory, info)
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / f"{directory.name}.lock"):
            info = _cached_manifest(directory)
            if info is not None:  # built by another process while we waited
                return cls(directory, info)
            t0 = time.perf_counter()
            remove_leftovers(root, _STAGING_PATTERN)  # builds of killed processes
            prefix = f".{directory.name}.{writer_tag()}."
            staging = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
            try:
                info = interruptible(_build, task, n_slots, staging)  # Ctrl-C: at once
                info["layout"] = layout
                info["digest"] = _digest(staging)
                (staging / "sbidic.json").write_text(json.dumps(info, indent=1))
                shutil.rmtree(directory, ignore_errors=True)  # a partial earlier attempt
                os.replace(staging, directory)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return cls(directory, info, build_s=time.perf_counter() - t0)

    # ------------------------------------------------------------------ running
    def start(self, values: Mapping[str, Any], workdir: Path) -> subprocess.Popen:
        """Start one run in the background: ``values`` maps each input of the program
        (conductances ``g_<name>``, initial state, ``not_refractory``) to one value or
        one per cell (fewer than :attr:`n_slots` cells are padded with the first);
        results go to ``workdir``."""
        inputs = self.manifest["inputs"]
        missing = set(inputs) - set(values)
        if missing:
            raise ValueError(f"missing program inputs: {sorted(missing)}")
        workdir.mkdir(parents=True, exist_ok=True)
        args = []
        for name, (c_name, dtype) in inputs.items():
            value = np.asarray(values[name], dtype=dtype).reshape(-1)
            if value.size == 1:
                value = np.full(self.n_slots, value[0], dtype=dtype)
            elif value.size < self.n_slots:
                value = np.concatenate([value, np.full(self.n_slots - value.size, value[0])])
            elif value.size > self.n_slots:
                raise ValueError(f"{value.size} values of {name} for {self.n_slots} slots")
            path = workdir / f"in_{name}.dat"
            value.astype(dtype).tofile(path)
            args.append(f"{c_name}={path.resolve()}")
        results = workdir / "results"
        results.mkdir(exist_ok=True)
        return subprocess.Popen(
            [str(self.directory / "main"), "--results_dir", f"{results.resolve()}/", *args],
            cwd=self.directory,
            preexec_fn=die_with_parent,  # a killed sbidic leaves no program running
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def collect(self, process: subprocess.Popen, workdir: Path) -> dict[str, np.ndarray]:
        """Wait for a run started by :meth:`start` and read what it recorded."""
        _, err = process.communicate()
        # the program only prints to stderr (and goes on) when an input file is wrong
        if process.returncode != 0 or err.strip():
            raise ProgramError(
                f"the compiled program {self.directory} failed (exit code "
                f"{process.returncode}; delete that directory to rebuild it): "
                f"{err.strip()[:500]}"
            )
        out = {}
        for name, (fname, dtype) in self.manifest["outputs"].items():
            path = workdir / "results" / fname
            out[name] = np.fromfile(path, dtype=dtype) if path.exists() else np.empty(0, dtype)
        return out

    def run(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run once and return the recorded arrays (see :meth:`start`)."""
        with _run_directory("sbidic_run_") as tmp:
            return self.collect(self.start(values, Path(tmp)), Path(tmp))


def _build(task: Mapping[str, Any], n_slots: int, directory: Path) -> dict:
    """Generate and compile ``task``'s network for ``n_slots`` cells into
    ``directory``; the manifest names its inputs and output files."""
    from sbidic.simulate.brian import _import_brian2, _network, _run_network, cell_values
    from sbidic.simulate.devices import BrianDevice

    b2 = _import_brian2()
    # compile with at most --jobs processes (Brian2's default "make -j" is unbounded)
    jobs = max(1, min(int(task.get("n_threads") or 1), os.cpu_count() or 1))
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{jobs}"]
    # make and its compilers die with sbidic (a shell command: no PR_SET_PDEATHSIG)
    b2.prefs.devices.cpp_standalone.make_cmd_unix = guarded("make")
    placeholder = dict(task)
    g = np.asarray(task["conductances"])
    placeholder["conductances"] = np.resize(g, (n_slots, g.shape[1]))
    placeholder["initial"] = {k: np.resize(np.asarray(v, dtype=float), n_slots)
                              for k, v in task["initial"].items()}  # fmt: skip
    with BrianDevice("cpp_standalone", directory=str(directory)):
        net, group, spikes, vmon, steps = _network(b2, placeholder, n_slots)
        _run_network(b2, placeholder, net, vmon, steps)
        b2.device.build(directory=str(directory), compile=True, run=False, with_output=False)
        dev = b2.get_device()
        names = cell_values(task["model"], placeholder["conductances"], placeholder["initial"])
        inputs = {
            name: [f"{group.name}.{name}", np.dtype(group.variables[name].dtype).str]
            for name in names
        }
        objects = {"group": group, "spikes": spikes, "vmon": vmon}
        outputs = {}
        for name, (owner, var) in _OUTPUTS.items():
            if objects[owner] is not None:
                variable = objects[owner].variables[var]
                outputs[name] = [dev.get_array_filename(variable), np.dtype(variable.dtype).str]
    for sub in ("results", "code_objects", "brianlib"):
        shutil.rmtree(directory / sub, ignore_errors=True)
    for path in directory.glob("*.o"):
        path.unlink()
    return {"n_slots": int(n_slots), "inputs": inputs, "outputs": outputs,
            "n_recorded": 0 if vmon is None else len(task["record"])}  # fmt: skip


def run_compiled(
    tasks: list[dict], n_jobs: int = 1, progress: Callable[[float], None] | None = None
) -> list[dict]:
    """Simulate chunks of cells with cached compiled programs, ``n_jobs`` at a time.

    Each task is one chunk as built by :func:`sbidic.simulate.simulate` (no noise);
    returns per chunk the same dictionary as the runtime path (trains, recorded
    voltage, diverged cells, timings).
    """
    from sbidic.simulate.brian import cell_values
    from sbidic.simulate.readout import spike_trains_from_events, voltage_traces

    sizes = np.array([len(t["conductances"]) for t in tasks], dtype=float)
    programs, build_s = [], 0.0
    for task in tasks:
        program = CompiledProgram.for_task(task, slot_count(len(task["conductances"])))
        build_s += program.build_s
        programs.append(program)
    results: list[dict | None] = [None] * len(tasks)
    with _run_directory("sbidic_runs_") as tmp:
        running: dict[int, subprocess.Popen] = {}
        pending = list(range(len(tasks)))
        t0 = time.perf_counter()
        while pending or running:
            while pending and len(running) < max(1, n_jobs):
                k = pending.pop(0)
                task = tasks[k]
                values = cell_values(task["model"], task["conductances"], task["initial"])
                running[k] = programs[k].start(values, Path(tmp) / str(k))
            k = next(iter(running))
            out = programs[k].collect(running.pop(k), Path(tmp) / str(k))
            task = tasks[k]
            n = len(task["conductances"])
            trains, diverged = spike_trains_from_events(
                out["spike_i"], out["spike_t"], out["v"], out["armed"], out["t_end"], n,
                task["dt_ms"], task["n_trans"],
            )  # fmt: skip
            v_rec = None
            if "v_recorded" in out:
                n_rec = len(task["record"])
                recorded = out["v_recorded"].reshape(-1, n_rec).T
                v_rec = voltage_traces(recorded, out["v"][task["record"]])
            results[k] = {"trains": trains, "v": v_rec, "diverged": diverged}
            shutil.rmtree(Path(tmp) / str(k), ignore_errors=True)
            if progress is not None:
                progress(float(sizes[[r is not None for r in results]].sum() / sizes.sum()))
        run_s = time.perf_counter() - t0
    for r in results:
        r["timings"] = {"build_s": build_s / len(results), "run_s": run_s / len(results)}
    return results
