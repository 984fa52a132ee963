"""Neural posterior estimation (NPE) over all conductances: the baseline of the DIC method.

Plain NPE in the style of Gonçalves et al. (2020): sbi's ``NPE`` trains a conditional
neural spline flow (zuko ``NSF``) ``q(theta | x)`` over **log-conductances**
``theta = log g`` (8 for STG, 7 for DA) on a Monte Carlo dataset (``sbidic dataset
--mode mc``), conditioned on spike times by one of two conditioners:

* ``"embedding"``: the :class:`~sbidic.inference.SpikeTrainEncoder` as sbi
  ``embedding_net`` on the first ``max_spikes`` spike times, padded with ``-1``
  (finite padding, so sbi 0.27's rejection of NaN-padded observations never applies);
* ``"features"``: the hand-made summary features of :func:`summary_features`
  (Gonçalves et al. 2020 adapted to spike times), z-scored, through an MLP.

Prior
-----
The prior is the law the Monte Carlo dataset was drawn from: every conductance
**uniform in mS/cm^2** over the box its manifest names (``--ranges``): the model's
``monte_carlo_ranges`` (``[0, high_j]``) or its plausible ``conductance_ranges``,
floored at ``LOG_FLOOR * high_j`` so that its logarithm is bounded (cells of the
dataset below the floor, a fraction ``~ n_cond * 1e-4`` of them with the Monte Carlo
ranges, are left out of training and counted in the model card). In the flow's space
``theta = log g`` it is :class:`LogConductancePrior`: support the box
``[log low_j, log high_j]``, density ``prod_j exp(theta_j) / (high_j - low_j)``. (A
uniform prior in log space would not be the law of the training data; NPE learns the
posterior under the law its simulations were drawn from.)

Densities
---------
:class:`NPEPosterior` samples conductances (mS/cm^2) and evaluates their density:
``log p(g | x) = log q(log g | x) - sum_j log g_j`` (the Jacobian of ``g = exp(theta)``),
``-inf`` outside the prior box. Its ``log_posterior`` is sbi's ``DirectPosterior`` in
``theta`` space (normalised for the leakage outside the prior), with
``log_posterior.prior`` the :class:`LogConductancePrior`: run sbi's calibration
diagnostics (``run_sbc``, ``run_tarp``) there, on ``x = posterior.encode_x(trains)``.

References
----------
P. J. Gonçalves, J.-M. Lueckmann, M. Deistler et al. (2020). Training deep neural
density estimators to identify mechanistic models of neural dynamics. eLife 9:e56261.
https://doi.org/10.7554/eLife.56261

G. Papamakarios, I. Murray (2016). Fast epsilon-free inference of simulation models
with Bayesian conditional density estimation. NeurIPS 29.

C. Durkan, A. Bekasov, I. Murray, G. Papamakarios (2019). Neural spline flows.
NeurIPS 32.

J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sbi.inference.posteriors.base_posterior import NeuralPosterior
from torch import Tensor
from torch.distributions import Distribution, constraints

from sbidic.files import damaged_file_error, read_json
from sbidic.inference.tokens import (
    DEFAULT_MAX_SPIKES,
    MIN_SPIKES,
    SpikeTruncationWarning,
    as_recordings,
)
from sbidic.models import ConductanceModel, get_model, is_model_file, model_from_data
from sbidic.spikes import SpikeTrains, spike_features

__all__ = [
    "CONDITIONERS",
    "FEATURE_NAMES",
    "LOG_FLOOR",
    "LogConductancePrior",
    "NPEPosterior",
    "load_npe",
    "npe_prior",
    "summary_features",
    "train_npe",
]

#: The two ways of conditioning on spike times.
CONDITIONERS = ("embedding", "features")
#: Lower bound of each conductance, as a fraction of its Monte Carlo upper bound.
LOG_FLOOR = 1e-4
#: Columns of :func:`summary_features`.
FEATURE_NAMES = (
    "silent", "bursting", "log_rate", "cv_isi", "log_burst_period",
    "spikes_per_burst", "duty_cycle", "burst_cycles",
)  # fmt: skip
#: Flow settings (sbi ``posterior_nn`` keywords).
FLOW = {"model": "zuko_nsf", "hidden_features": 64, "num_transforms": 5}
#: Encoder sizes of the embedding conditioner (those of the shipped DIC estimator).
ENCODER = {"d_model": 48, "n_heads": 4, "n_blocks": 2, "embed_dim": 32}
#: Width of the MLP of the features conditioner.
FEATURE_HIDDEN = 64


# ------------------------------------------------------------------ prior
class LogConductancePrior(Distribution):
    """Uniform conductances ``g_j ~ U(low_j, high_j)`` (mS/cm^2), as a distribution of
    ``theta = log g``.

    Density ``log p(theta) = sum_j theta_j - sum_j log(high_j - low_j)`` inside the box
    ``[log low, log high]``, ``-inf`` outside.

    Examples
    --------
    >>> p = LogConductancePrior(torch.tensor([0.1, 1.0]), torch.tensor([1.0, 2.0]))
    >>> p.sample((3,)).shape
    torch.Size([3, 2])
    >>> p.log_prob(torch.log(torch.tensor([[0.5, 1.5], [2.0, 1.5]])))
    tensor([-0.1823,    -inf])
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, low, high, validate_args=False) -> None:
        self.low = torch.as_tensor(low, dtype=torch.float32)
        self.high = torch.as_tensor(high, dtype=torch.float32)
        if not bool((self.low > 0).all() and (self.high > self.low).all()):
            raise ValueError("LogConductancePrior needs 0 < low < high for every conductance")
        self.log_low, self.log_high = self.low.log(), self.high.log()
        super().__init__(torch.Size(), self.low.shape, validate_args=validate_args)

    @property
    def support(self):
        return constraints.independent(constraints.interval(self.log_low, self.log_high), 1)

    def sample(self, sample_shape=()) -> Tensor:
        u = torch.rand(torch.Size(sample_shape) + self.low.shape)
        return torch.log(self.low + (self.high - self.low) * u)

    def log_prob(self, value) -> Tensor:
        value = torch.as_tensor(value, dtype=torch.float32)
        inside = ((value >= self.log_low) & (value <= self.log_high)).all(-1)
        lp = value.sum(-1) - torch.log(self.high - self.low).sum()
        return torch.where(inside, lp, torch.full_like(lp, -math.inf))

    @property
    def mean(self) -> Tensor:
        a, b = self.low, self.high
        return (b * b.log() - a * a.log()) / (b - a) - 1.0

    @property
    def variance(self) -> Tensor:
        a, b = self.low, self.high

        def second(g):  # antiderivative of (log g)^2
            return g * (g.log() ** 2 - 2 * g.log() + 2)

        return (second(b) - second(a)) / (b - a) - self.mean**2


