"""Integration methods and steps, and the published protocols, per model.

:data:`DEFAULT_INTEGRATION` and :data:`PROTOCOLS` read each registered model's
``integration`` and ``protocol``; :func:`default_integration` is what
:func:`~sbidic.simulate.simulate` uses when no method or step is given. Below: the
measurements behind the defaults, and behind keeping the published transient.

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
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DEFAULT_INTEGRATION",
    "FALLBACK_INTEGRATION",
    "METHODS",
    "PROTOCOLS",
    "default_integration",
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
