"""Tutorials: paired notebooks that run (quick mode) and write their figures."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9]*.py"))


def test_every_tutorial_is_listed_in_the_docs():
    listed = re.findall(r"^(\d\d_\w+)$", (ROOT / "docs/tutorials/index.md").read_text(), re.M)
    assert listed == [p.stem for p in TUTORIALS]
    assert len(TUTORIALS) >= 7


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_is_a_paired_notebook(path):
    import jupytext  # the "test" extra installs it

    nb = jupytext.read(path)
    assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith(f"# Tutorial {int(path.stem[:2])}:")
    assert sum(c.cell_type == "code" for c in nb.cells) >= 3
    assert "SBIDIC_TUTORIAL_QUICK" in path.read_text()


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_in_quick_mode_and_writes_its_figures(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SBIDIC_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("SBIDIC_TUTORIAL_FIGURES", str(tmp_path))
    monkeypatch.chdir(path.parent)
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        plt.close("all")
    figures = sorted(tmp_path.glob("*.png"))
    assert len(figures) >= path.read_text().count(".savefig(") >= 1
    for fig in figures:
        assert fig.name.startswith(path.stem[:3])
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 5000
