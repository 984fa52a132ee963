"""Checks run on every declared model when its class is created.

Each failure raises :class:`ModelError` with one line naming the model and the
problem: a missing gating function, kinetics that are non-finite, out of range or
non-monotone around the threshold, a time constant or voltage that looks off by a
factor 1000 (seconds or volts instead of ms or mV, an applied current out of
range), rules that name unknown
conductances, or a compensation set that cannot be solved at V_th.
"""

from __future__ import annotations

import numbers

import numpy as np

from sbidic.models.sensitivity import model_sensitivity

__all__ = ["ModelError", "check_model", "check_spec"]

#: Half-width (mV) of the window around V_th where the kinetics are checked.
WINDOW_MV = 10.0
#: Plausible range (mV) of the threshold and of reversal potentials.
V_TH_RANGE, E_RANGE = (-120.0, -10.0), (-200.0, 200.0)
#: Smallest plausible time constant (ms); smaller ones look like seconds.
TAU_MIN_MS = 1e-3
#: Largest plausible applied current (uA/cm^2) in size.
MAX_APPLIED_UA_CM2 = 1000.0
#: Largest condition number of a solvable compensation system.
MAX_CONDITION = 1e10


class ModelError(ValueError):
    """A model declaration that sbidic cannot use; the message names the problem.

    Examples
    --------
    >>> import dataclasses
    >>> from sbidic.models import STG, DeclaredModel
    >>> volts = dataclasses.replace(STG.spec, name="stg_volts", V_th=-0.051)
    >>> try:
    ...     class Bad(DeclaredModel):
    ...         spec = volts
    ... except ModelError as err:
    ...     print(err)
    model 'stg_volts': V_th = -0.051 is outside [-120, -10] mV (volts instead of mV?)
    """


def _number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _failer(name: str):
    def fail(message: str):
        raise ModelError(f"model {name!r}: {message}")

    return fail


def check_spec(spec, owner: str = "model") -> None:
    """Check a :class:`~sbidic.models.declarative.ModelSpec` on its own: structure
    (every gate has its functions, names resolve) and units.

    Raises
    ------
    ModelError
        On the first problem found, e.g. ``model 'hh': gate 'm_Na' of channel 'Na'
        has no steady-state function (inf)``.
    """
    fail = _failer(getattr(spec, "name", owner))
    _check_structure(spec, fail)
    _check_units(spec, fail)


def check_model(model) -> None:
    """Check a declared model instance: kinetics around V_th, rules, solvability."""
    fail = _failer(model.name)
    _check_kinetics(model, fail)
    _check_rules(model, fail)
    _check_solvable(model, fail)


def _check_structure(spec, fail) -> None:
    from sbidic.models.declarative import ModelSpec

    if not isinstance(spec, ModelSpec):
        fail(f"spec must be a ModelSpec, got {type(spec).__name__}")
    if not spec.channels:
        fail("declares no channels")
    if "E_leak" not in spec.constants:
        fail("constants lack the leak reversal potential E_leak")
    for channel, ch in spec.channels.items():
        if ch.E not in spec.constants:
            fail(f"channel {channel!r}: reversal potential {ch.E!r} is not in constants")
        for gate_name, gate in ch.gates.items():
            where = f"gate {gate_name!r} of channel {channel!r}"
            if not callable(gate.inf):
                fail(f"{where} has no steady-state function (inf)")
            if not (callable(gate.tau) or (_number(gate.tau) and gate.tau >= 0)):
                fail(f"{where} has no time constant (tau: a function of V or a number >= 0)")
            if not (isinstance(gate.power, int) and gate.power >= 0):
                fail(f"{where}: power must be an integer >= 0, got {gate.power!r}")
            if gate.tau == float("inf") and gate.ode is None:
                fail(f"{where}: tau = inf (ultraslow) needs its own ode for the simulation")
            if gate.calcium is not None and spec.calcium is None:
                fail(f"{where} depends on calcium but the model declares no Calcium")
    if spec.calcium is not None:
        for channel in spec.calcium.currents:
            if channel not in spec.channels:
                fail(f"calcium current {channel!r} is not a channel")
            if any(g.calcium for g in spec.channels[channel].gates.values()):
                fail(f"calcium current {channel!r} must not itself depend on calcium")


def _check_units(spec, fail) -> None:
    lo, hi = V_TH_RANGE
    if not (_number(spec.V_th) and lo <= spec.V_th <= hi):
        fail(f"V_th = {spec.V_th!r} is outside [{lo:g}, {hi:g}] mV (volts instead of mV?)")
    reversal = {k: v for k, v in spec.constants.items() if k.startswith("E_")}
    lo, hi = E_RANGE
    for key, value in reversal.items():
        if not (_number(value) and lo <= value <= hi):
            fail(f"{key} = {value!r} is outside [{lo:g}, {hi:g}] mV (units off by 1000?)")
    if max(abs(v) for v in reversal.values()) < 1.0:
        fail(f"reversal potentials {reversal} are all below 1 mV in size: volts instead of mV?")
    current = spec.applied_current
    if not (_number(current) and np.isfinite(current)):
        fail(f"applied_current = {current!r} must be a finite number (uA/cm^2)")
    if abs(current) > MAX_APPLIED_UA_CM2:
        fail(f"applied_current = {current!r} uA/cm^2 exceeds {MAX_APPLIED_UA_CM2:g} in size "
             "(units off by 1000?)")  # fmt: skip


