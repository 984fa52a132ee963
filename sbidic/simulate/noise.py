"""Band-limited Gaussian noise current for noisy simulations.

The published dataset pipeline (GEN, ``--ode_type noisy``) injects a current made of
white noise ``N(0, sigma^2)`` drawn per sample on a time grid, low-pass filtered by a
4th-order Butterworth filter at 1 kHz applied forward and backward (``filtfilt``, zero
phase), linearly interpolated in time and *added* to ``dV/dt`` (uA/cm^2).

Two ways to give the amplitude
------------------------------
* ``sigma``: the reference's definition, the standard deviation of the white noise
  *before* filtering, per sample of the noise grid (``dt_ms``). The current that
  reaches the cell is much smaller, and how much smaller depends on the grid:
  ``std = ratio * sigma`` with ``ratio = sqrt((1/pi) int_0^pi |H(e^jw)|^4 dw)``
  (:func:`std_ratio`): 0.42458 at dt = 0.1 ms (the STG datasets), 0.29979 at
  dt = 0.05 ms (the DA datasets), 0.21191 at 0.025 ms.
* ``std``: the standard deviation of the filtered current itself, independent of the
  grid; ``sigma = std / ratio`` is derived.

Differences from the reference (its bugs are not reproduced)
------------------------------------------------------------
* The noise acts during the whole simulation, transient included. The reference
  generated it only on the kept window and clamped the interpolation before it, so
  the transient saw a constant DC current equal to the first filtered sample (whose
  std is about sigma, not ``ratio * sigma``, because of the filtfilt edge).
* The white noise is drawn with padding on both sides (:data:`PAD_MS`) and cropped,
  so the filtered current is stationary up to the edges (no filtfilt edge transients
  at ``t = 0`` or at the end).
* Every cell gets its own reproducible stream: cell ``c`` with seed ``s`` draws from
  ``numpy.random.default_rng(SeedSequence(s, spawn_key=(c,)))``, which is the
  ``c``-th child of ``SeedSequence(s).spawn(...)``. The cell id ``c`` is global (the
  caller passes ``cell_ids``), so a cell gets the same noise whether it is simulated
  alone, in a batch, or in any chunk of a parallel run. The reference drew every cell
  from the unseeded global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CUTOFF_HZ",
    "ORDER",
    "PAD_MS",
    "BandLimitedNoise",
    "butterworth_lowpass",
    "cell_rng",
    "std_ratio",
]

#: Cut-off frequency (Hz) of the published low-pass filter.
CUTOFF_HZ = 1000.0
#: Order of the published Butterworth filter.
ORDER = 4
#: White noise drawn beyond each end of the simulated span and then cropped (ms), so
#: that the filtered current has no filtfilt edge effect; the impulse response of the
#: 1 kHz filter decays below 1e-9 of its peak within about 10 ms.
PAD_MS = 20.0


def butterworth_lowpass(
    dt_ms: float, cutoff_hz: float = CUTOFF_HZ, order: int = ORDER
) -> tuple[np.ndarray, np.ndarray]:
    """Digital Butterworth low-pass coefficients ``(b, a)`` for a grid step ``dt_ms``.

    As in the reference: ``fs = 1000 / dt_ms`` Hz and
    ``scipy.signal.butter(order, cutoff_hz / (fs / 2), "low")``.

    Examples
    --------
    >>> b, a = butterworth_lowpass(0.1)
    >>> b.round(8).tolist()
    [0.00482434, 0.01929737, 0.02894606, 0.01929737, 0.00482434]
    """
    from scipy.signal import butter

    if not (np.isfinite(dt_ms) and dt_ms > 0):
        raise ValueError(f"noise dt_ms must be finite and > 0, got {dt_ms}")
    fs = 1000.0 / dt_ms
    wn = cutoff_hz / (fs / 2.0)
    if not 0.0 < wn < 1.0:
        raise ValueError(
            f"noise cut-off {cutoff_hz} Hz must lie between 0 and the Nyquist frequency "
            f"{fs / 2:g} Hz of the noise grid (dt = {dt_ms} ms)"
        )
    b, a = butter(int(order), wn, "low")
    return np.asarray(b, dtype=float), np.asarray(a, dtype=float)


def std_ratio(dt_ms: float, cutoff_hz: float = CUTOFF_HZ, order: int = ORDER) -> float:
    r"""Std of the filtfilt-filtered white noise per unit pre-filter std.

    ``sqrt((1/pi) int_0^pi |H(e^{jw})|^4 dw)``, computed as the l2 norm of the
    zero-phase impulse response (the autocorrelation of the causal one).

    Examples
    --------
    >>> round(std_ratio(0.1), 6), round(std_ratio(0.05), 6)
    (0.424581, 0.29979)
    """
    from scipy.signal import lfilter

    b, a = butterworth_lowpass(dt_ms, cutoff_hz, order)
    fs = 1000.0 / dt_ms
    n = int(max(4096, 200 * fs / cutoff_hz))
    impulse = np.zeros(n)
    impulse[0] = 1.0
    h = lfilter(b, a, impulse)
    r = np.correlate(h, h, mode="full")
    return float(np.sqrt(np.sum(r**2)))


def cell_rng(seed: int, cell_id: int) -> np.random.Generator:
    """The random generator of cell ``cell_id`` for seed ``seed``.

    ``SeedSequence(seed, spawn_key=(cell_id,))``, i.e. the ``cell_id``-th child of
    ``SeedSequence(seed).spawn(n)``.
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(cell_id),)))


