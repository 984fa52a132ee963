"""Find models: the registry of built-in models, user files and entry points.

``get_model`` accepts a registered name (``"stg"``), ``path/to/model.py:NAME`` (the
file is imported and ``NAME``, a :class:`ConductanceModel` subclass or instance, is
validated on load) or the name of an entry point in the ``sbidic.models`` group. A
model that cannot be used raises :class:`~sbidic.models.validation.ModelError` with
one line naming the file, the line and the problem.

A model file is code: it runs only when the user names it (``--model file.py:NAME``
on the command line, or passed to a function). A model *named inside a data file*
(a population's ``model`` attribute, an estimator's ``config.json``, a dataset's
manifest) is resolved by :func:`model_from_data`, which never imports a file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from importlib.metadata import entry_points
from pathlib import Path

from sbidic.models.base import ConductanceModel
from sbidic.models.validation import ModelError

__all__ = ["ENTRY_POINT_GROUP", "available_models", "get_model", "is_model_file",
           "load_model_file", "model_from_data", "register_model"]  # fmt: skip

#: Entry-point group through which installed packages provide models.
ENTRY_POINT_GROUP = "sbidic.models"
_REGISTRY: dict[str, type[ConductanceModel]] = {}
_FILE_CACHE: dict[tuple, type[ConductanceModel] | ConductanceModel] = {}


def register_model(cls: type[ConductanceModel]) -> type[ConductanceModel]:
    """Make a :class:`ConductanceModel` subclass available by its ``name``.

    Usable as a class decorator for a user's own model.

    Examples
    --------
    >>> import dataclasses
    >>> from sbidic.models import STG
    >>> @register_model
    ... class WarmSTG(STG):
    ...     spec = dataclasses.replace(STG.spec, name="stg_warm", V_th=-50.0)
    >>> get_model("stg_warm").V_th, "stg_warm" in available_models()
    (-50.0, True)
    >>> del _REGISTRY["stg_warm"]  # (only to leave the registry as the other examples expect)
    """
    if not (isinstance(cls, type) and issubclass(cls, ConductanceModel)):
        raise TypeError(f"register_model expects a ConductanceModel subclass, got {cls!r}")
    _REGISTRY[cls.name.lower()] = cls
    return cls


def _entry_points() -> dict:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_models() -> list[str]:
    """Names accepted by :func:`get_model`: registered models and entry points.

    Examples
    --------
    >>> [name for name in available_models() if name in ("da", "stg")]
    ['da', 'stg']
    """
    return sorted(set(_REGISTRY) | set(_entry_points()))


def _as_model(obj, where: str) -> ConductanceModel:
    if isinstance(obj, ConductanceModel):
        return obj
    if isinstance(obj, type) and issubclass(obj, ConductanceModel):
        return obj()
    raise ModelError(f"{where} is a {type(obj).__name__}, not a ConductanceModel")


def load_model_file(path: str | Path, name: str) -> ConductanceModel:
    """Import ``path`` and return its model ``name`` (validated on declaration).

    Raises
    ------
    ModelError
        If the file is missing or fails to import (with the line), or ``name`` is
        not a model in it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    key = (str(path.resolve()), name, path.stat().st_mtime_ns)
    if key not in _FILE_CACHE:
        _FILE_CACHE[key] = _load(path, name)
    cls = _FILE_CACHE[key]
    return cls() if isinstance(cls, type) else cls


def _import_failure(err: BaseException) -> str:
    """Why importing a model file failed, in words (an exit call is not a success)."""
    if isinstance(err, SystemExit):
        return (f"the file exits while it is imported (sys.exit({err.code!r})); a model "
                "file only declares models")  # fmt: skip
    return str(err) if isinstance(err, ModelError) else f"{type(err).__name__}: {err}"


def _load(path: Path, name: str):
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"sbidic_user_model_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # a user's file: report its line in one message
        del sys.modules[module_name]
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if Path(f.filename).resolve() == path.resolve()]  # fmt: skip
        line = f", line {frames[-1].lineno}" if frames else ""
        raise ModelError(f"{path}{line}: {_import_failure(err)}") from None
    if not hasattr(module, name):
        found = [k for k, v in vars(module).items()
                 if isinstance(v, type) and issubclass(v, ConductanceModel)
                 and v.__module__ == module_name]  # fmt: skip
        raise ModelError(f"{path} defines no {name!r}; models in it: {found}")
    obj = getattr(module, name)
    model = _as_model(obj, f"{path}:{name}")
    type(model)._sbidic_origin = f"{path.resolve()}:{name}"  # workers re-load it by path
    return obj if isinstance(obj, type) else model


