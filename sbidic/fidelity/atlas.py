"""How cells compensated to a DIC target fire: an atlas of simulated cells.

DICs at threshold do not pin the firing pattern: cells compensated to the same
``(g_s, g_u)`` differ in rate, spikes per burst and burst period. A
:class:`FiringAtlas` stores, for every target of a DIC dataset (``sbidic dataset``),
the labels and features of its simulated cells. For a recording and a candidate target
``d`` it estimates ``p(d)``, the probability that a cell compensated to ``d``
reproduces the recording (:func:`~sbidic.fidelity.scores.compare`): the share of
passing cells among the ``k`` nearest dataset targets (in box-scaled
``(g_s, g_u)``).

``sbidic.infer(dics="calibrated")`` draws the cells' targets from the posterior
reweighted by ``p``, i.e. the posterior of the DICs *given that the cell reproduces
the recording*, estimated without simulating anything at inference time.

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from sbidic._groups import rank_within_groups
from sbidic.fidelity.scores import FidelityCriteria, compare
from sbidic.spikes import SpikeTrains

__all__ = ["ATLAS_SUFFIXES", "FiringAtlas", "firing_atlas"]

_FEATURES = ("rate", "spb", "period")
#: Extension of atlas files.
ATLAS_SUFFIXES = (".safetensors",)


@dataclass(frozen=True, eq=False)
class FiringAtlas:
    """Labels and features of the simulated cells of many DIC targets.

    Attributes
    ----------
    model : str
    targets : ndarray, shape (T, 2)
        ``(g_s, g_u)`` of each target.
    label : ndarray of int8, shape (T, C)
        Label code of each cell (0 silent, 1 spiking, 2 bursting; -1: no cell).
    rate, spb, period : ndarray of float32, shape (T, C)
        ``mean(1000 / ISI)`` (Hz, the published tonic frequency), mean spikes per
        burst, mean burst period (ms); NaN where they do not apply.

    Examples
    --------
    A two-target atlas (two spiking cells near 10 Hz, two bursting cells) and a
    10 Hz recording: candidates near the first target match it, those near the
    second do not.

    >>> from sbidic.fidelity.scores import summarize
    >>> from sbidic.spikes import SpikeTrains, spike_features
    >>> nan = np.nan
    >>> atlas = FiringAtlas("stg", np.array([[-4.0, 5.0], [6.0, 10.0]]),
    ...                     label=np.array([[1, 1], [2, 2]], dtype=np.int8),
    ...                     rate=np.array([[10.0, 10.2], [nan, nan]], dtype=np.float32),
    ...                     spb=np.array([[nan, nan], [3.0, 3.0]], dtype=np.float32),
    ...                     period=np.array([[nan, nan], [300.0, 300.0]], dtype=np.float32))
    >>> recording = summarize(spike_features(
    ...     SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0)]), fill_value=np.nan))
    >>> atlas.match_probability([[-4.5, 5.5], [6.0, 9.0]], recording, owner=[0, 0], k=1)
    array([1., 0.])
    """

    model: str
    targets: np.ndarray
    label: np.ndarray
    rate: np.ndarray
    spb: np.ndarray
    period: np.ndarray

    def __post_init__(self) -> None:
        from scipy.spatial import cKDTree

        lo, hi = self.targets.min(0), self.targets.max(0)
        scale = np.where(hi > lo, hi - lo, 1.0)
        object.__setattr__(self, "_scale", scale)
        object.__setattr__(self, "_tree", cKDTree(self.targets / scale))

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def match_probability(
        self,
        dics: np.ndarray,
        recording: dict[str, np.ndarray],
        criteria: FidelityCriteria | None = None,
        *,
        owner: np.ndarray | None = None,
        k: int = 4,
    ) -> np.ndarray:
        """Share of atlas cells near each target that pass ``criteria`` against its
        recording (see :meth:`match_shares`)."""
        crit = FidelityCriteria() if criteria is None else criteria
        shares = self.match_shares(dics, recording, crit, owner=owner, k=k)
        return shares["feature_match" if crit.criterion == "features" else "class_match"]

    def match_shares(
        self,
        dics: np.ndarray,
        recording: dict[str, np.ndarray],
        criteria: FidelityCriteria | None = None,
        *,
        owner: np.ndarray | None = None,
        k: int = 4,
        block: int = 2**12,
        candidates: int = 2**14,
    ) -> dict[str, np.ndarray]:
        """Shares of atlas cells near each target with the class, and the features, of
        its recording.

        Parameters
        ----------
        dics : ndarray, shape (K, 2)
            Candidate targets ``(g_s, g_u)``.
        recording : dict of ndarray, each of shape (R,)
            :func:`~sbidic.fidelity.scores.summarize` of the recordings.
        criteria : FidelityCriteria, optional
        owner : ndarray of int, shape (K,), optional
            Recording of each candidate (default: candidate ``i`` has recording ``i``,
            ``R = K``). Candidates of one recording share the comparisons of their
            common neighbours, so many candidates per recording cost little more than
            one.
        k : int, default 4
            Nearest dataset targets pooled per candidate.
        block : int
            (recording, target) pairs compared at once (memory: each pair compares the
            target's cells, about 20 arrays of ``block`` x cells floats live at once).
        candidates : int
            Candidates handled at once, whole recordings together (memory: the
            neighbour lists of a batch of many draws per recording would otherwise all
            be held at once, and their size depends on how spread the draws are).

        Returns
        -------
        dict with ``class_match`` and ``feature_match``, ndarrays of shape (K,)
            In [0, 1]; NaN where the neighbours hold no cell.
        """
        crit = FidelityCriteria() if criteria is None else criteria
        dics = np.asarray(dics, dtype=float).reshape(-1, 2)
        owner = np.arange(len(dics)) if owner is None else np.asarray(owner, dtype=np.int64)
        if owner.shape != (len(dics),):
            raise ValueError(f"owner must have one entry per candidate ({len(dics)}), "
                             f"got shape {owner.shape}")  # fmt: skip
        if len(dics) > candidates:  # by recording, so each pair is still compared once
            order = np.argsort(owner, kind="stable")
            edges = np.searchsorted(owner[order], owner[order][::candidates][1:])
            parts = [self.match_shares(dics[i], recording, crit, owner=owner[i], k=k,
                                       block=block, candidates=len(i))
                     for i in np.split(order, np.unique(edges)) if len(i)]  # fmt: skip
            out = {}
            for key in ("class_match", "feature_match"):
                out[key] = np.empty(len(dics))
                out[key][order] = np.concatenate([p[key] for p in parts])
            return out
        _, near = self._tree.query(dics / self._scale, k=k)
        pair = owner[:, None] * self.n_targets + near.reshape(len(dics), -1)
        uniq, inverse = np.unique(pair, return_inverse=True)
        counts = np.empty((3, len(uniq)))  # class matches, feature matches, cells
        for s in range(0, len(uniq), block):
            rows, t = np.divmod(uniq[s : s + block], self.n_targets)
            cell = {"label": self.label[t]}
            cell.update({name: getattr(self, name)[t].astype(float) for name in _FEATURES})
            rec = {name: np.asarray(v)[rows, None] for name, v in recording.items()}
            result = compare(rec, cell, crit, details=False)
            valid = cell["label"] >= 0
            counts[0, s : s + block] = (result["class_match"] & valid).sum(1)
            counts[1, s : s + block] = (result["feature_match"] & valid).sum(1)
            counts[2, s : s + block] = valid.sum(1)
        inverse = inverse.reshape(pair.shape)
        pooled = [c[inverse].sum(-1) for c in counts]  # three (K,) sums over neighbours
        with np.errstate(invalid="ignore"):
            return {"class_match": pooled[0] / pooled[2], "feature_match": pooled[1] / pooled[2]}

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write a safetensors file (no pickle), all or nothing."""
        from sbidic.files import save_model_arrays

        tensors = {"targets": self.targets.astype(np.float32), "label": self.label}
        tensors.update({n: getattr(self, n).astype(np.float32) for n in _FEATURES})
        save_model_arrays(path, self.model, tensors)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FiringAtlas:
        """Read a file written by :meth:`save`."""
        from sbidic.files import load_model_arrays

        model, arrays = load_model_arrays(path)
        return cls(model=model, **arrays)


def firing_atlas(
    model: str,
    trains: SpikeTrains,
    target: np.ndarray,
    target_index: np.ndarray,
    reachable: np.ndarray | None = None,
    criteria: FidelityCriteria | None = None,
) -> FiringAtlas:
    """A :class:`FiringAtlas` of simulated cells, grouped by their DIC target.

    :func:`sbidic.datasets.build_firing_atlas` reads these from a DIC dataset.

    Parameters
    ----------
    model : str
        Name of the model the cells belong to.
    trains : SpikeTrains
        The simulated spike trains, one per cell.
    target : ndarray, shape (n_cells, 2)
        The ``(g_s, g_u)`` target each cell was compensated to.
    target_index : ndarray of int, shape (n_cells,)
        The index of each cell's target (cells of one target share it).
    reachable : ndarray of bool, shape (n_cells,), optional
        False for cells whose target could not be reached (left out); default all.
    criteria : FidelityCriteria, optional
        Its ``cv_threshold`` and ``min_spikes`` label the cells.

    Returns
    -------
    FiringAtlas
        One row per target with at least one reachable cell, in ``target_index`` order.

    Examples
    --------
    >>> from sbidic.spikes import SpikeTrains
    >>> trains = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0), []])
    >>> atlas = firing_atlas("stg", trains, np.array([[-4.0, 5.0]] * 2), np.array([0, 0]))
    >>> atlas.n_targets, atlas.label.tolist()
    (1, [[1, 0]])
    """
    crit = FidelityCriteria() if criteria is None else criteria
    feats = crit.summarize(trains)
    if reachable is None:
        reachable = np.ones(trains.n_trains, dtype=bool)
    uniq, inverse = np.unique(target_index, return_inverse=True)
    slot = rank_within_groups(inverse)  # position of each cell among its target's
    width = int(slot.max()) + 1
    label = np.full((len(uniq), width), -1, dtype=np.int8)
    label[inverse, slot] = np.where(reachable, feats["label"], -1)
    arrays = {}
    for name in _FEATURES:
        a = np.full((len(uniq), width), np.nan, dtype=np.float32)
        a[inverse, slot] = feats[name]
        arrays[name] = a
    targets = np.zeros((len(uniq), 2))
    targets[inverse] = target
    keep = (label >= 0).any(axis=1)
    return FiringAtlas(
        model=str(model),
        targets=targets[keep],
        label=label[keep],
        **{k: v[keep] for k, v in arrays.items()},
    )
