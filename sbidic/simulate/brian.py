"""Simulate populations of conductance-based cells with Brian2.

:func:`simulate` runs N cells with per-cell maximal conductances in one Brian2
``NeuronGroup`` built from a model's equations, and returns their spike trains
(and optionally voltage traces) as a :class:`SimulationResult`.

Spike detection (published rule, done inside Brian2)
----------------------------------------------------
The published pipeline samples V on a grid ``t_k = k dt`` and calls a *spike onset* the
first sample above +10 mV (``V[k-1] <= 10 < V[k]``; spike time ``t_k``), an *end* a
downward crossing of 0 mV (``V[k-1] >= 0 > V[k]``), and keeps the onsets before the last
end, so a final spike that has not come back below 0 mV is dropped; only samples in the
kept window ``[transient, duration)`` count. Brian2 reproduces this exactly, without
recording V:

* ``threshold="v > 10*mV"`` with ``refractory="v > 10*mV"``: the refractory flag is
  cleared at the start of a step whose sample is ``<= 10 mV``, so a spike is emitted
  exactly at the samples ``V[k-1] <= 10 < V[k]``. Brian2 stamps it with the time of the
  step it was detected in, ``t_{k-1}``; the reported time is ``t_k``.
* the spike's reset arms a flag, and a custom event ``v < 0*mV and armed`` (the first
  sample below 0 mV after an onset, i.e. an end) disarms it and stores its time. At the
  end of the run, onsets after the last end of a still-armed cell are dropped.
* the network runs ``n - 1`` steps so that every sample it tests lies on the grid
  ``0, dt, ..., duration - dt`` (the reference's ``arange(transient, duration, dt)``);
  an onset must have its predecessor sample in the window, so spikes are kept from
  ``transient + dt`` on.

The initial state of every cell is ``model.initial_state()``.

Choice of integration method and step
-------------------------------------
Measured against the converged solutions (LSODA at rtol = atol = 1e-11) of every
reference case in ``tests/data/reference_{stg,da}.json`` over the published protocol
(STG: 6000 ms, spikes in 3000-6000 ms; DA: 12000 ms, spikes in 3000-12000 ms), all
cases of a model in one group, cython, by
``OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py --accuracy``. Columns: cases
with the converged label (of 6), worst spike-count difference, worst relative error of
the mean ISI, worst difference of spikes per burst, worst relative error of the burst
period, and wall time per simulated neuron-second (N = 200 cells, 500 ms, one core of
a 2-core machine shared with other jobs, so timings are indicative: they varied by
up to 30 % between runs). "blow-up": the voltage became NaN (no spikes).

::

    model method             dt ms  labels |dn|  ISI err  |dspb|  period   ms/neuron-s
    STG exponential_euler    0.005   6/6     1    0.23 %     0     0.23 %    70
    STG exponential_euler    0.01    6/6     1    0.43 %     0     0.43 %    25-33
    STG exponential_euler    0.025   6/6     2    0.91 %     0     0.98 %     9.6
    STG exponential_euler    0.05    6/6     2    1.7 %      0     1.7 %      5.7
    STG rk4                  0.01    blow-up (every spiking cell)            93
    STG rk4                  0.025   blow-up                                 28
    STG rk4                  0.05    blow-up                                 15
    STG rk2                  0.01    blow-up                                 45
    STG rk2                  0.025   blow-up                                 16
    DA  exponential_euler    0.005   6/6    13    33 %       8     8.9 %     51
    DA  exponential_euler    0.01    6/6    33    62 %      12    12 %       25
    DA  exponential_euler    0.025   6/6    61   193 %      19    19 %       11
    DA  exponential_euler    0.05    6/6    84   455 %      23    22 %        7.4
    DA  rk4                  0.01    6/6     0    0.037 %    0     0.032 %   64
    DA  rk4                  0.025   6/6     0    0.017 %    0     0.009 %   21
    DA  rk4                  0.05    blow-up (4 of the 5 spiking cells)      12
    DA  rk2                  0.01    6/6     0    0.11 %     0     0.055 %   32
    DA  rk2                  0.025   6/6     0    0.12 %     0     0.18 %    12

Defaults (:data:`DEFAULT_INTEGRATION`), the cheapest settings that meet the accuracy
targets (same label, spike count within 1, mean ISI and burst period within 1 %,
spikes per burst exact) on every case:

* **STG: exponential_euler, dt = 0.01 ms.** The STG sodium conductance (thousands of
  mS/cm^2) makes V stiff (rate ~ g_Na m^3 h / C ~ 1000/ms during a spike), which the
  explicit Runge-Kutta methods cannot follow at these steps; exponential Euler
  integrates V's linear part exactly and is stable. It is first order: errors halve
  with dt, and dt = 0.025 ms already misses the spike-count target (g_ref: 48 spikes
  for 50, one burst of two fewer in the window).
* **DA: rk4, dt = 0.025 ms.** Exponential Euler is stable but converges very slowly
  on DA (errors of tens of percent even at 0.005 ms: the pacemaking drifts slowly
  through the threshold region, where the ISI is very sensitive to the first-order
  bias); rk2 and rk4 converge. rk4 at 0.025 ms is 7 to 20 times more accurate than rk2
  at 1.7 times the cost, and it stays stable where the DA equations guard the
  tau_m_Na singularity (DA spec section 1.2) with ``clip(tau_m_Na, 0.01 ms, inf)``:
  dt / tau = 2.5 < 2.79, rk4's stability limit (rk2's is 2). At 0.05 ms rk4 blows up.

Other models default to exponential Euler at 0.01 ms (:data:`FALLBACK_INTEGRATION`).
Cells that blow up are flagged in :attr:`SimulationResult.diverged`, with a warning.

Shorter transients (measured: the published protocol stays the default)
-----------------------------------------------------------------------
Can a shorter transient, or a start closer to the attractor, give the published
protocol's spike features? Measured on 200 random non-silent cells of each committed
dataset (``data/stg_dic_v1``, ``data/da_dic_v1``) at the default integration, by
``OMP_NUM_THREADS=1 python benchmarks/bench_transient.py`` (about 20 minutes on one
core of a loaded 2-core machine). Each run keeps a window as long as the published
one; a cell agrees with the published protocol when it meets every accuracy target
above (same label, spike count within 1, mean ISI within 1 %, spikes per burst exact
and burst period within 1 %).
The control keeps the published start and transient + 1000 ms: the cells it agrees
on are *stationary*; the others (irregular or slowly drifting firing) differ between
any two windows, whatever the transient. "Published start" is
``model.initial_state()``; "threshold" is ``initial_state="threshold"`` (every cell at
rest at V_th, gates and calcium at their steady state there).

::

    model start      transient ms  same label  all criteria  of stationary cells
    STG   control        4000        100 %        71.5 %        100 %
    STG   published       500         99.5 %      25.5 %         28.7 %
    STG   published      1000        100 %        56.5 %         72.0 %
    STG   published      2000        100 %        70.0 %         86.7 %
    STG   threshold       500         85.5 %      13.5 %         12.6 %
    STG   threshold      1000         85.5 %      49.5 %         59.4 %
    STG   threshold      2000         86.0 %      53.0 %         65.0 %
    DA    control        4000         99.0 %      82.5 %        100 %
    DA    published       500         99.0 %      79.5 %         94.5 %
    DA    published      1000         99.0 %      82.0 %         96.4 %
    DA    published      2000         99.5 %      81.5 %         97.6 %
    DA    threshold       500         98.0 %      79.5 %         95.2 %
    DA    threshold      1000         98.0 %      82.0 %         95.8 %
    DA    threshold      2000         99.0 %      83.0 %         97.0 %

No shorter transient meets the accuracy targets on every stationary cell. STG needs
the whole 3000 ms (from 2000 ms, 13 % of the stationary cells still miss a target);
DA is close from 500 ms on (94.5 %, 97.6 % at 2000 ms), so ``transient_ms=500``
(9500 instead of 12000 simulated ms per cell) is an option for DA when a few percent
of cells with slightly different features are acceptable. Starting at the threshold
steady state does not help: for DA it does no better than the published start, and it
changes the label of 14 % of the STG cells, which then settle on another attractor
(several coexist, and the one reached depends on the starting point).

Devices
-------
``device="auto"`` (the default) runs a cached compiled C++ program
(:mod:`sbidic.simulate.compiled`: built once per settings and re-run with new cells;
3.8 times the runtime device's speed for 20 STG cells over the published protocol,
1.2 times for 1,000) when it is already built or the run is long enough to repay the
build, and the runtime device otherwise; :mod:`sbidic.simulate.devices` lists them
all.

Parallelism and memory
----------------------
``n_jobs > 1`` splits the cells into chunks run in a spawn-context process pool (one
thread each, ``OMP_NUM_THREADS=1``), or, for a cached C++ program, in that many
processes of the program. With noise, cells are also chunked so that the
noise array of a chunk stays under ``max_noise_mb``. Results do not depend on the
chunking: cells are independent and each draws its noise from its own global id.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sbidic.simulate.compiled import MAX_SLOTS, is_cached, run_compiled
from sbidic.simulate.devices import BrianDevice, resolve_device
from sbidic.simulate.noise import BandLimitedNoise

__all__ = [
    "DEFAULT_INTEGRATION",
    "FALLBACK_INTEGRATION",
    "METHODS",
    "PROTOCOLS",
    "REPOLARISATION_MV",
    "SPIKE_THRESHOLD_MV",
    "SimulationResult",
    "codegen_target",
    "default_integration",
    "simulate",
]


class _PerModel(Mapping):
    """Read-only view ``{name: model.<attribute>}`` over the registered models that
    declare the attribute; the values live in each model's own file."""

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute

    def _table(self) -> dict:
        from sbidic.models import available_models, get_model

        values = {name: getattr(get_model(name), self._attribute, None)
                  for name in available_models()}  # fmt: skip
        return {name: value for name, value in values.items() if value is not None}

    def __getitem__(self, name: str):
        return self._table()[name]

    def __iter__(self):
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return repr(self._table())


