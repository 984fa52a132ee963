"""Temporary files of killed runs are removed by the next run of the same command, and
only those (issue 30, item 8): the hidden ``.NAME.*.nc`` of an output, a program being
built in the cache, the app's ``sbidic-app-*`` folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

KILLED_WRITER = """
import os, signal, sys
from sbidic.files import atomic_outputs
with atomic_outputs([sys.argv[1]]) as (tmp,):
    tmp.write_text("half written")
    os.kill(os.getpid(), signal.SIGKILL)
"""

KILLED_BUILD = """
import os, signal
from sbidic.simulate import compiled
from tests.test_leftovers import build_task
compiled._build = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
compiled.CompiledProgram.for_task(build_task(), 1)
"""

KILLED_APP = """
import os, signal
from sbidic.app import create_app
create_app(7)
os.kill(os.getpid(), signal.SIGKILL)
"""

ROOT = Path(__file__).resolve().parents[1]


def _killed(script: str, *args: str, env: dict[str, str]) -> None:
    """Run ``script`` in a Python process that kills itself (SIGKILL)."""
    proc = subprocess.run([sys.executable, "-c", script, *args], env={**os.environ, **env},
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr


@pytest.fixture
def live_pid():
    """A running process of this machine (killed at the end)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def build_task() -> dict:
    """A one-cell STG network to build (as in test_processes)."""
    import numpy as np

    from sbidic.models import get_model

    model = get_model("stg")
    g = np.array([[4000, 100, 5, 20, 150, 300, 0.3, 0.01]], dtype=float)
    return {"model": model, "conductances": g, "initial": model.initial_state(),
            "n_threads": 1, "dt_ms": 0.01, "n_total": 100, "n_trans": 10,
            "method": "exponential_euler", "codegen": "cpp_standalone",
            "device": "cpp_standalone", "noise": None, "applied_current": 0.0, "seed": 0,
            "record": None, "offset": 0, "cell_ids": np.array([0])}  # fmt: skip


def test_an_output_rewritten_after_a_kill_leaves_no_temporary(tmp_path, live_pid):
    from sbidic._leftovers import writer_tag
    from sbidic.files import atomic_outputs

    out = tmp_path / "pop.nc"
    _killed(KILLED_WRITER, str(out), env={"TMPDIR": str(tmp_path)})
    [left] = [p.name for p in tmp_path.iterdir()]
    assert left.startswith(".pop.") and left.endswith(".nc")  # what the kill left
    in_use = f".pop.{writer_tag().split('-')[0]}-{live_pid}.abcd1234.nc"
    others = [".pop.abcd1234.nc", ".pops.x.nc", "pop.csv", in_use]  # not ours, or in use
    for name in others:
        (tmp_path / name).write_text("kept")
    with atomic_outputs([out]) as (tmp,):
        tmp.write_text("complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "pop.nc"])
    assert out.read_text() == "complete"


def test_a_killed_build_leaves_no_staging_folder(tmp_path, monkeypatch):
    from sbidic.simulate import compiled

    env = {"SBIDIC_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path)}
    _killed(KILLED_BUILD, env=env)
    root = tmp_path / "cache" / "programs"
    staging = [p for p in root.iterdir() if p.is_dir()]
    assert len(staging) == 1 and staging[0].name.startswith(".")  # what the kill left

    def failed_build(task, n_slots, directory):
        assert directory.is_dir()
        raise RuntimeError("compiler missing")

    monkeypatch.setenv("SBIDIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(compiled, "_build", failed_build)
    with pytest.raises(RuntimeError, match="compiler missing"):
        compiled.CompiledProgram.for_task(build_task(), 1)
    assert [p.suffix for p in root.iterdir()] == [".lock"]


def test_the_app_removes_folders_of_killed_servers(tmp_path, monkeypatch):
    from sbidic.app import create_app

    _killed(KILLED_APP, env={"TMPDIR": str(tmp_path)})
    [left] = tmp_path.glob("sbidic-app-*")  # what the kill left
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    create_app(7)
    try:
        [workdir] = tmp_path.glob("sbidic-app-*")
        assert workdir != left and not left.exists()
    finally:
        for folder in tmp_path.glob("sbidic-app-*"):
            shutil.rmtree(folder)


def test_a_command_keeps_its_temporary_files_in_a_folder_of_its_own(tmp_path, monkeypatch):
    """Temporary files of the libraries a command runs (Brian2's logs, compilers) go to
    a folder of the command's, which a later command removes after a kill."""
    from sbidic._leftovers import private_tempdir

    script = ("import os, signal, tempfile\nfrom sbidic._leftovers import private_tempdir\n"
              "with private_tempdir():\n"
              "    tempfile.NamedTemporaryFile(prefix='brian_debug_', delete=False)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")  # fmt: skip
    _killed(script, env={"TMPDIR": str(tmp_path)})
    [left] = tmp_path.iterdir()
    assert left.name.startswith("sbidic.") and next(left.iterdir()).name.startswith("brian_")
    (tmp_path / "sbidic.other").mkdir()  # not of the pattern: kept
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with private_tempdir(), tempfile.TemporaryDirectory() as mine:
        assert Path(mine).parent.parent == tmp_path
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["sbidic.other", Path(mine).parent.name]
        )
