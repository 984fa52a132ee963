"""The :class:`ConductanceModel` interface shared by every conductance-based model.

A model is data and equations: conductance names, reversal potentials, gating
kinetics, the pieces of its Dynamic Input Conductances (DICs), the rules of the
compensation algorithm and a Brian2 equations string. Everything outside a model's
own file talks to it through this interface only.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sbidic.models.sensitivity import model_sensitivity

__all__ = [
    "ConductanceModel",
    "DICTerms",
    "SeedPopulation",
    "SensitivitySplit",
    "gamma_matching_uniform",
    "cache_scalar_voltage",
    "sigmoid",
    "sigmoid_derivative",
    "stack_last",
]


def sigmoid(V: np.ndarray | float, A: float, B: float, C: float, D: float) -> np.ndarray:
    r"""Generalised sigmoid :math:`\sigma(V) = A + B / (1 + e^{(V + D) / C})`.

    Parameters
    ----------
    V : array_like
        Membrane voltage (mV).
    A, B, C, D : float
        Offset, amplitude, slope (mV) and half-activation shift (mV).

    Examples
    --------
    >>> float(sigmoid(-25.5, 0.0, 1.0, -5.29, 25.5))
    0.5
    """
    with np.errstate(over="ignore"):
        return A + B / (1.0 + np.exp((np.asarray(V, dtype=float) + D) / C))


def sigmoid_derivative(
    V: np.ndarray | float, A: float, B: float, C: float, D: float
) -> np.ndarray:
    r"""Voltage derivative of :func:`sigmoid`, :math:`-B e / (C (1 + e)^2)` with
    :math:`e = e^{(V + D) / C}` (mV⁻¹).

    ``A`` is unused; it is accepted so both functions take the same arguments.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp((np.asarray(V, dtype=float) + D) / C)
        d = -B * e / (C * (1.0 + e) ** 2)
    # exp overflow gives inf/inf = nan where the true derivative is 0.
    return np.where(np.isfinite(e), d, 0.0)


def gamma_matching_uniform(a: float, b: float) -> tuple[float, float]:
    r"""Shape and scale of the gamma law with the mean and variance of :math:`U[a, b]`.

    :math:`k = 3(a+b)^2/(b-a)^2` and :math:`\theta = (b-a)^2 / (6(a+b))`.

    Examples
    --------
    >>> k, theta = gamma_matching_uniform(0.007, 0.014)
    >>> round(k, 6), round(theta, 10)
    (27.0, 0.0003888889)
    """
    if not b > a:
        raise ValueError(f"gamma_matching_uniform needs b > a, got [{a}, {b}]")
    return 3.0 * (a + b) ** 2 / (b - a) ** 2, (b - a) ** 2 / (6.0 * (a + b))


def cache_scalar_voltage(method: Callable) -> Callable:
    """Memoise a method ``f(self, V)`` of the voltage only, for scalar ``V``.

    DICs, thresholds and compensation evaluate the kinetics at one voltage (V_th)
    over and over; per-cell voltages are computed afresh.
    """
    cache: dict[tuple[type, float], dict] = {}

    @functools.wraps(method)
    def wrapper(self, V):
        if np.ndim(V) != 0:
            return method(self, V)
        key = (type(self), float(V))
        if key not in cache:
            if len(cache) > 1024:
                cache.clear()
            cache[key] = method(self, float(V))
        hit = cache[key]
        return dict(hit) if isinstance(hit, dict) else hit

    return wrapper


def stack_last(arrays: list) -> np.ndarray:
    """Stack scalars and arrays along a new last axis, broadcasting them first."""
    return np.stack(np.broadcast_arrays(*arrays), axis=-1)


