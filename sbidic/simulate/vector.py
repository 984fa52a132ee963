"""Vectorised C kernels: Brian2's integration statements, compiled with the cells in
the innermost loop.

Brian2 writes the update of one cell over one step (the integration method applied to
the model's equations, subexpressions held over the step, the refractoriness statement)
as *abstract code*; its C++ devices wrap that code in a loop whose calls to ``exp`` keep
the compiler from vectorising it (about 200 ns per STG cell and step). Here the same
statements, optimised by Brian2 (constants hoisted out of the loop), are rendered into
one C function that advances :data:`LANES` cells at once in vector registers (GCC/Clang
vector extensions), with no branch and an ``exp`` of its own (:data:`_PRELUDE`: range
reduction to ``[-ln2/2, ln2/2]`` and a degree-11 polynomial, within 2 ulp of the C
library's over the range of normal results). Spike onsets and ends are then found in a
separate pass over the cells with the published rule of :mod:`sbidic.simulate.readout`,
exactly as the Brian2 network does (threshold with refractoriness while above it, a
custom event for the repolarisation), so results go through the same read-out as every
device.

The library is built once per kernel source (model equations and constants, method,
step, applied current), compiler and machine (``-march=native``), in the programs cache
of :mod:`sbidic.simulate.compiled`, and loaded with :mod:`ctypes`; an index keyed by
what the source depends on, computed without Brian2, lets a new process run a built
kernel without importing Brian2. The cells' state lives in numpy arrays that the kernel
updates in place, so a run is resumable between calls (progress, spike buffer drained,
Ctrl-C). Models with noise or a function the kernel does not know run on a Brian2 device
instead (:class:`VectorUnsupported`).

References
----------
Stimberg M, Brette R, Goodman DFM (2019). Brian 2, an intuitive and efficient neural
simulator. eLife 8:e47314.

Cody WJ, Waite W (1980). Software Manual for the Elementary Functions. Prentice-Hall.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sbidic.simulate.readout import (
    REPOLARISATION_MV,
    SPIKE_THRESHOLD_MV,
    spike_trains_from_events,
    voltage_traces,
)

__all__ = [
    "VectorUnsupported",
    "build",
    "is_built",
    "kernel_source",
    "run_vector_chunk",
    "run_vector_chunks",
]

#: Compiler flags of the kernel library (``-march=native``: the cache key holds the machine).
CFLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fPIC", "-shared")
#: Steps per call into the kernel (progress, interruption and draining in between).
_STEPS_PER_CALL = 2000
#: Smallest spike buffer (onsets); a full buffer is drained between calls.
_MIN_SPIKE_BUFFER = 1 << 14
_KERNEL_VERSION = 1

#: Cells per vector (4 doubles: one AVX2 register; narrower machines split it).
LANES = 4

#: Brian2 function name -> vector function of :data:`_PRELUDE`.
_FUNCTIONS = {
    "exp": "sb_exp", "clip": "sb_clip", "exprel": "sb_exprel", "abs": "sb_abs",
    "sqrt": "sb_sqrt", "log": "sb_log", "log10": "sb_log10", "sin": "sb_sin",
    "cos": "sb_cos", "tan": "sb_tan", "sinh": "sb_sinh", "cosh": "sb_cosh",
    "tanh": "sb_tanh", "arcsin": "sb_asin", "arccos": "sb_acos", "arctan": "sb_atan",
    "floor": "sb_floor", "ceil": "sb_ceil",
}  # fmt: skip

_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES %LANES%
typedef double vd __attribute__((vector_size(8 * LANES)));
typedef int64_t vi __attribute__((vector_size(8 * LANES)));
#define V(x) ((x) - (vd){0})  /* scalar or vector -> vector (x - 0 is exact) */

static inline vd sel(vi mask, vd a, vd b) { return (vd)((mask & (vi)a) | (~mask & (vi)b)); }
static inline vd vload(const double *p) { vd x; memcpy(&x, p, sizeof x); return x; }
static inline void vstore(double *p, vd x) { memcpy(p, &x, sizeof x); }

/* exp(x): x = n ln2 + r, |r| <= ln2/2 (Cody-Waite: ln2 in two parts), exp(r) by the
   degree-11 polynomial interpolating it at the 12 Chebyshev nodes of that interval
   (coefficients in 50-digit arithmetic; relative error 2.2e-16), 2^n built in the
   exponent bits. Lane-wise, no branch. NaN propagates; outside the range of normal
   results (x < -708.4 or x > 709.43: 2^1024 has no exponent bits) it gives 0 and inf. */
static inline vd sb_exp(vd x) {
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    vd t = x * 1.4426950408889634 + shifter;
    vd n = t - shifter;
    vi k = (vi)t - (vi)V(shifter);
    vd r = x - n * 0.6931471803691238;
    r = r - n * 1.9082149292705877e-10;
    vd p = V(2.5110037605963777e-08);
    p = p * r + 2.763263963904103e-07;
    p = p * r + 2.755724091857897e-06;
    p = p * r + 2.4801485482328494e-05;
    p = p * r + 0.00019841269890047113;
    p = p * r + 0.0013888888952314775;
    p = p * r + 0.008333333333319601;
    p = p * r + 0.0416666666664881;
    p = p * r + 0.1666666666666668;
    p = p * r + 0.5000000000000019;
    p = p * r + 1.0;
    p = p * r + 1.0;
    vd y = p * (vd)((k + 1023) << 52);
    y = (vd)((vi)y & ~(x < -708.3964185322641));
    return sel(x > 709.436, V(INFINITY), y);
}
static inline vd sb_clip(vd x, vd lo, vd hi) {
    x = sel(x < lo, lo, x);
    return sel(x > hi, hi, x);
}
static inline vd sb_abs(vd x) { return (vd)((vi)x & (vi)V(-0.0) ^ (vi)x); }
/* (exp(x) - 1) / x: its Taylor series to x^6 for |x| < 0.01 (error < 3e-19), else the
   quotient (cancellation error < 2e-14 there) */
static inline vd sb_exprel(vd x) {
    vd small = 1.0 / 5040.0 + x * (1.0 / 40320.0);
    small = 1.0 / 720.0 + x * small;
    small = 1.0 / 120.0 + x * small;
    small = 1.0 / 24.0 + x * small;
    small = 1.0 / 6.0 + x * small;
    small = 0.5 + x * small;
    small = 1.0 + x * small;
    return sel(sb_abs(x) < 0.01, small, (sb_exp(x) - 1.0) / x);
}
static inline vd sb_pow(vd x, vd y) {
    vd r;
    for (int k = 0; k < LANES; ++k) r[k] = pow(x[k], y[k]);
    return r;
}
#define SB_LANEWISE(name, f) \
    static inline vd name(vd x) { vd r; for (int k = 0; k < LANES; ++k) r[k] = f(x[k]); return r; }
SB_LANEWISE(sb_sqrt, sqrt) SB_LANEWISE(sb_log, log) SB_LANEWISE(sb_log10, log10)
SB_LANEWISE(sb_sin, sin) SB_LANEWISE(sb_cos, cos) SB_LANEWISE(sb_tan, tan)
SB_LANEWISE(sb_sinh, sinh) SB_LANEWISE(sb_cosh, cosh) SB_LANEWISE(sb_tanh, tanh)
SB_LANEWISE(sb_asin, asin) SB_LANEWISE(sb_acos, acos) SB_LANEWISE(sb_atan, atan)
SB_LANEWISE(sb_floor, floor) SB_LANEWISE(sb_ceil, ceil)
static inline double sc_clip(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}
static inline double sc_exprel(double x) { return x == 0.0 ? 1.0 : expm1(x) / x; }
""".replace("%LANES%", str(LANES))


