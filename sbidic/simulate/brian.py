"""The Brian2 network of a chunk of cells, the same on every device.

:func:`_network` builds one ``NeuronGroup`` from a model's equations (per-cell
maximal conductances and initial state, optional applied and band-limited noise
currents, the published spike rule of :mod:`sbidic.simulate.readout`), its spike
monitor and an optional voltage monitor; :func:`_run_network` runs it. The runtime
runner (:mod:`sbidic.simulate.runner`), one-off standalone programs and the cached
C++ programs (:mod:`sbidic.simulate.compiled`) all use them. Also here: the
Brian2 set-up they need, :func:`codegen_target` (cython or numpy code generation)
and an import of Brian2 that works from any thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from sbidic.simulate.noise import BandLimitedNoise
from sbidic.simulate.readout import REPOLARISATION_MV, SPIKE_THRESHOLD_MV

__all__ = [
    "cell_values",
    "codegen_target",
    "frozen_subexpressions",
]

_CODEGEN: dict[str, str] = {}
_GROUP_NAME = "sbidic_cells"
_NOISE_NAME = "sbidic_noise"
_APPLIED_NAME = "sbidic_applied_current"
_ZERO_DIVISION = (
    "model {name!r}: its equations divided by zero during the simulation ({method}). A rate "
    "a x / (exp(x / k) - 1) at x = 0? Write it a k / exprel(x / k) and integrate with rk4 "
    "or rk2: exponential_euler rewrites the gate equations symbolically, exprel included "
    "(docs/own-model.md)"
)


# ------------------------------------------------------------------------ codegen
def codegen_target(codegen: str = "auto") -> str:
    """Brian2 code-generation target: ``"cython"`` when a test compilation works
    (checked once per process), else ``"numpy"`` with a warning giving the reason.
    ``"cython"``/``"numpy"`` force it.

    Examples
    --------
    >>> codegen_target("numpy")
    'numpy'
    >>> codegen_target() in ("cython", "numpy")
    True
    """
    if codegen not in ("auto", "cython", "numpy"):
        raise ValueError(f"codegen must be 'auto', 'cython' or 'numpy', got {codegen!r}")
    if codegen != "auto":
        return codegen
    if "auto" not in _CODEGEN:
        import threading
        import warnings

        why = ""
        try:
            from brian2.codegen.runtime.cython_rt import CythonCodeObject

            ok = bool(CythonCodeObject.is_available())
            why = "" if ok else "Brian2 could not compile a test Cython extension"
        except Exception as err:  # noqa: BLE001 - any failure means no cython
            ok, why = False, f"{type(err).__name__}: {err}"
        if not ok:
            warnings.warn(
                f"Brian2's Cython code generation is unavailable ({why}); simulating with "
                "numpy code generation, 10-20 times slower. Check that a C compiler and "
                "Cython are installed; pass codegen='numpy' to silence this.",
                RuntimeWarning,
                stacklevel=2,
            )
            if threading.current_thread() is not threading.main_thread():
                return "numpy"  # e.g. first imported in a worker thread: retry later
        _CODEGEN["auto"] = "cython" if ok else "numpy"
    return _CODEGEN["auto"]


# ------------------------------------------------------------------------ network
@contextlib.contextmanager
def _brian_prefs(target: str):
    from brian2 import prefs

    old = prefs.codegen.target
    prefs.codegen.target = target
    try:
        yield
    finally:
        prefs.codegen.target = old


# Cython body of the noise function. Brian2's own 2-D TimedArray writes the array shape
# into the generated code, so every new (n_steps, n_cells) would compile a new
# extension (10-20 s); here the shape travels in the namespace, and the code only
# depends on dt, so the compiled extension is reused across sizes and durations.
_NOISE_CYTHON = """
cdef double %NAME%(const double t, const int i):
    global _namespace%NAME%_values
    global _namespace%NAME%_shape
    cdef double epsilon = %DT% / %K%
    cdef int rows = _namespace%NAME%_shape[0]
    cdef int cols = _namespace%NAME%_shape[1]
    if i < 0 or i >= cols:
        return _numpy.nan
    cdef int timestep = (int)((t/epsilon + 0.5)/%K%)
    if timestep < 0:
        timestep = 0
    elif timestep >= rows:
        timestep = rows - 1
    return _namespace%NAME%_values[(<long long>timestep) * cols + i]
