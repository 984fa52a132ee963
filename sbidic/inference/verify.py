"""Which DICs the cells get, and verified populations.

**DIC strategies** (:data:`DIC_STRATEGIES`, the ``dics`` argument of
:func:`sbidic.infer`) choose the ``(g_s, g_u)`` target of each cell from the posterior
draws of its recording:

* ``"posterior"``: one posterior draw per cell (the full posterior: the most diverse
  population, the lowest fidelity);
* ``"mean"``: every cell at the posterior mean (diversity only from compensation);
* ``"shrunk"``: posterior draws pulled towards the mean,
  ``mean + shrinkage * (draw - mean)`` (``shrinkage = 0.5`` halves the spread);
* ``"calibrated"``: the ``n`` posterior draws (out of at least ``10 n``) whose
  neighbourhood in a :class:`~sbidic.fidelity.FiringAtlas` (the estimator's training
  data) most often reproduces the recording: posterior draws ranked by the estimated
  share of cells compensated to them that have the recording's features, plus twice
  the share that have its class;
* ``"auto"`` (the default of :func:`sbidic.infer`): ``"calibrated"`` when the
  estimator ships a firing atlas, otherwise ``"mean"``.

Targets no cell can reach are replaced by fresh posterior draws of the same recording.

**Verified populations** (:func:`verify_populations`): simulate the cells with Brian2,
keep those that reproduce the recording (:class:`~sbidic.fidelity.FidelityCriteria`),
and propose more until ``n`` cells pass or the budget is spent. The first round
simulates ``ceil(1.25 n)`` cells of the chosen strategy (most recordings are done in
one round when most cells pass: every round pays Brian2's per-step overhead). After
the first round,
three quarters of a recording's proposals are new cells around its *elite* cells (the
accepted ones, topped up with the closest matches, smallest ``mismatch``, to at least
:data:`MIN_ELITE`; the model's survey cells, :class:`~sbidic.fidelity.SurveyCells`,
compete for these places with the simulated cells; once a recording has elite cells
that match it, accepted or survey cells within tolerance, its proposals start from
those only): an elite cell's conductances, each
multiplied by a log-normal factor (half the spread of that log-conductance over the
cell's four nearest elite neighbours, between :data:`KERNEL_LOG_SD` bounds; around a
survey cell :data:`SURVEY_LOG_SD`; the leak stays), compensated to a DIC target drawn
around the elite cell's (a Gaussian kernel with half its neighbours' spread, at least a
tenth of the posterior spread). The kernel is local (Filippi et al. 2013) so that
clusters of accepted cells in different parts of the conductance space each keep their
own scale. Every cell still meets its DIC target to the compensation tolerance. One
quarter comes from the posterior (each the best of 10 posterior draws by the firing
atlas, when there is one), so the rest of the posterior is still explored. With a
``proposal`` (an NPE posterior over all conductances, :func:`npe_proposal`), half of
the first round's cells and of the fresh ones start from its draws for the recording,
compensated to their DIC targets: the NPE's draws are spread over the whole degenerate
set it learned, so the search starts from there rather than from the seed's narrow
boxes (measured in ``docs/fidelity.md``). A round
spends at most a third of what is left of the budget (at least the cells still wanted;
the last rounds share what is left), so a search with few passing cells gets several
rounds. This is a sequential Monte Carlo search of the model's conductance
space (in the spirit of ABC-SMC, Sisson et al. 2007): it moves towards the recording
even when no first-round cell passes, because the firing pattern also depends on the
conductances the DICs leave free (e.g. the slow bursts of ``stg-liu``). The returned
cells are therefore not posterior samples: they are the cells that passed. When fewer
than ``n`` pass, the best matches fill the population, marked ``passed = False``.

References
----------
S. A. Sisson, Y. Fan, M. M. Tanaka (2007). Sequential Monte Carlo without
likelihoods. PNAS 104(6):1760-1765. https://doi.org/10.1073/pnas.0607208104

S. Filippi, C. P. Barnes, J. Cornebise, M. P. H. Stumpf (2013). On optimality of kernels
for approximate Bayesian computation using sequential Monte Carlo. Stat. Appl. Genet.
Mol. Biol. 12(1):87-107. https://doi.org/10.1515/sagmb-2012-0069
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from sbidic._groups import rank_within_groups
from sbidic.fidelity import FidelityCriteria, FidelityScores, simulate_and_score

__all__ = [
    "DIC_STRATEGIES",
    "VerifiedCells",
    "VerifyBudget",
    "check_dic_strategy",
    "dic_targets",
    "npe_proposal",
    "verify_populations",
]

#: Accepted values of ``dics``.
DIC_STRATEGIES = ("auto", "calibrated", "mean", "posterior", "shrunk")

#: Share of adaptive proposals drawn around accepted cells (the rest from the posterior).
_KERNEL_SHARE = 0.75
#: First-round cells per wanted cell.
FIRST_ROUND = 1.25
#: With a ranking, each fresh posterior proposal is the best of this many draws.
_RANKED_OF = 10
#: Elite cells per recording the conductance kernel starts from (accepted cells, topped
#: up with the closest matches).
MIN_ELITE = 10
#: A round spends at most ``1 / _ROUNDS_LEFT`` of the rest of the budget (at least the
#: cells still wanted), so a search with few passing cells gets several rounds.
_ROUNDS_LEFT = 3
#: Bounds of the kernel's standard deviation of each log-conductance.
KERNEL_LOG_SD = (0.05, 0.25)
#: The kernel's standard deviation of each log-conductance around a survey cell.
SURVEY_LOG_SD = 0.1
#: With a ``proposal``, the share of first-round and fresh cells that start from its
#: conductances (the others from the posterior's population sampler).
PROPOSAL_SHARE = 0.5


def check_dic_strategy(strategy: str, shrinkage: float = 0.5) -> None:
    """Raise ValueError for an unknown strategy (``"auto"`` must be resolved first) or a
    ``shrinkage`` outside [0, 1]."""
    if strategy not in DIC_STRATEGIES[1:]:
        raise ValueError(f"dics must be one of {DIC_STRATEGIES[1:]}, got {strategy!r}")
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")


def dic_targets(
    draws: np.ndarray,
    n: int,
    strategy: str = "mean",
    shrinkage: float = 0.5,
    match: np.ndarray | None = None,
) -> np.ndarray:
    """DIC targets ``(n, B, 2)`` of the cells from posterior draws ``(S, B, 2)``, ``S >= n``.

    ``match`` ``(S, B)``: for ``"calibrated"``, a score of how likely each draw
    reproduces its recording (from :meth:`~sbidic.fidelity.FiringAtlas.match_shares`),
    highest first; a recording without any finite value falls back to ``"mean"``.

    Examples
    --------
    >>> draws = np.array([[[0.0, 2.0]], [[2.0, 4.0]]])  # S = 2 draws, B = 1
    >>> dic_targets(draws, 2, "mean")[:, 0].tolist()
    [[1.0, 3.0], [1.0, 3.0]]
    >>> dic_targets(draws, 2, "shrunk", 0.5)[:, 0].tolist()
    [[0.5, 2.5], [1.5, 3.5]]
    >>> dic_targets(draws, 1, "calibrated", match=np.array([[0.2], [0.9]]))[:, 0].tolist()
    [[2.0, 4.0]]
    """
    check_dic_strategy(strategy, shrinkage)
    if draws.shape[0] < n:
        raise ValueError(f"need at least n = {n} draws, got {draws.shape[0]}")
    mean = draws.mean(axis=0)
    if strategy == "posterior":
        return draws[:n].copy()
    if strategy == "mean":
        return np.broadcast_to(mean, (n, *mean.shape)).copy()
    if strategy == "shrunk":
        return mean + shrinkage * (draws[:n] - mean)
    if match is None or match.shape != draws.shape[:2]:
        raise ValueError(f"dics='calibrated' needs match probabilities of shape {draws.shape[:2]}")
    score = np.where(np.isfinite(match), match, -1.0)
    best = np.argsort(-score, axis=0, kind="stable")[:n]  # (n, B): highest first
    out = np.take_along_axis(draws, best[..., None], axis=0)
    blind = ~np.isfinite(match).any(axis=0)
    out[:, blind] = mean[blind]
    return out


@dataclass(frozen=True)
class VerifyBudget:
    """How much simulation :func:`~sbidic.inference.verify.verify_populations` may spend.

    Parameters
    ----------
    max_cells : int, optional
        Simulated cells per recording; default ``10 * n``.
    max_seconds : float, optional
        Wall-clock limit (s) of the whole call, or of everything after :meth:`start`;
        default none. Looked at between rounds and, while a round's cells are scored,
        between chunks of cells: the van Rossum distances not computed by then are NaN
        (``passed`` does not depend on them). A round under way still finishes its
        simulation, and the first round always runs (it gives the ``n`` cells).
    max_rounds : int, default 8
        Rounds of simulation.
    noise_draws : int, default 3
        Under a noise current (``simulation={"noise": ...}``, or an estimator trained on
        noisy recordings), each proposed cell is simulated under this many independent
        noise realisations and passes only when it matches the recording under every
        one: a pass that holds for one realisation is often luck. Each draw is one more
        simulation (``max_cells`` counts cells, not draws). Unused without noise.
    deadline : float, optional
        A :func:`time.perf_counter` value that ends the budget (set by :meth:`start`).

    Examples
    --------
    >>> VerifyBudget(max_cells=200)
    VerifyBudget(max_cells=200, max_seconds=None, max_rounds=8, noise_draws=3)
    >>> b = VerifyBudget(max_seconds=300).start()
    >>> b.deadline > 0, b.start().deadline == b.deadline  # started once
    (True, True)
    """

    max_cells: int | None = None
    max_seconds: float | None = None
    max_rounds: int = 8
    noise_draws: int = 3
    deadline: float | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_cells is not None and self.max_cells < 1:
            raise ValueError(f"max_cells must be >= 1, got {self.max_cells}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {self.max_rounds}")
        if isinstance(self.noise_draws, bool) or int(self.noise_draws) != self.noise_draws \
                or self.noise_draws < 1:  # fmt: skip
            raise ValueError(f"noise_draws must be an integer >= 1, got {self.noise_draws!r}")

    def start(self) -> VerifyBudget:
        """The same budget with its clock started now (``max_seconds`` then covers every
        later :func:`verify_populations` call with it, e.g. all batches of recordings
        of one :func:`sbidic.infer`); unchanged if already started or without
        ``max_seconds``."""
        if self.max_seconds is None or self.deadline is not None:
            return self
        return replace(self, deadline=time.perf_counter() + self.max_seconds)

    def deadline_from(self, t0: float) -> float | None:
        """The :func:`time.perf_counter` value ending the budget of a call started at
        ``t0`` (None: no time limit)."""
        if self.deadline is not None:
            return self.deadline
        return None if self.max_seconds is None else t0 + self.max_seconds


@dataclass(frozen=True)
class VerifiedCells:
    """Result of :func:`verify_populations` for ``B`` recordings and ``n`` cells each.

    Attributes
    ----------
    conductances : ndarray, shape (B, n, n_conductances)
    targets : ndarray, shape (B, n, 2)
        DIC targets the cells were compensated to.
    scores : FidelityScores
        Shape ``(B, n)``; ``passed`` marks the verified cells.
    simulated : FidelityScores
        Flat scores of every simulated cell (for :func:`~sbidic.fidelity.recording_summary`).
    n_simulated : ndarray of int, shape (B,)
    n_rounds : int
    wall_time_s : float
    stopped : ndarray of bool, shape (B,)
        Recordings given up after the first round (``stop_after_first``).
    """

    conductances: np.ndarray
    targets: np.ndarray
    scores: FidelityScores
    simulated: FidelityScores
    n_simulated: np.ndarray
    n_rounds: int
    wall_time_s: float
    stopped: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[VerifiedCells]) -> VerifiedCells:
        """Results of consecutive batches of recordings as one (recording indices of the
        scores refer to all recordings; rounds: the most of any batch)."""
        offsets = np.cumsum([0] + [len(p.conductances) for p in parts])

        def shifted(scores: FidelityScores, offset: int) -> FidelityScores:
            return FidelityScores(**{**scores.as_dict(), "recording": scores.recording + offset})

        n = parts[0].conductances.shape[1]
        return cls(
            conductances=np.concatenate([p.conductances for p in parts]),
            targets=np.concatenate([p.targets for p in parts]),
            scores=FidelityScores.concatenate(
                [shifted(p.scores, o) for p, o in zip(parts, offsets, strict=False)]
            ).reshape(offsets[-1], n),
            simulated=FidelityScores.concatenate(
                [shifted(p.simulated, o) for p, o in zip(parts, offsets, strict=False)]
            ),
            n_simulated=np.concatenate([p.n_simulated for p in parts]),
            n_rounds=max(p.n_rounds for p in parts),
            stopped=np.concatenate([p.stopped for p in parts]),
            wall_time_s=sum(p.wall_time_s for p in parts),
        )


def _first_per_group(owner: np.ndarray, ok: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Mask of the first ``quota[g]`` entries with ``ok`` of each group ``g``, in order."""
    take = np.zeros(owner.size, dtype=bool)
    idx = np.flatnonzero(ok)
    take[idx] = rank_within_groups(owner[idx]) < quota[owner[idx]]
    return take


