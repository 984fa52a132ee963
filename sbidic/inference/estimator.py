"""The conditional density estimator ``q(g_s, g_u | spike train)``.

:class:`DICEstimator` = :class:`~sbidic.inference.encoder.SpikeTrainEncoder` + a
conditional neural spline flow (zuko ``NSF``) over ``theta = (g_s, g_u)``, trained by
neural posterior estimation: minimise ``-log q(theta | x)`` over simulated pairs, which
makes ``q`` approximate the posterior under the training prior (uniform over the
model's target box).

The flow lives on an unbounded space: ``theta`` is mapped to the unit square of the
box, then through a logit, ``z = logit((theta - lo) / (hi - lo)) / 2``; the change of
variables is included in :meth:`DICEstimator.log_prob`. Samples therefore always lie
inside the box (where the populations are defined) and the flow can spread over the
whole g_s range when a recording does not constrain it (tonic spiking constrains g_s
much less than bursting).

Optional auxiliary heads on the embedding (as in the published network): firing class
logits (spiking / bursting, cross-entropy) and the five class-specific spike features
(log1p-transformed and standardised, squared error masked by class).

An optional per-class translation of the flow's space, ``flow_shift``, is a post-hoc
recalibration fitted on held-out recordings (:mod:`sbidic.inference.recalibrate`): the
flow's variable becomes ``z + (1 - p) * shift[0] + p * shift[1]`` with ``p`` the class
head's probability of bursting. A translation has a unit Jacobian, so densities and
samples stay consistent; training never sees it.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783

C. Durkan, A. Bekasov, I. Murray, G. Papamakarios (2019). Neural spline flows.
NeurIPS 32. https://arxiv.org/abs/1906.04032

G. Papamakarios, I. Murray (2016). Fast epsilon-free inference of simulation models
with Bayesian conditional density estimation. NeurIPS 29.
https://arxiv.org/abs/1605.06376

D. Greenberg, M. Nonnenmacher, J. Macke (2019). Automatic posterior transformation for
likelihood-free inference. ICML. https://arxiv.org/abs/1905.07488
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import zuko
from torch import Tensor, nn

from sbidic.inference.encoder import SpikeTrainEncoder
from sbidic.inference.flows import sample_flow
from sbidic.inference.tokens import PaddedSpikes, _is_single_recording, as_padded, augment_padded

__all__ = ["FEATURE_NAMES", "Augmentation", "DICEstimator", "dic_box"]

#: Spike features predicted by the auxiliary head (index 0: spiking; 1-4: bursting).
FEATURE_NAMES = (
    "f_spiking",
    "f_intra_bursting",
    "f_inter_bursting",
    "duration_bursting",
    "nbr_spikes_bursting",
)
_Z_SCALE = 0.5  # z = logit(unit) * _Z_SCALE keeps z mostly within the spline bound (5)
_EPS = 1e-6


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation of spike trains (Brandoit et al. 2025, §3.2).

    Attributes
    ----------
    jitter_ms : float or (float, float)
        Standard deviation (ms) of the Gaussian jitter added to every spike time, or a
        range ``(lo, hi)`` from which each train draws its own, log-uniformly: a
        network reading sub-millisecond timing must see every noise level, or it
        mistakes 0.1 ms of noise for information.
    p_delete : float
        Probability of deleting each spike.
    min_keep : int
        Deletion is undone for a train left with fewer spikes.
    crop_above : int
        Trains with more spikes are randomly cropped in spike-index space.
    p_augment : float
        Probability that a training train is augmented at all; the others stay clean
        and complete, as at evaluation. The published network augmented every train
        (1.0); on the STG test split that left clean bursting trains outside the
        training distribution (held-out MAE of g_s 1.10 on clean trains against 0.90
        on augmented ones, coverage of the 50 % interval 0.41), hence 0.5.
    independent_steps : bool
        Apply the jitter and the deletion + crop independently, each with probability
        ``p_augment``, instead of together: the published evaluation protocol (5 %
        deletion and crops of noise-free trains) is then inside the training
        distribution too.
    enabled : bool
        Switch all augmentation off.

    Examples
    --------
    >>> aug = Augmentation(jitter_ms=(0.01, 4.0), p_delete=0.05)
    >>> aug.p_delete, aug.enabled
    (0.05, True)
    """

    jitter_ms: float | tuple[float, float] = 2.0
    p_delete: float = 0.05
    min_keep: int = 5
    crop_above: int = 10
    p_augment: float = 0.5
    independent_steps: bool = False
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.p_augment <= 1:
            raise ValueError(f"p_augment must be in [0, 1], got {self.p_augment}")
        jitter = self.jitter_ms
        if np.ndim(jitter):
            jitter = tuple(float(v) for v in jitter)
            if len(jitter) != 2 or not 0 < jitter[0] <= jitter[1] < np.inf:
                raise ValueError(f"a jitter range must be 0 < lo <= hi (ms), got {jitter}")
            object.__setattr__(self, "jitter_ms", jitter)
        elif not 0 <= jitter < np.inf:
            raise ValueError(f"jitter_ms must be >= 0 (ms), got {jitter}")


