"""Declare a conductance-based model once; derive everything sbidic needs from it.

A model file declares a :class:`ModelSpec` (channels with their gates, reversal
potentials, calcium, threshold, DIC timescales, compensation rules, Monte Carlo
ranges, simulation protocol, integration and noise defaults) on a
:class:`DeclaredModel` subclass, and writes no methods. From the declaration
:class:`DeclaredModel` derives

* the gating table (steady states, exact derivatives by forward-mode autodiff,
  time constants), the calcium steady state and the DIC terms, hence S(V), the
  DICs and the thresholds of :mod:`sbidic.dics`;
* the compensation rule (first matching condition) and its solvability check;
* the Brian2 equations string and the initial state;
* a model card (:func:`model_card`) for the docs.

The declaration is checked when the class is created (:mod:`sbidic.models.validation`):
a bad model fails at import with one message naming the problem.

DIC pathways follow Drion et al. (2015) and Brandoit et al. (2025): for a channel
with current ``g p(x) (V - E)`` and ``p = prod_j x_j^{k_j}``, gate ``j`` contributes
``(dp/dx_j)(dx_j,inf/dV)(V - E)`` on its own time constant; a calcium-dependent gate
``x = f(Ca) x_V(V)`` adds a calcium pathway ``(dp/dx) x_V f'(Ca) dCa_inf/dV (V - E)``
on the calcium time constant. A gate declared with ``tau=0`` is instantaneous (purely
fast, no state variable), one with ``tau=inf`` is purely ultraslow in the DICs.

References
----------
G. Drion, A. Franci, J. Dethier, R. Sepulchre (2015). Dynamic input conductances
shape neuronal spiking. eNeuro 2(1). https://doi.org/10.1523/ENEURO.0031-14.2015

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sbidic.models.autodiff import Dual, Expr, value_and_derivative
from sbidic.models.base import (
    ConductanceModel,
    DICTerms,
    SeedPopulation,
    SensitivitySplit,
    cache_scalar_voltage,
    stack_last,
)
from sbidic.models.sensitivity import timescale_weights

__all__ = ["Calcium", "Channel", "DeclaredModel", "Gate", "ModelSpec", "model_card"]

_V_SYMBOL = Expr("v/mV", 2)


@dataclass(frozen=True)
class Gate:
    """One gating variable.

    Attributes
    ----------
    inf : callable
        Steady state ``x_inf(V)`` (V in mV), written with :mod:`sbidic.models.autodiff`
        math. For a calcium-dependent gate, the voltage factor only.
    tau : callable or float
        Time constant ``tau_x(V)`` (ms). ``0``: instantaneous (no state, purely fast);
        ``inf``: purely ultraslow in the DICs (the state then needs ``ode``).
    power : int
        Exponent of the gate in the open probability; 0 for a state that carries no
        current (e.g. a Markov inactivated state).
    calcium : callable, optional
        Factor ``f(Ca)`` (Ca in uM) multiplying the steady state.
    ode : callable, optional
        ``ode(V, states) -> dx/dt`` in 1/ms replacing ``(x_inf - x) / tau`` in the
        simulation; ``states`` maps state names to values.
    initial : callable or float, optional
        Initial value, or a function of the initial voltage; default ``x_inf(V0)``.
    tau_min : float, optional
        Floor (ms) on ``tau`` in the simulated equations only (guards a singularity).

    Examples
    --------
    >>> from sbidic.models.autodiff import boltzmann
    >>> m_A = Gate(boltzmann(-8.7, 27.2), 5.0, power=3)  # x_inf(V), tau = 5 ms, cubed
    >>> float(m_A.inf(-27.2)), m_A.instantaneous
    (0.5, False)
    >>> Gate(boltzmann(-8.7, 27.2), 0.0).instantaneous  # tau = 0: no state variable
    True
    """

    inf: Callable | None
    tau: Callable | float | None
    power: int = 1
    calcium: Callable | None = None
    ode: Callable | None = None
    initial: Callable | float | None = None
    tau_min: float | None = None

    @property
    def instantaneous(self) -> bool:
        return not callable(self.tau) and self.tau == 0


@dataclass(frozen=True)
class Channel:
    """An ionic current ``g * prod(gate**power) * (V - E)``.

    ``E`` names a reversal potential in :attr:`ModelSpec.constants`; ``gates`` maps
    state names (e.g. ``"m_Na"``) to :class:`Gate`, in state order.

    Examples
    --------
    >>> from sbidic.models.autodiff import boltzmann
    >>> kd = Channel("E_K", {"n_Kd": Gate(boltzmann(12.3, -11.8), 5.0, power=4)})
    >>> kd.E, list(kd.gates), kd.gates["n_Kd"].power
    ('E_K', ['n_Kd'], 4)
    """

    E: str
    gates: Mapping[str, Gate]


@dataclass(frozen=True)
class Calcium:
    """Intracellular calcium ``tau dCa/dt = -alpha sum(I_c) - Ca + beta`` (uM, ms).

    ``currents`` are the channels carrying calcium (currents in uA/cm^2); ``initial``
    is Ca at t = 0 (uM).

    Examples
    --------
    >>> pool = Calcium(tau=20.0, alpha=0.94, beta=0.05, currents=("CaT", "CaS"), initial=0.5)
    >>> pool.currents
    ('CaT', 'CaS')
    >>> from sbidic.models import get_model
    >>> get_model("stg").spec.calcium == pool  # the STG declaration's pool
    True
    """

    tau: float
    alpha: float
    beta: float
    currents: tuple[str, ...]
    initial: float


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a model. Units: mV, ms, mS/cm^2, uA/cm^2, uM.

    Attributes
    ----------
    name, description : str
        Short name (command line, files) and a description with the citation.
    constants : dict
        Reversal potentials ``E_*`` (mV, ``E_leak`` included) and other constants.
    channels : dict[str, Channel]
        Ionic channels in conductance order; the leak is implicit and last.
    V_th : float
        Voltage (mV) of the DICs, targets and compensation.
    timescales : (str or float, str or float, str or float)
        ``tau_f, tau_s, tau_u``: a gate name (its time constant) or a constant (ms).
    V0 : float
        Initial voltage (mV).
    compensation : dict of (str, str) to str
        Candidate pairs solved for a ``(g_s, g_u)`` target, each with the numpy
        condition on ``g_s``, ``g_u`` that selects it; the first match wins, a last
        ``"otherwise"`` catches the rest.
    seed, target_box, monte_carlo_ranges
        As in :class:`ConductanceModel`.
    conductance_ranges : dict of str to (float, float), optional
        The plausible range (mS/cm^2) of every conductance (:class:`ConductanceModel`);
        populations drawn with ``spread="ranges"`` keep their cells in it.
    ranges_source : str
        Where ``conductance_ranges`` come from (literature, a dataset's quantiles...).
    linearisation : dict of str to str
        Linearisation points of compensated conductances as expressions of ``g_s``,
        ``g_u`` (models whose S depends on the conductances).
    calcium : Calcium, optional
    protocol : (float, float), optional
        Default ``(duration, transient)`` of a simulation (ms).
    integration : (str, float), optional
        Default Brian2 method and step (ms).
    noise_dt_ms : float, optional
        Grid of the reference noise (ms).
    applied_current : float
        Constant current injected in every simulation (uA/cm^2, positive
        depolarises; default 0), for a model that fires only under a bias current
        (a cortical cell at rest). It is part of the protocol: the simulator adds it
        to ``I_ext`` (with noise, if any). The DICs, S(V), the thresholds and the
        compensation are slopes of the steady-state current and do not depend on a
        constant current, so they are unchanged.
    example_targets : tuple of (float, float)
        True ``(g_s, g_u)`` of the bundled example recordings, if any.
    cell_type : str
        The kind of neuron the model describes (e.g. ``"stomatogastric"``): models of
        one cell type compete in ``sbidic infer --model auto:NAME``.

    Examples
    --------
    A declaration is plain data; a variant is a :func:`dataclasses.replace` away.

    >>> import dataclasses
    >>> from sbidic.models import STG
    >>> spec = STG.spec
    >>> spec.V_th, list(spec.channels)
    (-51.0, ['Na', 'Kd', 'CaT', 'CaS', 'KCa', 'A', 'H'])
    >>> class ColderSTG(DeclaredModel):  # checked when the class is created
    ...     spec = dataclasses.replace(spec, name="stg_colder", V_th=-53.0)
    >>> ColderSTG().V_th
    -53.0
    """

    name: str
    description: str
    constants: dict[str, float]
    channels: dict[str, Channel]
    V_th: float
    timescales: tuple[str | float, str | float, str | float]
    V0: float
    compensation: dict[tuple[str, str], str]
    seed: SeedPopulation
    target_box: dict[str, tuple[float, float]]
    monte_carlo_ranges: dict[str, tuple[float, float]]
    conductance_ranges: dict[str, tuple[float, float]] | None = None
    ranges_source: str = ""
    linearisation: dict[str, str] = field(default_factory=dict)
    calcium: Calcium | None = None
    protocol: tuple[float, float] | None = None
    integration: tuple[str, float] | None = None
    noise_dt_ms: float | None = None
    applied_current: float = 0.0
    example_targets: tuple[tuple[float, float], ...] = ()
    cell_type: str = ""


