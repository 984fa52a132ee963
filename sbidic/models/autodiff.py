"""The math that model declarations are written in, and two ways to read it.

A declared model writes its kinetics as Python callables of the voltage ``V`` (mV)
with ordinary arithmetic and :func:`exp`/:func:`log` from this module. The same
callable is then evaluated on

* numpy arrays (values), torch tensors or anything with ``.exp()``;
* :class:`Dual` numbers: forward-mode automatic differentiation, exact to rounding,
  which gives every derivative the DICs need (no finite differences);
* :class:`Expr` symbols: the expression as a Brian2 string, for the simulator.

>>> f = boltzmann(-5.29, 25.5)
>>> d = f(Dual(-25.5, 1.0))
>>> float(d.val), round(float(d.der), 6)
(0.5, 0.047259)
>>> f(Expr("v/mV")).code
'1 / (1 + exp((v/mV + 25.5) / -5.29))'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Dual", "Expr", "boltzmann", "derivative", "exp", "exprel", "log", "sigmoid",
           "tabulate"]


class Dual:
    """A value and its derivative along one direction (forward-mode autodiff).

    Parameters
    ----------
    val, der : float or ndarray
        Value and derivative; arrays broadcast against each other.
    """

    __slots__ = ("val", "der")
    __array_ufunc__ = None  # ndarray (op) Dual defers to Dual's reflected operators

    def __init__(self, val, der) -> None:
        self.val, self.der = val, der

    def __add__(self, o):
        if isinstance(o, Dual):
            return Dual(self.val + o.val, self.der + o.der)
        return Dual(self.val + o, self.der)

    __radd__ = __add__

    def __sub__(self, o):
        if isinstance(o, Dual):
            return Dual(self.val - o.val, self.der - o.der)
        return Dual(self.val - o, self.der)

    def __rsub__(self, o):
        return Dual(o - self.val, -self.der)

    def __mul__(self, o):
        if isinstance(o, Dual):
            return Dual(self.val * o.val, self.der * o.val + self.val * o.der)
        return Dual(self.val * o, self.der * o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        if isinstance(o, Dual):
            return Dual(self.val / o.val, (self.der * o.val - self.val * o.der) / o.val**2)
        return Dual(self.val / o, self.der / o)

    def __rtruediv__(self, o):
        return Dual(o / self.val, -o * self.der / self.val**2)

    def __pow__(self, n):
        if isinstance(n, Dual):
            return (n * self.log()).exp()
        return Dual(self.val**n, n * self.val ** (n - 1) * self.der)

    def __rpow__(self, base):
        return (self * np.log(base)).exp()

    def __neg__(self):
        return Dual(-self.val, -self.der)

    def __pos__(self):
        return self

    def exp(self) -> Dual:
        e = exp(self.val)
        return Dual(e, e * self.der)

    def log(self) -> Dual:
        return Dual(log(self.val), self.der / self.val)

    def exprel(self) -> Dual:
        return Dual(_exprel(self.val), _exprel_derivative(self.val) * self.der)


def _code(x) -> str:
    if isinstance(x, Expr):
        return x.code
    x = float(x)
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


class Expr:
    """A symbolic expression that prints as Brian2 code.

    Sub-expressions are parenthesised only where Python's precedence needs it.
    """

    __slots__ = ("code", "prec")
    __array_ufunc__ = None
    # precedence: 1 sum, 2 product, 3 unary minus, 4 power, 5 atom
    def __init__(self, code: str, prec: int = 5) -> None:
        self.code, self.prec = code, prec

    @staticmethod
    def _wrap(x, prec: int, strict: bool = False) -> str:
        p = x.prec if isinstance(x, Expr) else (5 if float(x) >= 0 else 3)
        s = _code(x)
        return f"({s})" if p < prec or (strict and p == prec) else s

    def _bin(self, o, op: str, prec: int, right: bool = False) -> Expr:
        a, b = (o, self) if right else (self, o)
        strict = op in "-/"
        return Expr(f"{self._wrap(a, prec)} {op} {self._wrap(b, prec, strict)}", prec)

    def __add__(self, o):
        return self._bin(o, "+", 1)

    def __radd__(self, o):
        return self._bin(o, "+", 1, True)

    def __sub__(self, o):
        return self._bin(o, "-", 1)

    def __rsub__(self, o):
        return self._bin(o, "-", 1, True)

    def __mul__(self, o):
        return self._bin(o, "*", 2)

    def __rmul__(self, o):
        return self._bin(o, "*", 2, True)

    def __truediv__(self, o):
        return self._bin(o, "/", 2)

    def __rtruediv__(self, o):
        return self._bin(o, "/", 2, True)

    def __pow__(self, o):
        return Expr(f"{self._wrap(self, 5)}**{self._wrap(o, 5)}", 4)

    def __rpow__(self, o):
        return Expr(f"{self._wrap(o, 5)}**{self._wrap(self, 5)}", 4)

    def __neg__(self):
        return Expr(f"-{self._wrap(self, 3)}", 3)

    def exp(self) -> Expr:
        return Expr(f"exp({self.code})")

    def log(self) -> Expr:
        return Expr(f"log({self.code})")

    def exprel(self) -> Expr:
        return Expr(f"exprel({self.code})")

    def __repr__(self) -> str:
        return f"Expr({self.code!r})"


def exp(x):
    """``e**x`` for numpy arrays, torch tensors, :class:`Dual` and :class:`Expr`.

    Overflow is numpy's business (sbidic evaluates kinetics under ``np.errstate``).
    """
    if isinstance(x, Dual | Expr) or (
        hasattr(x, "exp") and not isinstance(x, np.ndarray | np.generic)
    ):
        return x.exp()
    return np.exp(x)


def log(x):
    """Natural logarithm for the same types as :func:`exp`."""
    if isinstance(x, Dual | Expr) or (
        hasattr(x, "log") and not isinstance(x, np.ndarray | np.generic)
    ):
        return x.log()
    return np.log(x)


#: Below this |x|, exprel's derivative is its Taylor series (the closed form cancels).
_EXPREL_SERIES = 1e-4


def _exprel(x):
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x == 0, 1.0, np.expm1(x) / np.where(x == 0, 1.0, x))
    return out if out.ndim else float(out)


def _exprel_derivative(x):
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < _EXPREL_SERIES
    safe = np.where(small, 1.0, x)
    with np.errstate(over="ignore", invalid="ignore"):
        closed = (np.exp(safe) * (safe - 1.0) + 1.0) / safe**2
    out = np.where(small, 0.5 + x / 3.0 + x**2 / 8.0, closed)
    return out if out.ndim else float(out)


def exprel(x):
    r"""The relative error exponential :math:`(e^x - 1) / x`, 1 at :math:`x = 0`.

    The classic Hodgkin-Huxley rates :math:`a x / (e^{x / k} - 1)` have a removable
    singularity at ``x = 0``; written as :math:`a k / \mathrm{exprel}(x / k)` they
    are finite everywhere, in numpy, in the derivatives and in Brian2 (which has
    ``exprel``).

    >>> float(exprel(0.0)), round(float(exprel(1.0)), 6)
    (1.0, 1.718282)
    >>> d = exprel(Dual(0.0, 1.0))
    >>> float(d.val), float(d.der)
    (1.0, 0.5)
    >>> exprel(Expr("v/mV") / 4).code
    'exprel(v/mV / 4)'
    """
    if isinstance(x, Dual | Expr):
        return x.exprel()
    return _exprel(x)


def sigmoid(A: float, B: float, C: float, D: float) -> Callable:
    r"""The function :math:`V \mapsto A + B / (1 + e^{(V + D) / C})` (V, C, D in mV)."""

    def f(V):
        core = B / (1 + exp((V + D) / C)) if B != 1 else 1 / (1 + exp((V + D) / C))
        return core if A == 0 else A + core

    return f


def boltzmann(C: float, D: float) -> Callable:
    r"""Steady state :math:`V \mapsto 1 / (1 + e^{(V + D) / C})`: activation for C < 0."""
    return sigmoid(0.0, 1.0, C, D)


def derivative(f: Callable, x) -> tuple[np.ndarray, np.ndarray]:
    """Value and exact derivative of ``f`` at ``x`` by forward-mode autodiff.

    >>> derivative(lambda x: x**3, 2.0)
    (8.0, 12.0)
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return value_and_derivative(f, np.asarray(x, dtype=float))


def value_and_derivative(f: Callable, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`derivative` for a float array ``x``, without its ``np.errstate``."""
    y = f(Dual(x if x.ndim else float(x), 1.0))
    if not isinstance(y, Dual):  # constant in x
        return np.broadcast_to(np.asarray(y, dtype=float), x.shape), np.zeros_like(x)
    der = y.der if np.shape(y.der) == x.shape else np.broadcast_to(y.der, x.shape)
    return y.val, der


def tabulate(functions: dict[str, Callable]) -> Callable:
    """Turn named functions of V into one ``V -> {name: value, "d" + name: dvalue/dV}``.

    >>> rates = tabulate({"a": lambda V: 2.0 * exp(0.5 * V)})
    >>> {k: float(v) for k, v in rates(0.0).items()}
    {'a': 2.0, 'da': 1.0}
    """

    def table(V) -> dict[str, np.ndarray]:
        out = {}
        for name, f in functions.items():
            out[name], out[f"d{name}"] = derivative(f, V)
        return out

    return table
