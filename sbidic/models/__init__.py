"""Conductance-based models, one file each, behind :class:`ConductanceModel`.

Built-in models are declarations (:class:`ModelSpec` on a :class:`DeclaredModel`,
see :mod:`sbidic.models.declarative`). A user's model is found by name once
registered (:func:`register_model`), by ``path/to/file.py:NAME`` or through the
``sbidic.models`` entry-point group (:func:`get_model`).

>>> get_model("stg").conductances
('Na', 'Kd', 'CaT', 'CaS', 'KCa', 'A', 'H', 'leak')
"""

from __future__ import annotations

from sbidic.models.base import ConductanceModel, SeedPopulation
from sbidic.models.da import DA
from sbidic.models.declarative import (
    Calcium,
    Channel,
    DeclaredModel,
    Gate,
    ModelSpec,
    model_card,
)
from sbidic.models.loading import (
    available_models,
    get_model,
    is_model_file,
    model_from_data,
    register_model,
)
from sbidic.models.stg import STG
from sbidic.models.stg_liu import STGLiu
from sbidic.models.validation import ModelError

__all__ = [
    "DA",
    "STG",
    "STGLiu",
    "Calcium",
    "Channel",
    "ConductanceModel",
    "DeclaredModel",
    "Gate",
    "ModelError",
    "ModelSpec",
    "SeedPopulation",
    "available_models",
    "get_model",
    "is_model_file",
    "model_card",
    "model_from_data",
    "register_model",
]

register_model(STG)
register_model(DA)
register_model(STGLiu)