#: Integration ``(method, dt_ms)`` per model (its ``integration``), chosen by
#: measurement (module docstring).
DEFAULT_INTEGRATION = _PerModel("integration")
#: Integration ``(method, dt_ms)`` of models that declare none.
FALLBACK_INTEGRATION = ("exponential_euler", 0.01)
#: Brian2 integration methods accepted by :func:`simulate`.
METHODS = ("exponential_euler", "rk4", "rk2", "heun", "euler")
#: Published protocol per model (its ``protocol``): (total duration, discarded
#: transient) in ms.
PROTOCOLS = _PerModel("protocol")
#: Upward crossing of this voltage (mV) is a spike onset.
SPIKE_THRESHOLD_MV = 10.0
#: Downward crossing of this voltage (mV) ends a spike; onsets after the last end are dropped.
REPOLARISATION_MV = 0.0

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


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class SimulationResult:
    """Spike trains (and optional voltage traces) of a simulated population.

    Attributes
    ----------
    spikes : sbidic.spikes.SpikeTrains
        One train per cell, in input order, ids = ``cell_ids``; absolute times (ms) in
        ``(transient_ms, duration_ms)`` on the grid ``k * dt_ms``.
    t_ms : ndarray or None
        Time grid of ``v_mV``: ``transient_ms, transient_ms + dt_ms, ...,
        duration_ms - dt_ms``.
    v_mV : ndarray, shape (n_rec, n_samples), or None
        Membrane voltage of the recorded cells (rows in the order of ``record_v``).
    record_v : ndarray of int or None
        Indices (into the input rows) of the recorded cells.
    model : ConductanceModel
        The simulated model.
    conductances : ndarray, shape (n_cells, n_conductances)
        Maximal conductances (mS/cm^2), columns in ``model.conductances`` order.
    cell_ids : ndarray of int
        Global cell ids (they key the noise streams).
    diverged : ndarray of bool
        Cells whose voltage became non-finite (numerical blow-up); their trains are
        empty and :func:`simulate` warns about them.
    settings : dict
        Duration, transient, dt, method, code-generation target, seed, noise, chunking.
    wall_time_s : float
        Wall-clock time of the whole call.

    Examples
    --------
    >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])  # one STG cell
    >>> result = simulate("stg", g, duration_ms=500.0, transient_ms=100.0, record_v=True)
    >>> result.n_spikes, result.spike_list()[0][:2]
    (array([7]), array([192.44, 205.02]))
    >>> result.v_mV.shape, float(result.t_ms[0]), result.settings["method"]
    ((1, 40000), 100.0, 'exponential_euler')
    """

    spikes: Any
    t_ms: np.ndarray | None
    v_mV: np.ndarray | None
    record_v: np.ndarray | None
    model: Any
    conductances: np.ndarray
    cell_ids: np.ndarray
    diverged: np.ndarray
    settings: dict = field(default_factory=dict)
    wall_time_s: float = float("nan")

    @property
    def n_cells(self) -> int:
        return len(self.conductances)

    @property
    def n_spikes(self) -> np.ndarray:
        """Number of spikes per cell."""
        return np.array([len(s) for s in self.spike_list()], dtype=np.int64)

    def spike_list(self) -> list[np.ndarray]:
        """Spike times (ms) as a list of arrays, one per cell."""
        if hasattr(self.spikes, "to_list"):
            return self.spikes.to_list()
        return list(self.spikes)

    def __repr__(self) -> str:
        s = self.settings
        rec = 0 if self.v_mV is None else len(self.v_mV)
        return (
            f"SimulationResult(model={self.model.name!r}, n_cells={self.n_cells}, "
            f"n_spikes={int(self.n_spikes.sum())}, recorded={rec}, "
            f"window=[{s.get('transient_ms')}, {s.get('duration_ms')}) ms, "
            f"dt={s.get('dt_ms')} ms, method={s.get('method')!r})"
        )


