"""Shared fixtures: reference numbers of the published implementation."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"


def load_reference(model: str) -> dict:
    with open(DATA / f"reference_{model}.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def ref_stg() -> dict:
    return load_reference("stg")


@pytest.fixture(scope="session")
def ref_da() -> dict:
    return load_reference("da")


@pytest.fixture(params=["stg", "da"], scope="session")
def ref(request) -> tuple[str, dict]:
    """(model name, reference JSON) for each model."""
    return request.param, load_reference(request.param)


def nan_array(values) -> np.ndarray:
    """JSON list with ``null`` for NaN as a float array."""
    return np.array([[np.nan if x is None else x for x in row] for row in values], dtype=float)


@pytest.fixture
def abf_writer():
    """pyabf's ABF1 writer (``.abf`` test files). Importing pyabf sets numpy's global
    print options (threshold=5), which would break later doctests: they are restored."""
    options = np.get_printoptions()
    try:
        yield pytest.importorskip("pyabf.abfWriter", reason="the .abf tests write with pyabf")
    finally:
        np.set_printoptions(**options)
