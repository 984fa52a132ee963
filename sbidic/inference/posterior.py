"""sbi posteriors over conductance sets and over the DICs.

:class:`ConductancePosterior` is an ``sbi`` ``NeuralPosterior`` whose samples are
**conductance sets**: each sample draws ``(g_s, g_u)`` from the DIC posterior
``q(g_s, g_u | x)`` of a :class:`~sbidic.inference.estimator.DICEstimator` and
compensates one cell of the conductance model to exactly those DICs
(:func:`sbidic.population.sample_populations`, vectorised over all samples). A draw
that no cell with non-negative conductances can reach is redrawn from the posterior,
never dropped, so every sample is a valid cell and ``sample`` returns exactly
``sample_shape`` of them.

The density is over the DICs: ``log_prob`` evaluates ``log q(g_s, g_u | x)`` (given a
conductance set, at its DICs; the conductances themselves have no density, the
population is degenerate). :attr:`ConductancePosterior.dic_posterior` is a
:class:`DICPosterior`, the plain ``(g_s, g_u)`` posterior for sbi's diagnostics
(``run_sbc``, ``run_tarp``, ``get_nltp``, ``pairplot``).

Observations ``x`` may be a :class:`~sbidic.spikes.SpikeTrains`, a list of arrays of
spike times (ms), one 1-D array, or a NaN- / negative-padded tensor ``(B, L)``. They
never go through sbi's ``process_x``, so the sbi 0.27 rejection of NaN-padded
observations does not apply. Pad with ``-1`` for ``run_sbc`` / ``run_tarp``, which
drop rows that contain a NaN before sampling.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783

D. Greenberg, M. Nonnenmacher, J. Macke (2019). Automatic posterior transformation for
likelihood-free inference. ICML. https://arxiv.org/abs/1905.07488
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from sbi.inference.posteriors.base_posterior import NeuralPosterior
from sbi.inference.potentials.base_potential import BasePotential
from torch import Tensor

from sbidic.inference.estimator import DICEstimator
from sbidic.inference.tokens import PaddedSpikes
from sbidic.population import Population, UnreachableTargetError, sample_populations

__all__ = [
    "ConductancePosterior",
    "ConductancePrior",
    "DICPosterior",
    "to_datatree",
    "to_population",
]


def _shape(sample_shape) -> torch.Size:
    if isinstance(sample_shape, int):
        return torch.Size([sample_shape])
    return torch.Size(sample_shape)


class _DICPotential(BasePotential):
    """``log q(g_s, g_u | x_o)``; conductance sets are evaluated at their DICs.

    Stores ``x_o`` as a validated :class:`PaddedSpikes` (no sbi ``process_x``).
    """

    def __init__(self, estimator: DICEstimator, model=None) -> None:
        self.estimator = estimator
        self.model = model
        super().__init__(prior=None, x_o=None, device="cpu")

    def set_x(self, x_o, x_is_iid: bool | None = False) -> None:
        self._x_o = x_o
        self._x_is_iid = x_is_iid

    def __call__(self, theta: Tensor, track_gradients: bool = True) -> Tensor:
        with torch.set_grad_enabled(track_gradients):
            return _log_prob(self.estimator, self.model, theta, self.x_o)


def _log_prob(estimator: DICEstimator, model, theta, x: PaddedSpikes) -> Tensor:
    """Log-density of DICs ``theta`` (..., 2) (or of conductance sets at their DICs)
    given one (``len(x) == 1``) or ``B`` recordings (theta ``(..., B, 2)``)."""
    theta = torch.as_tensor(theta)
    if model is not None and theta.shape[-1] == model.n_conductances:
        from sbidic.dics import dynamic_input_conductances

        g = theta.detach().to(torch.float64).numpy()
        theta = torch.from_numpy(dynamic_input_conductances(model, g)[..., 1:])
    if theta.shape[-1] != 2:
        raise ValueError(
            "theta must end with the 2 DICs (g_s, g_u)"
            + (f" or the {model.n_conductances} conductances" if model is not None else "")
            + f", got shape {tuple(theta.shape)}"
        )
    with estimator._evaluating():
        c = estimator.embed(x)
    if len(x) == 1:
        c = c[0]
    lp = estimator._log_prob_context(theta.to(torch.float64), c)
    return lp.to(torch.float32)


class _Base(NeuralPosterior):
    """Shared observation handling (no sbi ``process_x``: NaN padding is fine)."""

    def __init__(self, estimator: DICEstimator, model=None) -> None:
        if not isinstance(estimator, DICEstimator):
            raise TypeError(f"estimator must be a DICEstimator, got {type(estimator).__name__}")
        self.estimator = estimator.eval()
        super().__init__(potential_fn=_DICPotential(estimator, model), device="cpu")

    def _parse_x(self, x) -> PaddedSpikes:
        return x if isinstance(x, PaddedSpikes) else self.estimator.padded(x)

    def set_default_x(self, x) -> _Base:
        """Default observation (one recording, any accepted form); chainable."""
        p = self._parse_x(x)
        self._one(p, "set_default_x")
        self._x = p
        self._map = None
        return self

    def _x_else_default_x(self, x) -> PaddedSpikes:
        if x is not None:
            return self._parse_x(x)
        if self._x is None:
            raise ValueError(
                "an observation x is needed: pass x=... or call set_default_x(x) first"
            )
        return self._x

    @staticmethod
    def _one(p: PaddedSpikes, method: str) -> None:
        if len(p) != 1:
            raise ValueError(
                f"{method} takes one recording, got {len(p)}; use sample_batched for many"
            )

    def log_prob(self, theta, x=None, track_gradients: bool = False, **kwargs) -> Tensor:
        """``log q(g_s, g_u | x)``, normalised over the DIC box.

        Parameters
        ----------
        theta : Tensor, shape (..., 2)
            DICs ``(g_s, g_u)``; for :class:`ConductancePosterior` also conductance
            sets ``(..., n_conductances)``, evaluated at their DICs.
        x : one recording, optional
            Default: :attr:`default_x`.
        track_gradients : bool, default False
            Keep the autograd graph.

        Returns
        -------
        Tensor, shape theta.shape[:-1]
            ``-inf`` outside the box.
        """
        p = self._x_else_default_x(x)
        self._one(p, "log_prob")
        with torch.set_grad_enabled(track_gradients):
            return _log_prob(self.estimator, getattr(self, "model", None), theta, p)

    def log_prob_batched(self, theta, x, track_gradients: bool = False, **kwargs) -> Tensor:
        """``log q(theta_b | x_b)`` for ``theta`` (..., B, 2) and ``B`` recordings."""
        p = self._parse_x(x)
        with torch.set_grad_enabled(track_gradients):
            return _log_prob(self.estimator, getattr(self, "model", None), theta, p)

    def _dic_draws(self, sample_shape, p: PaddedSpikes) -> tuple[Tensor, Tensor]:
        """DIC draws ``(*sample_shape, B, 2)`` (float64) and the embeddings ``(B, E)``."""
        n = math.prod(_shape(sample_shape))
        with self.estimator._evaluating():
            c = self.estimator.embed(p)
            draws = self.estimator.sample_context(n, c)
        return draws.reshape(*_shape(sample_shape), len(p), 2), c


class DICPosterior(_Base):
    """sbi posterior over the DICs ``(g_s, g_u)`` of a :class:`DICEstimator`.

    Parameters
    ----------
    estimator : DICEstimator
        Trained estimator.

    Notes
    -----
    Samples are float32 tensors (sbi's convention). ``show_progress_bars`` is
    accepted for sbi compatibility and ignored (sampling is one vectorised call).

    Examples
    --------
    >>> post = DICPosterior(estimator)  # doctest: +SKIP
    >>> post.sample((1000,), x=[10.0, 110.0, 210.0, 310.0]).shape  # doctest: +SKIP
    torch.Size([1000, 2])
    """

    @property
    def prior(self):
        """The training prior over ``(g_s, g_u)``: sbi ``BoxUniform`` over the estimator's
        DIC box (the DIC datasets draw their targets by Latin hypercube in it)."""
        from sbi.utils import BoxUniform

        est = self.estimator
        return BoxUniform(low=est.box_lo.float(), high=est.box_hi.float())

    def __init__(self, estimator: DICEstimator) -> None:
        super().__init__(estimator, model=None)
        self._purpose = "Posterior over the DICs (g_s, g_u) at V_th."

    def sample(
        self,
        sample_shape=(),
        x=None,
        show_progress_bars: bool = False,
        **kwargs,
    ) -> Tensor:
        """Samples ``(*sample_shape, 2)`` of ``(g_s, g_u)`` given one recording."""
        p = self._x_else_default_x(x)
        self._one(p, "sample")
        draws, _ = self._dic_draws(sample_shape, p)
        return draws[..., 0, :].to(torch.float32)

    def sample_batched(
        self, sample_shape, x, show_progress_bars: bool = False, **kwargs
    ) -> Tensor:
        """Samples ``(*sample_shape, B, 2)`` for ``B`` recordings."""
        draws, _ = self._dic_draws(sample_shape, self._parse_x(x))
        return draws.to(torch.float32)


class ConductancePosterior(_Base):
    """sbi posterior whose samples are conductance sets with posterior-distributed DICs.

    Parameters
    ----------
    estimator : DICEstimator
        Trained estimator of ``q(g_s, g_u | x)``.
    model : str or ConductanceModel, optional
        Conductance model of the cells; default the estimator's ``model``, found by
        name (a model file the estimator names is never imported: give it here).
    rng : int or numpy.random.Generator, optional
        Random source of the cell draws (the DIC draws use torch's global RNG, as sbi).
    max_redraw_rounds : int, default 20
        Rounds of redrawing unreachable DIC samples before giving up.
    atlas : sbidic.fidelity.FiringAtlas, optional
        How cells at each DIC target of the training data fire (used by
        ``sbidic.infer(dics="calibrated")``); shipped estimators carry one.
    survey_cells : sbidic.fidelity.SurveyCells, optional
        Cells of the model's survey that ``sbidic.infer(verify=True)`` may start its
        search from (patterns the DIC dataset seldom holds).
    proposal : NPEPosterior, optional
        A posterior over all conductances (e.g. the NPE baseline,
        ``load_pretrained(model, estimator="npe", conditioner="features")``) whose
        draws for each recording start part of the cells that ``sbidic.infer(verify=True)``
        simulates (each compensated to its DIC target,
        :func:`~sbidic.inference.verify.npe_proposal`).
    noise_sigma : float, optional
        Band-limited noise current (pre-filter sigma, uA/cm^2,
        :meth:`sbidic.simulate.BandLimitedNoise.reference`) under which the
        estimator's training recordings were simulated; ``sbidic.infer`` simulates
        verified and scored cells under the same noise. None: noiseless recordings.
    **population_kwargs
        Passed to :func:`sbidic.population.sample_populations` (e.g. ``compensated``).

    Examples
    --------
    >>> post = ConductancePosterior(estimator, "stg", rng=0)  # doctest: +SKIP
    >>> g = post.sample((100,), x=spike_times_ms)  # doctest: +SKIP
    >>> g, dics = post.sample((100,), x=spike_times_ms, return_dics=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        estimator: DICEstimator,
        model=None,
        *,
        rng=None,
        max_redraw_rounds: int = 20,
        atlas=None,
        survey_cells=None,
        proposal=None,
        noise_sigma: float | None = None,
        **population_kwargs,
    ) -> None:
        from sbidic.models import get_model, model_from_data

        if model is not None:
            self.model = get_model(model)
        elif estimator.model_name is None:
            raise ValueError("give the conductance model (e.g. 'stg'); the estimator has none")
        else:  # the estimator's config names it: found by name, a model file never imported
            self.model = model_from_data(estimator.model_name, source="the estimator's config")
        super().__init__(estimator, model=self.model)
        self._rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.max_redraw_rounds = int(max_redraw_rounds)
        self.atlas = atlas
        self.survey_cells = survey_cells
        other = getattr(getattr(proposal, "model", None), "conductances", None)
        if other is not None and tuple(other) != tuple(self.model.conductances):
            raise ValueError(
                f"the proposal draws conductances {tuple(other)}, not the "
                f"{self.model.name} model's {tuple(self.model.conductances)}"
            )
        self.proposal = proposal
        self.noise_sigma = noise_sigma
        self.population_kwargs = population_kwargs
        #: torch generator of the redraws (None: torch's global one); ``sbidic.infer``
        #: sets one per call, so concurrent calls do not share a random stream.
        self.generator: torch.Generator | None = None
        self._purpose = (
            f"Conductance sets of the {self.model.name} model (mS/cm^2); each sample "
            "compensates one cell to a posterior draw of (g_s, g_u)."
        )

    @property
    def conductance_labels(self) -> tuple[str, ...]:
        """Names of the sample columns, e.g. ``("g_Na", ..., "g_leak")``."""
        return tuple(self.model.conductance_labels)

    def map(self, *args, **kwargs):
        """Not defined over conductances (the population is degenerate): use
        ``dic_posterior.set_default_x(x).map()`` for the MAP of ``(g_s, g_u)``."""
        raise NotImplementedError(
            "the MAP is defined over the DICs: use posterior.dic_posterior.set_default_x(x).map()"
        )

    @property
    def prior(self) -> ConductancePrior:
        """The prior over conductances, i.e. the DIC box pushed through the population
        sampler (:class:`~sbidic.inference.posterior.ConductancePrior`; it samples but
        has no density)."""
        return ConductancePrior(self)

    @property
    def dic_posterior(self) -> DICPosterior:
        """The ``(g_s, g_u)`` posterior (for sbi diagnostics), sharing the default x."""
        view = DICPosterior(self.estimator)
        view._x = self._x
        return view

    # ------------------------------------------------------------ internals
    def _compensate(self, draws: Tensor, context: Tensor) -> tuple[np.ndarray, ...]:
        """Compensate one cell per DIC draw; redraw unreachable draws.

        Parameters
        ----------
        draws : Tensor, shape (n, B, 2)
        context : Tensor, shape (B, E)

        Returns
        -------
        g : ndarray (n, B, n_cond); dics : ndarray (n, B, 2) (the draws used);
        achieved : ndarray (n, B, 3); n_drawn : ndarray (B,) DIC draws per recording.
        """
        n, b = draws.shape[:2]
        owner = np.tile(np.arange(b), n)
        g, flat, achieved, n_drawn = self.compensate(draws.reshape(-1, 2), owner, context)
        return (
            g.reshape(n, b, -1),
            flat.reshape(n, b, 2),
            achieved.reshape(n, b, 3),
            n_drawn,
        )

    def compensate(
        self, dics, owner: np.ndarray, context: Tensor
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One cell per target ``(g_s, g_u)``; unreachable targets are replaced by fresh
        posterior draws of their recording.

        Parameters
        ----------
        dics : array_like, shape (K, 2)
            Targets.
        owner : ndarray of int, shape (K,)
            Recording (row of ``context``) of each target.
        context : Tensor, shape (B, E)
            Embeddings of the recordings.

        Returns
        -------
        g : ndarray (K, n_cond), mS/cm^2; dics : ndarray (K, 2) (the targets used);
        achieved : ndarray (K, 3); n_drawn : ndarray (B,) targets tried per recording.

        Raises
        ------
        RuntimeError
            Some targets stayed unreachable after ``max_redraw_rounds`` rounds.
        """
        owner = np.asarray(owner, dtype=np.int64)

        def redraw(rows: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return self.estimator.sample_context(1, context[rows],
                                                     generator=self.generator)[0].numpy()

        return self._compensate_redrawing(dics, owner, context.shape[0], redraw)

    def _compensate_redrawing(self, dics, owner: np.ndarray, b: int, redraw):
        """:meth:`compensate` with unreachable targets of group ``owner`` replaced by
        ``redraw(owner_of_each) -> (k, 2)`` (at most ``max_redraw_rounds`` rounds)."""
        flat = torch.as_tensor(dics, dtype=torch.float64).reshape(-1, 2).numpy().copy()
        n_drawn = np.bincount(owner, minlength=b)
        g = np.full((len(flat), self.model.n_conductances), np.nan)
        achieved = np.full((len(flat), 3), np.nan)
        todo = np.arange(len(flat))
        for _ in range(self.max_redraw_rounds + 1):
            if todo.size == 0:
                break
            try:
                pop = sample_populations(
                    self.model, flat[todo], 1, rng=self._rng, **self.population_kwargs
                )
                bad = np.zeros(0, dtype=int)
            except UnreachableTargetError as err:
                pop, bad = err.partial, np.asarray(err.indices)
            g[todo] = pop.conductances[:, 0]
            achieved[todo] = pop.dics[:, 0]
            todo = todo[bad]
            if todo.size == 0:
                break
            n_drawn += np.bincount(owner[todo], minlength=b)
            flat[todo] = redraw(owner[todo])
        else:
            recs = np.unique(owner[todo])
            raise RuntimeError(
                f"{todo.size} DIC draw(s) of recording(s) {recs[:20].tolist()} stayed "
                f"unreachable after {self.max_redraw_rounds} redraw rounds (posterior mass "
                "mostly where no cell of this model has non-negative conductances)"
            )
        return g, flat, achieved, n_drawn

    def _sample(self, sample_shape, p: PaddedSpikes):
        shape = _shape(sample_shape)
        draws, c = self._dic_draws((math.prod(shape),), p)
        g, dics, achieved, n_drawn = self._compensate(draws, c)
        return shape, g, dics, achieved, n_drawn

    # --------------------------------------------------------------- public
    def sample(
        self,
        sample_shape=(),
        x=None,
        show_progress_bars: bool = False,
        return_dics: bool = False,
        **kwargs,
    ):
        """Conductance sets ``(*sample_shape, n_conductances)`` given one recording.

        Parameters
        ----------
        sample_shape : tuple of int
            Number of cells (e.g. ``(1000,)``).
        x : one recording, optional
            Spike times (ms); default :attr:`default_x`.
        show_progress_bars : bool
            Ignored (one vectorised call).
        return_dics : bool
            Also return the DIC draws ``(*sample_shape, 2)`` that the cells reach.

        Returns
        -------
        Tensor, float64
            Maximal conductances (mS/cm^2), columns :attr:`conductance_labels`.
        """
        p = self._x_else_default_x(x)
        self._one(p, "sample")
        shape, g, dics, _, _ = self._sample(sample_shape, p)
        g = torch.from_numpy(g[:, 0]).reshape(*shape, -1)
        if return_dics:
            return g, torch.from_numpy(dics[:, 0]).reshape(*shape, 2)
        return g

    def sample_batched(
        self,
        sample_shape,
        x,
        show_progress_bars: bool = False,
        return_dics: bool = False,
        **kwargs,
    ):
        """Conductance sets ``(*sample_shape, B, n_conductances)`` for ``B`` recordings
        (and the DIC draws ``(*sample_shape, B, 2)`` with ``return_dics``)."""
        p = self._parse_x(x)
        shape, g, dics, _, _ = self._sample(sample_shape, p)
        g = torch.from_numpy(g).reshape(*shape, len(p), -1)
        if return_dics:
            return g, torch.from_numpy(dics).reshape(*shape, len(p), 2)
        return g

    def sample_dics(self, sample_shape=(), x=None) -> Tensor:
        """``(g_s, g_u)`` draws ``(*sample_shape, 2)`` (float64) given one recording,
        without compensation."""
        p = self._x_else_default_x(x)
        self._one(p, "sample_dics")
        draws, _ = self._dic_draws(sample_shape, p)
        return draws[..., 0, :]

    def sample_population(self, x, n: int, obs_ids: Sequence | None = None) -> Population:
        """A degenerate population of ``n`` cells per recording, drawn from the posterior.

        Parameters
        ----------
        x : recordings
            ``B`` recordings (any accepted form).
        n : int
            Cells per recording.
        obs_ids : sequence, optional
            Identifier per recording; default the ``SpikeTrains`` ids, else ``0..B-1``.

        Returns
        -------
        Population
            ``conductances`` (B, n, n_cond); ``target`` = posterior mean of the DIC draws
            used; ``dics`` the achieved (g_f, g_s, g_u) of each cell; ``residual``
            ``max(|g_s - draw|, |g_u - draw|)``; ``acceptance`` the fraction of DIC draws
            that were reachable.
        """
        p = self._parse_x(x)
        if obs_ids is None:
            obs_ids = getattr(x, "ids", None)
        _, g, dics, achieved, n_drawn = self._sample((n,), p)
        return to_population(g, self.model, obs_ids, dic_draws=dics, n_drawn=n_drawn)

    def to_datatree(self, samples, obs_ids: Sequence | None = None, dic_draws=None):
        """ArviZ DataTree of conductance samples ``(n, B, n_cond)`` (or ``(n, n_cond)``);
        see :func:`to_datatree`."""
        return to_datatree(samples, self.model, obs_ids, dic_draws=dic_draws)


def to_population(
    samples, model, obs_ids: Sequence | None = None, *, dic_draws=None, n_drawn=None
) -> Population:
    """Conductance samples as a :class:`~sbidic.population.Population`.

    Parameters
    ----------
    samples : array_like, shape (n, B, n_conductances) or (n, n_conductances)
        Conductance sets (mS/cm^2), e.g. from ``sample_batched``.
    model : str or ConductanceModel
    obs_ids : sequence, optional
        Identifier per recording (default ``0..B-1``).
    dic_draws : array_like, shape (n, B, 2), optional
        The DIC draws the cells were compensated to (residuals, population target =
        their mean); default: the cells' own DICs.
    n_drawn : array_like, shape (B,), optional
        DIC draws made per recording (acceptance = n / n_drawn).
    """
    from sbidic.dics import dynamic_input_conductances
    from sbidic.models import get_model

    model = get_model(model)
    g = np.asarray(torch.as_tensor(samples, dtype=torch.float64))
    if g.ndim == 2:
        g = g[:, None]
    if g.ndim != 3 or g.shape[-1] != model.n_conductances:
        raise ValueError(
            f"samples must have shape (n, B, {model.n_conductances}) or "
            f"(n, {model.n_conductances}), got {g.shape}"
        )
    n, b = g.shape[:2]
    achieved = dynamic_input_conductances(model, g)
    draws = achieved[..., 1:] if dic_draws is None else np.asarray(dic_draws, dtype=float)
    draws = draws.reshape(n, b, 2)
    residual = np.abs(achieved[..., 1:] - draws).max(axis=-1)
    acceptance = np.ones(b) if n_drawn is None else n / np.asarray(n_drawn, dtype=float)
    return Population(
        model=model.name,
        conductance_names=model.conductances,
        V_th=float(model.V_th),
        target=draws.mean(axis=0),
        conductances=g.transpose(1, 0, 2),
        dics=achieved.transpose(1, 0, 2),
        residual=residual.T,
        acceptance=acceptance,
        obs_id=np.arange(b) if obs_ids is None else np.asarray(obs_ids),
    )


def to_datatree(samples, model, obs_ids: Sequence | None = None, *, dic_draws=None):
    """ArviZ ``xarray.DataTree`` of posterior conductance samples, one ``obs_id`` per
    recording (via :meth:`sbidic.population.Population.to_datatree`).

    Groups: ``posterior`` (``g_<name>``, dims ``(chain, draw, obs_id)``, mS/cm^2) and
    ``dics`` (``target`` = posterior mean of the DIC draws, achieved DICs, residuals).
    Arguments as in :func:`to_population`.
    """
    tree = to_population(samples, model, obs_ids, dic_draws=dic_draws).to_datatree()
    tree["dics"].attrs["target_meaning"] = "posterior mean of the (g_s, g_u) draws"
    return tree


class ConductancePrior:
    """The training prior pushed into conductance space: ``(g_s, g_u)`` uniform over the
    estimator's DIC box, one compensated cell per draw (unreachable draws redrawn).

    It can be sampled, but it has no density: conductance sets are degenerate (many
    share the same DICs), so ranks, coverage or likelihoods in conductance space
    (``run_sbc``, ``run_tarp``, ``log_prob``) do not measure the posterior's calibration.
    Run sbi's diagnostics on ``posterior.dic_posterior`` with ``posterior.dic_posterior.prior``.
    """

    def __init__(self, posterior: ConductancePosterior) -> None:
        self.posterior = posterior

    def sample(self, sample_shape=()) -> Tensor:
        """Conductance sets ``(*sample_shape, n_conductances)`` (mS/cm^2, float64)."""
        shape = _shape(sample_shape)
        n = math.prod(shape)
        box = self.posterior.dic_posterior.prior

        def draw(rows: np.ndarray) -> np.ndarray:  # unreachable draws: again from the prior
            return box.sample((len(rows),)).double().numpy()

        g = self.posterior._compensate_redrawing(
            draw(np.zeros(n)), np.zeros(n, dtype=np.int64), 1, draw
        )[0]
        return torch.from_numpy(g).reshape(*shape, -1)

    def log_prob(self, theta) -> Tensor:
        raise NotImplementedError(
            "the conductance prior has no density (degenerate conductance sets); run sbi "
            "diagnostics in DIC space: posterior.dic_posterior with "
            "posterior.dic_posterior.prior"
        )