@dataclass(frozen=True)
class DICTerms:
    """Steady-state ingredients of the DICs of a batch of cells at voltage ``V``.

    For ion channel ``c`` with current ``g_c * p_c(x) * (V - E_c)``, the slope of the
    steady-state current splits into a static term and one dynamic term per gating
    variable ("pathway") ``j``, each acting on its own time constant.

    Attributes
    ----------
    static : ndarray, shape (..., n_channels)
        Open probability ``p_c`` at steady state (dimensionless), leak excluded.
    dynamic : ndarray, shape (..., n_pathways)
        ``(dp_c/dx_j) (dx_j,inf/dV) (V - E_c)`` (dimensionless per mV times mV).
    tau : ndarray, shape (..., n_pathways)
        Time constant of each pathway (ms). ``0`` forces a pathway to be fast and
        ``inf`` forces it to be ultraslow.
    channel : tuple of int, length n_pathways
        Index of the channel each pathway belongs to.
    """

    static: np.ndarray
    dynamic: np.ndarray
    tau: np.ndarray
    channel: tuple[int, ...]


@dataclass(frozen=True)
class SensitivitySplit:
    """The unnormalised sensitivity matrix S(V) at one voltage, split into a constant
    part and the columns that depend on the conductances.

    ``S(V, g) = fixed`` with ``columns(g)`` added in the ``dependent`` columns;
    divided by ``g_leak`` it is :func:`sbidic.dics.sensitivity_matrix`. Compensation
    precomputes everything from ``fixed`` once per model and voltage, and
    re-evaluates ``columns`` only when it solves for a ``driver``.

    Attributes
    ----------
    fixed : ndarray, shape (3, n_conductances)
        Rows fast, slow, ultraslow (mS/cm^2 per mS/cm^2); zero in the dependent
        columns, ``(1, 0, 0)`` in the leak column.
    dependent : tuple of int
        Columns whose entries depend on the conductances (e.g. through calcium).
    columns : callable
        ``columns(g)`` with ``g`` of shape (n_cells, n_conductances) gives the
        dependent columns, cells last: shape (3, len(dependent), n_cells).
    drivers : tuple of int
        The columns of ``g`` that ``columns`` reads.

    Examples
    --------
    >>> from sbidic.models import get_model
    >>> split = get_model("stg").sensitivity_split(-51.0)
    >>> split.fixed.shape, split.dependent  # the KCa column depends on calcium,
    ((3, 8), (4,))
    >>> split.drivers  # which depends on CaT and CaS
    (2, 3)
    """

    fixed: np.ndarray
    dependent: tuple[int, ...]
    columns: Callable[[np.ndarray], np.ndarray]
    drivers: tuple[int, ...]


@dataclass(frozen=True)
class SeedPopulation:
    """How a model draws its seed ("spiking") population before compensation.

    Attributes
    ----------
    drawn : dict of str to (float, float)
        Uniform ranges (mS/cm^2) of the drawn conductances, in drawing order.
    leak_range : (float, float)
        Range (mS/cm^2) whose moment-matched gamma law gives ``g_leak``.
    target : (float, float, float)
        DICs ``(g_f, g_s, g_u)`` the seed cells are compensated to.
    compensated : tuple of str
        Conductances solved for (three of them, one per DIC).

    Examples
    --------
    >>> seed = SeedPopulation(drawn={"Kd": (6.0, 10.0)}, leak_range=(0.0087, 0.017),
    ...                       target=(-12.95, 0.5, 5.0), compensated=("Na", "CaN", "ERG"))
    >>> round(seed.leak_mean, 5)
    0.01285
    """

    drawn: dict[str, tuple[float, float]]
    leak_range: tuple[float, float]
    target: tuple[float, float, float]
    compensated: tuple[str, ...]

    @property
    def leak_mean(self) -> float:
        """Mean of the leak law (mS/cm^2); drawn conductances scale by ``g_leak / leak_mean``."""
        return 0.5 * (self.leak_range[0] + self.leak_range[1])