def npe_prior(model: str | ConductanceModel, ranges: str = "monte_carlo") -> LogConductancePrior:
    """The NPE prior of ``model``: uniform conductances over its ``ranges`` box
    (``"monte_carlo"`` or ``"plausible"``, :func:`sbidic.datasets.sampling.model_ranges`;
    floored at ``LOG_FLOOR`` times the upper bound), in log space.

    Examples
    --------
    >>> p = npe_prior("stg")
    >>> p.event_shape, round(float(p.high[0]), 1)
    (torch.Size([8]), 8000.0)
    >>> round(float(npe_prior("stg", "plausible").low[0]), 1)
    3200.0
    """
    from sbidic.datasets.sampling import model_ranges

    model = get_model(model)
    box = model_ranges(model, ranges)
    bounds = np.array([box[c] for c in model.conductances], dtype=float)
    low = np.maximum(bounds[:, 0], LOG_FLOOR * bounds[:, 1])
    return LogConductancePrior(torch.tensor(low), torch.tensor(bounds[:, 1]))


#: Rounds of draws :meth:`NPEPosterior.sample_in_prior` makes before filling a
#: recording with draws outside the prior box.
MAX_PRIOR_ROUNDS = 20

#: How a model card names the prior's box.
PRIOR_BOX = {"monte_carlo": "Monte Carlo ranges", "plausible": "plausible conductance_ranges"}