def verify_populations(
    posterior,
    recordings,
    context: torch.Tensor,
    n: int,
    initial_dics: np.ndarray,
    posterior_sd: np.ndarray,
    *,
    criteria: FidelityCriteria | None = None,
    budget: VerifyBudget | None = None,
    rng: np.random.Generator | None = None,
    progress=None,
    rank=None,
    stop_after_first: np.ndarray | None = None,
    survey=None,
    proposal=None,
    **simulate_kwargs,
) -> VerifiedCells:
    """Cells that reproduce their recording, verified by Brian2 simulation.

    Parameters
    ----------
    posterior : ConductancePosterior
        Supplies the model, the compensation and posterior draws.
    recordings : SpikeTrains
        ``B`` recordings (all non-silent).
    context : Tensor, shape (B, E)
        Their embeddings.
    n : int
        Cells wanted per recording.
    initial_dics : ndarray, shape (m, B, 2)
        DIC targets of the first round (e.g. :func:`dic_targets`), ``m >= n``: a few
        more than ``n`` saves a round when most cells pass.
    posterior_sd : ndarray, shape (B, 2)
        Posterior standard deviation of ``(g_s, g_u)`` (kernel bandwidth floor).
    criteria : FidelityCriteria, optional
    budget : VerifyBudget, optional
    rng : numpy.random.Generator, optional
    progress : callable, optional
        Called after each round with ``(n_accepted_total, n_wanted_total)``.
    rank : callable, optional
        ``rank(dics (K, 2), owner (K,)) -> score (K,)``, higher for targets more likely
        to reproduce recording ``owner`` (e.g. from a firing atlas): each fresh
        posterior proposal is then the best of 10 posterior draws.
    stop_after_first : ndarray of bool, shape (B,), optional
        Recordings to give up on when none of their first-round cells pass (e.g.
        patterns outside the model's firing atlas): no more of the budget is spent on
        them.
    survey : SurveyCells, optional
        Cells of the model's survey (:class:`~sbidic.fidelity.SurveyCells`): after the
        first round, the :data:`MIN_ELITE` closest to each recording (with its class)
        compete with the simulated cells for the elite the search proposes around.
    proposal : callable, optional
        ``proposal(owner (K,)) -> g (K, n_cond)``: conductances (mS/cm^2) for
        recordings ``owner``, e.g. :func:`npe_proposal` (draws of an NPE posterior).
        A share :data:`PROPOSAL_SHARE` of the first round's cells and of each later
        round's fresh cells start from them, compensated to their DIC targets.
    **simulate_kwargs
        Passed to :func:`sbidic.simulate.simulate` (``n_jobs``, ``dt_ms``...).

    Returns
    -------
    VerifiedCells
    """
    crit = FidelityCriteria() if criteria is None else criteria
    budget = VerifyBudget() if budget is None else budget
    rng = np.random.default_rng(rng)
    m, b = initial_dics.shape[:2]
    if m < n:
        raise ValueError(f"initial_dics must hold at least n = {n} targets per recording, got {m}")
    max_cells = 10 * n if budget.max_cells is None else max(int(budget.max_cells), n)
    initial_dics = initial_dics[:max_cells]
    m = len(initial_dics)
    t0 = time.perf_counter()
    deadline = budget.deadline_from(t0)

    dics = initial_dics.reshape(-1, 2)
    owner = np.tile(np.arange(b), m)
    seeds = None
    # conductances the cells start from (NaN rows: a fresh cell of the sampler)
    n_cond = None if proposal is None else posterior.model.n_conductances
    parents = _from_proposal(proposal, owner, n_cond, rng)
    pool_g, pool_t, pool_s, pool_acc = [], [], [], []
    need = np.full(b, n)
    n_sim = np.zeros(b, dtype=np.int64)
    n_pass = np.zeros(b, dtype=np.int64)
    stopped = np.zeros(b, dtype=bool)
    rounds = 0
    draws = budget.noise_draws if simulate_kwargs.get("noise") is not None else 1
    next_id = 0  # every simulated cell and noise draw gets its own noise stream
    while True:
        rounds += 1
        g, used = _compensate(posterior, dics, owner, context, parents)
        scores, next_id = _score_under_noise(posterior.model, g, recordings, owner, crit,
                                             draws, next_id, deadline, simulate_kwargs)
        accepted = _first_per_group(owner, scores.passed, need)
        pool_g.append(g)
        pool_t.append(used)
        pool_s.append(scores)
        pool_acc.append(accepted)
        n_sim += np.bincount(owner, minlength=b)
        n_pass += np.bincount(owner, weights=scores.passed, minlength=b).astype(np.int64)
        if seeds is None:
            seeds = _survey_seeds(posterior, survey, recordings, crit, g.shape[1])
        need -= np.bincount(owner, weights=accepted, minlength=b).astype(np.int64)
        if progress is not None:
            progress(int(n * b - need.sum()), int(n * b))
        if stop_after_first is not None and rounds == 1:  # unless a survey cell fires it
            stopped = np.asarray(stop_after_first, dtype=bool) & (n_pass == 0) & (need > 0)
            stopped[seeds["owner"][seeds["mismatch"] <= 1.0]] = False
        active = (need > 0) & (n_sim < max_cells) & ~stopped
        out_of_time = deadline is not None and time.perf_counter() >= deadline
        if not active.any() or rounds >= budget.max_rounds or out_of_time:
            break
        # the survey's cells join the simulated ones as candidates for the elite
        dics, owner, parents = _propose(
            posterior, context, np.concatenate(pool_g + [seeds["g"]]),
            np.concatenate(pool_t + [seeds["t"]]),
            np.concatenate(pool_acc + [np.zeros(len(seeds["g"]), dtype=bool)]),
            np.concatenate([s.recording for s in pool_s] + [seeds["owner"]]),
            np.concatenate([s.mismatch for s in pool_s] + [seeds["mismatch"]]),
            need, n_sim, n_pass, active, max_cells, budget.max_rounds - rounds,
            posterior_sd, rng, rank, n_survey=len(seeds["g"]),
        )  # fmt: skip
        if proposal is not None:  # the fresh cells: a share starts from the proposal
            fresh = ~np.isfinite(parents).all(-1)
            parents[fresh] = _from_proposal(proposal, owner[fresh], n_cond, rng)

    all_scores = FidelityScores.concatenate(pool_s)
    all_g = np.concatenate(pool_g)
    all_t = np.concatenate(pool_t)
    all_acc = np.concatenate(pool_acc)
    own = all_scores.recording
    # accepted cells first (in acceptance order), then the best of the rest
    key = np.where(all_acc, -1.0, all_scores.mismatch)
    order = np.lexsort((np.arange(own.size), key, own))
    keep = order[rank_within_groups(own[order]) < n]
    keep = keep[np.lexsort((np.arange(keep.size), own[keep]))]
    # a passing cell left out was beyond its recording's quota: kept cells pass exactly
    # when they were accepted
    return VerifiedCells(
        conductances=all_g[keep].reshape(b, n, -1),
        targets=all_t[keep].reshape(b, n, 2),
        scores=all_scores.take(keep).reshape(b, n),
        simulated=all_scores,
        n_simulated=n_sim,
        n_rounds=rounds,
        stopped=stopped,
        wall_time_s=time.perf_counter() - t0,
    )


