"""Tutorials: paired notebooks that run (quick mode) and write their figures."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9]*.py"))
NPE_TUTORIAL = "08_dic_vs_npe"  # needs the shipped STG NPE weights


def _missing_npe_weights() -> str | None:
    """Why the shipped STG NPE weights cannot be loaded, or None when they can."""
    from sbidic.inference.npe import CONDITIONERS
    from sbidic.inference.pretrained import npe_dir

    try:
        for conditioner in CONDITIONERS:
            npe_dir("stg", conditioner)
    except ValueError:
        return (
            "the shipped STG NPE weights (sbidic/weights/stg/npe/{embedding,features}) "
            f"are absent; {NPE_TUTORIAL} needs them"
        )
    return None


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


#: Tutorials run by the default test run; CI's documentation build runs every tutorial
#: at full size and ``make test-slow`` runs the others in quick mode.
QUICK_BY_DEFAULT = ("01_five_lines", "04_simulate_and_check", "10_real_recordings")


@pytest.mark.parametrize("path", [
    p if p.stem in QUICK_BY_DEFAULT else pytest.param(p, marks=pytest.mark.slow)
    for p in TUTORIALS
], ids=[p.stem for p in TUTORIALS])  # fmt: skip
def test_tutorial_runs_in_quick_mode_and_writes_its_figures(path, tmp_path, monkeypatch):
    if path.stem == NPE_TUTORIAL and (reason := _missing_npe_weights()):
        pytest.skip(reason)
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


def test_npe_tutorial_without_npe_weights_exits_with_the_library_message(tmp_path, monkeypatch):
    """No shipped NPE weights: the tutorial stops at once with load_pretrained's message
    (how to train them), not with a traceback from deep inside."""
    from sbidic.inference import pretrained

    shipped = pretrained._weights_root()
    root = tmp_path / "weights"  # the shipped weights, without stg/npe
    for model_dir in shipped.iterdir():
        if model_dir.is_dir():
            (root / model_dir.name).mkdir(parents=True)
            for item in model_dir.iterdir():
                if item.name != "npe":
                    (root / model_dir.name / item.name).symlink_to(item)
    monkeypatch.setattr(pretrained, "_weights_root", lambda: root)
    monkeypatch.setenv("SBIDIC_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("SBIDIC_TUTORIAL_FIGURES", str(tmp_path / "figures"))
    monkeypatch.chdir(ROOT / "tutorials")
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "tutorials" / f"{NPE_TUTORIAL}.py"), run_name="__main__")
    message = str(exit_info.value.code)
    assert message.startswith("Tutorial 8 needs the shipped NPE weights.")
    assert "no NPE weights shipped for model 'stg'" in message
    assert "sbidic train-npe" in message
    assert not list((tmp_path / "figures").glob("*.png"))