class ConductanceModel(abc.ABC):
    """A conductance-based neuron model as seen by sbidic.

    Subclasses set the class attributes and implement :meth:`gating`,
    :meth:`dic_terms`, :meth:`timescales`, :meth:`compensation_choice` and
    :attr:`equations`. Conductances are ordered as in :attr:`conductances`, with
    ``"leak"`` last. Units: V in mV, t in ms, maximal conductances in mS/cm^2,
    currents in uA/cm^2, C = 1 uF/cm^2.

    Examples
    --------
    >>> from sbidic.models import get_model
    >>> stg = get_model("stg")
    >>> isinstance(stg, ConductanceModel), stg.n_conductances, stg.index(["CaS", "g_H"])
    (True, 8, [3, 6])
    """

    #: Short name used on the command line and in files, e.g. ``"stg"``.
    name: ClassVar[str]
    #: Human-readable description with the citation.
    description: ClassVar[str]
    #: Conductance names, leak last, e.g. ``("Na", ..., "leak")``.
    conductances: ClassVar[tuple[str, ...]]
    #: State variables of the ODE, membrane voltage ``"V"`` first.
    state_variables: ClassVar[tuple[str, ...]]
    #: Reversal potentials and other constants (mV, ms, ...).
    constants: ClassVar[dict[str, float]]
    #: Voltage (mV) at which DICs, targets and compensation are evaluated.
    V_th: ClassVar[float]
    #: Box of (g_s, g_u) targets the shipped estimators are trained on.
    target_box: ClassVar[dict[str, tuple[float, float]]]
    #: Seed population drawn before compensation.
    seed: ClassVar[SeedPopulation]
    #: Independent ranges (mS/cm^2) of every conductance for Monte-Carlo datasets (the
    #: law of the Monte Carlo datasets and of NPE's prior).
    monte_carlo_ranges: ClassVar[dict[str, tuple[float, float]]]
    #: Plausible range (mS/cm^2) of every conductance; populations drawn with
    #: ``spread="ranges"`` draw over it and keep their cells inside it, and diversity
    #: scores measure coverage against it (None when not declared).
    conductance_ranges: ClassVar[dict[str, tuple[float, float]] | None] = None
    #: Where ``conductance_ranges`` come from.
    ranges_source: ClassVar[str] = ""
    #: Candidate conductance pairs compensated to reach a (g_s, g_u) target.
    compensation_sets: ClassVar[tuple[tuple[str, str], ...]]
    #: Brian2 equations string (units attached), one line per state variable.
    equations: ClassVar[str]
    #: Default simulation protocol ``(duration, transient)`` (ms), if any.
    protocol: ClassVar[tuple[float, float] | None] = None
    #: Default Brian2 integration ``(method, dt_ms)``, if any.
    integration: ClassVar[tuple[str, float] | None] = None
    #: Grid (ms) of the reference band-limited noise, if any.
    noise_dt_ms: ClassVar[float | None] = None
    #: Constant current (uA/cm^2) injected in every simulation (protocol; 0 for none).
    applied_current: ClassVar[float] = 0.0
    #: True ``(g_s, g_u)`` of the bundled example recordings (``sbidic.examples``).
    example_targets: ClassVar[tuple[tuple[float, float], ...]] = ()
    #: The kind of neuron (``"stomatogastric"``, ``"dopaminergic"``; "" unknown).
    cell_type: ClassVar[str] = ""

    # ----------------------------------------------------------------------- names
    @property
    def n_conductances(self) -> int:
        return len(self.conductances)

    @property
    def conductance_labels(self) -> tuple[str, ...]:
        """Column names as in Spike2Pop CSV files, e.g. ``("g_Na", ..., "g_leak")``."""
        return tuple(f"g_{c}" for c in self.conductances)

    def index(self, names: str | tuple[str, ...] | list[str]) -> list[int]:
        """Column indices of conductance names (``"Na"`` or ``"g_Na"``)."""
        if isinstance(names, str):
            names = [names]
        out = []
        for name in names:
            key = name[2:] if name.startswith("g_") else name
            if key not in self.conductances:
                raise ValueError(
                    f"unknown conductance {name!r} for model {self.name!r}; "
                    f"expected one of {list(self.conductances)}"
                )
            out.append(self.conductances.index(key))
        return out

    # ------------------------------------------------------------------- kinetics
    @abc.abstractmethod
    def gating(self, V: np.ndarray | float) -> dict[str, np.ndarray]:
        """Steady states ``x_inf``, time constants ``tau_x`` (ms) and derivatives
        ``dx_inf`` (1/mV) of every gate at voltage ``V`` (mV), keyed by name."""

    @abc.abstractmethod
    def initial_state(self) -> dict[str, float]:
        """Default initial state, keyed by :attr:`state_variables`."""

    def steady_state(self, V: float, g: np.ndarray) -> dict[str, np.ndarray]:
        """Every state variable at its steady state at voltage ``V`` (mV), per cell of
        ``g`` (n_cells, n_conductances), keyed by :attr:`state_variables`."""
        raise NotImplementedError(
            f"model {self.name!r} does not define steady_state(V, g); "
            "simulate(initial_state='threshold') needs it"
        )

    # ----------------------------------------------------------------------- DICs
    @abc.abstractmethod
    def dic_terms(self, V: np.ndarray | float, g: np.ndarray) -> DICTerms:
        """Static and dynamic terms of the steady-state I-V slope.

        Parameters
        ----------
        V : float or ndarray, shape (n_cells,)
            Voltage (mV).
        g : ndarray, shape (n_cells, n_conductances)
            Maximal conductances (mS/cm^2); only needed by models whose steady state
            depends on them (e.g. through calcium).
        """

    @abc.abstractmethod
    def timescales(self, V: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boundaries ``(tau_f, tau_s, tau_u)`` (ms) between fast, slow and ultraslow."""

    def sensitivity_split(self, V: float) -> SensitivitySplit:
        """S(V) at one voltage (mV) as a constant part and conductance-dependent columns.

        This generic version declares every ion column dependent and evaluates them
        with :func:`sbidic.dics.sensitivity_matrix`; models that know which columns
        are constant override it (:class:`sbidic.models.DeclaredModel` does), which
        lets compensation precompute and factorise its linear systems.
        """
        fixed = np.zeros((3, self.n_conductances))
        fixed[0, -1] = 1.0
        return SensitivitySplit(
            fixed,
            tuple(range(self.n_conductances - 1)),
            lambda g: model_sensitivity(self, g, V, normalize=False)[..., :-1].transpose(1, 2, 0),
            tuple(range(self.n_conductances)),
        )

    # --------------------------------------------------------------- compensation
    @abc.abstractmethod
    def compensation_choice(self, g_s: np.ndarray, g_u: np.ndarray) -> np.ndarray:
        """Index into :attr:`compensation_sets` of the pair to compensate per target."""

    def initial_guess(self, g_s: np.ndarray, g_u: np.ndarray) -> dict[str, np.ndarray]:
        """Linearisation values of compensated conductances that enter the sensitivity
        matrix (mS/cm^2), per target. Linear models need none."""
        return {}

    # -------------------------------------------------------------------- Brian2
    def namespace(self) -> dict:
        """Brian2 namespace for :attr:`equations`: :attr:`constants` with units
        (``E_*`` in mV, ``tau_*`` in ms, others dimensionless) and ``Cm = 1 uF/cm^2``."""
        import brian2

        ns = {"Cm": 1.0 * brian2.ufarad / brian2.cm**2}
        for key, value in self.constants.items():
            unit = (
                brian2.mV if key.startswith("E_") else brian2.ms if key.startswith("tau_") else 1
            )
            ns[key] = value * unit
        return ns

    def __reduce_ex__(self, protocol):
        # A model loaded from a user's file pickles as its origin, so that process-pool
        # workers load it again by path.
        origin = getattr(type(self), "_sbidic_origin", None)
        if origin is not None:
            from sbidic.models.loading import get_model

            return (get_model, (origin,))
        return super().__reduce_ex__(protocol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, V_th={self.V_th} mV)"