class VectorUnsupported(NotImplementedError):
    """The model or the run needs something the vector kernel does not do (noise, a
    function it does not know): simulate on a Brian2 device instead."""


#: Brian2 function name -> C function of the loop-invariant (scalar) statements.
_SCALAR_FUNCTIONS = {
    "exp": "exp", "clip": "sc_clip", "exprel": "sc_exprel", "abs": "fabs", "sqrt": "sqrt",
    "log": "log", "log10": "log10", "sin": "sin", "cos": "cos", "tan": "tan",
    "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsin": "asin", "arccos": "acos",
    "arctan": "atan", "floor": "floor", "ceil": "ceil",
}  # fmt: skip


def _renderer(vector: bool):
    """Brian2's C++ renderer, with the kernel's functions; ``vector``: every function
    argument made a vector, powers 2-4 as products, and no comparison (a vector
    comparison is a mask, not 0 or 1)."""
    from brian2.parsing.rendering import CPPNodeRenderer

    functions = _FUNCTIONS if vector else _SCALAR_FUNCTIONS

    class Renderer(CPPNodeRenderer):
        def render_Call(self, node):
            name = node.func.id
            if name not in functions:
                raise VectorUnsupported(f"function {name!r} has no vector-kernel form")
            args = [self.render_node(arg) for arg in node.args]
            if vector:
                args = [f"V({arg})" for arg in args]
            return f"{functions[name]}({', '.join(args)})"

        def render_BinOp(self, node):
            name = node.op.__class__.__name__
            if name == "Pow":
                value = getattr(node.right, "value", None)
                base = self.render_element_parentheses(node.left)
                if isinstance(value, int | float) and value in (2, 3, 4):
                    return "(" + " * ".join([base] * int(value)) + ")"
                power = self.render_node(node.right)
                return f"sb_pow(V({base}), V({power}))" if vector else f"pow({base}, {power})"
            if name in ("Mod", "FloorDiv"):
                raise VectorUnsupported(f"operator {name} has no vector-kernel form")
            return super().render_BinOp(node)

        def render_Compare(self, node):
            if vector:
                raise VectorUnsupported("a comparison in the update statements")
            return super().render_Compare(node)

        def render_BoolOp(self, node):
            if vector:
                raise VectorUnsupported("a boolean operator in the update statements")
            return super().render_BoolOp(node)

    return Renderer()


