"""The documentation's generated pages follow the code (docs/_ext/sbidic_docs.py)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

import sbidic
from sbidic.cli import build_parser

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import sbidic_docs  # noqa: E402


@pytest.mark.parametrize("name", sbidic.available_models())
def test_model_tables_come_from_the_model_class(name):
    model = sbidic.get_model(name)
    text = sbidic_docs.model_markdown(name)
    assert f"{model.V_th:g} mV" in text
    for c in model.conductances:
        lo, hi = model.monte_carlo_ranges[c]
        assert f"| `g_{c}` |" in text and f"[{lo:g}, {hi:g}]" in text
    for key, value in model.constants.items():
        assert f"| `{key}` | {value:g} |" in text
    assert model.equations.strip().splitlines()[0] in text


def test_api_page_lists_every_public_name():
    text = sbidic_docs.api_markdown()
    for module in sbidic_docs.API_MODULES:
        assert f"automodule:: {module}\n" in text
        for name in importlib.import_module(module).__all__:
            documented = f"   {name}\n" in text or f"`~sbidic.{name}`" in text
            assert documented, f"{module}.{name} missing from the API page"
    for name in sbidic.__all__:
        assert f"   {name}\n" in text


def test_every_shipped_estimator_card_renders():
    cards = sorted((ROOT / "sbidic" / "weights").glob("**/model_card.json"))
    assert cards
    for path in cards:
        card = json.loads(path.read_text())
        text = sbidic_docs.estimator_card_markdown(card)
        assert card["test_metrics"]["command"] in text
        assert f"{card['n_parameters']:,}" in text


def test_cli_reference_parser_has_every_command():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"infer", "population", "simulate", "dataset", "train", "atlas"} <= set(commands)
