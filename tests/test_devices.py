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
    assert set(DEVICES) == {"runtime", "cpp_standalone", "cuda_standalone", "vector"}
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


def test_a_one_off_cpp_program_fires_like_the_runtime_and_restores_it(compiler):
    """With noise, C++ standalone compiles the whole run (noise included) each call."""
    import brian2

    from sbidic.simulate import BandLimitedNoise

    g = _reference_g()
    kwargs = {"duration_ms": 1500, "transient_ms": 500, "dt_ms": 0.025, "seed": 3,
              "method": "exponential_euler", "noise": BandLimitedNoise(std=0.05)}  # fmt: skip
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


# ------------------------------------------------------------- cached C++ programs
@pytest.fixture
def cache(tmp_path, monkeypatch, compiler):
    """An empty program cache for this test."""
    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "programs"


def _programs(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if (p / "sbidic.json").exists())


SHORT = {"duration_ms": 800, "transient_ms": 200, "dt_ms": 0.025, "method": "exponential_euler"}


def test_a_cached_program_is_built_once_and_rerun_with_new_cells(cache):
    g = _reference_g()
    first = simulate("stg", g, device="cpp_standalone", **SHORT)
    assert first.settings["build_s"] > 0
    (program,) = _programs(cache)
    # other conductances, a size with the same slot count (3 cells -> 3 slots; 2 -> 2)
    scaled = g * np.array([1.0, 1.0, 1.0, 1.0, 0.9, 1.0, 1.0, 1.0])
    again = simulate("stg", scaled, device="cpp_standalone", **SHORT)
    assert again.settings["build_s"] == 0 and _programs(cache) == [program]
    fresh = simulate("stg", scaled, device="runtime", **SHORT)
    assert np.all(np.abs(again.n_spikes - fresh.n_spikes) <= 1)
    assert not again.spikes.equals(first.spikes)  # the new cells were simulated


@pytest.mark.slow  # several cold builds (about 1-2 minutes)
def test_padding_and_chunking_do_not_change_a_cell(cache, monkeypatch):
    import sbidic.simulate.simulation as simulation

    g = np.repeat(_reference_g(), 4, axis=0) * np.linspace(0.9, 1.1, 12)[:, None]
    alone = simulate("stg", g, device="cpp_standalone", **SHORT)  # 12 slots
    padded = simulate("stg", g[:9], device="cpp_standalone", **SHORT)  # 9 cells in 10 slots
    assert padded.spikes.equals(alone.spikes[:9])
    monkeypatch.setattr(simulation, "MAX_SLOTS", 5)  # 3 chunks of 4 cells, 2 processes
    chunked = simulate("stg", g, device="cpp_standalone", n_jobs=2, record_v=[1, 10], **SHORT)
    assert chunked.spikes.equals(alone.spikes) and chunked.settings["n_chunks"] == 3
    assert chunked.v_mV.shape == (2, 24000)
    runtime = simulate("stg", g, device="runtime", record_v=[1, 10], **SHORT)
    np.testing.assert_allclose(chunked.v_mV, runtime.v_mV, atol=1e-3)


def test_auto_builds_for_long_runs_reuses_programs_and_keeps_short_runs_at_runtime(
    cache, monkeypatch
):
    """Where the vector kernel cannot run (here: marked unavailable), auto takes
    Brian2's cached C++ programs on the same rule (tests/test_vector.py: the kernel)."""
    import sbidic.simulate.simulation as simulation

    monkeypatch.setattr(simulation, "_NO_VECTOR", ["unavailable in this test"])
    g = _reference_g()[:1]
    short = simulate("stg", g, **SHORT)  # 32,000 steps of one cell: cheaper than a build
    assert short.settings["device"] == "runtime" and not cache.exists()
    simulate("stg", g, device="cpp_standalone", **SHORT)
    assert simulate("stg", g * 1.01, **SHORT).settings["device"] == "cpp_standalone"
    from sbidic.simulate import BandLimitedNoise

    noisy = simulate("stg", g, noise=BandLimitedNoise(std=0.1), seed=1, **SHORT)
    assert noisy.settings["device"] == "runtime"
    long = simulate("stg", g, duration_ms=6000, transient_ms=5900)  # 600,000 steps
    assert long.settings["device"] == "cpp_standalone" and long.settings["build_s"] > 0


def test_auto_falls_back_to_the_runtime_when_no_program_can_be_built(cache, monkeypatch):
    import sbidic.simulate.simulation as simulation
    from sbidic.simulate.compiled import CompiledProgram

    def fail(*args, **kwargs):
        raise RuntimeError("Project compilation failed")

    monkeypatch.setattr(CompiledProgram, "for_task", classmethod(fail))
    monkeypatch.setattr(simulation, "_NO_COMPILER", [])
    monkeypatch.setattr(simulation, "_NO_VECTOR", ["unavailable in this test"])
    g = _reference_g()[:1]
    with pytest.warns(RuntimeWarning, match="compilation failed.*runtime device"):
        result = simulate("stg", g, duration_ms=6000, transient_ms=5900)
    assert result.settings["device"] == "runtime" and result.n_spikes[0] > 0
    with pytest.raises(RuntimeError, match="compilation failed"):
        simulate("stg", g, device="cpp_standalone", **SHORT)  # asked for: no fallback


def test_a_program_that_rejects_its_input_is_an_error_not_a_silent_default(cache):
    from sbidic.simulate.compiled import CompiledProgram
    from sbidic.simulate.simulation import _initial_state

    simulate("stg", _reference_g()[:2], device="cpp_standalone", **SHORT)
    (directory,) = _programs(cache)
    manifest = json.loads((directory / "sbidic.json").read_text())
    manifest["inputs"]["g_Na"][1] = "<f4"  # half the bytes the program expects
    program = CompiledProgram(directory, manifest)
    from sbidic.models import get_model
    from sbidic.simulate.brian import cell_values

    model = get_model("stg")
    g = _reference_g()[:2]
    with pytest.raises(RuntimeError, match="failed.*g_Na"):
        program.run(cell_values(model, g, _initial_state(model, g, "published")))


def _simulate_short(scale: float) -> int:
    return int(simulate("stg", _reference_g()[:2] * scale, device="cpp_standalone",
                        **SHORT).n_spikes.sum())  # fmt: skip


def test_processes_needing_the_same_program_share_one_build(cache):
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        counts = list(pool.map(_simulate_short, [1.0, 1.01]))
    assert all(c > 0 for c in counts)
    assert len(_programs(cache)) == 1
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []  # no staging


def test_a_damaged_cached_program_is_rebuilt_not_run(cache):
    from sbidic.simulate.compiled import ProgramError, _cached_manifest

    g = _reference_g()[:1]
    first = simulate("stg", g, device="cpp_standalone", **SHORT)
    (directory,) = _programs(cache)
    program, manifest = directory / "main", directory / "sbidic.json"
    intact = program.read_bytes()
    program.write_bytes(intact[:3000])  # a truncated copy: it crashed when run
    assert _cached_manifest(directory) is None  # so it is rebuilt (as below)
    program.write_bytes(intact)
    assert _cached_manifest(directory) is not None
    manifest.write_text(manifest.read_text()[:40])  # truncated: a bare JSON error
    assert _cached_manifest(directory) is None
    again = simulate("stg", g, device="cpp_standalone", **SHORT)
    assert again.settings["build_s"] > 0 and _programs(cache) == [directory]
    assert _cached_manifest(directory) is not None  # rebuilt in place
    assert again.spikes.equals(first.spikes)
    assert issubclass(ProgramError, OSError)  # a failing run: one line from the CLI