def _score_under_noise(model, g, recordings, owner, crit, draws, next_id, deadline,
                       simulate_kwargs):  # fmt: skip
    """Scores of cells ``g`` simulated under ``draws`` noise realisations (one without
    noise): each cell's scores are those of its worst draw (largest ``mismatch``), so it
    passes exactly when it passes under every draw. Returns ``(scores, next_id)``, the
    noise stream ids ``next_id, next_id + 1, ...`` used up."""
    k = len(g)
    kwargs = dict(simulate_kwargs)
    if kwargs.get("noise") is not None:
        kwargs.setdefault("cell_ids", next_id + np.arange(draws * k))
        next_id += draws * k
    _, scores = simulate_and_score(model, np.tile(g, (draws, 1)), recordings,
                                   np.tile(owner, draws), crit, deadline=deadline,
                                   **kwargs)  # fmt: skip
    if draws == 1:
        return scores, next_id
    mismatch = scores.mismatch.reshape(draws, k)
    worst = np.argmax(np.where(np.isnan(mismatch), np.inf, mismatch), axis=0)
    return scores.take(worst * k + np.arange(k)), next_id


def _compensate(posterior, dics, owner, context, parents):
    """Cells for targets ``dics`` of recordings ``owner``: ``(g (K, n_cond), used (K, 2))``.

    Rows with ``parents`` (finite conductances) are those conductances compensated to
    their target (:func:`~sbidic.population.modulate`, the posterior's compensation
    settings); the other rows, and parents the compensation cannot move to their
    target with non-negative conductances (with ``spread="ranges"``, inside the model's
    ranges), are fresh cells of the posterior's sampler.
    """
    from sbidic.population import modulate
    from sbidic.population.sampler import outside_ranges

    if parents is None or not np.isfinite(parents).all(-1).any():
        return posterior.compensate(dics, owner, context)[:2]
    g = np.full((len(dics), posterior.model.n_conductances), np.nan)
    used = np.array(dics, dtype=float, copy=True)
    fresh = np.ones(len(dics), dtype=bool)
    rows = np.flatnonzero(np.isfinite(parents).all(-1))
    if rows.size:
        kw = {k: v for k, v in posterior.population_kwargs.items()
              if k in ("compensated", "tol", "max_solves", "V")}  # fmt: skip
        moved = modulate(posterior.model, parents[rows], dics[rows], **kw)
        ok = moved.valid & (moved.residual <= kw.get("tol", 1e-10))
        if posterior.population_kwargs.get("spread") == "ranges":  # stay in the ranges
            ok &= ~outside_ranges(posterior.model, moved.conductances)
        g[rows[ok]] = moved.conductances[ok]
        fresh[rows[ok]] = False
    if fresh.any():
        g[fresh], used[fresh], _, _ = posterior.compensate(dics[fresh], owner[fresh], context)
    return g, used


