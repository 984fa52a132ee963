"""Brian2 devices of sbidic.simulate: runtime, C++ standalone (and CUDA, where
brian2cuda is installed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sbidic.cli import main
from sbidic.datasets import DatasetSpec, generate_dataset, load_dataset
from sbidic.simulate import codegen_target, simulate
from sbidic.simulate.devices import DEVICES, BrianDevice, resolve_device
from sbidic.spikes import spike_features

DATA = Path(__file__).parent / "data"


@pytest.fixture
def compiler():
    # checked when the test runs: the check imports brian2's cython machinery, which
    # (through brian2.tests) replaces pytest's doctest collector if done at collection
    if codegen_target() != "cython":
        pytest.skip("no working C++ compiler for standalone builds")


def _reference_g(names=("g_spk", "g_bst", "g_ref")) -> np.ndarray:
    cases = json.loads((DATA / "reference_stg.json").read_text())["simulation"]["cases"]
    by_name = {c["name"]: c["g"] for c in cases}
    return np.array([by_name[n] for n in names])


def test_device_names_and_aliases():
    assert resolve_device("cpp") == "cpp_standalone"
    assert set(DEVICES) == {"runtime", "cpp_standalone", "cuda_standalone"}
    with pytest.raises(ValueError, match="unknown device 'gpu'.*'cuda'"):
        resolve_device("gpu")


def test_cuda_without_brian2cuda_says_what_to_install():
    try:
        import brian2cuda  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("brian2cuda is installed here")
    with pytest.raises(ValueError, match="pip install brian2cuda"):
        simulate("stg", _reference_g()[:1], duration_ms=100, transient_ms=0, device="cuda")


def test_cpp_standalone_fires_like_the_runtime_and_restores_it(compiler):
    import brian2

    g = _reference_g()
    kwargs = {"duration_ms": 1500, "transient_ms": 500, "dt_ms": 0.025,
              "method": "exponential_euler"}  # fmt: skip
    runtime = simulate("stg", g, **kwargs)
    compiled = simulate("stg", g, device="cpp_standalone", record_v=[1], **kwargs)
    a, b = spike_features(runtime.spikes), spike_features(compiled.spikes)
    assert list(a.label) == list(b.label) == ["spiking", "bursting", "bursting"]
    assert np.all(np.abs(runtime.spikes.n_spikes - compiled.spikes.n_spikes) <= 1)
    np.testing.assert_allclose(b.mean_isi_ms, a.mean_isi_ms, rtol=0.01)
    assert compiled.v_mV.shape == (1, 40000)
    s = compiled.settings
    assert s["device"] == "cpp_standalone" and s["build_s"] > s["run_s"] > 0
    assert brian2.get_device().__class__.__name__ == "RuntimeDevice"
    again = simulate("stg", g, **kwargs)  # the runtime device works after a build
    assert again.spikes.equals(runtime.spikes)


def test_a_failed_standalone_run_leaves_the_runtime_device():
    import brian2

    with pytest.raises(RuntimeError, match="boom"), BrianDevice("cpp_standalone") as dev:
        assert dev.standalone and brian2.get_device().__class__.__name__ != "RuntimeDevice"
        raise RuntimeError("boom")
    assert brian2.get_device().__class__.__name__ == "RuntimeDevice"
    assert dev.directory is not None and not Path(dev.directory).exists()


def test_a_standalone_dataset_compiles_once_for_its_chunks(tmp_path, compiler):
    spec = DatasetSpec("stg", n_targets=8, mode="mc", targets_per_chunk=3, duration_ms=800,
                       transient_ms=200, dt_ms=0.025, method="exponential_euler")  # fmt: skip
    written = generate_dataset(tmp_path / "cpp", spec, device="cpp_standalone", progress=False)
    assert sorted(written) == [f"chunk_0000{i}.nc" for i in range(3)]
    generate_dataset(tmp_path / "rt", spec, n_jobs=1, progress=False)
    cpp, rt = load_dataset(tmp_path / "cpp"), load_dataset(tmp_path / "rt")
    np.testing.assert_array_equal(cpp["conductances"], rt["conductances"])
    np.testing.assert_array_equal(cpp["label_code"], rt["label_code"])
    import xarray as xr

    with xr.open_dataset(tmp_path / "cpp" / "chunks" / "chunk_00002.nc") as ds:
        assert json.loads(ds.attrs["simulation"])["device"] == "cpp_standalone"


def test_cli_rejects_an_unknown_device_in_one_line(tmp_path, capsys):
    code = main(["dataset", "--model", "stg", "--targets", "4", "--device", "gpu",
                 "-o", str(tmp_path / "d")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown device 'gpu'" in err and "Traceback" not in err