def default_integration(model) -> tuple[str, float]:
    """``(method, dt_ms)`` used by :func:`simulate` for ``model`` when not given.

    Examples
    --------
    >>> default_integration("da")
    ('rk4', 0.025)
    """
    from sbidic.models import get_model

    try:
        model = get_model(model)
    except ValueError:
        return FALLBACK_INTEGRATION
    return getattr(model, "integration", None) or FALLBACK_INTEGRATION


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


# ------------------------------------------------------------------------ worker
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
    only in the main thread; in any other thread that one call is skipped.
    """
    import sys
    import threading

    if "brian2" in sys.modules or threading.current_thread() is threading.main_thread():
        import brian2

        return brian2
    import signal

    install = signal.signal
    signal.signal = lambda signalnum, handler: signal.getsignal(signalnum)
    try:
        import brian2
    finally:
        signal.signal = install
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


def spike_trains_from_events(
    spike_i: np.ndarray,
    spike_t_s: np.ndarray,
    v_end_V: np.ndarray,
    armed: np.ndarray,
    t_end_s: np.ndarray,
    n_cells: int,
    dt_ms: float,
    n_trans: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Spike trains (ms) of the published rule from what the network recorded, and the
    cells that diverged.

    ``spike_i``/``spike_t_s`` are the spike monitor's (onsets stamped one step early,
    module docstring), ``v_end_V``, ``armed`` and ``t_end_s`` the group's final values.
    Only the first ``n_cells`` cells are kept (a cached program may hold padding).
    """
    dt_s = dt_ms * 1e-3
    v_end_V, armed, t_end_s = v_end_V[:n_cells], armed[:n_cells], t_end_s[:n_cells]
    diverged = ~np.isfinite(v_end_V)
    idx = np.asarray(spike_i, dtype=np.int64)
    step = np.rint(np.asarray(spike_t_s) / dt_s).astype(np.int64)
    end_step = np.rint(t_end_s / dt_s).astype(np.int64)
    keep = idx < n_cells
    # onset sample k = step + 1; needs k - 1 >= n_trans (predecessor in the window)
    keep &= step >= n_trans
    idx_c = np.minimum(idx, n_cells - 1)
    # onsets after the last end of a cell that never came back below 0 mV
    keep &= ~((armed[idx_c] > 0.5) & (step > end_step[idx_c]))
    # a cell whose state became NaN/inf has no meaningful train
    keep &= ~diverged[idx_c]
    idx, step = idx[keep], step[keep]
    order = np.argsort(idx, kind="stable")
    idx, step = idx[order], step[order]
    counts = np.bincount(idx, minlength=n_cells)
    times = (step + 1) * dt_ms
    return np.split(times, np.cumsum(counts)[:-1]), diverged