@dataclass(frozen=True)
class BandLimitedNoise:
    """Low-pass filtered Gaussian current injected into every cell (uA/cm^2).

    Give exactly one of ``sigma`` and ``std``.

    Parameters
    ----------
    sigma : float, optional
        Pre-filter standard deviation per sample of the noise grid (the reference's
        ``sigma``; the datasets used 5, and 3 for one STG set).
    std : float, optional
        Standard deviation of the filtered current actually injected.
    dt_ms : float, optional
        Step of the grid the white noise is drawn on (ms). ``None`` (default) uses the
        simulation step. The reference used 0.1 ms (STG) and 0.05 ms (DA); see
        :meth:`reference`. The filtered sequence is linearly interpolated onto the
        simulation grid when the two differ (as the reference interpolated it in
        time); the simulation holds each value for one step.
    cutoff_hz : float, default 1000
        Cut-off of the Butterworth low-pass filter.
    order : int, default 4
        Order of the Butterworth filter.

    Examples
    --------
    >>> noise = BandLimitedNoise(sigma=5.0, dt_ms=0.1)
    >>> round(noise.effective_std(), 4)
    2.1229
    >>> round(BandLimitedNoise(std=1.0).sigma_at(0.05), 4)
    3.3357
    """

    sigma: float | None = None
    std: float | None = None
    dt_ms: float | None = None
    cutoff_hz: float = CUTOFF_HZ
    order: int = ORDER

    def __post_init__(self) -> None:
        if (self.sigma is None) == (self.std is None):
            raise ValueError("give exactly one of sigma (pre-filter) and std (filtered)")
        amp = self.sigma if self.sigma is not None else self.std
        name = "sigma" if self.sigma is not None else "std"
        if not (np.isfinite(amp) and amp >= 0):
            raise ValueError(f"noise {name} must be finite and >= 0 uA/cm^2, got {amp}")
        if self.dt_ms is not None and not (np.isfinite(self.dt_ms) and self.dt_ms > 0):
            raise ValueError(f"noise dt_ms must be finite and > 0, got {self.dt_ms}")
        if not (np.isfinite(self.cutoff_hz) and self.cutoff_hz > 0):
            raise ValueError(f"noise cutoff_hz must be finite and > 0, got {self.cutoff_hz}")
        if int(self.order) != self.order or self.order < 1:
            raise ValueError(f"noise filter order must be a positive integer, got {self.order}")

    @classmethod
    def reference(cls, model: str, sigma: float = 5.0) -> BandLimitedNoise:
        """Noise of the published noisy datasets: ``sigma`` on the reference grid.

        The grid is the model's ``noise_dt_ms`` (e.g. 0.1 ms for STG, 0.05 ms for DA).
        """
        from sbidic.models import get_model

        dt_ms = getattr(get_model(model), "noise_dt_ms", None)
        if dt_ms is None:
            raise ValueError(f"model {model!r} declares no reference noise grid (noise_dt_ms)")
        return cls(sigma=sigma, dt_ms=dt_ms)

    def grid_dt(self, sim_dt_ms: float) -> float:
        """Step (ms) of the white-noise grid for a simulation step ``sim_dt_ms``."""
        return float(self.dt_ms) if self.dt_ms is not None else float(sim_dt_ms)

    def sigma_at(self, dt_ms: float | None = None) -> float:
        """Pre-filter per-sample std on a noise grid of step ``dt_ms`` (default: the
        noise's own ``dt_ms``)."""
        if self.sigma is not None:
            return float(self.sigma)
        dt = self.dt_ms if dt_ms is None else dt_ms
        if dt is None:
            raise ValueError("sigma_at needs dt_ms when the noise has no dt_ms of its own")
        return float(self.std) / std_ratio(float(dt), self.cutoff_hz, self.order)

    def effective_std(self, dt_ms: float | None = None) -> float:
        """Std (uA/cm^2) of the filtered current for a noise grid of step ``dt_ms``."""
        if self.std is not None:
            return float(self.std)
        dt = self.dt_ms if dt_ms is None else dt_ms
        if dt is None:
            raise ValueError("effective_std needs dt_ms when the noise has no dt_ms of its own")
        return float(self.sigma) * std_ratio(float(dt), self.cutoff_hz, self.order)

    def describe(self, sim_dt_ms: float) -> dict:
        """Settings and both amplitudes for the simulation step ``sim_dt_ms``."""
        dt = self.grid_dt(sim_dt_ms)
        ratio = std_ratio(dt, self.cutoff_hz, self.order)
        sigma = self.sigma_at(dt)
        return {
            "kind": "band-limited Gaussian (Butterworth low-pass, filtfilt)",
            "sigma_prefilter": sigma,
            "std_filtered": sigma * ratio,
            "std_ratio": ratio,
            "noise_dt_ms": dt,
            "cutoff_hz": float(self.cutoff_hz),
            "order": int(self.order),
            "unit": "uA/cm^2",
        }

    def generate(
        self,
        n_steps: int,
        sim_dt_ms: float,
        seed: int,
        cell_ids: np.ndarray,
    ) -> np.ndarray:
        """Noise current (uA/cm^2) on the simulation grid ``t_n = n * sim_dt_ms``.

        Parameters
        ----------
        n_steps : int
            Number of simulation grid points (``t_0 = 0`` to ``t_{n_steps - 1}``).
        sim_dt_ms : float
            Simulation step (ms).
        seed : int
            Root seed; cell ``c`` uses :func:`cell_rng` ``(seed, c)``.
        cell_ids : array of int, shape (n_cells,)
            Global cell ids.

        Returns
        -------
        ndarray, shape (n_steps, n_cells)
            C-contiguous, ready for a 2-D ``brian2.TimedArray``.
        """
        from scipy.signal import filtfilt

        cell_ids = np.asarray(cell_ids, dtype=np.int64).ravel()
        dt = self.grid_dt(sim_dt_ms)
        b, a = butterworth_lowpass(dt, self.cutoff_hz, self.order)
        sigma = self.sigma_at(dt)
        span_ms = (n_steps - 1) * sim_dt_ms
        n_white = int(math.floor(span_ms / dt + 1e-9)) + 2  # covers [0, span] inclusive
        pad = int(math.ceil(PAD_MS / dt))
        same_grid = abs(dt - sim_dt_ms) <= 1e-12 * max(dt, sim_dt_ms)
        t_sim = np.arange(n_steps) * sim_dt_ms
        t_white = np.arange(n_white) * dt
        out = np.empty((n_steps, len(cell_ids)), dtype=np.float64)
        for col, cid in enumerate(cell_ids):
            white = cell_rng(seed, cid).standard_normal(n_white + 2 * pad)
            filtered = filtfilt(b, a, white)[pad : pad + n_white]
            if same_grid:
                out[:, col] = filtered[:n_steps]
            else:
                out[:, col] = np.interp(t_sim, t_white, filtered)
        out *= sigma
        return out
