"""Which shipped model can fire a recording's pattern.

Each shipped estimator carries a firing atlas: the labels and features of the cells of
its training targets, i.e. what the DIC pipeline of that model produces. Counted in
the bins of :class:`~sbidic.fidelity.firing_space.FiringSpace` (tonic rate; burst
period x spikes per burst), the atlas says whether a recorded pattern lies in the
model's reach. :func:`models_covering` names the shipped models that reach each
recording (``sbidic infer`` adds ``try --model NAME`` to the report when the chosen
model does not), and :func:`choose_model` picks the model that reaches the most
recordings (``sbidic infer --model auto``).

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

from functools import cache

import numpy as np

from sbidic.fidelity.firing_space import FiringSpace
from sbidic.fidelity.scores import FidelityCriteria
from sbidic.spikes import SpikeTrains

__all__ = ["MIN_ATLAS_CELLS", "choose_model", "models_covering", "shipped_firing_spaces"]

#: Atlas cells a pattern's bin must hold for a model to count as reaching it.
MIN_ATLAS_CELLS = 5


@cache
def _firing_space(name: str) -> FiringSpace | None:
    from sbidic.inference.pretrained import _weights_root, load_atlas

    atlas = load_atlas(_weights_root() / name)
    return None if atlas is None else FiringSpace.from_atlas(atlas)


def shipped_firing_spaces(cell_type: str | None = None) -> dict[str, FiringSpace]:
    """Firing spaces of the shipped estimators' atlases, by model name.

    Parameters
    ----------
    cell_type : str, optional
        Keep only models of this cell type (``ModelSpec.cell_type``, e.g.
        ``"stomatogastric"``).

    Examples
    --------
    >>> "stg" in shipped_firing_spaces("stomatogastric")
    True
    >>> "da" in shipped_firing_spaces("stomatogastric")
    False
    """
    from sbidic.inference.pretrained import available_pretrained
    from sbidic.models import available_models, get_model

    out = {}
    for name in available_pretrained():
        if name not in available_models():
            continue
        if cell_type is not None and getattr(get_model(name), "cell_type", "") != cell_type:
            continue
        space = _firing_space(name)
        if space is not None:
            out[name] = space
    return out


def models_covering(
    recordings: SpikeTrains, spaces: dict[str, FiringSpace] | None = None,
    min_cells: int = MIN_ATLAS_CELLS,
) -> np.ndarray:  # fmt: skip
    """Which models reach each recording's pattern.

    Parameters
    ----------
    recordings : SpikeTrains
    spaces : dict, optional
        Firing spaces by model name (default: :func:`shipped_firing_spaces`).
    min_cells : int
        Cells the pattern's bin must hold.

    Returns
    -------
    ndarray of bool, shape (n_recordings, n_models)
        Columns in the order of ``spaces``.

    Examples
    --------
    A fast burster (4 spikes every 150 ms) is within the published STG model's reach,
    a PD-like one (7 spikes every 600 ms) is not:

    >>> def bursts(n, period):
    ...     return np.concatenate([t0 + np.arange(n) * 10.0 for t0 in np.arange(0, 9000, period)])
    >>> trains = SpikeTrains.from_list([bursts(4, 150.0), bursts(7, 600.0)])
    >>> stg = {"stg": shipped_firing_spaces()["stg"]}
    >>> models_covering(trains, stg)[:, 0].tolist()
    [True, False]
    """
    spaces = shipped_firing_spaces() if spaces is None else spaces
    feats = FidelityCriteria().summarize(recordings)
    columns = [space.covers(feats, min_cells) for space in spaces.values()]
    return np.stack(columns, axis=1) if columns else np.zeros((recordings.n_trains, 0), bool)


def choose_model(recordings: SpikeTrains, cell_type: str | None = None) -> tuple[str, str]:
    """The shipped model whose atlas reaches the most recordings.

    Ties go to the model listed first (alphabetical order of the shipped names).

    Returns
    -------
    name : str
        The chosen model.
    reason : str
        One line for the report, e.g. ``"model auto: stg-liu (reaches 2 of 3
        recordings; stg 0)"``.

    Raises
    ------
    ValueError
        No shipped model (of ``cell_type``) has a firing atlas.
    """
    spaces = shipped_firing_spaces(cell_type)
    if not spaces:
        kind = "" if cell_type is None else f" of cell type {cell_type!r}"
        raise ValueError(f"--model auto: no shipped model{kind} has a firing atlas")
    active = recordings[np.flatnonzero(recordings.n_spikes >= 3)]
    reach = models_covering(active, spaces).sum(axis=0)
    names = list(spaces)
    best = int(np.argmax(reach))
    others = ", ".join(f"{m} {int(r)}" for m, r in zip(names, reach, strict=True)
                       if m != names[best])  # fmt: skip
    reason = (f"model auto: {names[best]} (its atlas reaches {int(reach[best])} of "
              f"{active.n_trains} non-silent recordings; "
              f"{others or 'no other model'})")  # fmt: skip
    return names[best], reason
