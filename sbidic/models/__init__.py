"""Conductance-based models, one file each, behind :class:`ConductanceModel`.

>>> get_model("stg").conductances
('Na', 'Kd', 'CaT', 'CaS', 'KCa', 'A', 'H', 'leak')
"""

from __future__ import annotations

from sbidic.models.base import ConductanceModel
from sbidic.models.da import DA
from sbidic.models.stg import STG

__all__ = ["DA", "STG", "ConductanceModel", "available_models", "get_model", "register_model"]

_REGISTRY: dict[str, type[ConductanceModel]] = {}


def register_model(cls: type[ConductanceModel]) -> type[ConductanceModel]:
    """Make a :class:`ConductanceModel` subclass available by its ``name``.

    Usable as a class decorator for a user's own model.
    """
    if not (isinstance(cls, type) and issubclass(cls, ConductanceModel)):
        raise TypeError(f"register_model expects a ConductanceModel subclass, got {cls!r}")
    _REGISTRY[cls.name.lower()] = cls
    return cls


def available_models() -> list[str]:
    """Names accepted by :func:`get_model`.

    Examples
    --------
    >>> available_models()
    ['da', 'stg']
    """
    return sorted(_REGISTRY)


def get_model(model: str | ConductanceModel) -> ConductanceModel:
    """Return a model instance from its name (case-insensitive) or pass one through.

    Examples
    --------
    >>> get_model("STG")
    STG(name='stg', V_th=-51.0 mV)
    >>> get_model("da").conductance_labels[-1]
    'g_leak'
    """
    if isinstance(model, ConductanceModel):
        return model
    if isinstance(model, type) and issubclass(model, ConductanceModel):
        return model()
    key = str(model).lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {model!r}; available models: {available_models()}")
    return _REGISTRY[key]()


register_model(STG)
register_model(DA)
