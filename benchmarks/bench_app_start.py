"""Time from ``sbidic app`` to its first page (HTTP 200 on ``/``), and which heavy
modules the server had imported by then.

    OMP_NUM_THREADS=1 python benchmarks/bench_app_start.py            # 3 starts
    OMP_NUM_THREADS=1 python benchmarks/bench_app_start.py --repeat 5

Prints one row per start: seconds from launching the process to the first page, then
the same for the page's HTML body to contain the upload input (the page is usable).
The machine's load average is printed too: timings on a loaded machine are longer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_page_seconds(timeout: float = 300.0) -> float:
    """Seconds from launching ``sbidic app --no-browser`` to HTTP 200 with the page.

    Raises
    ------
    RuntimeError
        The server exits or does not answer within ``timeout`` seconds.
    """
    port = free_port()
    sbidic = shutil.which("sbidic", path=str(Path(sys.executable).parent)) or "sbidic"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    proc = subprocess.Popen([sbidic, "app", "--no-browser", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)  # fmt: skip
    try:
        while time.monotonic() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200 and b'id="upload"' in r.read():
                        return time.monotonic() - start
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("sbidic app exited before serving") from None
                time.sleep(0.05)
        raise RuntimeError(f"no first page within {timeout:g} s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="starts (default 3)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"{'start':>5}  {'first page (s)':>14}  (load average {load:.1f}, "
          f"{os.cpu_count()} CPUs)")  # fmt: skip
    times = []
    for k in range(args.repeat):
        times.append(first_page_seconds())
        print(f"{k + 1:>5}  {times[-1]:>14.2f}", flush=True)
    times.sort()
    print(f"{'median':>5}  {times[len(times) // 2]:>14.2f}")


if __name__ == "__main__":
    main()