def _check_kinetics(model, fail) -> None:
    from sbidic.models.declarative import _gates

    gates = _gates(model.spec)
    for t in model.spec.timescales:
        if isinstance(t, str) and (t not in gates or not callable(gates[t][1].tau)):
            fail(f"timescale {t!r} is not a gate with a voltage-dependent time constant")
        if not isinstance(t, str) and not (_number(t) and t > 0):
            fail(f"timescale {t!r} must be a gate name or a time constant > 0 ms")
    V = model.V_th + np.linspace(-WINDOW_MV, WINDOW_MV, 41)
    window = f"on V_th +- {WINDOW_MV:g} mV"
    try:
        x = model.gating(V)
        taus = model.timescales(V)
    except Exception as err:  # a user's kinetics: any failure becomes one clear line
        fail(f"its kinetics cannot be evaluated {window}: {type(err).__name__}: {err}")
    for gate_name, (_, gate) in gates.items():
        key = gate_name if gate.instantaneous else f"{gate_name}_inf"
        value, slope = x[key], x[f"d{key}"]
        if not (np.isfinite(value).all() and np.isfinite(slope).all()):
            fail(f"steady state of gate {gate_name!r} is not finite {window}")
        if gate.calcium is None and ((value < 0) | (value > 1)).any():
            fail(f"steady state of gate {gate_name!r} leaves [0, 1] {window}")
        if (slope > 0).any() and (slope < 0).any():
            fail(f"steady state of gate {gate_name!r} is not monotone {window}")
        if callable(gate.tau):
            tau = x[f"tau_{gate_name}"]
            if not (np.isfinite(tau).all() and (tau > 0).all()):
                fail(f"time constant of gate {gate_name!r} is not finite and > 0 {window}")
            if (tau < TAU_MIN_MS).any():
                fail(f"time constant of gate {gate_name!r} is below {TAU_MIN_MS:g} ms "
                     f"{window} (seconds instead of ms?)")  # fmt: skip
    tau_f, tau_s, tau_u = (np.asarray(t, dtype=float) for t in taus)
    if not ((tau_f > 0) & (tau_f < tau_s) & (tau_s < tau_u)).all():
        fail(f"timescales must satisfy 0 < tau_f < tau_s < tau_u {window}")


def _check_rules(model, fail) -> None:
    spec, names = model.spec, set(model.conductances)
    ions = set(model.conductances[:-1])
    for field_name in ("monte_carlo_ranges", "conductance_ranges"):
        ranges = getattr(spec, field_name)
        if ranges is None:
            continue
        if set(ranges) != names:
            fail(f"{field_name} must cover exactly {model.conductances}")
        for key, (lo, hi) in ranges.items():
            if not 0 <= lo <= hi:
                fail(f"{field_name}[{key!r}] = ({lo}, {hi}) needs 0 <= low <= high")
    unknown = set(spec.seed.drawn) - names
    if unknown:
        fail(f"seed draws unknown conductances {sorted(unknown)}")
    if len(spec.seed.compensated) != 3 or not set(spec.seed.compensated) <= ions:
        fail(f"seed must compensate three of {sorted(ions)}, got {spec.seed.compensated}")
    if not spec.compensation:
        fail("declares no compensation pairs")
    for pair in spec.compensation:
        if len(set(pair)) != 2 or not set(pair) <= ions:
            fail(f"compensation pair {pair} must be two distinct conductances of {sorted(ions)}")
    conditions = list(spec.compensation.values())
    if "otherwise" in conditions[:-1]:
        fail("only the last compensation rule may be 'otherwise'")
    (lo_s, hi_s), (lo_u, hi_u) = spec.target_box["g_s"], spec.target_box["g_u"]
    g_s, g_u = np.meshgrid(np.linspace(lo_s, hi_s, 21), np.linspace(lo_u - 5, hi_u, 21))
    try:
        model.compensation_choice(g_s, g_u)
        model.initial_guess(g_s, g_u)
    except (ValueError, SyntaxError, NameError, TypeError) as err:
        fail(f"compensation rules fail on the target box: {err}")


def _check_solvable(model, fail) -> None:
    spec = model.spec
    g = np.array([np.mean(spec.monte_carlo_ranges[c]) for c in model.conductances])
    target = np.mean(spec.target_box["g_s"]), np.mean(spec.target_box["g_u"])
    for key, value in model.initial_guess(*target).items():
        g[model.index(key)] = value
    S = model_sensitivity(model, g)
    systems = [(pair, S[1:, model.index(pair)]) for pair in spec.compensation]
    systems.append((spec.seed.compensated, S[:, model.index(spec.seed.compensated)]))
    for names, M in systems:
        cond = np.linalg.cond(M) if np.isfinite(M).all() else np.inf
        if not cond < MAX_CONDITION:
            fail(f"compensation set {tuple(names)} cannot be solved at V_th: its columns of "
                 f"S(V_th) are linearly dependent (condition number {cond:.3g})")  # fmt: skip