def dic_box(box) -> tuple[tuple[float, float], tuple[float, float]]:
    """A DIC box as ``((g_s_lo, g_s_hi), (g_u_lo, g_u_hi))`` floats.

    Parameters
    ----------
    box : mapping or pair of pairs
        ``{"g_s": (lo, hi), "g_u": (lo, hi)}`` (a model's ``target_box``) or
        ``((g_s_lo, g_s_hi), (g_u_lo, g_u_hi))``.

    Raises
    ------
    ValueError
        A range whose low end is not below its high end.

    Examples
    --------
    >>> dic_box({"g_s": (-6, 2), "g_u": [0, 12]})
    ((-6.0, 2.0), (0.0, 12.0))
    """
    if isinstance(box, dict):
        box = (box["g_s"], box["g_u"])
    (s_lo, s_hi), (u_lo, u_hi) = box
    out = ((float(s_lo), float(s_hi)), (float(u_lo), float(u_hi)))
    if not (out[0][0] < out[0][1] and out[1][0] < out[1][1]):
        raise ValueError(f"box must be ((g_s_lo, g_s_hi), (g_u_lo, g_u_hi)), got {box}")
    return out


class DICEstimator(nn.Module):
    """Spike-train encoder + conditional neural spline flow over ``(g_s, g_u)``.

    Parameters
    ----------
    encoder : SpikeTrainEncoder, optional
        Default: ``SpikeTrainEncoder()``.
    model : str, optional
        Name of the conductance model (``"stg"`` or ``"da"``); sets the default
        ``box`` and is remembered for :class:`~sbidic.inference.ConductancePosterior`.
    box : dict or ((float, float), (float, float)), optional
        Support ``{"g_s": (lo, hi), "g_u": (lo, hi)}`` of the DICs (the training
        prior); default the model's ``target_box`` (STG's without a model).
    flow_transforms : int, default 5
        Autoregressive spline transforms.
    flow_hidden : sequence of int, default (128, 128)
        Hidden layers of each transform's conditioner.
    flow_bins : int, default 8
        Spline bins.
    aux_heads : bool, default True
        Build the auxiliary class and feature heads.
    augmentation : Augmentation, optional
        Used by :meth:`loss` in training mode only.
    flow_shift : array_like, shape (2, 2), optional
        Translation of the flow's space per firing class (rows spiking, bursting) and
        DIC (columns g_s, g_u), weighted by the class head's probabilities; set by
        :func:`~sbidic.inference.recalibrate.recalibrate`. Default zeros (none).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> enc = SpikeTrainEncoder(d_model=16, n_heads=2, n_blocks=1, embed_dim=8)
    >>> est = DICEstimator(enc, model="stg", flow_transforms=2, flow_hidden=(16,)).eval()
    >>> x = [[0.0, 100.0, 200.0, 300.0], [0.0, 5.0, 10.0, 300.0, 305.0, 310.0]]
    >>> est.sample(10, x).shape, est.log_prob(torch.zeros(2, 2) + 5.0, x).shape
    (torch.Size([10, 2, 2]), torch.Size([2]))
    """

    def __init__(
        self,
        encoder: SpikeTrainEncoder | None = None,
        *,
        model: str | None = None,
        box=None,
        flow_transforms: int = 5,
        flow_hidden: Sequence[int] = (128, 128),
        flow_bins: int = 8,
        aux_heads: bool = True,
        augmentation: Augmentation | None = None,
        flow_shift=None,
    ) -> None:
        super().__init__()
        if box is None:
            from sbidic.models import get_model

            box = get_model(model or "stg").target_box
        self.encoder = SpikeTrainEncoder() if encoder is None else encoder
        self.model_name = model
        self.box = dic_box(box)
        self.augmentation = Augmentation() if augmentation is None else augmentation
        lo = torch.tensor([self.box[0][0], self.box[1][0]], dtype=torch.float64)
        hi = torch.tensor([self.box[0][1], self.box[1][1]], dtype=torch.float64)
        self.register_buffer("box_lo", lo)
        self.register_buffer("box_hi", hi)
        e = self.encoder.embed_dim
        self.register_buffer("flow_shift", torch.zeros(2, 2), persistent=False)
        self.replace_flow(transforms=flow_transforms, hidden=flow_hidden, bins=flow_bins)
        self.aux_heads = bool(aux_heads)
        if self.aux_heads:
            self.class_head = nn.Sequential(nn.Linear(e, 64), nn.GELU(), nn.Linear(64, 2))
            self.feature_head = nn.Sequential(nn.Linear(e, 64), nn.GELU(), nn.Linear(64, 5))
            self.register_buffer("feature_mu", torch.zeros(5))
            self.register_buffer("feature_sigma", torch.ones(5))
        if flow_shift is not None:
            self.set_flow_shift(flow_shift)

    def set_flow_shift(self, shift) -> None:
        """Set the per-class translation of the flow's space (see the class docstring).

        Raises ``ValueError`` for a shape other than (2, 2), a non-finite value, or a
        non-zero shift on an estimator without a class head.
        """
        shift = torch.as_tensor(np.asarray(shift, dtype=np.float32))
        if shift.shape != (2, 2) or not torch.isfinite(shift).all():
            raise ValueError(f"flow_shift must be a finite (2, 2) array (rows spiking, "
                             f"bursting; columns g_s, g_u), got {shift.tolist()}")  # fmt: skip
        if shift.any() and not self.aux_heads:
            raise ValueError("a per-class flow_shift needs the class head (aux_heads=True)")
        self.flow_shift.copy_(shift)

    def _class_probabilities(self, context: Tensor) -> Tensor:
        """Class head's ``(B, 2)`` probabilities (spiking, bursting) for embeddings."""
        return torch.softmax(self.class_head(context), dim=-1)

    def _shift(self, context: Tensor) -> Tensor | None:
        """Flow-space translation ``(B, 2)`` for embeddings ``(B, embed_dim)``, or None."""
        if not self.flow_shift.any():
            return None
        return self._class_probabilities(context) @ self.flow_shift

    def replace_flow(
        self,
        *,
        transforms: int | None = None,
        hidden: Sequence[int] | None = None,
        bins: int | None = None,
    ) -> None:
        """Replace the flow by a freshly initialised one of this architecture.

        The encoder and heads are kept; arguments left out keep their current value.
        The new flow is untrained: fit it with
        :func:`~sbidic.inference.refit.refit_flow` (``sbidic refit-flow --flow-hidden
        ...``). The architecture is part of :meth:`config`, so the saved estimator
        loads with it. An invalid architecture raises ``ValueError`` and leaves the
        estimator as it was.

        Examples
        --------
        >>> enc = SpikeTrainEncoder(d_model=16, n_heads=2, n_blocks=1, embed_dim=8)
        >>> est = DICEstimator(enc, flow_transforms=2, flow_hidden=(16,))
        >>> est.replace_flow(hidden=(32, 32))
        >>> est.config()["flow_hidden"], est.config()["flow_transforms"]
        ([32, 32], 2)
        """
        transforms = int(self.flow_transforms if transforms is None else transforms)
        hidden = tuple(int(h) for h in (self.flow_hidden if hidden is None else hidden))
        bins = int(self.flow_bins if bins is None else bins)
        if transforms < 1 or bins < 1 or any(h < 1 for h in hidden):
            raise ValueError("the flow needs transforms >= 1, bins >= 1 and hidden layer "
                             f"sizes >= 1, got transforms={transforms}, bins={bins}, "
                             f"hidden={list(hidden)}")  # fmt: skip
        self.flow = zuko.flows.NSF(
            features=2,
            context=self.encoder.embed_dim,
            transforms=transforms,
            bins=bins,
            hidden_features=hidden,
        )
        self.flow_transforms, self.flow_hidden, self.flow_bins = transforms, hidden, bins
        self.flow_shift.zero_()  # a recalibration belongs to the flow it was fitted on

    # ------------------------------------------------------------- config
    def config(self) -> dict:
        """Constructor arguments (JSON-serialisable); see :meth:`from_config`."""
        return {
            "encoder": self.encoder.config(),
            "model": self.model_name,
            "box": {"g_s": list(self.box[0]), "g_u": list(self.box[1])},
            "flow_transforms": self.flow_transforms,
            "flow_hidden": list(self.flow_hidden),
            "flow_bins": self.flow_bins,
            "aux_heads": self.aux_heads,
            "augmentation": asdict(self.augmentation),
            "flow_shift": self.flow_shift.tolist(),
        }

    @classmethod
    def from_config(cls, config: dict) -> DICEstimator:
        cfg = dict(config)
        encoder = SpikeTrainEncoder.from_config(cfg.pop("encoder"))
        cfg["augmentation"] = Augmentation(**cfg["augmentation"])
        if cfg.get("box") is None:  # a config names its model: never import a file it names
            from sbidic.models import model_from_data

            model = model_from_data(cfg.get("model") or "stg", source="the estimator's config")
            cfg["box"] = model.target_box
        return cls(encoder, **cfg)

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters (encoder, flow and heads)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        was = self.training
        if was:  # switching modes walks every submodule: only when needed
            self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            if was:
                self.train(True)

    # ------------------------------------------------------ theta <-> z
    def to_flow_space(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``theta`` (..., 2) to the flow's space; returns ``(z, log|dz/dtheta|)``.

        Points outside the box give ``log|dz/dtheta| = -inf``.
        """
        theta = theta.to(torch.float64)
        width = self.box_hi - self.box_lo
        unit = (theta - self.box_lo) / width
        inside = ((unit > 0) & (unit < 1)).all(dim=-1)
        unit = unit.clamp(_EPS, 1 - _EPS)
        z = (torch.log(unit) - torch.log1p(-unit)) * _Z_SCALE
        ladj = math.log(_Z_SCALE) - torch.log(width) - torch.log(unit) - torch.log1p(-unit)
        ladj = ladj.sum(dim=-1)
        ladj = torch.where(inside, ladj, torch.full_like(ladj, -math.inf))
        return z.to(torch.float32), ladj

    def from_flow_space(self, z: Tensor) -> Tensor:
        """Inverse of :meth:`to_flow_space`: ``theta`` (..., 2), float64, inside the box."""
        unit = torch.sigmoid(z.to(torch.float64) / _Z_SCALE)
        return self.box_lo + (self.box_hi - self.box_lo) * unit

    # ----------------------------------------------------------- context
    def padded(self, x, lengths=None) -> PaddedSpikes:
        """Validate recordings (see :func:`~sbidic.inference.tokens.as_padded`)."""
        enc = self.encoder
        return as_padded(x, lengths, max_spikes=enc.max_spikes, on_truncate=enc.on_truncate)

    def embed(self, x, lengths=None, *, chunk_size: int = 64, max_pairs: int = 2**20) -> Tensor:
        """Embeddings ``(B, embed_dim)`` of recordings.

        Large batches are encoded in chunks of recordings of similar length (less
        padding): at most ``chunk_size`` recordings, and at most ``max_pairs`` spike
        pairs in the attention (recordings x longest train squared; 2**20 pairs take
        17 MB per attention map), so that the memory an embedding needs does not depend
        on how long the recordings are. The result is in the input order.
        """
        p = x if isinstance(x, PaddedSpikes) else self.padded(x, lengths)
        b = len(p)
        longest = int(p.lengths.max()) if b else 0
        if b <= chunk_size and b * longest**2 <= max_pairs:
            return self.encoder.encode_padded(p.times, p.lengths)
        order = torch.argsort(p.lengths, stable=True)
        sorted_lengths = p.lengths[order].tolist()
        out = torch.empty(b, self.encoder.embed_dim)
        start = 0
        while start < b:
            n = min(chunk_size, b - start)  # sorted: a chunk's last train is its longest
            while n > 1 and n * sorted_lengths[start + n - 1] ** 2 > max_pairs:
                n -= 1
            idx = order[start : start + n]
            lens = p.lengths[idx]
            out[idx] = self.encoder.encode_padded(p.times[idx, : int(lens.max())], lens)
            start += n
        return out

    # --------------------------------------------------------- densities
    def _log_prob_context(self, theta: Tensor, context: Tensor) -> Tensor:
        z, ladj = self.to_flow_space(theta)
        shift = self._shift(context)
        if shift is not None:
            z = z - shift
        lp = self.flow(context).log_prob(z).to(torch.float64)
        return torch.where(torch.isfinite(ladj), lp + ladj, ladj)

    def log_prob(self, theta, x, lengths=None, *, track_gradients: bool = False) -> Tensor:
        """``log q(theta | x)`` (normalised density over ``(g_s, g_u)``).

        Parameters
        ----------
        theta : array_like, shape (..., B, 2), or (..., 2) for one recording
            DICs ``(g_s, g_u)``.
        x : recordings
            ``B`` recordings (or one), any form accepted by
            :func:`~sbidic.inference.tokens.as_padded`.
        lengths : array_like of int, optional
            Spikes per row of a padded ``x``.
        track_gradients : bool, default False
            Keep the graph (gradients with respect to ``theta`` and the flow).

        Returns
        -------
        Tensor, shape theta.shape[:-1], float64
            ``-inf`` outside the box.
        """
        theta = torch.as_tensor(theta, dtype=torch.float64)
        single = _is_single_recording(x)
        with self._evaluating():
            c = self.embed(x, lengths)
        with torch.set_grad_enabled(track_gradients):
            return self._log_prob_context(theta, c[0] if single else c)

    def sample(self, n: int, x, lengths=None) -> Tensor:
        """Draw ``n`` samples of ``(g_s, g_u)`` per recording.

        Returns
        -------
        Tensor, shape (n, B, 2), or (n, 2) for one recording (1-D ``x``), float64
        """
        single = _is_single_recording(x)
        with self._evaluating():
            c = self.embed(x, lengths)
            theta = self.sample_context(n, c)
        return theta[:, 0] if single else theta

    def sample_context(
        self, n: int, context: Tensor, *, max_block: int = 2**14,
        generator: torch.Generator | None = None,
    ) -> Tensor:  # fmt: skip
        """``n`` samples ``(n, B, 2)`` given embeddings ``(B, embed_dim)``.

        Recordings are processed in blocks of about ``max_block`` samples (memory);
        ``generator`` is the random source (default: torch's global one).
        """
        n = int(n)
        b = context.shape[0]
        step = max(1, max_block // max(n, 1))
        out = torch.empty(n, b, 2, dtype=torch.float64)
        with torch.no_grad():
            for start in range(0, b, step):
                c = context[start : start + step]
                z = sample_flow(self.flow, c, n, generator=generator)
                shift = self._shift(c)
                out[:, start : start + step] = self.from_flow_space(
                    z if shift is None else z + shift
                )
        return out

    def point_estimate(self, x, lengths=None, *, n_samples: int = 1000, kind: str = "mean"):
        """Posterior mean or median of ``(g_s, g_u)`` per recording, from samples.

        Returns
        -------
        Tensor, shape (B, 2), or (2,) for one recording
        """
        if kind not in ("mean", "median"):
            raise ValueError(f"kind must be 'mean' or 'median', got {kind!r}")
        s = self.sample(n_samples, x, lengths)
        return s.mean(dim=0) if kind == "mean" else s.median(dim=0).values

    def credible_interval(
        self, x, level: float = 0.9, lengths=None, *, n_samples: int = 1000
    ) -> tuple[Tensor, Tensor]:
        """Central credible interval of each DIC at ``level``, from samples.

        Returns
        -------
        lower, upper : Tensor, shape (B, 2), or (2,) for one recording
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        s = self.sample(n_samples, x, lengths)
        q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=s.dtype)
        lo, hi = torch.quantile(s, q, dim=0)
        return lo, hi

    def predict_aux(self, x, lengths=None) -> dict[str, Tensor]:
        """Auxiliary predictions: ``p_bursting`` (B,) and ``features`` (B, 5) in
        physical units (Hz, ms, spikes; see :data:`FEATURE_NAMES`)."""
        if not self.aux_heads:
            raise ValueError("this estimator was built without auxiliary heads")
        with self._evaluating():
            c = self.embed(x, lengths)
            p = self._class_probabilities(c)[:, 1]
            f = torch.expm1(self.feature_head(c) * self.feature_sigma + self.feature_mu)
        return {"p_bursting": p, "features": f}

    # -------------------------------------------------------------- loss
    def loss(
        self,
        theta: Tensor,
        times: Tensor,
        lengths: Tensor,
        *,
        labels: Tensor | None = None,
        features: Tensor | None = None,
        class_weight: float = 0.0,
        feature_weight: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Training loss of a batch; augments the trains in training mode only.

        Parameters
        ----------
        theta : Tensor, shape (B, 2)
            True ``(g_s, g_u)``.
        times, lengths : Tensor, shapes (B, L) and (B,)
            Padded spike times (ms) and spike counts.
        labels : Tensor of int, shape (B,), optional
            0 spiking, 1 bursting (auxiliary class loss).
        features : Tensor, shape (B, 5), optional
            Standardised log1p features, NaN where not supervised.
        class_weight, feature_weight : float
            Weights of the auxiliary losses.
        generator : torch.Generator, optional
            Random source of the augmentation.

        Returns
        -------
        dict
            ``"loss"`` (weighted total), ``"nll"`` (mean ``-log q(theta|x)``), and
            ``"class"`` / ``"features"`` when used.
        """
        aug = self.augmentation
        if self.training and aug.enabled:
            times, lengths = augment_padded(
                times,
                lengths,
                generator,
                jitter_ms=aug.jitter_ms,
                p_delete=aug.p_delete,
                min_keep=aug.min_keep,
                crop_above=aug.crop_above,
                p_augment=aug.p_augment,
                independent_steps=aug.independent_steps,
            )
            if self.encoder.max_spikes is not None:
                lengths = lengths.clamp(max=self.encoder.max_spikes)
                times = times[:, : int(lengths.max())]
        c = self.encoder.encode_padded(times, lengths)
        z, ladj = self.to_flow_space(theta)
        nll = -(self.flow(c).log_prob(z) + ladj.to(torch.float32)).mean()
        out = {"nll": nll}
        total = nll
        if self.aux_heads and labels is not None and class_weight > 0:
            ce = nn.functional.cross_entropy(self.class_head(c), labels.to(torch.int64))
            out["class"] = ce
            total = total + class_weight * ce
        if self.aux_heads and features is not None and feature_weight > 0:
            ok = torch.isfinite(features)
            err = (self.feature_head(c) - torch.nan_to_num(features)) ** 2
            mse = (err * ok).sum() / ok.sum().clamp(min=1)
            out["features"] = mse
            total = total + feature_weight * mse
        out["loss"] = total
        return out

    def set_feature_stats(self, mu: np.ndarray, sigma: np.ndarray) -> None:
        """Standardisation of the log1p features of the auxiliary head."""
        if self.aux_heads:
            self.feature_mu.copy_(torch.as_tensor(mu, dtype=torch.float32))
            self.feature_sigma.copy_(torch.as_tensor(sigma, dtype=torch.float32))
