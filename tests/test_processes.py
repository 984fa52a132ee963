"""Nothing left behind: a killed ``sbidic simulate --jobs 2`` leaves no worker running
and, once the command is run again, no temporary file; SIGTERM ends a command like
Ctrl-C, and builds use at most ``--jobs`` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SBIDIC = [sys.executable, "-m", "sbidic.cli"]


def _descendants(pid: int) -> set[int]:
    """Every process whose chain of parents reaches ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def _workers(pid: int) -> set[int]:
    """The spawned pool workers among ``pid``'s descendants."""
    out = set()
    for p in _descendants(pid):
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmd:
            out.add(p)
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pop") / "pop.nc"
    subprocess.run([*SBIDIC, "population", "--model", "stg", "--g-s", "-4", "--g-u", "5",
                    "-n", "4", "--seed", "0", "-o", str(path)], check=True)  # fmt: skip
    return path


def _left(*folders: Path) -> list[str]:
    """Every file and folder under ``folders`` (relative names)."""
    return sorted(str(p.relative_to(f)) for f in folders for p in f.rglob("*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL,
                                 pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_killed_simulation_leaves_no_worker(population, tmp_path, sig):
    """... and no temporary file once the command ran again (in the output folder or
    the temporary directory: Brian2's logs of the killed processes included)."""
    out_dir, tmp = tmp_path / "out", tmp_path / "tmp"
    out_dir.mkdir()
    tmp.mkdir()
    out = out_dir / "spikes.csv"
    env = {**os.environ, "TMPDIR": str(tmp)}
    command = [*SBIDIC, "simulate", str(population), "--jobs", "2", "--device", "runtime",
               "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen([*command, "--duration", "60000"], stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    workers: set[int] = set()
    try:
        deadline = time.time() + 120
        while len(_alive(_workers(proc.pid))) < 2 and time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"simulate ended early ({proc.returncode}): {proc.stderr.read()}")
            time.sleep(0.5)  # wait for the two workers
        workers = _alive(_workers(proc.pid))
        assert len(workers) >= 2, "the workers never started"
        while min(_cpu_seconds(p) for p in workers) < 5 and time.time() < deadline:
            time.sleep(0.5)  # started and simulating (past their imports and initializer)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        deadline = time.time() + 10
        while _alive(workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(workers), f"workers left after {sig.name}: {_alive(workers)}"
        assert not out.exists()
        if sig == signal.SIGTERM:
            assert proc.returncode == 130 and "interrupted" in proc.stderr.read()
        rerun = subprocess.run([*command, "--duration", "1000", "--transient", "100"],
                               capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr
        assert _left(out_dir, tmp) == ["spikes.csv"]
    finally:  # whatever happened, leave nothing running
        for pid in _alive(workers | _descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_builds_are_bounded_by_jobs(monkeypatch, tmp_path):
    """The C++ build's make gets -j<jobs>, not Brian2's unbounded -j."""
    import importlib

    import brian2

    # the module object itself: `brian2.devices` need not be an attribute of `brian2`
    # when another test imported the device first
    standalone = importlib.import_module("brian2.devices.cpp_standalone.device")

    from sbidic.simulate import compiled

    seen = []

    def fake_build(*args, **kwargs):
        seen.append(list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix))
        raise RuntimeError("stop here")

    monkeypatch.setattr(standalone.CPPStandaloneDevice, "build", fake_build)
    import numpy as np

    from sbidic.models import get_model

    model = get_model("stg")
    g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]], dtype=float)
    task = {"model": model, "conductances": g, "initial": model.initial_state(),
            "n_threads": 1, "dt_ms": 0.01, "n_total": 100, "n_trans": 10,
            "method": "exponential_euler", "codegen": "cpp_standalone",
            "device": "cpp_standalone", "noise": None, "applied_current": 0.0, "seed": 0,
            "record": None, "offset": 0, "cell_ids": np.array([0])}  # fmt: skip
    with pytest.raises(RuntimeError, match="stop here"):
        compiled._build(task, 4, tmp_path / "prog")
    assert seen == [["-j1"]]
    assert os.cpu_count() >= 1


def _compilers(pid: int) -> set[int]:
    """``make`` and compiler processes among ``pid``'s descendants."""
    out = set()
    for p in _descendants(pid):
        try:
            name = Path(f"/proc/{p}/comm").read_text().strip()
        except OSError:
            continue
        if name in {"make", "cc1plus", "g++", "c++", "as", "ld"}:
            out.add(p)
    return out


@pytest.mark.slow  # two cold C++ builds per case (minutes)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_cold_build_leaves_no_compiler(population, tmp_path, sig):
    """Killing ``simulate --device cpp_standalone`` while it compiles: no make or
    compiler left 10 s later, and the rerun builds and leaves no staging folder."""
    out_dir, tmp, cache = tmp_path / "out", tmp_path / "tmp", tmp_path / "cache"
    out_dir.mkdir()
    tmp.mkdir()
    out = out_dir / "spikes.csv"
    env = {**os.environ, "TMPDIR": str(tmp), "SBIDIC_CACHE_DIR": str(cache)}
    command = [*SBIDIC, "simulate", str(population), "--jobs", "2", "--device",
               "cpp_standalone", "--duration", "500", "--transient", "100",
               "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    everything: set[int] = set()
    try:
        deadline = time.time() + 300
        while not _compilers(proc.pid) and time.time() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"simulate ended before compiling: {proc.stderr.read()}")
            time.sleep(0.1)
        assert _compilers(proc.pid), "no compiler started"
        time.sleep(1.0)  # the build well under way
        everything = _alive(_descendants(proc.pid))
        proc.send_signal(sig)
        proc.wait(timeout=30)  # SIGTERM: at once, not after the build
        deadline = time.time() + 10
        while _alive(everything) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(everything), f"left after {sig.name}: {_alive(everything)}"
        if sig == signal.SIGTERM:
            assert proc.returncode == 130 and "interrupted" in proc.stderr.read()
        rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        assert rerun.returncode == 0, rerun.stderr
        assert _left(out_dir, tmp) == ["spikes.csv"]
        programs = cache / "programs"
        assert not [p.name for p in programs.iterdir() if p.name.startswith(".")], (
            "staging folders left")  # fmt: skip
    finally:
        for pid in _alive(everything | _descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