def _abstract_code(task: Mapping[str, Any]):
    """Brian2's update of one cell over one step for ``task`` (frozen subexpressions,
    then the state updater), and the variables it refers to."""
    from brian2.codegen.translation import make_statements
    from brian2.utils.stringtools import get_identifiers

    from sbidic.simulate.brian import _brian_prefs, _import_brian2, _network
    from sbidic.simulate.devices import BrianDevice

    b2 = _import_brian2()
    one = dict(task, conductances=task["conductances"][:1], record=None, noise=None,
               device="cpp_standalone", cell_ids=np.zeros(1, dtype=np.int64),
               initial={k: v if np.ndim(v) == 0 else v[:1]
                        for k, v in task["initial"].items()})  # fmt: skip
    with _brian_prefs("numpy"), BrianDevice("runtime", 1):
        net, group, _, _, _ = _network(b2, one, 1)
        for obj in [*net.objects, *group.contained_objects]:
            obj._network = "sbidic vector kernel"  # generated code only, never run: no warning
        updater = group.state_updater
        updater.update_abstract_code(run_namespace={})
        frozen = group.subexpression_updater
        code = (frozen.abstract_code + "\n" if frozen is not None else "") + updater.abstract_code
        assigned = {line.split("=")[0].strip() for line in code.splitlines() if "=" in line}
        needed = {n for n in get_identifiers(code) if n not in assigned or n in group.variables}
        variables = group.resolve_all(needed, run_namespace={})
        scalar, vector = make_statements(code, variables, np.float64, optimise=True)
        frozen_lines = [] if frozen is None else frozen.abstract_code.splitlines()
        frozen_names = [line.split("=")[0].strip() for line in frozen_lines if "=" in line]
    return scalar, vector, variables, frozen_names


