"""Data files are data: a model file they name is never imported, and no command
writes an output over one of its inputs (docs/security.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import sbidic
from sbidic.cli import main

ROOT = Path(__file__).parent.parent
POSPISCHIL = ROOT / "examples/models/pospischil.py"


@pytest.fixture
def evil(tmp_path):
    """``(model reference, marker)``: a .py file that writes ``marker`` when imported."""
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.py"
    path.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    return f"{path}:Evil", marker


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error message"
    return err[-1]


def _recordings(path: Path) -> Path:
    from sbidic.spikes import SpikeTrains, write_spikes

    trains = SpikeTrains.from_list([np.arange(0.0, 3000.0, 100.0)], ids=["tonic"])
    write_spikes(trains, path)
    return path


# ------------------------------------------------ a model named in a data file
def test_simulate_never_imports_the_model_file_a_population_names(tmp_path, evil, capsys):
    ref, marker = evil
    pop = sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=2, rng=0)
    crafted = tmp_path / "crafted.nc"
    dataclasses.replace(pop, model=ref).save(crafted)
    assert sbidic.load_population(crafted).model == ref
    out = tmp_path / "spikes.csv"
    assert main(["simulate", str(crafted), "-o", str(out), "--quiet"]) == 2
    line = _error_line(capsys)
    assert f"{crafted} names the model file {ref}" in line
    assert f"run only when you name them: pass --model {ref}" in line
    assert not marker.exists() and not out.exists()
    # nor with another --model: the population's file is still not imported
    assert main(["simulate", str(crafted), "--model", "stg", "-o", str(out)]) == 2
    assert f"names the model file {ref}, not the given model stg" in _error_line(capsys)
    assert not marker.exists()


def test_a_model_file_in_a_data_file_is_used_only_when_the_user_names_it(evil):
    from sbidic.models import model_from_data

    ref, marker = evil
    with pytest.raises(ValueError, match="names the model file .*evil.py:Evil; model files"):
        model_from_data(ref, source="pop.nc")
    with pytest.raises(ValueError, match="not the given model da"):
        model_from_data(ref, "da", source="pop.nc")
    assert not marker.exists()
    # the user names the same file (relative or absolute, or the model itself): used
    relative = f"{os.path.relpath(POSPISCHIL)}:Pospischil"
    model = model_from_data(f"{POSPISCHIL}:Pospischil", relative)
    assert model.name == "pospischil"
    assert model_from_data(f"{POSPISCHIL}:Pospischil", model) is model
    with pytest.raises(ValueError, match="not the given model"):  # another NAME in it
        model_from_data(f"{POSPISCHIL}:Other", relative)
    # built-in names as before; an unknown name is not taken for a path
    assert model_from_data("STG").name == "stg"
    with pytest.raises(ValueError, match="unknown model 'toy'.*--model path/to/model.py:NAME"):
        model_from_data("toy", source="pop.nc")


def _estimator_copy(source: Path, tmp_path: Path, **config) -> Path:
    directory = tmp_path / "estimator"
    shutil.copytree(source, directory)
    path = directory / "config.json"
    data = json.loads(path.read_text())
    for key, value in config.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))
    return directory


def test_infer_never_imports_the_model_file_an_npe_config_names(tmp_path, evil, capsys):
    from sbidic.inference.npe import load_npe

    ref, marker = evil
    directory = _estimator_copy(ROOT / "sbidic/weights/stg/npe/features", tmp_path, model=ref)
    rec = _recordings(tmp_path / "rec.csv")
    out = tmp_path / "pops.csv"
    code = main(["infer", str(rec), "--model", "stg", "--estimator-kind", "npe",
                 "--estimator", str(directory), "--quiet", "-o", str(out)])  # fmt: skip
    assert code == 2
    assert f"config.json names the model file {ref}, not the given model stg" in _error_line(
        capsys
    )
    with pytest.raises(ValueError, match="pass --model .*evil.py:Evil"):
        load_npe(directory)
    assert not marker.exists() and not out.exists()


def test_a_dic_estimator_config_never_imports_the_model_file_it_names(tmp_path, evil, capsys):
    from sbidic.inference import ConductancePosterior, load_estimator

    ref, marker = evil
    directory = _estimator_copy(ROOT / "sbidic/weights/stg", tmp_path, model=ref)
    with pytest.raises(ValueError, match="names the model file .*evil.py:Evil"):
        ConductancePosterior(load_estimator(directory))
    # a config without its DIC box would have been completed from the model's file
    config = json.loads((directory / "config.json").read_text())
    del config["box"]
    (directory / "config.json").write_text(json.dumps(config))
    rec = _recordings(tmp_path / "rec.csv")
    assert main(["infer", str(rec), "--model", "stg", "--estimator", str(directory),
                 "--quiet"]) == 2  # fmt: skip
    assert f"names the model file {ref}" in _error_line(capsys)
    assert not marker.exists()


def _crafted_dataset(tmp_path: Path, model: str, mode: str = "dic") -> Path:
    root = tmp_path / f"data_{mode}"
    (root / "chunks").mkdir(parents=True)
    source = ROOT / f"data/stg_{mode}_v1"
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["spec"] = json.dumps({**json.loads(manifest["spec"]), "model": model})
    (root / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(source / "chunks/chunk_00000.nc", root / "chunks")
    return root


def test_dataset_commands_never_import_the_model_file_a_manifest_names(tmp_path, evil, capsys):
    ref, marker = evil
    root, mc = _crafted_dataset(tmp_path, ref), _crafted_dataset(tmp_path, ref, "mc")
    assert main(["dataset", "--status", "-o", str(root)]) == 0  # the spec is only shown
    capsys.readouterr()
    for command in (["train", str(root), "-o", str(tmp_path / "est"), "--epochs", "1"],
                    ["train-npe", str(mc), "--conditioner", "features",
                     "-o", str(tmp_path / "npe")]):  # fmt: skip
        assert main(command) == 2
        line = _error_line(capsys)
        assert f"manifest.json names the model file {ref}; model files are code" in line
    assert not marker.exists()


def test_training_on_a_dataset_checks_a_given_model_against_its_manifest(tmp_path):
    from sbidic.datasets import dataset_model, load_dataset

    ds = load_dataset(_crafted_dataset(tmp_path, "stg"))
    assert dataset_model(ds).name == "stg" and dataset_model(ds, "STG").name == "stg"
    with pytest.raises(ValueError, match="is a dataset of the model 'stg', not 'da'"):
        dataset_model(ds, "da", source="m.json")


# ------------------------------------------------ outputs never overwrite inputs
def _refused(capsys, output, source) -> None:
    line = _error_line(capsys)
    assert f"output {output} is the input file {source}" in line, line


def test_infer_refuses_to_write_over_its_recordings(tmp_path, capsys):
    rec = _recordings(tmp_path / "rec.csv")
    before = rec.read_bytes()
    assert main(["infer", str(rec), "--model", "stg", "--quiet", "-o", str(rec)]) == 2
    _refused(capsys, rec, rec)
    assert rec.read_bytes() == before


def test_infer_refuses_a_report_beside_the_output_that_is_the_input(tmp_path, capsys):
    rec = _recordings(tmp_path / "x_report.csv")
    before = rec.read_bytes()
    out = tmp_path / "x.csv"
    assert main(["infer", str(rec), "--model", "stg", "--quiet", "-o", str(out)]) == 2
    _refused(capsys, rec, rec)
    assert rec.read_bytes() == before and not out.exists()


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_infer_refuses_an_output_linked_to_the_input(tmp_path, capsys, link):
    rec = _recordings(tmp_path / "rec.csv")
    before = rec.read_bytes()
    out = tmp_path / "out.csv"
    (os.symlink if link == "symbolic" else os.link)(rec, out)
    assert main(["infer", str(rec), "--model", "stg", "--quiet", "-o", str(out)]) == 2
    _refused(capsys, out, rec)
    assert rec.read_bytes() == before


def test_simulate_refuses_to_write_over_its_population(tmp_path, capsys):
    pop = tmp_path / "p.nc"
    sbidic.sample_population("stg", g_s=-4.0, g_u=5.0, n=2, rng=0).save(pop)
    before = pop.read_bytes()
    assert main(["simulate", str(pop), "--quiet", "-o", str(pop)]) == 2
    _refused(capsys, pop, pop)
    assert pop.read_bytes() == before


def test_population_refuses_to_write_over_its_targets(tmp_path, capsys):
    targets = tmp_path / "t.csv"
    targets.write_text("-4,5\n")
    before = targets.read_bytes()
    assert main(["population", "--model", "stg", "--targets", str(targets), "-n", "3",
                 "-o", str(targets)]) == 2  # fmt: skip
    captured = capsys.readouterr()
    assert "g_CaS" not in captured.out  # refused before any work
    assert f"output {targets} is the input file {targets}" in captured.err.strip()
    assert len(captured.err.strip().splitlines()) == 1
    assert targets.read_bytes() == before


# ------------------------------------------------ damaged estimator directories
def _damaged(tmp_path: Path, source: Path, damage: str) -> Path:
    """A copy of a saved estimator's config.json and weights, then one file damaged."""
    directory = tmp_path / f"estimator_{damage}"
    directory.mkdir()
    for name in ("config.json", "weights.safetensors"):
        shutil.copy(source / name, directory / name)
    config, weights = directory / "config.json", directory / "weights.safetensors"
    if damage == "garbage weights":
        weights.write_bytes(np.random.default_rng(0).bytes(1000))
    elif damage == "empty config":
        config.write_text("{}")
    elif damage == "blank config":
        config.write_bytes(b"")
    elif damage == "truncated config":
        config.write_bytes(config.read_bytes()[:50])
    return directory