# --------------------------------------------------------------- features
def summary_features(trains: SpikeTrains) -> np.ndarray:
    """Hand-made summary features of spike trains, NaN-free (Gonçalves et al. 2020,
    adapted from voltage traces to spike times).

    Columns (:data:`FEATURE_NAMES`), from :func:`sbidic.spikes.spike_features`:

    * ``silent``: 1 for fewer than 3 spikes, else 0;
    * ``bursting``: 1 for a bursting train, else 0;
    * ``log_rate``: ``log(1 + 1000 / mean ISI)`` (Hz), 0 below 2 spikes;
    * ``cv_isi``: ISI coefficient of variation, 0 below 3 spikes;
    * ``log_burst_period``: ``log(1 + burst period)`` (ms);
    * ``spikes_per_burst``: mean spikes per interior burst;
    * ``duty_cycle``: mean burst duration / burst period;
    * ``burst_cycles``: span of the train (first to last spike) / burst period.

    The burst columns are 0 for trains that are not bursting, or bursting without two
    interior bursts (where a period is undefined).

    Returns
    -------
    ndarray, shape (n_trains, 8), float32

    Examples
    --------
    >>> bursts = [b * 150.0 + o for b in range(6) for o in (0.0, 10.0, 20.0)]
    >>> f = summary_features(SpikeTrains.from_list([[5.0], np.arange(5) * 100.0, bursts]))
    >>> np.round(f, 2)
    array([[1.  , 0.  , 0.  , 0.  , 0.  , 0.  , 0.  , 0.  ],
           [0.  , 0.  , 2.4 , 0.  , 0.  , 0.  , 0.  , 0.  ],
           [0.  , 1.  , 3.14, 1.21, 5.02, 3.  , 0.13, 5.13]], dtype=float32)
    """
    f = spike_features(trains, fill_value=0.0)
    silent = f.label_code == 0
    span = np.zeros(trains.n_trains)
    has = trains.n_spikes > 0
    last = trains.offsets[1:][has] - 1
    span[has] = trains.times[last] - trains.times[trains.offsets[:-1][has]]
    with np.errstate(invalid="ignore", divide="ignore"):
        period = f.burst_period_ms
        cols = [
            silent,
            f.label_code == 2,
            np.log1p(f.firing_rate_hz),
            np.where(silent, 0.0, f.cv_isi),
            np.log1p(period),
            f.nbr_spikes_bursting,
            f.duration_bursting / period,
            span / period,
        ]
    out = np.stack([np.asarray(c, dtype=float) for c in cols], axis=1)
    burst_ok = np.isfinite(period)
    out[:, 4:][~burst_ok] = 0.0
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


# ------------------------------------------------------------ conditioners
def _as_trains(x) -> SpikeTrains:
    return as_recordings(x)


def _encode(conditioner: str, trains: SpikeTrains, max_spikes: int) -> Tensor:
    """The sbi ``x`` of each train: padded spike times or summary features."""
    if conditioner == "features":
        return torch.from_numpy(summary_features(trains))
    return torch.from_numpy(trains.to_padded(pad_value=-1.0, max_len=max_spikes)[0]).float()


def _check_conditioner(conditioner: str) -> None:
    if conditioner not in CONDITIONERS:
        raise ValueError(f"conditioner must be one of {CONDITIONERS}, got {conditioner!r}")


def _build_net(conditioner: str, theta: Tensor, x: Tensor, encoder_config: dict | None):
    """The sbi density estimator (zuko NSF + embedding) built on a batch ``(theta, x)``."""
    from sbi.neural_nets import posterior_nn
    from sbi.neural_nets.embedding_nets import FCEmbedding

    from sbidic.inference.encoder import SpikeTrainEncoder

    if conditioner == "embedding":
        embedding = SpikeTrainEncoder.from_config(encoder_config)
        z_score_x = "none"  # padded spike times: the encoder standardises its tokens
    else:
        embedding = FCEmbedding(len(FEATURE_NAMES), output_dim=32, num_layers=2,
                                num_hiddens=FEATURE_HIDDEN)  # fmt: skip
        z_score_x = "independent"
    builder = posterior_nn(
        **FLOW, embedding_net=embedding, z_score_x=z_score_x, z_score_theta="independent"
    )
    return builder(theta, x)


