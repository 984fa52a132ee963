"""Child processes that do not outlive sbidic.

:func:`die_with_parent` asks the Linux kernel to kill the calling process when its
parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the simulation workers and the
compiled C++ programs call it, so a ``kill -9`` of ``sbidic simulate --jobs 2`` leaves
no worker running. Elsewhere it does nothing (the workers then end with their pool).

C++ builds run ``make`` through a shell (Brian2's ``os.system``), out of reach of
``PR_SET_PDEATHSIG``: :func:`guarded` wraps the command in a guard
(``python -m sbidic._processes OWNER_PID make ...``) that runs it in a process group of
its own and kills that group as soon as the sbidic process is gone, and
:func:`interruptible` runs the build in a thread so that Ctrl-C and SIGTERM end the
command at once (the guard then stops ``make`` and its compilers).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["die_with_parent", "guarded", "interruptible"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Be killed (SIGKILL) when the parent process dies; a no-op off Linux.

    Usable as ``subprocess.Popen(preexec_fn=die_with_parent)`` and as a process pool's
    ``initializer``.

    Examples
    --------
    >>> die_with_parent()  # in this process: nothing visible until its parent dies
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: keep the default behaviour
        pass


def guarded(command: str) -> str:
    """``command`` (a shell command line) run by a guard that kills it, with every
    process it started, once this process is gone.

    Examples
    --------
    >>> guarded("make").endswith(f"-m sbidic._processes {os.getpid()} make")
    True
    """
    return f"{shlex.quote(sys.executable)} -m sbidic._processes {os.getpid()} {command}"


def interruptible(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, run in a daemon thread while the main thread waits, so that
    Ctrl-C (and SIGTERM, which sbidic handles alike) interrupts the wait at once instead
    of after a blocking call such as a C++ build; outside the main thread, a plain
    call. The function's exception is raised here.

    Examples
    --------
    >>> interruptible(sum, [1, 2, 3])
    6
    """
    if threading.current_thread() is not threading.main_thread():
        return function(*args)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as err:  # noqa: BLE001 -- handed to the caller
            box["error"] = err

    worker = threading.Thread(target=target, name="sbidic-build", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _guard(owner: int, argv: list[str]) -> int:
    """Run ``argv`` in a process group of its own until it ends or ``owner`` is gone."""
    child = subprocess.Popen(argv, start_new_session=True)

    def stop(*_: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(143)))
    signal.signal(signal.SIGINT, lambda *a: (stop(), sys.exit(130)))
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if not _alive(owner):
                stop()
                child.wait()
                return 1


if __name__ == "__main__":
    sys.exit(_guard(int(sys.argv[1]), sys.argv[2:]))
