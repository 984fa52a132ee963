"""Cells of a model's survey, kept to start ``--verify``'s search where the model fires
a pattern.

A DIC dataset samples the conductances the DICs leave free around a seed population,
so it can miss patterns the model fires elsewhere in its conductance space (the slow,
many-spike bursts of ``stg-liu``: none in its DIC dataset, a few per thousand of its
Monte Carlo cells). :class:`SurveyCells` keeps cells of a Monte Carlo survey
(``sbidic survey``, :func:`sbidic.datasets.survey.survey_cells`) with the features
they fire, at most ``per_bin`` per :class:`~sbidic.fidelity.firing_space.FiringSpace`
bin so that rare patterns keep all theirs.
:func:`~sbidic.inference.verify.verify_populations` adds, per recording, the survey
cells closest to it to the elite cells its search proposes around after the first
round: every proposal is still compensated to a DIC target.

References
----------
A. A. Prinz, C. P. Billimoria, E. Marder (2003). Alternative to hand-tuning
conductance-based models: construction and analysis of databases of model neurons.
J. Neurophysiol. 90(6), 3998-4015. https://doi.org/10.1152/jn.00641.2003
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from sbidic.fidelity.firing_space import PERIOD_EDGES_MS, RATE_EDGES_HZ, SPB_EDGES, _bin
from sbidic.fidelity.scores import FidelityCriteria, compare

__all__ = ["SURVEY_CELLS_FILE", "SurveyCells"]

#: File name of the survey cells beside an estimator's weights.
SURVEY_CELLS_FILE = "survey_cells.safetensors"
_FEATURES = ("rate", "spb", "period")


@dataclass(frozen=True, eq=False)
class SurveyCells:
    """Conductances of simulated cells and how they fire.

    Attributes
    ----------
    model : str
    conductances : ndarray, shape (S, n_conductances)
        Maximal conductances (mS/cm^2).
    label : ndarray of int8, shape (S,)
        0 silent, 1 spiking, 2 bursting.
    rate, spb, period : ndarray of float32, shape (S,)
        ``mean(1000 / ISI)`` (Hz, the published tonic frequency), mean spikes per
        burst, mean burst period (ms); NaN where they do not apply.

    Examples
    --------
    Two cells: a 10 Hz spiker and a 600 ms burster of 7 spikes; the burster is the
    closest cell to a 609 ms x 7.5 recording, the spiker to nothing bursting.

    >>> nan = np.nan
    >>> cells = SurveyCells("toy", np.array([[1.0, 2.0], [3.0, 4.0]]),
    ...                     label=np.array([1, 2], dtype=np.int8),
    ...                     rate=np.array([10.0, 9.0]), spb=np.array([nan, 7.0]),
    ...                     period=np.array([nan, 600.0]))
    >>> rec = {"label": np.array([2]), "rate": np.array([12.4]), "spb": np.array([7.5]),
    ...        "period": np.array([609.0]), "n_spikes": np.array([742])}
    >>> index, mismatch = cells.closest(rec, k=2)
    >>> index.tolist(), mismatch.round(2).tolist()
    ([[1, 0]], [[1.0, inf]])
    """

    model: str
    conductances: np.ndarray
    label: np.ndarray
    rate: np.ndarray
    spb: np.ndarray
    period: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    @classmethod
    def from_features(
        cls,
        model: str,
        conductances: np.ndarray,
        cells: dict[str, np.ndarray],
        per_bin: int | None = 200,
        seed: int = 0,
    ) -> SurveyCells:
        """The firing cells among ``conductances`` with their features ``cells`` (as
        :func:`~sbidic.fidelity.scores.summarize` returns them), at most ``per_bin`` of
        each firing-space bin (a random choice; None: all) and of the firing cells
        outside every bin."""
        label = np.asarray(cells["label"])
        key = np.full(label.size, -1, dtype=np.int64)  # bin of each firing cell
        tonic = (label == 1) & (_bin(cells["rate"], RATE_EDGES_HZ) >= 0)
        key[tonic] = _bin(cells["rate"], RATE_EDGES_HZ)[tonic]
        p, s = _bin(cells["period"], PERIOD_EDGES_MS), _bin(cells["spb"], SPB_EDGES)
        burst = (label == 2) & (p >= 0) & (s >= 0)
        key[burst] = 100 + p[burst] * (len(SPB_EDGES) - 1) + s[burst]
        key[(label > 0) & (key < 0)] = 1000  # firing outside every bin
        order = np.random.default_rng(seed).permutation(label.size)
        order = order[np.argsort(key[order], kind="stable")]
        order = order[key[order] >= 0]
        if per_bin is not None:
            _, start = np.unique(key[order], return_index=True)
            rank = np.arange(order.size) - np.repeat(start, np.diff(np.append(start, order.size)))
            order = np.sort(order[rank < per_bin])
        g = np.asarray(conductances, dtype=np.float32)[order]
        feats = {n: np.asarray(cells[n], dtype=np.float32)[order] for n in _FEATURES}
        return cls(str(model), g, label[order].astype(np.int8), **feats)

    def closest(
        self, recording: dict[str, np.ndarray], criteria: FidelityCriteria | None = None,
        k: int = 10,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The ``k`` cells of smallest ``mismatch`` to each recording.

        Parameters
        ----------
        recording : dict of ndarray, each of shape (B,)
            :func:`~sbidic.fidelity.scores.summarize` of the recordings.
        criteria : FidelityCriteria, optional
        k : int

        Returns
        -------
        index : ndarray of int, shape (B, k)
        mismatch : ndarray of float, shape (B, k)
            ``inf`` where the cell does not even have the recording's class.
        """
        crit = FidelityCriteria() if criteria is None else criteria
        cell = {"label": self.label[None]}
        cell.update({n: getattr(self, n)[None].astype(float) for n in _FEATURES})
        rec = {name: np.asarray(v)[:, None] for name, v in recording.items()}
        mismatch = compare(rec, cell, crit, details=False)["mismatch"]  # (B, S)
        k = min(k, len(self))
        index = np.argsort(mismatch, axis=1, kind="stable")[:, :k]
        return index, np.take_along_axis(mismatch, index, axis=1)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write a safetensors file (no pickle), all or nothing."""
        from sbidic.files import save_model_arrays

        tensors = {"conductances": self.conductances.astype(np.float32), "label": self.label}
        tensors.update({n: getattr(self, n).astype(np.float32) for n in _FEATURES})
        save_model_arrays(path, self.model, tensors)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SurveyCells:
        """Read a file written by :meth:`save`."""
        from sbidic.files import load_model_arrays

        model, arrays = load_model_arrays(path)
        return cls(model=model, **arrays)
