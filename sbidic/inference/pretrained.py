"""Estimators shipped with sbidic, trained on sbidic's own simulated datasets.

Each model has one directory ``sbidic/weights/<model>/`` written by
:func:`~sbidic.inference.save_estimator`: ``weights.safetensors`` (no pickle),
``config.json`` and a model card (``model_card.md`` / ``.json``: data, command, seed,
wall time, held-out metrics).

References
----------
J. Brandoit, D. Ernst, G. Drion, A. Fyon (2025). Fast reconstruction of degenerate
populations of conductance-based neuron models from spike times.
arXiv:2509.12783. https://arxiv.org/abs/2509.12783
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sbidic.files import damaged_file_error, read_json
from sbidic.inference.npe import load_npe
from sbidic.inference.posterior import ConductancePosterior
from sbidic.inference.training import load_estimator
from sbidic.models import is_model_file, model_from_data

if TYPE_CHECKING:
    from sbidic.inference.estimator import DICEstimator

#: File name of the firing atlas beside an estimator's weights.
ATLAS_FILE = "firing_atlas.safetensors"

__all__ = [
    "available_pretrained",
    "available_regimes",
    "load_atlas",
    "load_estimator_or_pretrained",
    "load_pretrained",
    "load_survey_cells",
    "model_card",
    "npe_dir",
    "pretrained_dir",
]


def _weights_root() -> Path:
    return Path(str(resources.files("sbidic") / "weights"))


def available_pretrained() -> tuple[str, ...]:
    """Names of the models with shipped weights, e.g. ``("da", "stg", "stg-liu")``.

    Examples
    --------
    >>> available_pretrained()
    ('da', 'stg', 'stg-liu')
    """
    root = _weights_root()
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if (p / "weights.safetensors").is_file()))


def available_regimes(model: str) -> tuple[str, ...]:
    """Recording regimes with a shipped estimator of ``model``: ``"clean"`` (noiseless
    recordings) and e.g. ``"noisy"`` (recordings under band-limited noise current)."""
    root = _weights_root() / str(model).lower()
    if not (root / "weights.safetensors").is_file():
        return ()
    extra = sorted(p.name for p in root.iterdir() if (p / "weights.safetensors").is_file())
    return ("clean", *extra)


def pretrained_dir(model: str, regime: str = "clean") -> Path:
    """Directory of the shipped estimator of ``model`` (``"stg"``, ``"da"``) for
    recordings of ``regime`` (:func:`available_regimes`).

    Raises
    ------
    ValueError
        No weights are shipped for ``model`` or ``regime``.
    """
    name = str(model).lower()
    if name not in available_pretrained():
        raise ValueError(
            f"no pretrained estimator for model {model!r}; shipped: "
            f"{list(available_pretrained())}. Train one with 'sbidic train' and load it "
            "with sbidic.inference.load_estimator(directory)."
        )
    if regime not in available_regimes(name):
        raise ValueError(
            f"no pretrained {name} estimator for {regime!r} recordings; shipped: "
            f"{list(available_regimes(name))}"
        )
    return _weights_root() / name if regime == "clean" else _weights_root() / name / regime


def model_card(model: str, regime: str = "clean") -> dict:
    """The model card (data, command, seed, wall time, held-out metrics) as a dict."""
    return read_json(pretrained_dir(model, regime) / "model_card.json", "model card")


def load_pretrained(
    model: str = "stg",
    *,
    regime: str = "clean",
    rng=None,
    estimator: str = "dic",
    conditioner: str = "embedding",
    **posterior_kwargs,
):
    """The shipped estimator of ``model``, a ready
    :class:`~sbidic.inference.ConductancePosterior` (or, with ``estimator="npe"``, the
    NPE baseline as an :class:`~sbidic.inference.npe.NPEPosterior`).

    Parameters
    ----------
    model : str
        ``"stg"`` or ``"da"`` (see :func:`available_pretrained`).
    estimator : {"dic", "npe"}, default "dic"
        The DIC pipeline, or plain neural posterior estimation over all conductances
        (``docs/npe.md``; its weights live in ``sbidic/weights/<model>/npe/<conditioner>``).
    conditioner : {"embedding", "features"}, default "embedding"
        NPE only: spike-train encoder or summary features.
    regime : str, default "clean"
        ``"clean"``: recordings without noise; ``"noisy"`` (STG): recordings under
        band-limited noise current, as in the paper's noisy-injection experiment (the
        estimator was fine-tuned on ``data/stg_dic_noise5_v1``; verified or scored cells
        are simulated under the same noise). See :func:`available_regimes`.
    rng : int or numpy.random.Generator, optional
        Random source of the cell draws.
    **posterior_kwargs
        Passed to :class:`~sbidic.inference.ConductancePosterior`; ``proposal="npe"``
        is the model's shipped NPE baseline with the features conditioner.

    Returns
    -------
    ConductancePosterior
        ``sample((n,), x=spike_times_ms)`` gives ``n`` conductance sets.

    Examples
    --------
    >>> import numpy as np, torch
    >>> posterior = load_pretrained("stg", rng=0)
    >>> _ = torch.manual_seed(0)
    >>> g = posterior.sample((5,), x=np.arange(0.0, 3000.0, 100.0))  # tonic 10 Hz
    >>> tuple(g.shape), bool((g >= 0).all())
    ((5, 8), True)
    """
    if estimator == "npe":
        if regime != "clean":
            raise ValueError(f"NPE posteriors are for clean recordings only, not {regime!r}")
        if posterior_kwargs:  # spread, proposal...: options of the DIC posterior
            raise ValueError(f"{', '.join(sorted(posterior_kwargs))} apply to the DIC "
                             "posterior, not to estimator='npe'")  # fmt: skip
        return load_npe(npe_dir(model, conditioner))
    if estimator != "dic":
        raise ValueError(f"estimator must be 'dic' or 'npe', got {estimator!r}")
    if isinstance(posterior_kwargs.get("proposal"), str):
        if posterior_kwargs["proposal"] != "npe":
            raise ValueError(f"proposal must be 'npe' or an NPE posterior, got "
                             f"{posterior_kwargs['proposal']!r}")  # fmt: skip
        posterior_kwargs["proposal"] = load_npe(npe_dir(model, "features"))
    return _posterior_from_dir(pretrained_dir(model, regime), rng=rng, **posterior_kwargs)


def npe_dir(model: str, conditioner: str = "embedding") -> Path:
    """Directory of the shipped NPE posterior of ``model`` with ``conditioner``.

    Raises
    ------
    ValueError
        Unknown conditioner, or no NPE weights shipped (the message says how to train
        them).
    """
    from sbidic.inference.npe import CONDITIONERS

    if conditioner not in CONDITIONERS:
        raise ValueError(f"conditioner must be one of {CONDITIONERS}, got {conditioner!r}")
    name = str(model).lower()
    path = _weights_root() / name / "npe" / conditioner
    if not (path / "weights.safetensors").is_file():
        raise ValueError(
            f"no NPE weights shipped for model {model!r} with the {conditioner!r} "
            f"conditioner. Train them on a Monte Carlo dataset: 'sbidic dataset --mode mc "
            f"--model {name} -o data/{name}_mc_v1' then 'sbidic train-npe data/{name}_mc_v1 "
            f"--conditioner {conditioner} -o sbidic/weights/{name}/npe/{conditioner}' (see "
            "docs/npe.md), or load your own "
            "with sbidic.inference.npe.load_npe(directory)"
        )
    return path


def _read_estimator(directory: str | Path) -> DICEstimator:
    """:func:`~sbidic.inference.load_estimator`, with a damaged ``config.json`` or
    ``weights.safetensors`` reported as one :class:`ValueError` naming the file."""
    config = Path(directory) / "config.json"
    if config.is_file():  # truncated: named before it is parsed
        read_json(config, "estimator configuration")
    try:
        return load_estimator(directory)
    except (OSError, ValueError):  # already one line (missing file, model mismatch)
        raise
    except Exception as err:  # noqa: BLE001 -- any damage: one line naming the file
        raise damaged_file_error(err, Path(directory), "estimator") from None


def _posterior_from_dir(directory, model: str | None = None, **kwargs) -> ConductancePosterior:
    """Estimator, firing atlas and training-noise level of a saved estimator directory."""
    estimator = _read_estimator(directory)
    stored = estimator.model_name
    if stored is not None:  # config.json names the model: never import a file it names
        resolved = model_from_data(stored, model, source=f"{Path(directory) / 'config.json'}")
        if model is not None and not is_model_file(stored) and resolved.name != stored:
            raise ValueError(
                f"the estimator in {directory} was trained for model {stored!r}, not "
                f"{resolved.name!r}"
            )
        model = resolved
    kwargs.setdefault("atlas", load_atlas(directory))
    kwargs.setdefault("survey_cells", load_survey_cells(directory))
    card = Path(directory) / "model_card.json"
    if card.is_file():
        spec = read_json(card, "model card").get("data", {}).get("spec", {})
        kwargs.setdefault("noise_sigma", spec.get("noise_sigma"))
    return ConductancePosterior(estimator, model=model, **kwargs)


def _load_beside(directory, name: str, load, what: str):
    """``load(directory / name)``, None when there is no such file; a damaged file is
    one line naming it and ``what`` it is."""
    path = Path(directory) / name
    if not path.is_file():
        return None
    try:
        return load(path)
    except Exception as err:  # noqa: BLE001 -- a damaged file: one line naming it
        raise damaged_file_error(err, path, what) from None


def load_atlas(directory):
    """The :class:`~sbidic.fidelity.FiringAtlas` saved beside an estimator
    (``firing_atlas.safetensors``), or None."""
    from sbidic.fidelity.atlas import FiringAtlas

    return _load_beside(directory, ATLAS_FILE, FiringAtlas.load, "firing atlas")


def load_survey_cells(directory):
    """The :class:`~sbidic.fidelity.SurveyCells` saved beside an estimator
    (``survey_cells.safetensors``), or None."""
    from sbidic.fidelity.survey_cells import SURVEY_CELLS_FILE, SurveyCells

    return _load_beside(directory, SURVEY_CELLS_FILE, SurveyCells.load, "survey cells")


def load_estimator_or_pretrained(
    model: str, estimator_dir=None, regime: str = "clean", kind: str = "dic",
    conditioner: str = "embedding", **kwargs,
):  # fmt: skip
    """The posterior of a saved estimator directory, or the shipped one of ``model``
    (for ``regime`` recordings); ``kind="npe"``: an NPE posterior (``conditioner``).

    Raises
    ------
    ValueError
        The estimator in ``estimator_dir`` was trained for another model.
    """
    if kind not in ("dic", "npe"):
        raise ValueError(f"estimator kind must be 'dic' or 'npe', got {kind!r}")
    if kind == "npe":
        if regime != "clean":
            raise ValueError(f"NPE posteriors are for clean recordings only, not {regime!r}")
        if estimator_dir is None:
            return load_pretrained(model, estimator="npe", conditioner=conditioner)
        return load_npe(estimator_dir, model)
    if estimator_dir is None:
        return load_pretrained(model, regime=regime, **kwargs)
    return _posterior_from_dir(estimator_dir, model, **kwargs)