def _gates(spec: ModelSpec) -> dict[str, tuple[str, Gate]]:
    return {s: (c, gate) for c, ch in spec.channels.items() for s, gate in ch.gates.items()}


@functools.lru_cache(maxsize=256)
def _expr(code: str) -> Callable:
    """A numpy condition or expression of ``g_s``, ``g_u`` as a function (compiled once)."""
    compiled = compile(code, f"<{code}>", "eval")
    return lambda **values: eval(compiled, {"__builtins__": {}}, values)


class DeclaredModel(ConductanceModel):
    """A :class:`ConductanceModel` derived from the class attribute ``spec``.

    Subclasses set ``spec`` (a :class:`ModelSpec`) and nothing else.

    Examples
    --------
    >>> from sbidic.models import STG
    >>> class MySTG(DeclaredModel):
    ...     spec = STG.spec
    >>> MySTG().state_variables[:3], MySTG().equations == STG.equations
    (('v', 'm_Na', 'h_Na'), True)
    """

    spec: ModelSpec

    def __init_subclass__(cls, **kwargs) -> None:
        from sbidic.models.validation import check_model, check_spec

        super().__init_subclass__(**kwargs)
        s = getattr(cls, "spec", None)
        check_spec(s, cls.__name__)
        cls.name, cls.description, cls.V_th = s.name, s.description, float(s.V_th)
        cls.conductances = (*s.channels, "leak")
        states = [n for n, (_, gate) in _gates(s).items() if not gate.instantaneous]
        cls.state_variables = ("v", *states, *(("Ca",) if s.calcium else ()))
        cls.constants = dict(s.constants)
        if s.calcium:
            ca = s.calcium
            cls.constants.update(tau_Ca=ca.tau, alpha_Ca=ca.alpha, beta_Ca=ca.beta)
        cls.seed, cls.target_box = s.seed, s.target_box
        cls.monte_carlo_ranges = s.monte_carlo_ranges
        cls.conductance_ranges = s.conductance_ranges and dict(s.conductance_ranges)
        cls.ranges_source = s.ranges_source
        cls.compensation_sets = tuple(tuple(pair) for pair in s.compensation)
        cls.protocol, cls.integration, cls.noise_dt_ms = s.protocol, s.integration, s.noise_dt_ms
        cls.applied_current = float(s.applied_current)
        cls.example_targets = tuple(s.example_targets)
        cls.cell_type = str(s.cell_type)
        cls.equations = brian2_equations(s)
        check_model(cls())

    def __getstate__(self) -> dict:
        # per-instance caches (``_rules``, ``_channel_gates``, ...) hold functions of the
        # declaration; a copy in another process (simulate's workers) rebuilds them
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    # ------------------------------------------------------------------- kinetics
    @cache_scalar_voltage
    def gating(self, V):
        """``{gate}_inf``, ``d{gate}_inf`` (1/mV) and ``tau_{gate}`` (ms) at ``V`` (mV);
        an instantaneous gate gives ``{gate}`` and ``d{gate}``. A calcium-dependent
        gate gives its voltage factor only."""
        V = np.asarray(V, dtype=float)
        out: dict[str, np.ndarray] = {}
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for name, (_, gate) in _gates(self.spec).items():
                val, der = value_and_derivative(gate.inf, V)
                if gate.instantaneous:
                    out[name], out[f"d{name}"] = val, der
                    continue
                out[f"{name}_inf"], out[f"d{name}_inf"] = val, der
                tau = gate.tau(V) if callable(gate.tau) else float(gate.tau)
                if np.shape(tau) != V.shape:
                    tau = np.full(V.shape, tau, dtype=float)
                out[f"tau_{name}"] = tau
        return out

    def _open_probability(self, channel: str, x: dict, V) -> Dual:
        """Voltage-only open probability of a channel as a Dual in V."""
        p = 1.0
        for name, gate in self.spec.channels[channel].gates.items():
            if gate.power:
                key = name if gate.instantaneous else f"{name}_inf"
                p = p * Dual(x[key], x[f"d{key}"]) ** gate.power
        return p if isinstance(p, Dual) else Dual(np.asarray(p), 0.0)

    @cache_scalar_voltage
    def _calcium_sources(self, V) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Per calcium current c: its column, ``p_c(V) (V - E_c)`` and the exact
        V-derivative of that."""
        x = self.gating(V)
        sources = []
        for channel in self.spec.calcium.currents:
            p = self._open_probability(channel, x, V)
            current = p * (Dual(V, 1.0) - self.constants[self.spec.channels[channel].E])
            sources.append((self.conductances.index(channel), current.val, current.der))
        return sources

    def calcium_steady_state(self, V, g, x: dict | None = None):
        """Steady-state calcium ``Ca_inf`` (uM) and ``dCa_inf/dV`` (uM/mV):
        ``beta - alpha sum_c g_c p_c(V) (V - E_c)`` with exact derivative. (``x``, the
        gating table, is accepted for compatibility and not needed.)"""
        ca = self.spec.calcium
        if ca is None:
            raise ValueError(f"model {self.name!r} has no intracellular calcium")
        g = np.asarray(g, dtype=float)
        ca_inf, dca = ca.beta, 0.0
        for col, value, slope in self._calcium_sources(V):
            g_c = ca.alpha * g[..., col]
            ca_inf = ca_inf - g_c * value
            dca = dca - g_c * slope
        return ca_inf, dca

    @cached_property
    def _calcium_channels(self) -> frozenset[str]:
        return frozenset(
            c for c, ch in self.spec.channels.items()
            if any(gate.calcium and gate.power for gate in ch.gates.values())
        )  # fmt: skip

    @cached_property
    def _channel_gates(self) -> dict[str, list[tuple]]:
        """Per channel: ``(name, power, steady-state key, tau key, calcium factor)``
        of its current-carrying gates."""
        out = {}
        for channel, ch in self.spec.channels.items():
            out[channel] = [
                (name, gate.power, name if gate.instantaneous else f"{name}_inf",
                 None if gate.instantaneous else f"tau_{name}", gate.calcium)
                for name, gate in ch.gates.items() if gate.power
            ]  # fmt: skip
        return out

    def _channel_terms(self, channel: str, x: dict, V, ca=None, dca=None):
        """Static term and pathways ``(dynamic, tau)`` of one channel: for
        ``p = prod x_j^k_j``, ``dp/dx_j = k_j x_j^(k_j - 1) prod_(i != j) x_i^k_i``."""
        gates = self._channel_gates[channel]
        drive = V - self.constants[self.spec.channels[channel].E]
        values, factors = [], []
        for _, _, key, _, calcium in gates:
            f = None if calcium is None or ca is None else calcium(Dual(ca, 1.0))
            factors.append(f)
            values.append(x[key] if f is None else x[key] * f.val)
        powered = [_power(v, k) for v, (_, k, *_) in zip(values, gates, strict=True)]
        static = _product(powered)
        pathways = []
        rows = zip(gates, values, factors, strict=True)
        for j, ((_, k, key, tau_key, _), v, f) in enumerate(rows):
            common = _product([drive, *powered[:j], *powered[j + 1 :]])
            if k != 1:
                common = k * _power(v, k - 1) * common
            tau = 0.0 if tau_key is None else x[tau_key]
            if f is None:
                pathways.append((common * x[f"d{key}"], tau))
            else:
                pathways.append((common * f.val * x[f"d{key}"], tau))
                pathways.append((common * x[key] * f.der * dca, self.spec.calcium.tau))
        return static, pathways

    @cache_scalar_voltage
    def _voltage_terms(self, V) -> DICTerms:
        """Terms of the channels whose steady state depends on V only (others: 0)."""
        x = self.gating(V)
        static, dynamic, tau, channel = [], [], [], []
        for c, name in enumerate(self.spec.channels):
            if name in self._calcium_channels:
                static.append(0.0)
                continue
            s, pathways = self._channel_terms(name, x, V)
            static.append(s)
            for d, t in pathways:
                dynamic.append(d)
                tau.append(t)
                channel.append(c)
        return DICTerms(stack_last(static), stack_last(dynamic), stack_last(tau), tuple(channel))

    def dic_terms(self, V, g) -> DICTerms:
        """Static terms and one pathway per gate (plus calcium pathways), derived
        from the declaration (module docstring)."""
        fixed = self._voltage_terms(V)
        if not self._calcium_channels:
            return fixed
        x = self.gating(V)
        ca, dca = self.calcium_steady_state(V, g, x)
        batch = np.broadcast_shapes(np.shape(ca), fixed.static.shape[:-1])
        static = np.broadcast_to(fixed.static, batch + fixed.static.shape[-1:]).copy()
        dynamic, tau, channel = [], [], list(fixed.channel)
        for c, name in enumerate(self.spec.channels):
            if name not in self._calcium_channels:
                continue
            s, pathways = self._channel_terms(name, x, V, ca, dca)
            static[..., c] = s
            for d, t in pathways:
                dynamic.append(d)
                tau.append(t)
                channel.append(c)
        dynamic = np.concatenate(
            [np.broadcast_to(fixed.dynamic, batch + fixed.dynamic.shape[-1:]),
             np.broadcast_to(stack_last(dynamic), batch + (len(dynamic),))], axis=-1,
        )  # fmt: skip
        if fixed.tau.ndim == 1 and not any(np.ndim(t) for t in tau):  # one voltage
            tau = np.concatenate([fixed.tau, np.asarray(tau, dtype=float)])
        else:
            tau = stack_last([*np.moveaxis(fixed.tau, -1, 0), *tau])
        return DICTerms(static, dynamic, tau, tuple(channel))

    @cache_scalar_voltage
    def sensitivity_split(self, V) -> SensitivitySplit:
        """S(V) at one voltage: every channel whose steady state depends on V only is
        a constant column, computed once; the calcium-dependent channels' columns are
        evaluated per cell from ``Ca_inf`` and ``dCa_inf/dV``, with their timescale
        weights precomputed (their time constants do not depend on calcium)."""
        if np.ndim(V):
            raise ValueError("sensitivity_split needs one voltage (a scalar)")
        V = float(V)
        taus = self.timescales(V)
        fixed_terms = self._voltage_terms(V)
        omega = timescale_weights(fixed_terms.tau, *taus)  # (3, n_pathways)
        fixed = np.zeros((3, self.n_conductances))
        channel = np.asarray(fixed_terms.channel, dtype=int)
        np.add.at(fixed.T, channel, (omega * fixed_terms.dynamic).T)
        fixed[0, :-1] += fixed_terms.static
        fixed[0, -1] = 1.0
        fixed.flags.writeable = False  # cached and shared
        names = [c for c in self.spec.channels if c in self._calcium_channels]
        dependent = tuple(self.conductances.index(c) for c in names)
        if not names:
            return SensitivitySplit(fixed, (), lambda g: np.zeros((3, 0, len(g))), ())
        x = self.gating(V)
        ca0 = self.spec.calcium.initial  # pathway time constants do not depend on Ca
        weights = [
            timescale_weights(np.array([t for _, t in self._channel_terms(c, x, V, ca0, 0.0)[1]],
                                       dtype=float), *taus)
            for c in names
        ]  # fmt: skip

        # Ca_inf - beta and dCa_inf/dV are linear in the calcium conductances
        ca = self.spec.calcium
        sources = self._calcium_sources(V)
        drivers = [col for col, _, _ in sources]
        linear = -ca.alpha * np.array([[v for _, v, _ in sources], [s for _, _, s in sources]])

        def columns(g: np.ndarray) -> np.ndarray:  # (3, n_dependent, n_cells)
            ca_inf, dca = linear @ g.T[drivers]
            ca_inf += ca.beta
            out = np.empty((3, len(names), len(g)))
            for k, (name, w) in enumerate(zip(names, weights, strict=True)):
                static, pathways = self._channel_terms(name, x, V, ca_inf, dca)
                stacked = np.empty((len(pathways), len(g)))  # (np.stack is slower)
                for j, (d, _) in enumerate(pathways):
                    stacked[j] = d
                np.matmul(w, stacked, out=out[:, k])
                out[0, k] += static
            return out

        return SensitivitySplit(fixed, dependent, columns, tuple(drivers))

    def timescales(self, V):
        """``(tau_f, tau_s, tau_u)`` (ms) as declared in ``spec.timescales``."""
        x = self.gating(V)
        shape = np.shape(V)
        return tuple(
            x[f"tau_{t}"] if isinstance(t, str) else np.full(shape, float(t))
            for t in self.spec.timescales
        )

    def initial_state(self) -> dict[str, float]:
        """``V0``, gates at steady state at ``V0`` (times ``f(Ca0)``), ``Ca0``,
        unless a gate declares its own ``initial``."""
        s = self.spec
        state = {"v": float(s.V0)}
        for name, (_, gate) in _gates(s).items():
            if gate.instantaneous:
                continue
            if gate.initial is not None:
                init = gate.initial(s.V0) if callable(gate.initial) else gate.initial
            else:
                init = gate.inf(s.V0)
                if gate.calcium is not None:
                    init = gate.calcium(s.calcium.initial) * init
            state[name] = float(init)
        if s.calcium:
            state["Ca"] = float(s.calcium.initial)
        return state

    def steady_state(self, V: float, g: np.ndarray) -> dict[str, np.ndarray]:
        """Every state at its steady state at ``V`` (mV), per cell: ``v = V``, gates
        at ``x_inf(V)`` (times ``f(Ca_inf)``), calcium at ``Ca_inf(V, g)``.

        >>> import numpy as np
        >>> from sbidic.models import get_model
        >>> g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]])
        >>> state = get_model("stg").steady_state(-51.0, g)
        >>> float(state["v"][0]), round(float(state["Ca"][0]), 3)
        (-51.0, 0.512)
        """
        g = np.atleast_2d(np.asarray(g, dtype=float))
        n = len(g)
        state = {"v": np.full(n, float(V))}
        ca = self.calcium_steady_state(V, g)[0] if self.spec.calcium else None
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            for name, (_, gate) in _gates(self.spec).items():
                if gate.instantaneous:
                    continue
                value = gate.inf(float(V))
                if gate.calcium is not None:
                    value = gate.calcium(ca) * value
                state[name] = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
        if ca is not None:
            state["Ca"] = np.asarray(ca, dtype=float)
        return state

    # ------------------------------------------------------------- compensation
    @cached_property
    def _rules(self) -> list[Callable]:
        return [
            None if cond.strip() == "otherwise" else _expr(cond)
            for cond in self.spec.compensation.values()
        ]

    def compensation_choice(self, g_s, g_u):
        """Index of the first declared pair whose condition holds (``spec.compensation``)."""
        g_s, g_u = np.asarray(g_s, dtype=float), np.asarray(g_u, dtype=float)
        shape = np.broadcast_shapes(g_s.shape, g_u.shape)
        choice = np.full(shape, -1)
        for k, rule in enumerate(self._rules):
            hit = True if rule is None else rule(g_s=g_s, g_u=g_u)
            choice = np.where((choice < 0) & hit, k, choice)
        if (choice < 0).any():
            raise ValueError(f"model {self.name!r}: no compensation rule matches some targets")
        return choice

    def initial_guess(self, g_s, g_u):
        """Declared linearisation points ``spec.linearisation`` (mS/cm^2)."""
        g_s, g_u = np.asarray(g_s, dtype=float), np.asarray(g_u, dtype=float)
        return {k: _expr(v)(g_s=g_s, g_u=g_u) for k, v in self.spec.linearisation.items()}


def _power(x, k: int):
    """``x**k`` for a small integer ``k``, by multiplication (numpy's ``pow`` is several
    times slower than a product for the gate exponents 3 and 4)."""
    if k == 1:
        return x
    if k == 2:
        return x * x
    if k == 3:
        return x * x * x
    if k == 4:
        x2 = x * x
        return x2 * x2
    return x**k


def _product(factors: list):
    """Product of a list (1.0 when empty), without a leading multiplication by 1."""
    out = factors[0] if factors else 1.0
    for f in factors[1:]:
        out = out * f
    return out


def brian2_equations(spec: ModelSpec) -> str:
    """The Brian2 equations string of a declared model."""
    V = _V_SYMBOL
    gates = _gates(spec)
    names = [*spec.channels, "leak"]
    lines = [f"dv/dt = (I_ext - ({' + '.join(f'I_{c}' for c in names)})) / Cm : volt"]
    for c, ch in spec.channels.items():
        factors = [n if g.power == 1 else f"{n}**{g.power}"
                   for n, g in ch.gates.items() if g.power]  # fmt: skip
        lines.append(f"I_{c} = {' * '.join([f'g_{c}', *factors])} * (v - {ch.E}) : amp/meter**2")
    lines.append("I_leak = g_leak * (v - E_leak) : amp/meter**2")
    if spec.calcium:
        currents = " + ".join(f"I_{c}" for c in spec.calcium.currents)
        lines.append(
            f"dCa/dt = (-alpha_Ca * ({currents}) / (uA/cm**2) - Ca + beta_Ca) / tau_Ca : 1"
        )
    symbols = {n: Expr(n) for n in gates}
    for name, (_, gate) in gates.items():
        inf = gate.inf(V)
        if gate.instantaneous:
            lines.append(f"{name} = {Expr._wrap(inf, 0)} : 1")
            continue
        if gate.ode is not None:
            lines.append(f"d{name}/dt = ({Expr._wrap(gate.ode(V, symbols), 0)}) / ms : 1")
            continue
        if gate.calcium is not None:
            inf = gate.calcium(Expr("Ca")) * inf
        lines.append(f"d{name}/dt = ({Expr._wrap(inf, 0)} - {name}) / tau_{name} : 1")
        tau = Expr._wrap(gate.tau(V), 0) if callable(gate.tau) else Expr._wrap(gate.tau, 0)
        if gate.tau_min is not None:
            tau = f"clip({tau}, {gate.tau_min!r}, inf)"
        lines.append(f"tau_{name} = ({tau}) * ms : second")
    lines += [f"g_{c} : siemens/meter**2 (constant)" for c in names]
    return "\n" + "\n".join(lines) + "\n"


def model_card(model: ConductanceModel | str) -> dict:
    """The model as data for a docs table: one row per gate, plus the settings.

    Each gate row gives its channel, reversal potential (mV), exponent, steady
    state, derivative (1/mV) and time constant (ms) at ``V_th`` and its shares
    ``(omega_f, omega_s, omega_u)`` of the DICs there.

    >>> card = model_card("stg")
    >>> card["gates"][0]["gate"], card["gates"][0]["omega"]
    ('m_Na', (1.0, 0.0, 0.0))
    """
    from sbidic.models import get_model

    model = get_model(model)
    spec = model.spec
    x = model.gating(model.V_th)
    taus = model.timescales(model.V_th)
    rows = []
    for name, (channel, gate) in _gates(spec).items():
        key = name if gate.instantaneous else f"{name}_inf"
        tau = 0.0 if gate.instantaneous else float(x[f"tau_{name}"])
        omega = timescale_weights(np.array([tau]), *taus)[:, 0]
        rows.append({
            "channel": channel, "gate": name, "power": gate.power,
            "E_mV": spec.constants[spec.channels[channel].E],
            "x_inf": float(x[key]), "dx_inf": float(x[f"d{key}"]), "tau_ms": tau,
            "omega": tuple(round(float(w), 6) for w in omega),
            "calcium": gate.calcium is not None,
        })  # fmt: skip
    return {
        "name": model.name,
        "description": model.description,
        "V_th_mV": model.V_th,
        "conductances": model.conductances,
        "constants": dict(model.constants),
        "gates": rows,
        "timescales": spec.timescales,
        "compensation": dict(spec.compensation),
        "monte_carlo_ranges": dict(spec.monte_carlo_ranges),
        "conductance_ranges": model.conductance_ranges,
        "ranges_source": model.ranges_source,
        "protocol_ms": spec.protocol,
        "integration": spec.integration,
        "noise_dt_ms": spec.noise_dt_ms,
        "applied_current_uA_cm2": spec.applied_current,
    }
