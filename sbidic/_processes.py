"""Child processes that do not outlive sbidic.

:func:`die_with_parent` asks the Linux kernel to kill the calling process when its
parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the simulation workers and the
compiled C++ programs call it, so a ``kill -9`` of ``sbidic simulate --jobs 2`` leaves
no worker running. Elsewhere it does nothing (the workers then end with their pool).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

__all__ = ["die_with_parent"]

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