def _from_proposal(proposal, owner: np.ndarray, n_cond: int | None, rng
                   ) -> np.ndarray | None:  # fmt: skip
    """Parents ``(K, n_cond)`` for cells of recordings ``owner``: a random share
    :data:`PROPOSAL_SHARE` drawn by ``proposal``, NaN rows for the others (None without
    a proposal)."""
    if proposal is None:
        return None
    parents = np.full((owner.size, n_cond), np.nan)
    take = rng.random(owner.size) < PROPOSAL_SHARE
    if take.any():
        parents[take] = proposal(owner[take])
    return parents


def npe_proposal(npe, recordings, rng: np.random.Generator):
    """``proposal(owner) -> g``: one conductance set (mS/cm^2) per entry of ``owner``,
    drawn from ``npe``'s posterior (:class:`~sbidic.inference.npe.NPEPosterior`) given
    recording ``owner`` of ``recordings`` (inside its prior box where the posterior
    has mass there, :meth:`~sbidic.inference.npe.NPEPosterior.sample_in_prior`); torch's
    global generator is left as it was (the draws are seeded from ``rng``)."""

    def proposal(owner: np.ndarray) -> np.ndarray:
        owner = np.asarray(owner, dtype=np.int64)
        m = int(np.bincount(owner).max())
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(int(rng.integers(2**62)))
            draws = npe.sample_in_prior(m, recordings)[0].double().numpy()  # (m, B, n_cond)
        return draws[rank_within_groups(owner), owner]

    return proposal


