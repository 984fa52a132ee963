"""`make demo` prints what a user needs and nothing else: no Python warning line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_command_prints_no_warning(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "sbidic.cli", "infer",
         str(ROOT / "sbidic/examples/stg_recordings.csv"), "--model", "stg", "-n", "20",
         "--seed", "0", "--verify", "--jobs", "2",
         "-o", str(tmp_path / "populations.nc")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    warned = [line for line in lines if re.search(r"\b\w*Warning\b", line)]
    assert not warned, "\n".join(warned[:10])
    assert any("written to" in line for line in lines)