def kernel_source(task: Mapping[str, Any]) -> tuple[str, list[str]]:
    """C source of the kernel that runs ``task``'s model, and the order of the per-cell
    arrays its ``arrays`` argument takes (state variables and parameters first, then
    ``not_refractory``, ``armed`` and ``t_end``).

    Raises :class:`VectorUnsupported` for what the kernel does not do.
    """
    from brian2.core.functions import Function
    from brian2.core.variables import ArrayVariable, Constant

    if task.get("noise") is not None:
        raise VectorUnsupported("noise runs on a Brian2 device")
    scalar, vector, variables, frozen = _abstract_code(task)
    render, render_scalar = _renderer(vector=True), _renderer(vector=False)
    lines = [_PRELUDE, f"/* sbidic vector kernel {_KERNEL_VERSION}: {task['model'].name}, "
             f"{task['method']}, dt = {float(task['dt_ms'])!r} ms */"]  # fmt: skip
    per_run = {"t", "t_in_timesteps", "i", "N", "lastspike"} & set(variables)
    if per_run:  # the time, the cell's index or the group's size: not in the kernel
        raise VectorUnsupported(f"the equations use {sorted(per_run)}")
    constants = []
    arrays: list[str] = []
    for name, var in sorted(variables.items()):
        if isinstance(var, Constant):
            constants.append(f"    const double {name} = {float(var.value)!r};")
        elif isinstance(var, Function):
            if name not in _FUNCTIONS:
                raise VectorUnsupported(f"function {name!r} has no vector-kernel form")
        elif isinstance(var, ArrayVariable):
            if name == "dt":
                continue
            if name not in frozen and name != "not_refractory":
                arrays.append(name)
    if "v" not in arrays:
        raise VectorUnsupported("the kernel needs the membrane potential v")
    # Brian2's refractoriness statement (``not_refractory = not_refractory or not
    # (v > threshold)``) moves to the spike pass, which keeps the update free of branches
    vector = [s for s in vector if s.var != "not_refractory"]
    written = {s.var for s in vector if s.op == "="}
    for name in frozen:
        written.discard(name)
    arrays = sorted(arrays)
    order = [*arrays, "not_refractory", "armed", "t_end"]
    lines.append(
        "int64_t sbidic_run(int64_t n, int64_t step0, int64_t step1, int64_t n_trans,\n"
        "                   double *const *arrays, int64_t *spike_cell, int64_t *spike_step,\n"
        "                   int64_t capacity, int64_t *n_spikes, const int64_t *rec,\n"
        "                   int64_t n_rec, double *rec_v, int64_t rec_len, int64_t rec_start) {"
    )
    lines.extend(constants)
    lines.append(f"    const double dt = {float(task['dt_ms']) * 1e-3!r};")
    for s in scalar:
        lines.append(f"    const double {s.var} = {render_scalar.render_expr(s.expr)};")
    for k, name in enumerate(order):
        lines.append(f"    double *restrict _a_{name} = arrays[{k}];")
    thr, repol = SPIKE_THRESHOLD_MV * 1e-3, REPOLARISATION_MV * 1e-3  # V
    lines.append(f"""    const double thr = {thr!r}, repol = {repol!r};
    for (int64_t step = step0; step < step1; ++step) {{
        if (*n_spikes + n > capacity) return step;
        if (step >= rec_start)
            for (int64_t r = 0; r < n_rec; ++r)
                rec_v[r * rec_len + (step - rec_start)] = _a_v[rec[r]];
        for (int64_t i = 0; i < n; i += LANES) {{  /* n is a multiple of LANES */""")  # fmt: skip
    for name in arrays:
        lines.append(f"            vd {name} = vload(_a_{name} + i);")
    for name in frozen:
        lines.append(f"            vd {name};")
    for s in vector:
        expr = render.render_expr(s.expr)
        if s.op == ":=":
            lines.append(f"            const vd {s.var} = V({expr});")
        else:
            lines.append(f"            {s.var} = V({expr});")
    for name in sorted(written):
        lines.append(f"            vstore(_a_{name} + i, {name});")
    lines.append("""        }
        for (int64_t i = 0; i < n; ++i) {
            const double v = _a_v[i];
            if (v > thr && _a_not_refractory[i] != 0.0) {
                _a_not_refractory[i] = 0.0;
                _a_armed[i] = 1.0;
                if (step >= n_trans) {
                    spike_cell[*n_spikes] = i;
                    spike_step[*n_spikes] = step;
                    *n_spikes += 1;
                }
            } else if (v < repol && _a_armed[i] > 0.5) {
                _a_armed[i] = 0.0;
                _a_t_end[i] = step * dt;
            }
            if (!(v > thr)) _a_not_refractory[i] = 1.0;  /* Brian2: refractory while v > thr */
        }
    }
    return step1;
}""")
    return "\n".join(lines) + "\n", order


def _compiler() -> str:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise VectorUnsupported("no C compiler (cc) found")
    return compiler


_LOADED: dict[str, Any] = {}
_SOURCES: dict[str, tuple[str, list[str]]] = {}


def _source(task: Mapping[str, Any]) -> tuple[str, list[str]]:
    """:func:`kernel_source`, kept per model, method, step and current in this process."""
    model = task["model"]
    key = repr((model.name, model.equations, sorted(model.namespace().items()),
                sorted(task["initial"]), task["method"],
                float(task["dt_ms"]), float(task["applied_current"])))  # fmt: skip
    if key not in _SOURCES:
        _SOURCES[key] = kernel_source(task)
    return _SOURCES[key]