# -------------------------------------------------------------- posterior
class NPEPosterior(NeuralPosterior):
    """An NPE posterior over conductance sets (mS/cm^2), conditioned on spike times.

    Parameters
    ----------
    log_posterior : sbi DirectPosterior
        The flow's posterior over ``theta = log g`` with a :class:`LogConductancePrior`.
    model : str or ConductanceModel
    conditioner : {"embedding", "features"}
    max_spikes : int
        Spikes read per recording (the first ones); longer recordings are truncated
        with a :class:`~sbidic.inference.SpikeTruncationWarning`.
    card : dict, optional
        The model card (recipe, budget, training time).

    Notes
    -----
    ``x`` takes the forms of :func:`sbidic.infer`: ``SpikeTrains``, a list of arrays,
    one 1-D array, or a padded array (trailing NaN or negative padding). Recordings
    with fewer than 3 spikes raise a :class:`ValueError` naming them (the estimator is
    trained on non-silent cells; :func:`sbidic.infer` reports silent recordings).
    """

    #: ``sbidic.infer`` draws cells directly (no DIC compensation).
    draws_conductances = True

    def __init__(
        self, log_posterior, model, conditioner: str,
        max_spikes: int = DEFAULT_MAX_SPIKES, card: dict | None = None,
    ) -> None:  # fmt: skip
        _check_conditioner(conditioner)
        self.log_posterior = log_posterior
        self.model = get_model(model)
        self.conditioner = conditioner
        self.max_spikes = int(max_spikes)
        self.card = card or {}
        self.noise_sigma = None  # trained on clean recordings
        self.log_prior = log_posterior.prior
        super().__init__(potential_fn=self._potential, device="cpu")

    @property
    def spikes_read(self) -> int | None:
        """Number of spikes read per recording, ``max_spikes`` (embedding) or all (features)."""
        return self.max_spikes if self.conditioner == "embedding" else None

    def _potential(self, theta, x_o=None):
        return self.log_prob(theta, x=x_o)

    @property
    def prior(self):
        """The prior over conductances, an sbi ``BoxUniform`` over ``[low, high]`` (mS/cm^2)."""
        from sbi.utils import BoxUniform

        return BoxUniform(self.log_prior.low, self.log_prior.high)

    @property
    def conductance_labels(self) -> tuple[str, ...]:
        return tuple(self.model.conductances)

    def encode_x(self, x) -> Tensor:
        """Recordings as the sbi ``x`` of the flow ``(B, x_dim)`` (checked: errors name
        the recording)."""
        trains = x if isinstance(x, SpikeTrains) else _as_trains(x)
        trains = trains.validate()
        silent = np.flatnonzero(trains.n_spikes < MIN_SPIKES)
        if silent.size:
            raise ValueError(
                f"recording(s) {trains.ids[silent][:10].tolist()} have fewer than "
                f"{MIN_SPIKES} spikes: the NPE posterior is trained on non-silent cells"
            )
        long = trains.n_spikes > self.max_spikes
        if long.any() and self.conditioner == "embedding":
            warnings.warn(
                f"{int(long.sum())} recording(s) have more than {self.max_spikes} spikes; "
                f"the network reads their first {self.max_spikes} spikes",
                SpikeTruncationWarning, stacklevel=3,
            )  # fmt: skip
        return _encode(self.conditioner, trains, self.max_spikes)

    def _x_or_default(self, x) -> Tensor:
        if x is None:
            if self.default_x is None:
                raise ValueError("an observation x is needed: pass x=... or set_default_x(x)")
            return self.default_x
        return self.encode_x(x)

    def set_default_x(self, x) -> NPEPosterior:
        """Default observation (one recording); chainable."""
        xe = self.encode_x(x)
        if len(xe) != 1:
            raise ValueError(f"set_default_x takes one recording, got {len(xe)}")
        self._x = xe
        return self

    def sample(self, sample_shape=(), x=None, show_progress_bars: bool = False,
               **kwargs) -> Tensor:  # fmt: skip
        """Conductance sets ``(*sample_shape, n_conductances)`` (mS/cm^2) for one recording."""
        xe = self._x_or_default(x)
        if len(xe) != 1:
            raise ValueError(f"sample takes one recording, got {len(xe)}; use sample_batched")
        theta = self.log_posterior.sample(
            torch.Size(sample_shape), x=xe, show_progress_bars=show_progress_bars, **kwargs
        )
        return theta.exp()

    def sample_batched(self, sample_shape, x, max_sampling_batch_size: int = 10_000,
                       show_progress_bars: bool = False, **kwargs) -> Tensor:  # fmt: skip
        """Conductance sets ``(*sample_shape, B, n_conductances)`` for ``B`` recordings."""
        theta = self.log_posterior.sample_batched(
            torch.Size(sample_shape), x=self._x_or_default(x),
            max_sampling_batch_size=max_sampling_batch_size,
            show_progress_bars=show_progress_bars, **kwargs,
        )  # fmt: skip
        return theta.exp()

    def log_prob(self, theta, x=None, track_gradients: bool = False, **kwargs) -> Tensor:
        """``log p(g | x)`` of conductance sets ``g`` ``(..., n_conductances)`` (mS/cm^2):
        ``log q(log g | x) - sum_j log g_j``; ``-inf`` outside the prior box."""
        g = torch.as_tensor(theta, dtype=torch.float32)
        if g.shape[-1] != self.model.n_conductances:
            raise ValueError(
                f"theta must end with the {self.model.n_conductances} conductances, "
                f"got shape {tuple(g.shape)}"
            )
        batch = g.shape[:-1]
        g = g.reshape(-1, g.shape[-1])
        with torch.no_grad():
            t = torch.log(g.clamp_min(1e-30))
            inside = torch.isfinite(self.log_prior.log_prob(t)) & (g > 0).all(-1)
            lp = torch.full((len(g),), -math.inf)
            if inside.any():
                lp[inside] = self.log_posterior.log_prob(
                    t[inside], x=self._x_or_default(x), track_gradients=track_gradients, **kwargs
                ) - t[inside].sum(-1)
        return lp.reshape(batch)

    def sample_in_prior(self, n: int, x, max_rounds: int = MAX_PRIOR_ROUNDS
                        ) -> tuple[Tensor, np.ndarray]:  # fmt: skip
        """``n`` conductance sets per recording, ``(n, B, n_cond)`` (mS/cm^2), inside the
        prior box wherever the posterior puts enough mass there, and the share of each
        recording's draws that fell inside.

        sbi's rejection sampling (:meth:`sample_batched`) can run for hours on a
        recording unlike the training data, whose posterior mass lies almost all outside
        the prior box. Here the flow is sampled without rejection, ``n`` draws per
        recording per round, keeping the draws inside the box, for at most
        ``max_rounds`` rounds; a recording still short is filled with draws outside the
        box (a share below ``1 / max_rounds`` says so).
        """
        xe = self._x_or_default(x)
        b, n = len(xe), int(n)
        out = torch.empty(n, b, self.model.n_conductances)
        filled = torch.zeros(b, dtype=torch.long)
        inside_draws = torch.zeros(b)
        rounds = 0
        with torch.no_grad(), warnings.catch_warnings():
            # sbi warns of every draw outside the prior; the share returned says it once
            warnings.filterwarnings("ignore", ".*lie outside the prior support")
            warnings.filterwarnings("ignore", "Capping max_sampling_batch_size")  # memory
            while rounds < max_rounds and bool((filled < n).any()):
                rounds += 1
                t = self.log_posterior.sample_batched(
                    torch.Size((n,)), x=xe, reject_outside_prior=False, show_progress_bars=False
                )  # (n, B, n_cond)
                ok = torch.isfinite(self.log_prior.log_prob(t))  # (n, B)
                inside_draws += ok.sum(0)
                rank = ok.cumsum(0) - 1
                take = ok & (rank < (n - filled))
                slot = filled + rank
                out[slot[take], take.nonzero()[:, 1]] = t[take]
                filled += take.sum(0)
            if bool((filled < n).any()):  # the rest outside the box
                t = self.log_posterior.sample_batched(
                    torch.Size((n,)), x=xe, reject_outside_prior=False, show_progress_bars=False
                )
                short = torch.arange(n)[:, None] >= filled
                out[short] = t[short]
        return out.exp(), (inside_draws / (rounds * n)).numpy()

    def sample_population(self, x, n: int, obs_ids=None):
        """``n`` cells per recording as a :class:`~sbidic.population.Population`
        (:meth:`sample_in_prior`)."""
        from sbidic.inference.posterior import to_population

        trains = x if isinstance(x, SpikeTrains) else _as_trains(x)
        g, _ = self.sample_in_prior(n, trains)
        return to_population(g, self.model, trains.ids if obs_ids is None else obs_ids)

    def __repr__(self) -> str:
        return f"NPEPosterior(model={self.model.name!r}, conditioner={self.conditioner!r})"


