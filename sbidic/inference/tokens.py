"""Spike trains as padded tensors and log-ISI tokens, and training-time augmentation.

A recording is one train of spike times (ms). The network sees its inter-spike
intervals (ISIs) as a sequence of two-feature tokens (Brandoit et al. 2025):

* ``a_i = log(1 + |t_{i+1} - t_i|)``, the log-ISI (``log1p`` of ms), ``i = 1 .. N-1``;
* ``b_1 = 0`` and ``b_i = a_i - a_{i-1}``, its first difference;

standardised with fixed statistics ``(a, b) -> ((a, b) - mu) / sigma``
(:class:`TokenStats`). A train of ``N`` spikes gives ``N - 1`` tokens. Beside them, an
encoder may read three whole-train summaries of ISI variability computed in float64
(:func:`timing_summaries`), which resolve drifts far below the tokens' precision.

Accepted inputs (:func:`as_padded`)
-----------------------------------
* a :class:`~sbidic.spikes.SpikeTrains`, or a list of 1-D arrays (one per recording);
* a padded 2-D array / tensor ``(B, L)``, one recording per row, left-aligned, with
  explicit ``lengths``, or whose missing entries are trailing **NaN** (sbi's convention)
  or trailing **negative** values (e.g. ``-1``). Spike times are never negative, and
  ``sbi.diagnostics.run_sbc`` / ``run_tarp`` silently drop every row that contains a
  NaN, so pad with ``-1`` (:data:`PAD_NEGATIVE`) for those;
* one recording as a 1-D array / tensor (``B = 1``).

Rules
-----
* Fewer than :data:`MIN_SPIKES` = 3 spikes (a "silent" train, fewer than 2 ISIs) is not
  valid input: a :class:`ValueError` names the offending rows. Callers drop or report
  silent recordings before encoding.
* Longer than ``max_spikes`` (250 by default, as published): only the **first**
  ``max_spikes`` spikes are used, and a :class:`SpikeTruncationWarning` names the
  truncated rows (``on_truncate="warn"``; ``"ignore"`` or ``"raise"`` are the
  alternatives). The published inference pipeline truncates the same way.

Augmentation (:func:`augment_padded`, training only), in order: Gaussian jitter of every
spike time (2 ms), deletion of each spike with probability 0.05 (undone if fewer than
5 spikes survive), and a random crop in spike-index space of trains with more than 10
spikes (window length uniform in ``[floor(n/2), n-1]``, start uniform over all windows).
Each train is augmented with probability ``p_augment`` (published: every train; sbidic's
:class:`~sbidic.inference.estimator.Augmentation` default: half of them), all steps
together or, with ``independent_steps``, the jitter and the deletion + crop independently.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sbidic.spikes import SpikeTrains

__all__ = [
    "DEFAULT_MAX_SPIKES",
    "MIN_SPIKES",
    "N_TIMING_SUMMARIES",
    "PAD_NEGATIVE",
    "PUBLISHED_STG_STATS",
    "PaddedSpikes",
    "SpikeTruncationWarning",
    "TokenStats",
    "as_padded",
    "as_recordings",
    "augment_padded",
    "isi_tokens",
    "pad_trains",
    "timing_summaries",
    "token_stats",
]

#: Fewest spikes of a recording the encoder accepts (2 ISIs).
MIN_SPIKES = 3
#: Spikes kept per recording by default (the published inference rule).
DEFAULT_MAX_SPIKES = 250
#: Padding value that sbi's diagnostics do not mistake for invalid data.
PAD_NEGATIVE = -1.0


class SpikeTruncationWarning(UserWarning):
    """Recordings longer than ``max_spikes`` were cut to their first ``max_spikes`` spikes."""


@dataclass(frozen=True)
class TokenStats:
    """Standardisation constants of the tokens ``(a, b)``.

    Attributes
    ----------
    mu : (float, float)
        Means of the log-ISI ``a`` (log1p of ms) and of its first difference ``b``.
    sigma : (float, float)
        Their standard deviations.

    Examples
    --------
    >>> TokenStats(mu=(3.5, 0.0), sigma=(0.5, 0.7)).mu
    (3.5, 0.0)
    >>> TokenStats(mu=(3.5, 0.0), sigma=(0.0, 0.7))
    Traceback (most recent call last):
    ...
    ValueError: token statistics must be finite with sigma > 0, got (3.5, 0.0), (0.0, 0.7)
    """

    mu: tuple[float, float]
    sigma: tuple[float, float]

    def __post_init__(self) -> None:
        mu = tuple(float(v) for v in self.mu)
        sigma = tuple(float(v) for v in self.sigma)
        if len(mu) != 2 or len(sigma) != 2:
            raise ValueError(f"mu and sigma must have 2 entries, got {mu}, {sigma}")
        if not all(np.isfinite(mu)) or not all(np.isfinite(sigma)) or min(sigma) <= 0:
            raise ValueError(f"token statistics must be finite with sigma > 0, got {mu}, {sigma}")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    def to_dict(self) -> dict:
        return {"mu": list(self.mu), "sigma": list(self.sigma)}

    @classmethod
    def from_dict(cls, d: dict) -> TokenStats:
        return cls(tuple(d["mu"]), tuple(d["sigma"]))


#: The constants of the published STG network (``best_model_stg.pth``).
PUBLISHED_STG_STATS = TokenStats(mu=(3.5383, 7.263e-5), sigma=(0.4488, 0.6999))


def token_stats(trains: SpikeTrains | Sequence[np.ndarray]) -> TokenStats:
    """Token statistics of a training set, as published.

    For every train with at least 3 spikes, the mean and standard deviation
    (``ddof=0``) of its log-ISIs ``a`` and of their differences ``b`` are computed;
    ``mu`` is the average over trains of the per-train means and ``sigma`` the average
    of the per-train standard deviations (not the pooled standard deviation). The
    leading ``b_1 = 0`` is not counted. Trains with fewer than 3 spikes are ignored;
    ``sigma`` is floored at 1e-3.

    Parameters
    ----------
    trains : SpikeTrains or sequence of 1-D arrays
        Spike times (ms).

    Returns
    -------
    TokenStats

    Examples
    --------
    >>> s = token_stats([[0.0, 10.0, 30.0], [0.0, 5.0, 10.0, 15.0]])
    >>> np.round(s.mu, 4), np.round(s.sigma, 4)
    (array([2.2565, 0.3233]), array([0.1617, 0.001 ]))
    """
    st = trains if isinstance(trains, SpikeTrains) else SpikeTrains.from_list(trains, check=False)
    st = st[np.flatnonzero(st.n_spikes >= MIN_SPIKES)]
    if st.n_trains == 0:
        raise ValueError("token statistics need at least one train with >= 3 spikes")
    isi, off = st.isi()
    a = np.log1p(isi)
    owner_a = np.repeat(np.arange(st.n_trains), np.diff(off))
    within = owner_a[1:] == owner_a[:-1]
    b = np.diff(a)[within]
    owner_b = owner_a[1:][within]

    def mean_std(v: np.ndarray, owner: np.ndarray) -> tuple[float, float]:
        n = np.bincount(owner, minlength=st.n_trains)
        m = np.bincount(owner, v, minlength=st.n_trains) / n
        var = np.bincount(owner, (v - m[owner]) ** 2, minlength=st.n_trains) / n
        return float(m.mean()), float(np.sqrt(np.maximum(var, 0.0)).mean())

    (ma, sa), (mb, sb) = mean_std(a, owner_a), mean_std(b, owner_b)
    return TokenStats((ma, mb), (max(sa, 1e-3), max(sb, 1e-3)))


@dataclass(frozen=True)
class PaddedSpikes:
    """A batch of recordings as a right-padded tensor.

    Attributes
    ----------
    times : Tensor, shape (B, L), float64
        Spike times (ms); entries at and after ``lengths[i]`` are padding (NaN).
    lengths : Tensor of int64, shape (B,)
        Spikes used per recording (``MIN_SPIKES <= lengths <= max_spikes``).
    n_spikes : ndarray of int, shape (B,)
        Spikes per recording before truncation.
    """

    times: Tensor
    lengths: Tensor
    n_spikes: np.ndarray

    @property
    def truncated(self) -> np.ndarray:
        """Bool per recording: cut to ``max_spikes`` spikes."""
        return self.n_spikes > self.lengths.numpy()

    def __len__(self) -> int:
        return self.times.shape[0]


def pad_trains(
    trains: SpikeTrains | Sequence[np.ndarray],
    pad_value: float = PAD_NEGATIVE,
    max_len: int | None = None,
    *,
    min_spikes: int = MIN_SPIKES,
) -> Tensor:
    """Spike trains as a padded float32 tensor ``(B, L)``: an sbi-ready ``x``.

    float32 because sbi's trainers require it. It rounds a spike time at 12 s to
    about 1 us, the scale of the ISI drift the estimators' timing features read (on
    3,000 STG test trains it moves embeddings by up to 0.6, though not the error of
    the posterior means); sbidic's own functions read spike times in float64.

    Parameters
    ----------
    trains : SpikeTrains or sequence of 1-D arrays
        Spike times (ms).
    pad_value : float, default -1
        Value of missing entries: negative (the default) or NaN. sbi drops every row
        holding a NaN without a word in ``run_sbc`` / ``run_tarp`` and in
        ``append_simulations``, so NaN padding silently loses the shorter recordings
        there; sbidic reads both.
    max_len : int, optional
        Columns; longer trains keep their first ``max_len`` spikes.
    min_spikes : int, default 3
        Fewer spikes is an error naming the trains (the posterior refuses them):
        remove them first with :meth:`SpikeTrains.drop_silent`. ``0`` pads anything.

    Examples
    --------
    >>> pad_trains([[1.0, 2.0, 4.0], [3.0, 5.0, 6.0, 9.0]])
    tensor([[ 1.,  2.,  4., -1.],
            [ 3.,  5.,  6.,  9.]])
    """
    if not (np.isnan(pad_value) or pad_value < 0):
        raise ValueError(f"pad_value must be NaN or negative, got {pad_value}")
    st = trains if isinstance(trains, SpikeTrains) else SpikeTrains.from_list(trains)
    silent = np.flatnonzero(st.n_spikes < min_spikes)
    if silent.size:
        raise ValueError(
            f"{silent.size} train(s) have fewer than {min_spikes} spikes (ids "
            f"{st.ids[silent][:10].tolist()}); the posterior cannot read them: drop them "
            "first with trains.drop_silent()"
        )
    padded, _ = st.to_padded(pad_value=pad_value, max_len=max_len)
    return torch.as_tensor(padded, dtype=torch.float32)


def _is_single_recording(x) -> bool:
    if isinstance(x, SpikeTrains):
        return False
    if isinstance(x, Tensor | np.ndarray):
        return x.ndim == 1
    if isinstance(x, Sequence) and not isinstance(x, str):
        return len(x) > 0 and all(np.ndim(v) == 0 for v in x)
    return False


def _padded_from_array(x: Tensor, lengths) -> tuple[Tensor, Tensor]:
    """Validate a 2-D padded tensor; return float64 times and int64 lengths."""
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2:
        raise ValueError(
            f"padded spike times must have shape (batch, max_len), got {tuple(x.shape)}"
        )
    t = x.detach().to(device="cpu", dtype=torch.float64)
    b, width = t.shape
    if lengths is not None:
        lens = torch.as_tensor(np.asarray(lengths)).to(torch.int64).reshape(-1)
        if lens.shape != (b,):
            raise ValueError(f"lengths must have shape ({b},), got {tuple(lens.shape)}")
        bad = torch.nonzero((lens < 0) | (lens > width)).flatten()
        if bad.numel():
            i = int(bad[0])
            raise ValueError(f"lengths[{i}] = {int(lens[i])} is outside [0, {width}]")
        pos = torch.arange(width)
        valid = pos[None, :] < lens[:, None]
        bad_rows = torch.nonzero((valid & ~torch.isfinite(t)).any(dim=1)).flatten()
        if bad_rows.numel():
            raise ValueError(
                f"row {int(bad_rows[0])} has a non-finite spike time within its length"
            )
        return t, lens
    missing = torch.isnan(t) | (t < 0)
    inf_rows = torch.nonzero(torch.isinf(t).any(dim=1)).flatten()
    if inf_rows.numel():
        raise ValueError(f"row {int(inf_rows[0])} holds an infinite spike time")
    lens = (~missing).sum(dim=1)
    pos = torch.arange(width)
    misplaced = missing & (pos[None, :] < lens[:, None])
    rows = torch.nonzero(misplaced.any(dim=1)).flatten()
    if rows.numel():
        r = int(rows[0])
        c = int(torch.nonzero(misplaced[r]).flatten()[0])
        raise ValueError(
            f"row {r} has a missing entry (NaN or negative) at column {c} before a spike "
            "time; padding must be trailing (or pass lengths)"
        )
    return t, lens


def as_recordings(recordings, ids: Sequence | None = None) -> SpikeTrains:
    """Any accepted form of recordings as validated SpikeTrains (errors name the train).

    Parameters
    ----------
    recordings : SpikeTrains, array_like or sequence of array_like
        One recording (a 1-D array of spike times, ms), several (a list of them),
        padded ones (an array or tensor (B, L), NaN or negative padding) or
        :class:`~sbidic.spikes.SpikeTrains`.
    ids : sequence, optional
        Recording IDs (default: those of ``recordings``, else ``0..n-1``).

    Returns
    -------
    SpikeTrains
        Validated spike trains.

    Raises
    ------
    ValueError
        No recordings, or an invalid train (named).

    Examples
    --------
    >>> as_recordings([1.0, 2.0, 3.0]).n_trains
    1
    """
    if _is_single_recording(recordings):
        recordings = [recordings]
    if isinstance(recordings, Tensor | np.ndarray):  # padded (B, L), NaN / negative padding
        p = as_padded(recordings, max_spikes=None, min_spikes=0)
        trains = SpikeTrains.from_padded(p.times.numpy(), p.lengths.numpy(), ids, check=False)
    elif isinstance(recordings, SpikeTrains):
        trains = (
            recordings
            if ids is None
            else SpikeTrains(recordings.times, recordings.offsets, ids=ids, check=False)
        )
    else:
        trains = SpikeTrains.from_list(
            [np.asarray(r, dtype=float) for r in recordings], ids=ids, check=False
        )
    if trains.n_trains == 0:
        raise ValueError("no recordings given")
    return trains.validate()


def as_padded(
    x,
    lengths=None,
    *,
    max_spikes: int | None = DEFAULT_MAX_SPIKES,
    min_spikes: int = MIN_SPIKES,
    on_truncate: str = "warn",
) -> PaddedSpikes:
    """Any accepted form of recordings as a :class:`PaddedSpikes` batch.

    Parameters
    ----------
    x : SpikeTrains, sequence of 1-D arrays, array / Tensor (B, L) or (L,)
        Spike times (ms); see the module docstring for the padding conventions.
    lengths : array_like of int, shape (B,), optional
        Spikes per row of a padded ``x`` (then the padding value is irrelevant).
    max_spikes : int or None, default 250
        Spikes kept per recording (the first ones); None keeps all.
    min_spikes : int, default 3
        Fewest spikes accepted.
    on_truncate : {"warn", "ignore", "raise"}
        What to do when a recording has more than ``max_spikes`` spikes.

    Returns
    -------
    PaddedSpikes
        ``times`` (B, L) float64 with NaN padding, ``L = max(lengths)``.

    Raises
    ------
    ValueError
        A recording with fewer than ``min_spikes`` spikes (the message lists the row
        indices), non-trailing padding, or infinite times.

    Examples
    --------
    >>> p = as_padded([[0.0, 10.0, 20.0], [5.0, 7.0, 9.0, 30.0]])
    >>> p.times.shape, p.lengths.tolist()
    (torch.Size([2, 4]), [3, 4])
    """
    if on_truncate not in ("warn", "ignore", "raise"):
        raise ValueError(f"on_truncate must be 'warn', 'ignore' or 'raise', got {on_truncate!r}")
    if _is_single_recording(x):
        x = [np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=np.float64)]
    if isinstance(x, Tensor | np.ndarray) and x.ndim >= 2:
        t, lens = _padded_from_array(torch.as_tensor(x), lengths)
    else:
        if lengths is not None:
            raise ValueError("lengths only applies to a padded 2-D array of spike times")
        if not isinstance(x, SpikeTrains):
            if isinstance(x, Tensor | np.ndarray) or not isinstance(x, Sequence):
                raise ValueError(
                    "recordings must be a SpikeTrains, a list of 1-D arrays, a padded "
                    f"(batch, max_len) array or one 1-D array; got {type(x).__name__}"
                )
            x = SpikeTrains.from_list(
                [np.asarray(v.detach().cpu() if isinstance(v, Tensor) else v) for v in x]
            )
        padded, lens_np = x.to_padded(pad_value=np.nan)
        t, lens = torch.from_numpy(padded), torch.from_numpy(lens_np.astype(np.int64))
    n_spikes = lens.numpy().copy()
    short = np.flatnonzero(n_spikes < min_spikes)
    if short.size:
        shown = short[:20].tolist()
        more = f" and {short.size - 20} more" if short.size > 20 else ""
        raise ValueError(
            f"recording(s) at index {shown}{more} have fewer than {min_spikes} spikes "
            f"(n = {n_spikes[short[:20]].tolist()}); the encoder needs at least "
            f"{min_spikes} spikes ({min_spikes - 1} ISIs). Silent recordings must be "
            "removed (and reported) by the caller."
        )
    if max_spikes is not None:
        long = np.flatnonzero(n_spikes > max_spikes)
        if long.size:
            msg = (
                f"{long.size} recording(s) have more than max_spikes = {max_spikes} spikes "
                f"(index {long[:20].tolist()}{' ...' if long.size > 20 else ''}, up to "
                f"{int(n_spikes[long].max())} spikes); only their first {max_spikes} "
                "spikes are used"
            )
            if on_truncate == "raise":
                raise ValueError(msg)
            if on_truncate == "warn":
                warnings.warn(msg, SpikeTruncationWarning, stacklevel=3)
            lens = lens.clamp(max=max_spikes)
    width = int(lens.max()) if len(lens) else 0
    t = t[:, :width].clone()
    pos = torch.arange(width)
    t[pos[None, :] >= lens[:, None]] = torch.nan
    return PaddedSpikes(t, lens, n_spikes)


def isi_tokens(times: Tensor, lengths: Tensor, mu: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
    """Standardised log-ISI tokens of padded spike times.

    Parameters
    ----------
    times : Tensor, shape (B, L)
        Spike times (ms), right-padded (padding values are ignored).
    lengths : Tensor of int, shape (B,)
        Spikes per row (>= 2).
    mu, sigma : Tensor, shape (2,)
        Token statistics (:class:`TokenStats`).

    Returns
    -------
    tokens : Tensor, shape (B, L - 1, 2), float32
        ``((a, b) - mu) / sigma`` at valid positions, 0 at padded ones.
    mask : Tensor of bool, shape (B, L - 1)
        True for the ``lengths - 1`` real ISIs of each row.

    Examples
    --------
    >>> t = torch.tensor([[0.0, 10.0, 30.0, float("nan")]])
    >>> u, m = isi_tokens(t, torch.tensor([3]), torch.zeros(2), torch.ones(2))
    >>> u[0, :, 0].round(decimals=4), m.tolist()
    (tensor([2.3979, 3.0445, 0.0000]), [[True, True, False]])
    """
    t = times.to(torch.float64)
    width = t.shape[1] - 1
    mask = torch.arange(width, device=t.device)[None, :] < (lengths.to(t.device) - 1)[:, None]
    d = torch.where(mask, t[:, 1:] - t[:, :-1], torch.zeros((), dtype=t.dtype))
    a = torch.log1p(d.abs())
    b = torch.zeros_like(a)
    b[:, 1:] = a[:, 1:] - a[:, :-1]
    u = torch.stack([a, b], dim=-1).to(torch.float32)
    u = (u - mu.to(u)) / sigma.to(u)
    u = u * mask[..., None]
    return u, mask


#: Number of per-train timing summaries (:func:`timing_summaries`).
N_TIMING_SUMMARIES = 3


def timing_summaries(times: Tensor, lengths: Tensor) -> Tensor:
    """Three whole-train summaries of ISI variability, computed in float64.

    The log-ISI tokens are float32 and standardised with the spread of ISIs across
    *all* trains (:class:`TokenStats`), so a tonic-spiking train whose ISIs drift by
    0.01 % (about 5 µs on a 50 ms ISI: slow currents still relaxing) looks perfectly
    regular to the transformer. That drift depends on (g_s, g_u) (a k-nearest-neighbour
    regressor on mean ISI + ISI CV beats one on mean ISI alone by 1.4 in g_s on clean
    STG trains; ``benchmarks/bench_spiking_floor.py``), so it is passed beside the
    tokens, on a log scale. With ISIs ``d_1 .. d_n`` (``n = lengths - 1 >= 2``):

    * ``(log(CV + 1e-6) + 4) / 4`` with ``CV = std(d) / mean(d)`` (``ddof = 0``);
    * ``(log(mean|d_{i+1} - d_i| / mean(d) + 1e-6) + 4) / 4``, the local variation;
    * the correlation of ``d_i`` with ``i`` (the sign of the drift; 0 for constant ISIs).

    Timing noise of 0.1 ms or more swamps the first two (they then measure the noise),
    which the network learns from the jittered half of its training trains.

    Parameters
    ----------
    times : Tensor, shape (B, L)
        Padded spike times (ms).
    lengths : Tensor of int, shape (B,)
        Spikes per row (>= 3).

    Returns
    -------
    Tensor, shape (B, 3), float32

    Examples
    --------
    >>> t = torch.tensor([[0.0, 10.0, 20.0, 30.0], [0.0, 10.0, 21.0, float("nan")]])
    >>> timing_summaries(t, torch.tensor([4, 3])).round(decimals=3)
    tensor([[-2.454, -2.454,  0.000],
            [ 0.239,  0.412,  1.000]])
    """
    t = times.to(torch.float64)
    n = (lengths.to(t.device) - 1).to(torch.float64)
    mask = torch.arange(t.shape[1] - 1, device=t.device)[None, :] < n[:, None]
    d = torch.where(mask, (t[:, 1:] - t[:, :-1]).abs(), torch.zeros((), dtype=t.dtype))
    mean = d.sum(dim=1) / n
    dev = torch.where(mask, d - mean[:, None], torch.zeros((), dtype=t.dtype))
    std = torch.sqrt((dev**2).sum(dim=1) / n)
    step = (d[:, 1:] - d[:, :-1]).abs() * mask[:, 1:]
    local = step.sum(dim=1) / (n - 1)
    idx = torch.where(mask, torch.arange(mask.shape[1], device=t.device) - (n[:, None] - 1) / 2, 0)
    idx_std = torch.sqrt((idx**2).sum(dim=1) / n)
    corr = (dev * idx).sum(dim=1) / n / (std * idx_std).clamp(min=1e-300)
    corr = torch.where(std > 0, corr, torch.zeros_like(corr)).clamp(-1.0, 1.0)
    scale = mean.clamp(min=1e-300)
    out = torch.stack(
        [
            (torch.log(std / scale + 1e-6) + 4) / 4,
            (torch.log(local / scale + 1e-6) + 4) / 4,
            corr,
        ],
        dim=1,
    )
    return out.to(torch.float32)


def augment_padded(
    times: Tensor,
    lengths: Tensor,
    generator: torch.Generator | None = None,
    *,
    jitter_ms: float | tuple[float, float] = 2.0,
    p_delete: float = 0.05,
    min_keep: int = 5,
    crop_above: int = 10,
    p_augment: float = 1.0,
    independent_steps: bool = False,
) -> tuple[Tensor, Tensor]:
    """Training-time augmentation of a padded batch (vectorised, never at evaluation).

    Each train is augmented with probability ``p_augment`` (all three steps) and left
    untouched otherwise, so that clean, complete trains (what the network sees at
    evaluation) stay inside the training distribution. With ``independent_steps``, the
    jitter and the deletion + crop are each applied with probability ``p_augment``,
    independently, so that incomplete trains without timing noise (and jittered
    complete ones) occur too.

    1. jitter: every spike time ``+= N(0, sigma^2)`` with ``sigma = jitter_ms``, or, for
       a range ``jitter_ms = (lo, hi)``, ``sigma`` log-uniform in ``[lo, hi]`` per train
       (not re-sorted; the tokens use ``|ISI|``);
    2. deletion: each spike is kept with probability ``1 - p_delete``; if fewer than
       ``min_keep`` survive, the deletion is undone for that train;
    3. crop, for trains with more than ``crop_above`` spikes: a window of
       ``k ~ UniformInt[floor(n/2), n-1]`` consecutive spikes starting at
       ``s ~ UniformInt[0, n-k]``.

    Parameters
    ----------
    times : Tensor, shape (B, L)
        Spike times (ms), right-padded.
    lengths : Tensor of int, shape (B,)
        Spikes per row.
    generator : torch.Generator, optional
        Random source.
    jitter_ms, p_delete, min_keep, crop_above
        See above; ``jitter_ms = 0`` / ``p_delete = 0`` / ``crop_above = inf`` disable
        a step.
    p_augment : float, default 1.0
        Probability that a train is augmented at all (1.0: every train, as published).
    independent_steps : bool, default False
        Draw the jitter and the deletion + crop independently (see above).

    Returns
    -------
    times : Tensor, shape (B, L'), float64
        Augmented trains, NaN-padded, ``L' = max(lengths)``.
    lengths : Tensor of int64, shape (B,)
        New spike counts (never below ``min(lengths, min_keep)``).
    """
    t = times.to(torch.float64)
    lens = lengths.to(torch.int64)
    b, width = t.shape
    dev = t.device

    def draw(fn, *shape, **kw):  # the generator lives on the CPU; the batch may not
        return fn(*shape, generator=generator, dtype=torch.float64, **kw).to(dev)

    pos = torch.arange(width, device=dev)
    valid = pos[None, :] < lens[:, None]
    apply = draw(torch.rand, b) < p_augment
    jitter = apply
    if independent_steps:
        apply = draw(torch.rand, b) < p_augment
    if np.ndim(jitter_ms):  # a range: one log-uniform sigma per train
        lo, hi = (math.log(v) for v in jitter_ms)
        sigma = torch.exp(lo + (hi - lo) * draw(torch.rand, b))
        t = t + sigma[:, None] * draw(torch.randn, b, width) * jitter[:, None]
    elif jitter_ms > 0:
        t = t + jitter_ms * draw(torch.randn, b, width) * jitter[:, None]
    if p_delete > 0:
        keep = (draw(torch.rand, b, width) >= p_delete) & valid
        undo = (keep.sum(dim=1) < min_keep) | ~apply
        keep = torch.where(undo[:, None], valid, keep)
        order = torch.argsort(torch.where(keep, pos, pos + width), dim=1, stable=True)
        t = torch.gather(t, 1, order)
        lens = keep.sum(dim=1)
    if np.isfinite(crop_above):
        crop = (lens > crop_above) & apply
        k_lo = lens // 2
        u1, u2 = draw(torch.rand, b), draw(torch.rand, b)
        k = k_lo + torch.floor(u1 * (lens - k_lo)).to(torch.int64)  # [n//2, n-1]
        start = torch.floor(u2 * (lens - k + 1)).to(torch.int64)  # [0, n-k]
        k = torch.where(crop, k, lens)
        start = torch.where(crop, start, torch.zeros_like(start))
        idx = (start[:, None] + pos[None, :]).clamp(max=width - 1)
        t = torch.gather(t, 1, idx)
        lens = k
    new_width = int(lens.max()) if b else 0
    t = t[:, :new_width].clone()
    t[torch.arange(new_width, device=dev)[None, :] >= lens[:, None]] = torch.nan
    return t, lens
