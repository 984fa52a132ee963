"""A request that cannot fit in memory is refused before any work, with the numbers
(issue 30, item 6: ``infer -n 1000000000`` crashed allocating 800 GB, ``population``
allocated until the memory ran out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sbidic._memory
from sbidic._memory import NotEnoughMemoryError

SBIDIC = [sys.executable, "-m", "sbidic.cli"]
EXAMPLES = Path(__file__).resolve().parents[1] / "sbidic" / "examples"
HUGE = 10**11  # cells: about 29 TB for one STG population, more than any machine


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``sbidic`` (killed after 300 s: today's code would otherwise run on)."""
    return subprocess.run([*SBIDIC, *args], capture_output=True, text=True, timeout=300)


def _assert_refused(proc: subprocess.CompletedProcess, output: Path) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "of memory" in last and "available" in last and " GB" in last, last
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]


def test_cli_population_refuses_a_huge_n(tmp_path):
    out = tmp_path / "pop.nc"
    proc = _run(["population", "--model", "stg", "--g-s", "-4", "--g-u", "5",
                 "-n", str(HUGE), "-o", str(out)])  # fmt: skip
    _assert_refused(proc, out)
    assert "-n" in proc.stderr  # says how to ask for less


def test_cli_infer_refuses_a_huge_n(tmp_path):
    out = tmp_path / "res.csv"
    proc = _run(["infer", str(EXAMPLES / "stg_recordings.csv"), "--model", "stg",
                 "-n", str(HUGE), "-o", str(out)])  # fmt: skip
    _assert_refused(proc, out)


@pytest.fixture
def little_memory(monkeypatch):
    """Pretend the machine has 20 MB available."""
    monkeypatch.setattr(sbidic._memory, "available_memory", lambda: 20 * 10**6)


def test_sampler_refuses_with_needed_and_available(little_memory):
    from sbidic.population import sample_populations

    with pytest.raises(NotEnoughMemoryError) as info:
        sample_populations("stg", [[-4, 5], [6, 10]], 10**6)  # 2 x 96 MB, x 3 at the peak
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, MemoryError)
    assert err.needed == 3 * 2 * 10**6 * 96 and err.available == 20 * 10**6
    assert "0.6 GB" in str(err) and "20 MB available" in str(err)
    assert sample_populations("stg", [[-4, 5]], 10, rng=0).conductances.shape == (1, 10, 8)


def test_infer_refuses_before_any_work(little_memory, monkeypatch):
    import sbidic.inference.infer  # noqa: F401  (the module, not the function)
    from sbidic.inference import infer, iter_infer

    module = sys.modules["sbidic.inference.infer"]

    def no_work(*args, **kwargs):
        raise AssertionError("the batches started")

    monkeypatch.setattr(module, "_batches", no_work)
    tonic = np.arange(0.0, 3000.0, 100.0)
    with pytest.raises(NotEnoughMemoryError, match="of memory"):
        iter_infer([tonic], "stg", n=10**5)  # 10^6 flow draws: about 1.3 GB
    with pytest.raises(NotEnoughMemoryError, match="of memory"):
        infer([tonic], "stg", n=10**5)


def test_infer_counts_the_kept_result(monkeypatch):
    """``infer`` keeps every batch's cells, ``iter_infer`` one batch: with memory for
    one batch only, the first is refused and the second is not."""
    from sbidic.inference import infer, iter_infer
    from sbidic.inference.infer import check_infer_memory
    from sbidic.inference.pretrained import load_pretrained

    posterior = load_pretrained("stg")
    trains = [np.arange(0.0, 3000.0, 100.0 + i) for i in range(2000)]
    per_batch = sbidic._memory.inference_bytes(256, 100, 1000, 2, 8)
    monkeypatch.setattr(sbidic._memory, "available_memory", lambda: per_batch + 10**6)
    check_infer_memory(len(trains), posterior, 100)  # streams: fits
    with pytest.raises(NotEnoughMemoryError, match="2,000 recording"):
        check_infer_memory(len(trains), posterior, 100, keep_all=True)
    parts = iter_infer(trains, posterior, n=100, dics="mean")
    parts.close()  # accepted; no batch computed
    with pytest.raises(NotEnoughMemoryError):
        infer(trains, posterior, n=100, dics="mean")