# ------------------------------------------------------------- save / load
def _paths(directory) -> tuple[Path, Path, Path]:
    d = Path(directory)
    return d / "config.json", d / "weights.safetensors", d / "model_card.json"


def save_npe(posterior: NPEPosterior, directory, card: dict | None = None) -> Path:
    """Write an NPE posterior: ``weights.safetensors`` (no pickle), ``config.json`` and
    ``model_card.json`` / ``model_card.md``."""
    from safetensors.torch import save_file

    from sbidic._version import __version__

    config_file, weights, card_file = _paths(directory)
    config_file.parent.mkdir(parents=True, exist_ok=True)
    net = posterior.log_posterior.posterior_estimator
    emb = getattr(net, "embedding_net", None) if posterior.conditioner == "embedding" else None
    config = {
        "kind": "npe",
        "model": posterior.model.name,
        "conditioner": posterior.conditioner,
        "max_spikes": posterior.max_spikes,
        "encoder": None if emb is None else emb.config(),
        "flow": FLOW,
        "features": list(FEATURE_NAMES) if posterior.conditioner == "features" else None,
        "prior_low": posterior.log_prior.low.tolist(),
        "prior_high": posterior.log_prior.high.tolist(),
    }
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    config_file.write_text(json.dumps(config, indent=2))
    info = {
        "name": f"sbidic NPE baseline ({posterior.conditioner} conditioner)",
        "model": posterior.model.name,
        "sbidic_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        **(card or posterior.card),
    }
    info = json.loads(json.dumps(info, default=_jsonable))
    card_file.write_text(json.dumps(info, indent=2))
    lines = [f"# {info['name']}, {info['model']} model", "",
             "q(log g | spike times) by neural posterior estimation (sbi NPE, zuko NSF), "
             "the baseline of the DIC method (see docs/npe.md).", "",
             "| field | value |", "|---|---|"]  # fmt: skip
    for key, value in info.items():
        if key != "name":
            text = json.dumps(value) if isinstance(value, dict | list) else str(value)
            lines.append(f"| {key} | {text.replace('|', '/')} |")
    (Path(directory) / "model_card.md").write_text("\n".join(lines) + "\n")
    posterior.card = info
    return Path(directory)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _dummy_x(conditioner: str, max_spikes: int, n: int = 16) -> Tensor:
    if conditioner == "features":
        return torch.randn(n, len(FEATURE_NAMES))
    times = torch.arange(float(max_spikes))[None].repeat(n, 1) * 10.0
    return times + torch.rand(n, 1)


