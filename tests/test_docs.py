"""The documentation's generated pages follow the code (docs/_ext/sbidic_docs.py)."""

from __future__ import annotations

import importlib
import json
import re
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
        lo, hi = model.conductance_ranges[c]
        assert f"[{lo:g}, {hi:g}]" in text
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


def _shipped_cards(npe: bool) -> dict[str, dict]:
    weights = ROOT / "sbidic" / "weights"
    cards = {
        p.parent.relative_to(weights).as_posix(): json.loads(p.read_text())
        for p in sorted(weights.glob("**/model_card.json"))
    }
    return {k: c for k, c in cards.items() if (c.get("estimator") == "npe") == npe}


def test_every_shipped_estimator_card_renders():
    cards = _shipped_cards(npe=False)
    assert cards
    for card in cards.values():
        text = sbidic_docs.estimator_card_markdown(card)
        assert card["test_metrics"]["command"] in text
        assert f"{card['n_parameters']:,}" in text
        for metrics in (card.get("held_out_metrics") or {}).values():  # calibration runs
            assert metrics["command"] in text
            if "sbc_redraws" in metrics:
                last = metrics["sbc_redraws"]["tests"][-1]
                assert f"| any | {last['n per draw']:.0f} | {last['draws failing']:.3f} |" in text


def test_npe_cards_render_with_their_budget_and_silent_fraction():
    card = {
        "estimator": "npe", "model": "stg", "conditioner": "features",
        "recipe": {"flow": {"model": "zuko_nsf", "num_transforms": 5, "hidden_features": 64},
                   "batch_size": 256, "learning_rate": 5e-4, "patience": 20, "seed": 0},
        "data": {"path": "data/stg_mc_v1", "simulations": 204800, "silent_fraction": 0.0573,
                 "cells_used": 154000, "left_out_silent": 9400, "left_out_below_floor": 12},
        "training": {"epochs": 40, "stop_reason": "early_stopping", "cpu_time_s": 3600.0,
                     "best_validation_loss": -3.21, "torch_threads": 1},
    }  # fmt: skip
    text = sbidic_docs.npe_cards_markdown({"stg/npe/features": card})
    assert "**`sbidic/weights/stg/npe/features`**" in text
    assert "204,800 simulations, 5.7 % silent" in text
    assert "154,000 (left out: 9,400 silent, 12 below the floor)" in text
    assert "40 epochs, stopped by early_stopping" in text and "| CPU time | 3,600 s" in text
    assert sbidic_docs.npe_cards_markdown({}).startswith("No NPE weights are shipped")
    shipped = _shipped_cards(npe=True)  # the shipped ones, where they exist
    text = sbidic_docs.npe_cards_markdown(shipped)
    for where, card in shipped.items():
        assert f"sbidic/weights/{where}" in text
        assert f"{card['data']['simulations']:,} simulations" in text


def test_cli_reference_parser_has_every_command():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"infer", "population", "simulate", "dataset", "train", "atlas"} <= set(commands)


def test_development_layout_table_matches_the_package_tree():
    """docs/development.md's layout table names every folder and module of sbidic/,
    and every path it names exists."""
    text = (ROOT / "docs" / "development.md").read_text()
    section = text.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([^`]+)` \|", section, re.M))
    assert named, "no layout table in docs/development.md"
    for path in named:
        assert (ROOT / path.rstrip("/")).exists(), f"{path} in the layout table does not exist"
    package = ROOT / "sbidic"
    expected = {f"sbidic/{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    expected |= {
        f"sbidic/{p.name}"
        for p in package.glob("*.py")
        if p.name not in {"__init__.py", "__main__.py", "_version.py"}
    }
    assert expected <= named, f"missing from the layout table: {sorted(expected - named)}"


def test_dic_units_appear_in_the_cli_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("population", "infer"):
        assert "multiples of g_leak" in " ".join(commands[name].format_help().split()), name