def _elite(owners, accepted, mismatch, b):
    """Per recording, its accepted cells topped up with its closest matches (finite
    ``mismatch``, smallest first) to at least :data:`MIN_ELITE`: a mask over the pool."""
    key = np.where(accepted, -1.0, np.where(np.isfinite(mismatch), mismatch, np.inf))
    order = np.lexsort((key, owners))
    rank = rank_within_groups(owners[order])
    n_acc = np.bincount(owners[accepted], minlength=b)
    keep = (rank < np.maximum(n_acc, MIN_ELITE)[owners[order]]) & np.isfinite(key[order])
    mask = np.zeros(owners.size, dtype=bool)
    mask[order[keep]] = True
    return mask


def _survey_seeds(posterior, survey, recordings, crit, n_g: int) -> dict[str, np.ndarray]:
    """The :data:`MIN_ELITE` survey cells closest to each recording that have its class:
    conductances ``g``, DIC targets ``t`` (their own DICs), ``owner`` and ``mismatch``
    (all empty without a survey)."""
    from sbidic.dics import dynamic_input_conductances

    if survey is None:
        return {"g": np.empty((0, n_g)), "t": np.empty((0, 2)),
                "owner": np.empty(0, dtype=np.int64), "mismatch": np.empty(0)}  # fmt: skip
    index, mismatch = survey.closest(crit.summarize(recordings), crit, k=MIN_ELITE)
    owner = np.repeat(np.arange(len(index)), index.shape[1])
    keep = np.isfinite(mismatch.ravel())
    g = survey.conductances[index.ravel()[keep]].astype(float)
    V = posterior.population_kwargs.get("V")
    t = dynamic_input_conductances(posterior.model, g, V=V)[:, 1:]
    return {"g": g, "t": t, "owner": owner[keep], "mismatch": mismatch.ravel()[keep]}