def load_npe(directory, model=None) -> NPEPosterior:
    """Read an NPE posterior written by ``save_npe`` / :func:`train_npe`.

    Parameters
    ----------
    directory : str or os.PathLike
        The posterior's directory.
    model : str or ConductanceModel, optional
        The model it is expected to be for. Its ``config.json`` names the model: a
        built-in or installed one is found by name; a model file is never imported
        from there, only when it is given here (``path.py:NAME``).

    Raises
    ------
    FileNotFoundError
        ``directory`` holds no saved NPE posterior.
    ValueError
        ``directory`` holds a DIC estimator, was trained for another model than
        ``model``, or names a model file that ``model`` does not give.
    """
    from safetensors.torch import load_file
    from sbi.inference.posteriors import DirectPosterior

    config_file, weights, card_file = _paths(directory)
    for f in (config_file, weights):
        if not f.is_file():
            raise FileNotFoundError(f"{f} not found: {directory} is not a saved NPE posterior")
    config = read_json(config_file, "NPE configuration")
    if not isinstance(config, dict):
        raise ValueError(f"NPE configuration {config_file} is not a JSON object")
    if config.get("kind") != "npe":
        raise ValueError(
            f"{directory} holds a DIC estimator, not an NPE posterior: load it with "
            "sbidic.inference.load_estimator or without estimator='npe'"
        )
    if "model" not in config:
        raise damaged_file_error(KeyError("model"), config_file, "NPE configuration")
    stored = str(config["model"])  # data: a model file it names is never imported
    resolved = model_from_data(stored, model, source=str(config_file))
    if model is not None and not is_model_file(stored) and resolved.name != stored:
        raise ValueError(f"the NPE posterior in {directory} was trained for model "
                         f"{stored!r}, not {resolved.name!r}")  # fmt: skip
    try:
        prior = LogConductancePrior(config["prior_low"], config["prior_high"])
        dummy = _dummy_x(config["conditioner"], config["max_spikes"])
        net = _build_net(config["conditioner"], prior.sample((16,)), dummy, config["encoder"])
        net.load_state_dict(load_file(str(weights)))
    except Exception as err:  # noqa: BLE001 -- any damage: one line naming the file
        raise damaged_file_error(err, directory, "NPE posterior") from None
    net.eval()
    card = read_json(card_file, "model card") if card_file.is_file() else {}
    log_posterior = DirectPosterior(posterior_estimator=net, prior=prior)
    return NPEPosterior(log_posterior, resolved, config["conditioner"],
                        config["max_spikes"], card)  # fmt: skip