"""


def _noise_timed_array(values_uA_cm2: np.ndarray, dt_ms: float):
    """2-D ``TimedArray`` ``(t, i)`` of a noise current given in uA/cm^2 on the
    simulation grid (sample ``n`` holds for ``[n dt, (n + 1) dt)``). The array is
    converted to SI in place and shared, not copied."""
    import brian2 as b2
    from brian2.input.timedarray import _find_K

    unit = b2.uA / b2.cm**2
    values_uA_cm2 *= float(unit)  # in place, to SI (A/m^2): no copy of a large array
    quantity = b2.Quantity(values_uA_cm2, dim=unit.dim, copy=False)
    ta = b2.TimedArray(quantity, dt=dt_ms * b2.ms, name=_NOISE_NAME)
    flat = np.ascontiguousarray(ta.values, dtype=np.float64).ravel()
    shape = np.array(ta.values.shape, dtype=np.int32)
    dt_s = float(dt_ms * 1e-3)

    def cython_code(owner):
        k = _find_K(owner.clock.dt_, dt_s)
        return (
            _NOISE_CYTHON.replace("%NAME%", _NOISE_NAME)
            .replace("%DT%", f"{dt_s:.18f}")
            .replace("%K%", str(k))
        )

    def cython_namespace(owner):
        return {f"{_NOISE_NAME}_values": flat, f"{_NOISE_NAME}_shape": shape}

    ta.implementations.add_dynamic_implementation(
        "cython", cython_code, namespace=cython_namespace, name=_NOISE_NAME
    )
    return ta


def _import_brian2():
    """``import brian2``, also from a worker thread (e.g. a Dask worker).

    Brian2 installs a SIGINT handler when it is first imported, which Python allows
    only in the main thread; in any other thread that one call is skipped. Ctrl-C then
    interrupts sbidic, not only the simulation under way: by default Brian2 stops the
    run quietly and the command went on with truncated spike trains.
    """
    import sys
    import threading

    if "brian2" in sys.modules or threading.current_thread() is threading.main_thread():
        import brian2
    else:
        import signal

        install = signal.signal
        signal.signal = lambda signalnum, handler: signal.getsignal(signalnum)
        try:
            import brian2
        finally:
            signal.signal = install
    brian2.prefs.core.stop_on_keyboard_interrupt = False
    return brian2


def cell_values(model, g: np.ndarray, initial: Mapping) -> dict[str, Any]:
    """Values of the cell group's per-cell variables, in SI units, as Brian2 sets them
    with ``group.<name>_``: maximal conductances ``g_<name>`` (mS/cm^2 -> S/m^2), the
    initial state (``v`` mV -> V; gates and the others are dimensionless) and
    ``not_refractory`` (a cell whose first sample is above threshold has no onset
    there)."""
    values: dict[str, Any] = {f"g_{name}": g[:, j] * 10.0
                              for j, name in enumerate(model.conductances)}  # fmt: skip
    for key, value in initial.items():
        values[key] = np.asarray(value, dtype=np.float64) * (1e-3 if key == "v" else 1.0)
    values["not_refractory"] = np.asarray(initial["v"]) <= SPIKE_THRESHOLD_MV
    return values


def frozen_subexpressions(equations) -> set[str]:
    """Subexpressions that exponential Euler holds constant over a step anyway.

    Exponential Euler integrates each state variable ``x`` with every other variable
    frozen at the start of the step, so a subexpression that no equation using it
    depends on through its own variable (a gate's time constant or steady state,
    functions of ``v`` used only by the gate's equation) keeps its start-of-step value
    throughout. Marking it ``(constant over dt)`` lets Brian2 evaluate it once per step
    instead of expanding it symbolically into every equation that uses it: the same
    arithmetic with fewer exponentials (measured on STG in C++: 291 -> 226 ns per cell
    and step; at runtime the extra code object per step costs more than it saves for
    small populations, so only C++ programs use it). Subexpressions that the
    integrated variable enters (e.g. the ionic currents in ``dv/dt``) are left alone.

    Examples
    --------
    >>> from brian2 import Equations
    >>> eqs = Equations('''
    ...     dv/dt = -I / (1*ms) : 1
    ...     I = g * m * v : 1
    ...     dm/dt = (m_inf - m) / tau : 1
    ...     m_inf = 1 / (1 + exp(-v)) : 1
    ...     tau = (1 + v**2) * ms : second
    ...     g : 1''')
    >>> sorted(frozen_subexpressions(eqs))
    ['m_inf', 'tau']
    """
    from brian2.equations.equations import DIFFERENTIAL_EQUATION, SUBEXPRESSION

    subs = {n: e.identifiers for n, e in equations.items() if e.type == SUBEXPRESSION}
    states = {n for n, e in equations.items() if e.type == DIFFERENTIAL_EQUATION}
    reach: dict[str, set[str]] = {}  # subexpressions reachable from one, itself included

    def reachable(name: str) -> set[str]:
        if name not in reach:
            reach[name] = {name}
            for ident in subs[name] & subs.keys():
                reach[name] |= reachable(ident)
        return reach[name]

    def state_dependencies(name: str) -> set[str]:
        return set().union(*(subs[s] & states for s in reachable(name)))

    frozen = set(subs)
    for x in states:
        for direct in equations[x].identifiers & subs.keys():
            for s in reachable(direct):
                if x in state_dependencies(s):
                    frozen.discard(s)
    return frozen


def _with_frozen_subexpressions(b2, eqs: str):
    """``eqs`` as Brian2 ``Equations``, :func:`frozen_subexpressions` flagged."""
    from brian2.equations.equations import SingleEquation

    equations = b2.Equations(eqs)
    frozen = frozen_subexpressions(equations)
    return b2.Equations([
        SingleEquation(e.type, e.varname, e.dim, e.var_type, e.expr,
                       flags=list(e.flags) + ["constant over dt"])
        if e.varname in frozen else e
        for e in equations.values()
    ])  # fmt: skip


def _network(b2, task: dict, n_cells: int):
    """The Brian2 objects of one chunk: the cell group (initial state and conductances
    of ``task`` set), its spike monitor, an optional voltage monitor, and the steps of
    each ``run`` (the voltage is recorded during the last one only).

    At runtime, in one-off standalone programs and in the cached programs of
    :mod:`sbidic.simulate.compiled` alike, so every device runs the same network.
    """
    model = task["model"]
    n_total, n_trans = task["n_total"], task["n_trans"]
    eqs = model.equations.rstrip() + "\n"
    namespace = dict(model.namespace())
    noise: BandLimitedNoise | None = task.get("noise")
    terms = []
    if task["applied_current"]:
        namespace[_APPLIED_NAME] = task["applied_current"] * b2.uamp / b2.cm**2
        terms.append(_APPLIED_NAME)
    if noise is not None:
        values = noise.generate(n_total, task["dt_ms"], task["seed"], task["cell_ids"])
        namespace[_NOISE_NAME] = _noise_timed_array(values, task["dt_ms"])
        terms.append(f"{_NOISE_NAME}(t, i)")
    eqs += f"I_ext = {' + '.join(terms) or '0*amp/meter**2'} : amp/meter**2\n"
    eqs += "armed : 1\nt_end : second\n"

    if task["method"] == "exponential_euler" and task.get("device") == "cpp_standalone":
        # at runtime the extra per-step code object costs more than it saves
        eqs = _with_frozen_subexpressions(b2, eqs)
    thr = SPIKE_THRESHOLD_MV
    group = b2.NeuronGroup(
        n_cells,
        eqs,
        method=task["method"],
        threshold=f"v > {thr}*mV",
        refractory=f"v > {thr}*mV",
        reset="armed = 1",
        events={"repolarised": f"v < {REPOLARISATION_MV}*mV and armed > 0.5"},
        namespace=namespace,
        dt=task["dt_ms"] * b2.ms,
        name=_GROUP_NAME,
    )
    group.run_on_event("repolarised", "armed = 0\nt_end = t")
    for key, value in cell_values(model, task["conductances"], task["initial"]).items():
        if key in task["initial"] and key != "v" and not group.variables[key].dim.is_dimensionless:
            raise ValueError(f"model {model.name!r}: state variable {key!r} must be "
                             "dimensionless (only v has units, mV)")  # fmt: skip
        setattr(group, f"{key}_", value)
    group.armed = 0
    group.t_end = -1 * b2.second

    spikes = b2.SpikeMonitor(group, name="sbidic_spikes")
    objects = [group, spikes]
    rec = task["record"]
    vmon = None
    if rec is not None and len(rec):
        vmon = b2.StateMonitor(group, "v", record=rec, name="sbidic_v")
        objects.append(vmon)
    # n_total - 1 steps: every tested sample lies on 0, dt, ..., (n_total - 1) dt
    steps = [n_trans, n_total - 1 - n_trans] if vmon is not None and n_trans > 0 else [
        n_total - 1]  # fmt: skip
    return b2.Network(*objects), group, spikes, vmon, steps


def _run_network(b2, task: dict, net, vmon, steps, progress=None) -> None:
    """Run ``steps`` (records the voltage in the last run only); a division by zero in
    the model's equations becomes a ``ValueError`` that says how to write them."""
    dt = task["dt_ms"] * b2.ms
    total = sum(steps)
    for k, n_steps in enumerate(steps):
        if vmon is not None:
            vmon.active = k == len(steps) - 1
        report = None
        if progress is not None:
            before = sum(steps[:k])

            def report(elapsed, completed, start, duration, before=before, n=n_steps):
                progress((before + completed * n) / total)

        try:
            net.run(n_steps * dt, namespace={}, report=report, report_period=2 * b2.second)
        except b2.core.base.BrianObjectException as err:
            if not isinstance(err.__cause__, ZeroDivisionError):
                raise
            message = _ZERO_DIVISION.format(name=task["model"].name, method=task["method"])
            raise ValueError(message) from None