def _propose(posterior, context, pool_g, targets, accepted, owners, mismatch, need, n_sim,
             n_pass, active, max_cells, rounds_left, posterior_sd, rng, rank=None,
             n_survey=0):  # fmt: skip
    """Proposals for the next round: ``(dics (K, 2), owner (K,), parents (K, n_cond))``,
    ``parents`` NaN for fresh posterior proposals (see the module docstring). The last
    ``n_survey`` pool entries are survey cells: proposals around them take small steps
    (:data:`SURVEY_LOG_SD`) towards their own DICs."""
    b = len(need)
    rate = np.maximum(n_pass / np.maximum(n_sim, 1), 0.1)
    size = np.where(active, np.ceil(need / rate * 1.2).astype(np.int64), 0)
    # a search needs rounds: at most a third of what is left of the budget per round,
    # and all of it spread over the last rounds
    left = max_cells - n_sim
    share = max(1, min(_ROUNDS_LEFT, rounds_left))
    size = np.minimum(size, np.maximum(need, -(-left // share)))
    size = np.minimum(np.maximum(size, need), left) * active
    owner = np.repeat(np.arange(b), size)
    m = 1 if rank is None else _RANKED_OF
    with torch.no_grad():
        draws = posterior.estimator.sample_context(  # (m, K, 2)
            m, context[owner], generator=getattr(posterior, "generator", None)).numpy()
    if m > 1:
        score = rank(draws.reshape(-1, 2), np.tile(owner, m)).reshape(m, -1)
        best = np.argmax(np.where(np.isfinite(score), score, -np.inf), axis=0)
        dics = draws[best, np.arange(owner.size)]
    else:
        dics = draws[0]
    parents = np.full((owner.size, pool_g.shape[1]), np.nan)
    elite = np.flatnonzero(_elite(owners, accepted, mismatch, b))
    if elite.size:
        # by recording, the cells that match first (accepted, or survey cells within
        # tolerance): once a recording has any, its kernel proposals start from them
        good = accepted[elite] | (mismatch[elite] <= 1.0)
        order = np.lexsort((~good, owners[elite]))
        elite, good = elite[order], good[order]
        el_o = owners[elite]
        n_el = np.bincount(el_o, minlength=b)
        n_good = np.bincount(el_o, weights=good, minlength=b).astype(np.int64)
        n_pick = np.where(n_good > 0, n_good, n_el)
        start = np.searchsorted(el_o, np.arange(b))
        log_g = np.log(np.maximum(pool_g[elite], 1e-12))
        t_sd, g_sd = _group_sd(targets[elite], el_o, b), _group_sd(log_g, el_o, b)
        # each elite cell's own step: half the spread of its nearest elite neighbours
        # (local, so that clusters around different survey cells each keep their scale),
        # the spread of all its recording's elite cells where it has no neighbour
        local = _local_sd(log_g, el_o)
        log_sd = np.clip(0.5 * np.where(np.isnan(local), g_sd[el_o], local), *KERNEL_LOG_SD)
        local = _local_sd(targets[elite], el_o)  # likewise the DIC targets' kernel
        width = np.maximum(0.5 * np.where(np.isnan(local), t_sd[el_o], local),
                           0.1 * posterior_sd[el_o])  # fmt: skip
        at = np.empty(len(pool_g), dtype=np.int64)
        at[elite] = np.arange(elite.size)  # row of each elite cell in log_sd
        kernel = (rng.random(owner.size) < _KERNEL_SHARE) & (n_el[owner] > 0)
        o = owner[kernel]
        pick = elite[start[o] + np.floor(rng.random(o.size) * n_pick[o]).astype(np.int64)]
        surveyed = (pick >= len(pool_g) - n_survey)[:, None]
        t_width = np.where(surveyed, 0.1 * posterior_sd[o], width[at[pick]])
        dics[kernel] = targets[pick] + t_width * rng.standard_normal((o.size, 2))
        g_width = np.where(surveyed, SURVEY_LOG_SD, log_sd[at[pick]])
        g_width[:, -1] = 0.0  # the leak stays: it sets the DIC unit
        step = g_width * rng.standard_normal((o.size, pool_g.shape[1]))
        parents[kernel] = pool_g[pick] * np.exp(step)
    return dics, owner, parents


def _local_sd(x: np.ndarray, group: np.ndarray, k: int = 4) -> np.ndarray:
    """Root-mean-square difference of each column of ``x (K, d)`` between each row and
    its ``k`` nearest other rows of the same group (NaN where the group has no other)."""
    from scipy.spatial import cKDTree

    if len(x) < 2:
        return np.full(x.shape, np.nan)
    apart = 10.0 * (np.ptp(x) + 1.0)  # a group's rows are nearer each other than others
    _, near = cKDTree(np.column_stack([x, group * apart])).query(
        np.column_stack([x, group * apart]), k=min(k + 1, len(x)))  # fmt: skip
    near = near[:, 1:]
    same = (group[near] == group[:, None])[..., None]
    count = same.sum(1)
    sq = (((x[near] - x[:, None]) ** 2) * same).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.sqrt(sq / count), np.nan)


def _group_sd(x: np.ndarray, group: np.ndarray, b: int) -> np.ndarray:
    """Standard deviation of each column of ``x (K, d)`` within each of ``b`` groups."""
    n = np.maximum(np.bincount(group, minlength=b), 1)[:, None]
    mean = np.stack([np.bincount(group, c, minlength=b) for c in x.T], axis=1) / n
    var = np.stack([np.bincount(group, c, minlength=b) for c in ((x - mean[group]) ** 2).T],
                   axis=1) / n  # fmt: skip
    return np.sqrt(var)