def _run_chunk(task: dict) -> dict:
    """Simulate one chunk of cells at runtime or as a one-off standalone program (in
    this process or in a pool worker)."""
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


def voltage_traces(recorded_V: np.ndarray, v_end_V: np.ndarray) -> np.ndarray:
    """Recorded voltage ``(n_rec, n_steps)`` in volts plus the final sample, in mV."""
    return np.concatenate([recorded_V, v_end_V[:, None]], axis=1) * 1e3


INITIAL_STATES = ("published", "threshold")


def _initial_state(model, g: np.ndarray, initial_state: str) -> dict:
    """State variables at t = 0: one value each, or one per cell."""
    if initial_state == "published":
        return model.initial_state()
    if initial_state == "threshold":
        return model.steady_state(model.V_th, g)
    raise ValueError(
        f"unknown initial_state {initial_state!r}; choose one of {INITIAL_STATES}"
    )


#: Seconds a C++ program takes to build (measured 5-8 s on a 2-core machine).
_BUILD_S = 6.0
_NO_COMPILER: list[str] = []  # why C++ standalone failed in this process, if it did


def _runtime_estimate_s(n_cells: int, n_total: int, n_jobs: int) -> float:
    """Rough wall time of the runtime device: about 12 us of interpreter overhead per
    step plus 0.3 us per cell and step, over ``n_jobs`` processes (measured on the
    published protocols: STG 18 us per step at 20 cells, 248 us at 1,000; DA 14 us at
    4 cells, 51 us at 100)."""
    return n_total * (12e-6 + 0.3e-6 * math.ceil(n_cells / n_jobs))


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
        Worker processes (``-1``: all cores); OpenMP threads with
        ``device="cpp_standalone"``; unused with ``device="cuda"``. Results are
        identical to ``n_jobs=1``.
    max_noise_mb : float, default 512
        Largest noise array (MB) per chunk of cells; more cells are run in chunks.
    progress : callable, optional
        ``progress(fraction)`` with the fraction of the simulation done, every 2 s of
        wall time in one process and per finished chunk with ``n_jobs > 1`` or a
        standalone device.
    device : {"auto", "runtime", "cpp_standalone", "cuda_standalone", "cuda"}
        Brian2 device (:mod:`sbidic.simulate.devices`). ``"runtime"`` steps the
        network from Python. ``"cpp_standalone"`` without noise runs a compiled C++
        program built once per settings and cached (:mod:`sbidic.simulate.compiled`;
        the first call builds it in about 6 s, later calls only run it, ``n_jobs``
        processes at a time); with noise, and ``"cuda"``, compile the whole run into one
        program each call. ``"auto"`` (default) takes the cached C++ program when it is
        already built or when the runtime device would take longer than building it,
        and the runtime device otherwise (always with noise, or where no C++ compiler
        works, with a warning). Spike detection is the same on every device; spike
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
        (module docstring, "Shorter transients": it changes the firing label of 14 %
        of STG cells); it is kept for such experiments.

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
    target = codegen_target(codegen)  # also checks the name
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

    def chunk_tasks(device: str) -> list[dict]:
        compiled = device == "cpp_standalone" and noise is None
        # runtime: one process per chunk; one-off standalone: one program (OpenMP, GPU);
        # cached C++ programs: chunks of at most MAX_SLOTS cells, n_jobs at a time
        n_workers = n_jobs if device == "runtime" or compiled else 1
        n = max(n_chunks, n_workers, math.ceil(n_cells / MAX_SLOTS) if compiled else 1)
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
                    "codegen": target if device == "runtime" else device,
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

    auto = device == "auto"
    if auto:
        device = "runtime"
        if noise is None and not _NO_COMPILER and target == "cython":
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
    if device != "runtime":
        target = device  # the standalone devices generate their own code
    if outputs is None:
        outputs = _run_tasks(tasks, n_jobs if device == "runtime" else 1, progress, n_cells)

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
        **{key: sum(out["timings"].get(key, 0.0) for out in outputs)
           for key in ("build_s", "run_s") if device != "runtime"},
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


def _as_spike_trains(trains: list[np.ndarray], ids: np.ndarray):
    """``SpikeTrains`` when :mod:`sbidic.spikes` is available, else the list."""
    try:
        from sbidic.spikes import SpikeTrains
    except ImportError:
        try:
            from sbidic.spikes.trains import SpikeTrains
        except ImportError:
            return trains
    return SpikeTrains.from_list(trains, ids=ids)