# --------------------------------------------------------------- training
def _training_data(dataset, conditioner, max_spikes, model=None
                   ) -> tuple[Tensor, Tensor, dict]:  # fmt: skip
    """``theta = log g`` and ``x`` of the non-silent training cells, and data facts."""
    from sbidic.datasets import dataset_model, dataset_spec, load_dataset

    ds = load_dataset(dataset)
    spec = dataset_spec(ds)
    if spec.get("mode") != "mc":
        raise ValueError(
            f"{dataset} is a {spec.get('mode')!r} dataset; NPE trains on a Monte Carlo "
            "dataset of the prior: sbidic dataset --mode mc --model "
            f"{spec.get('model')} -o DIR"
        )
    model = dataset_model(ds, model, source=str(Path(dataset) / "manifest.json"))
    trains = SpikeTrains.from_dataset(ds, check=False)
    g = ds["conductances"].values.astype(np.float64)
    silent = trains.n_spikes < MIN_SPIKES
    split = ds["split"].values
    prior = npe_prior(model, spec.get("ranges", "monte_carlo"))
    low, high = prior.low.double().numpy(), prior.high.double().numpy()
    in_box = np.all((g >= low) & (g <= high), axis=1)
    keep = (split == "train") & ~silent & in_box
    if keep.sum() < 2:
        raise ValueError(
            f"{dataset} has {int(keep.sum())} non-silent training cells: too few to train"
        )
    used = trains[np.flatnonzero(keep)]
    x = _encode(conditioner, used, max_spikes)
    theta = torch.from_numpy(np.log(g[keep])).float()
    facts = {
        "path": str(dataset),
        "spec": spec,
        "simulations": int(len(g)),
        "silent_fraction": round(float(silent.mean()), 4),
        "train_split_cells": int((split == "train").sum()),
        "cells_used": int(keep.sum()),
        "left_out_silent": int(((split == "train") & silent).sum()),
        "left_out_below_floor": int(((split == "train") & ~silent & ~in_box).sum()),
    }
    return theta, x, {"model": model, "data": facts, "trains": used}