DAMAGES = {  # damage: (file blamed, words of the message)
    "garbage weights": ("weights.safetensors", "not a readable safetensors file"),
    "empty config": ("config.json", "lacks an entry"),
    "blank config": ("config.json", "is not valid JSON"),
    "truncated config": ("config.json", "is not valid JSON"),
}


@pytest.mark.parametrize("kind", ["dic", "npe"])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_estimator_is_one_line_naming_its_file(tmp_path, capsys, damage, kind):
    from sbidic.inference.pretrained import load_estimator_or_pretrained

    source = ROOT / ("sbidic/weights/stg" if kind == "dic" else "sbidic/weights/stg/npe/features")
    directory = _damaged(tmp_path, source, damage)
    blamed, words = DAMAGES[damage]
    if kind == "npe" and damage == "empty config":
        words = "holds a DIC estimator"  # no "kind": "npe"
    with pytest.raises(ValueError, match=words):
        load_estimator_or_pretrained("stg", directory, kind=kind)
    rec = _recordings(tmp_path / "rec.csv")
    code = main(["infer", str(rec), "--model", "stg", "--estimator", str(directory),
                 "--estimator-kind", kind, "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if "error" in x]
    assert line.startswith("sbidic infer: error: ") and words in line
    if words != "holds a DIC estimator":
        assert str(directory / blamed) in line