def get_model(model: str | ConductanceModel) -> ConductanceModel:
    """Return a model instance from its name (case-insensitive), ``file.py:NAME``, an
    entry-point name, a class or an instance (passed through).

    Examples
    --------
    >>> stg = get_model("STG")
    >>> stg.name, stg.V_th, stg.conductances[-1]
    ('stg', -51.0, 'leak')
    >>> get_model(stg) is stg
    True
    """
    if isinstance(model, ConductanceModel):
        return model
    if isinstance(model, type) and issubclass(model, ConductanceModel):
        return model()
    key = str(model).lower()
    if key in _REGISTRY:
        return _REGISTRY[key]()
    path, sep, name = str(model).rpartition(":")
    if sep and path.endswith(".py"):
        return load_model_file(path, name)
    points = _entry_points()
    if key in points:
        try:
            obj = points[key].load()
        except (Exception, SystemExit) as err:  # a third-party package: one clear line
            raise ModelError(f"entry point {key!r} ({points[key].value}) fails to load: "
                             f"{_import_failure(err)}") from None  # fmt: skip
        return _as_model(obj, f"entry point {key!r}")
    raise ValueError(
        f"unknown model {model!r}; available models: {available_models()}, "
        "or give path/to/model.py:NAME"
    )


def is_model_file(model) -> bool:
    """Whether ``model`` is a model file reference ``path/to/model.py:NAME``.

    Examples
    --------
    >>> is_model_file("models/mine.py:Mine"), is_model_file("stg")
    (True, False)
    """
    if not isinstance(model, (str, os.PathLike)):
        return False
    path, sep, _ = os.fspath(model).rpartition(":")
    return bool(sep) and path.lower().endswith(".py")


def _same_model_file(stored: str, given) -> bool:
    """Whether the user's ``given`` model is the model file ``stored`` names."""
    if isinstance(given, ConductanceModel):
        given = type(given)
    if isinstance(given, type):
        given = getattr(given, "_sbidic_origin", None)
    if not is_model_file(given):
        return False
    path_a, _, name_a = stored.rpartition(":")
    path_b, _, name_b = os.fspath(given).rpartition(":")
    if name_a != name_b:
        return False
    a, b = Path(path_a), Path(path_b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.samefile(b)
    except OSError:
        return False


def model_from_data(stored: str, given=None, *, source: str = "the data file"
                    ) -> ConductanceModel:  # fmt: skip
    """The model named inside a data file, found without importing any file.

    A population's ``model`` attribute, an estimator's ``config.json`` or a dataset's
    manifest name their model. Such a name is looked up among the registered models
    and the ``sbidic.models`` entry points only: a model file named there
    (``path/to/model.py:NAME``) is code, and runs only when the user names it too
    (``given``, e.g. from ``--model``).

    Parameters
    ----------
    stored : str
        The model as the data file names it: a model's name or ``path.py:NAME``.
    given : str or ConductanceModel, optional
        The model the user gave (``--model``, or an argument in Python): a registered
        name, ``path.py:NAME``, a class or an instance. When given, it is the model
        returned; a ``stored`` model file must then be the same file and name. When
        ``stored`` is a name, compare it with the returned model's ``name`` where the
        two must agree (the caller's message says what the file holds).
    source : str
        The data file, as named in error messages.

    Returns
    -------
    ConductanceModel

    Raises
    ------
    ValueError
        ``stored`` names a model file that the user did not give, or a model that is
        neither registered nor an entry point.

    Examples
    --------
    >>> model_from_data("stg").name
    'stg'
    >>> model_from_data("evil.py:Model", source="pop.nc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: pop.nc names the model file evil.py:Model; model files are code ...
    """
    stored = str(stored)
    if given is not None:
        if is_model_file(stored) and not _same_model_file(stored, given):
            raise ValueError(
                f"{source} names the model file {stored}, not the given model {given}; "
                "model files are code and run only when you name them: pass "
                f"--model {stored}"
            )
        return get_model(given)
    if is_model_file(stored):
        raise ValueError(
            f"{source} names the model file {stored}; model files are code and run only "
            f"when you name them: pass --model {stored}"
        )
    key = stored.lower()
    if key in _REGISTRY or key in _entry_points():
        return get_model(key)
    raise ValueError(
        f"{source} names an unknown model {stored!r} (available models: "
        f"{available_models()}); for a model of your own pass --model path/to/model.py:NAME"
    )
