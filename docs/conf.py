"""Sphinx configuration of the sbidic documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sbidic  # noqa: E402

project = "sbidic"
author = "sbidic developers"
copyright = "2026, sbidic developers"  # noqa: A001
release = version = sbidic.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "sbidic_docs",
]

# Sources: Markdown pages, MyST notebooks and the tutorials (copied from ../tutorials).
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".py": "myst-nb"}
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
exclude_patterns = [
    "_build",
    "_generated",
    "_ext",
    "conf.py",
    "README.md",
    "jupyter_execute",
    "**.ipynb_checkpoints",
]
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

# Executed content: tutorials and the concept figures run at build time, cached by
# jupyter-cache in _build/.jupyter_cache; a cell error fails the build.
nb_execution_mode = "cache"
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 1800
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove"  # library warnings and progress bars, not tutorial output

# API reference: autosummary pages for every public name (numpy-style docstrings).
autosummary_generate = True
templates_path = ["_templates"]
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = False  # types are prose ("ndarray, shape (n, 8)"), not references

# Broken internal references fail the build; names of other libraries (no inventories
# offline) are not checked.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(numpy|np|xarray|xr|torch|pandas|pd|brian2|sbi|arviz\w*|matplotlib|scipy"
        r"|zuko|dask|distributed|collections|typing|os|pathlib|abc|dataclasses|argparse|nn"
        r"|time)\..*",
    ),
    (r"py:mod", r"(?!sbidic).*"),
    # words of prose types ("ndarray, shape (n_cells, 8)"): lower case or one letter
    (r"py:class", r"(?!sbidic)[a-z_0-9 +\-{}\"'.]+|[A-Z]|\d.*"),
    (
        r"py:.*",
        r"(ndarray|array_like|array-like|Tensor|DataFrame|Dataset|DataTree|Path"
        r"|PathLike|Generator|Figure|NeuralPosterior|Distribution|optional|callable|None"
        r"|sequence|mapping|iterable|str|int|float|bool|dict|list|tuple|object|type|bytes"
        r"|ClassVar|Sequence|Callable|Mapping|Iterable|Iterator|Any|Self|Literal)",
    ),
]

# myst asks every domain for "any" references; sphinx-argparse's cannot answer
suppress_warnings = ["myst.domains"]

html_theme = "pydata_sphinx_theme"
html_title = f"sbidic {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
linkcheck_ignore = [r"https?://.*"]  # offline CI: internal links and anchors only