def _library_path(source: str) -> Path:
    from sbidic.simulate.compiled import cache_directory

    text = "\0".join([source, _compiler(), *CFLAGS, platform.machine(), platform.node(),
                      platform.system()])  # fmt: skip
    return cache_directory() / f"vector-{hashlib.sha256(text.encode()).hexdigest()[:20]}.so"


def _index_path(task: Mapping[str, Any]) -> Path | None:
    """Where the kernel of ``task`` is indexed by what it depends on, computed without
    Brian2 (model equations and constants, states, method, step, current, Brian2's
    version, compiler and machine), so that a cached kernel runs without importing
    Brian2; None for a model with its own ``namespace()``."""
    from importlib.metadata import version

    from sbidic.models.base import ConductanceModel
    from sbidic.simulate.compiled import cache_directory

    model = task["model"]
    if type(model).namespace is not ConductanceModel.namespace:
        return None
    text = json.dumps([_KERNEL_VERSION, model.name, model.equations,
                       sorted(model.constants.items()), sorted(task["initial"]),
                       task["method"], float(task["dt_ms"]), float(task["applied_current"]),
                       version("brian2"), _compiler(), CFLAGS, platform.machine(),
                       platform.node(), platform.system()])  # fmt: skip
    return cache_directory() / f"vector-{hashlib.sha256(text.encode()).hexdigest()[:20]}.json"


def _kernel(task: Mapping[str, Any]):
    """The kernel function of ``task``, the order of its arrays and the seconds spent
    building it (0 when cached): from the index when it names a built library, else
    generated with Brian2, compiled and indexed."""
    index = _index_path(task)
    if index is not None and index.exists():
        try:
            info = json.loads(index.read_text())
            library = index.parent / str(info["library"])
            if not re.fullmatch(r"vector-[0-9a-f]{20}\.so", library.name) or (
                    library.parent != index.parent):  # fmt: skip
                raise ValueError("not a kernel of this cache")  # only its own .so are loaded
            if library.name in _LOADED or library.exists():
                return _load(library), [str(name) for name in info["order"]], 0.0
        except (ValueError, KeyError, TypeError, OSError):
            pass  # a damaged index: generate again
    source, order = _source(task)
    fn, build_s = _library(source)
    library = _library_path(source)
    if index is not None and library.exists():  # (loaded from another cache: not indexed)
        staged = index.with_name(f".{index.name}.{os.getpid()}")
        staged.write_text(json.dumps({"library": library.name, "order": order}))
        os.replace(staged, index)
    return fn, order, build_s


def is_built(task: Mapping[str, Any]) -> bool:
    """Whether the kernel library that runs ``task`` is in the cache."""
    if task.get("noise") is not None:
        return False
    index = _index_path(task)
    if index is not None and index.exists():
        return True
    path = _library_path(_source(task)[0])
    return path.name in _LOADED or path.exists()  # loaded: the same code, from any cache


def build(task: Mapping[str, Any]) -> float:
    """Build (or load) the kernel library of ``task``; seconds spent compiling."""
    return _kernel(task)[2]


def _load(path: Path):
    """The kernel function of the library at ``path`` (loaded once per process)."""
    if path.name not in _LOADED:
        fn = ctypes.CDLL(str(path)).sbidic_run
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        fn.restype = i64
        fn.argtypes = [i64, i64, i64, i64, ptr, ptr, ptr, i64, ptr, ptr, i64, ptr, i64, i64]
        _LOADED[path.name] = fn
    return _LOADED[path.name]