def train_npe(
    dataset,
    output=None,
    conditioner: str = "embedding",
    *,
    max_epochs: int = 200,
    max_time_s: float | None = None,
    batch_size: int = 256,
    learning_rate: float = 5e-4,
    patience: int = 20,
    seed: int = 0,
    max_spikes: int = DEFAULT_MAX_SPIKES,
    encoder: dict | None = None,
    model=None,
) -> NPEPosterior:
    """Train an NPE posterior on a Monte Carlo dataset with sbi's ``NPE`` trainer.

    Parameters
    ----------
    dataset : path
        Monte Carlo dataset directory (``sbidic dataset --mode mc``). Its ``train``
        split is used (sbi holds out 10 % of it for validation and early stopping);
        silent cells (fewer than 3 spikes) are left out and counted.
    output : path, optional
        Directory for ``weights.safetensors``, ``config.json`` and the model card.
    conditioner : {"embedding", "features"}
    max_epochs : int
        Epoch limit.
    max_time_s : float, optional
        Wall-clock limit (s), checked after every epoch.
    batch_size, learning_rate, patience : int, float, int
        sbi's ``training_batch_size``, ``learning_rate``, ``stop_after_epochs``.
    seed : int
        Torch seed (initialisation, validation split, batches).
    max_spikes : int
        Spikes read per recording (embedding conditioner).
    encoder : dict, optional
        :class:`~sbidic.inference.SpikeTrainEncoder` sizes (default :data:`ENCODER`).
    model : str or ConductanceModel, optional
        The dataset's model (default: the one its manifest names). A dataset of a
        model of your own needs it (``path.py:NAME``): a model file named in a
        manifest is never imported.

    Returns
    -------
    NPEPosterior
        With its model card (recipe, budget, silent fraction, CPU time) in ``card``.
    """
    from sbi.inference import NPE

    from sbidic.inference.tokens import token_stats

    _check_conditioner(conditioner)
    if int(max_epochs) < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    torch.manual_seed(seed)
    theta, x, info = _training_data(dataset, conditioner, max_spikes, model)
    model = info["model"]
    ranges = info["data"]["spec"].get("ranges", "monte_carlo")
    enc_config = None
    if conditioner == "embedding":
        from sbidic.inference.encoder import SpikeTrainEncoder

        enc = SpikeTrainEncoder(**{**ENCODER, **(encoder or {})}, max_spikes=max_spikes,
                                on_truncate="ignore")  # fmt: skip
        enc.set_token_stats(token_stats(info["trains"]))
        enc_config = enc.config()
    prior = npe_prior(model, ranges)

    def build(theta_batch, x_batch):
        return _build_net(conditioner, theta_batch, x_batch, enc_config)

    inference = NPE(prior=prior, density_estimator=build, show_progress_bars=False)
    deadline = None if max_time_s is None else wall0 + float(max_time_s)
    converged, timed_out = inference._converged, False

    def converged_or_out_of_time(epoch: int, stop_after_epochs: int) -> bool:
        # sbi asks this before every epoch, after scoring the last one and keeping the
        # best weights so far; the wall-clock limit stops the same loop there
        nonlocal timed_out
        if converged(epoch, stop_after_epochs):
            return True
        timed_out = deadline is not None and time.perf_counter() > deadline
        return timed_out

    inference._converged = converged_or_out_of_time
    with warnings.catch_warnings():
        # constant x columns (the "silent" flag on non-silent cells, padding columns
        # of the spike times) are harmless
        warnings.filterwarnings("ignore", "Data has constant values")
        warnings.filterwarnings("ignore", "Maximum number of epochs")
        if conditioner == "embedding":  # x is not z-scored: its outliers do not matter
            warnings.filterwarnings("ignore", "Data has extreme outliers")
        inference.append_simulations(theta, x, exclude_invalid_x=False)
        with contextlib.redirect_stdout(io.StringIO()):  # sbi prints its convergence
            # sbi trains epochs 0 .. max_num_epochs
            inference.train(
                training_batch_size=batch_size, learning_rate=learning_rate,
                stop_after_epochs=patience, max_num_epochs=int(max_epochs) - 1,
                show_train_summary=False,
            )  # fmt: skip
    epoch = inference.epoch
    if timed_out:
        stop = "max_time"
    elif epoch < int(max_epochs):
        stop = "early_stopping"
    else:
        stop = "max_epochs"
    net = inference._neural_net
    if inference._best_model_state_dict is not None:
        net.load_state_dict(inference._best_model_state_dict)
    net.eval()
    log_posterior = inference.build_posterior(net)
    card = {
        "estimator": "npe",
        "conditioner": conditioner,
        "recipe": {
            "trainer": "sbi.inference.NPE", "flow": FLOW, "theta": "log conductances",
            "prior": f"uniform conductances over the model's {PRIOR_BOX[ranges]}, floored "
                     f"at {LOG_FLOOR} x upper bound, in log space (LogConductancePrior)",
            "encoder": enc_config,
            "features": list(FEATURE_NAMES) if conditioner == "features" else None,
            "batch_size": batch_size, "learning_rate": learning_rate, "patience": patience,
            "max_epochs": max_epochs, "max_time_s": max_time_s, "seed": seed,
            "max_spikes": max_spikes,
        },
        "data": info["data"],
        "budget": {"simulations": info["data"]["simulations"]},
        "training": {
            "epochs": int(inference.epoch),
            "stop_reason": stop,
            "best_validation_loss": float(inference._best_val_loss),
            "cpu_time_s": round(time.process_time() - cpu0, 1),
            "wall_time_s": round(time.perf_counter() - wall0, 1),
            "torch_threads": torch.get_num_threads(),
        },
    }  # fmt: skip
    posterior = NPEPosterior(log_posterior, model, conditioner, max_spikes, card)
    if output is not None:
        save_npe(posterior, output, card)
    return posterior