def _library(source: str):
    """The kernel function compiled from ``source`` (cached on disk and in this
    process), and the seconds its compilation took (0 when cached)."""
    path = _library_path(source)
    if path.name in _LOADED:
        return _LOADED[path.name], 0.0
    t0 = time.perf_counter()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="sbidic-vector-") as tmp:
            src, out = Path(tmp) / "kernel.c", Path(tmp) / "kernel.so"
            src.write_text(source)
            done = subprocess.run([_compiler(), *CFLAGS, str(src), "-o", str(out), "-lm"],
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode != 0:
                raise VectorUnsupported(f"the C compiler failed: {done.stderr.strip()[-500:]}")
            staged = path.with_name(f".{path.name}.{os.getpid()}")
            shutil.copyfile(out, staged)
            os.replace(staged, path)  # atomic: concurrent builders publish the same file
    return _load(path), time.perf_counter() - t0


def run_vector_chunks(tasks: list[dict], n_threads: int, progress, n_cells: int) -> list[dict]:
    """Run the chunks in ``n_threads`` threads of this process (the kernel releases the
    GIL; measured against processes in ``docs/simulation.md``); outputs in chunk order.
    The kernels of the chunks must be built (:func:`build`)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    cancel = threading.Event()
    tasks = [dict(task, cancel=cancel) for task in tasks]
    with ThreadPoolExecutor(max_workers=min(n_threads, len(tasks))) as pool:
        futures = [pool.submit(run_vector_chunk, task) for task in tasks]
        try:
            done = 0
            for future in as_completed(futures):
                done += len(tasks[futures.index(future)]["conductances"])
                if progress is not None:
                    progress(done / n_cells)
            return [future.result() for future in futures]
        except BaseException:  # Ctrl-C, a failed chunk: the other threads stop too
            cancel.set()
            raise


def run_vector_chunk(task: Mapping[str, Any]) -> dict:
    """Simulate one chunk of cells with the vector kernel; the output of
    :func:`sbidic.simulate.runner._run_chunk`."""
    from sbidic.simulate.brian import cell_values

    fn, order, build_s = _kernel(task)
    t0 = time.perf_counter()
    g = np.asarray(task["conductances"], dtype=np.float64)
    n_cells = len(g)
    n = -(-n_cells // LANES) * LANES  # padded with copies of the first cell, dropped after
    pad = [0] * (n - n_cells)
    initial = {k: v if np.ndim(v) == 0 else np.concatenate([v, np.asarray(v)[pad]])
               for k, v in task["initial"].items()}  # fmt: skip
    g = np.concatenate([g, g[pad]])
    n_total, n_trans = int(task["n_total"]), int(task["n_trans"])
    values = cell_values(task["model"], g, initial)
    values["not_refractory"] = values["not_refractory"].astype(np.float64)
    values["armed"] = np.zeros(n)
    values["t_end"] = np.full(n, -1.0)
    columns = []
    for name in order:
        if name not in values:
            raise VectorUnsupported(f"no initial value or parameter for {name!r}")
        columns.append(np.ascontiguousarray(np.broadcast_to(values[name], n), dtype=np.float64))
    pointers = (ctypes.c_void_p * len(columns))(*[c.ctypes.data for c in columns])
    rec = task.get("record")
    rec = np.asarray([] if rec is None else rec, dtype=np.int64)
    rec_len = n_total - 1 - n_trans if len(rec) else 0
    rec_v = np.zeros((len(rec), rec_len))
    capacity = max(_MIN_SPIKE_BUFFER, n)  # room for one onset per cell and step
    spike_cell = np.empty(capacity, dtype=np.int64)
    spike_step = np.empty(capacity, dtype=np.int64)
    count = ctypes.c_int64(0)
    cells, steps = [], []
    progress = task.get("progress")
    cancel = task.get("cancel")  # a threading.Event: stop between calls
    step, last = 0, n_total - 1
    while step < last:
        if cancel is not None and cancel.is_set():
            raise KeyboardInterrupt("simulation cancelled")
        stop = min(step + _STEPS_PER_CALL, last)
        before = step
        step = fn(n, step, stop, n_trans, pointers, spike_cell.ctypes.data,
                  spike_step.ctypes.data, capacity, ctypes.byref(count), rec.ctypes.data,
                  len(rec), rec_v.ctypes.data, rec_len, last - rec_len)  # fmt: skip
        if step == before and not count.value:  # pragma: no cover - a kernel bug
            raise RuntimeError(f"the vector kernel made no progress at step {step}")
        if count.value:
            cells.append(spike_cell[: count.value].copy())
            steps.append(spike_step[: count.value].copy())
            count.value = 0
        if progress is not None:
            progress(step / last)
    spike_i = np.concatenate(cells) if cells else np.empty(0, dtype=np.int64)
    spike_k = np.concatenate(steps) if steps else np.empty(0, dtype=np.int64)
    state = dict(zip(order, columns, strict=True))
    dt_s = float(task["dt_ms"]) * 1e-3
    trains, diverged = spike_trains_from_events(
        spike_i, spike_k * dt_s, state["v"], state["armed"], state["t_end"], n_cells,
        task["dt_ms"], n_trans)  # fmt: skip
    v_rec = voltage_traces(rec_v, state["v"][rec]) if len(rec) else None
    return {"trains": trains, "v": v_rec, "diverged": diverged,
            "timings": {"build_s": build_s, "run_s": time.perf_counter() - t0}}  # fmt: skip
