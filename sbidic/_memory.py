"""Give freed memory back to the operating system between batches.

Two things make the resident memory of a long batched run (``sbidic.infer`` over many
recordings) rise although its live data stay the same:

* reference cycles that libraries leave behind (torch's ``Transform.inv`` and the
  inverse keep each other; Brian2's objects do too). A cycle that holds a batch's
  tensors lives until Python's cyclic collector next runs, several batches later
  (measured: 4,096 recordings through ``iter_infer`` in batches of 256, glibc's in-use
  heap 164 -> 255 MB and swinging by 40 MB from batch to batch; with one collection
  per batch flat at 160-163 MB and the resident memory flat at 458-461 MB);
* glibc keeps freed blocks in the heap (its mmap threshold rises after each large
  free): measured with 2,560 recordings in batches of 64, resident memory 682 ->
  1,045 MB without trimming, flat at 691 MB with it.

It also estimates, before any work, the memory a population or an inference needs and
refuses with :class:`NotEnoughMemoryError` (needed vs available) when the machine has
less (:func:`check_memory`), so ``sbidic population -n 1000000000`` stops at once
instead of allocating until the system runs out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
from pathlib import Path

__all__ = [
    "NotEnoughMemoryError",
    "available_memory",
    "check_memory",
    "inference_bytes",
    "population_bytes",
    "release_free_memory",
]

#: Bytes a population holds per cell beyond its conductances: DICs (3) and residual.
_CELL_EXTRA = 4
#: Peak memory of sampling a population (and writing it), as a multiple of its size
#: (measured: 2.2x for 10^6 STG cells in Python, 2.1x through ``sbidic population``).
SAMPLING_FACTOR = 3
#: Bytes per DIC draw while the normalizing flow draws it (its hidden layers; measured
#: about 1.1 kB: 10^6 draws of one recording, 1.06 GB).
FLOW_DRAW_BYTES = 1200
#: Draws the flow makes at once (``ConditionalDICEstimator.sample_context``'s block).
FLOW_BLOCK = 2**14
#: Bytes per drawn value kept for a batch (the draws, their pooled and ranked copies).
DRAW_VALUE_BYTES = 32
#: Bytes per cell while a batch of cells is compensated (torch tensors, the DIC draws
#: kept with each cell); measured 300-500 B.
INFER_CELL_BYTES = 400


class NotEnoughMemoryError(MemoryError, ValueError):
    """The work asked for needs more memory than the machine has available.

    Both a :class:`MemoryError` and a :class:`ValueError` (a request the user can
    change: fewer cells, fewer recordings at once), so the CLI reports it in one line.

    Attributes
    ----------
    needed, available : int
        Estimated need and memory available, bytes.
    """

    def __init__(self, message: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


def release_free_memory() -> None:
    """Collect unreachable reference cycles, then return the heap's free memory to the
    system (glibc ``malloc_trim``; a no-op on other C libraries)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _meminfo_available() -> int | None:
    """``MemAvailable`` of /proc/meminfo, bytes (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """Memory left under this process's cgroup (v2) limit, bytes; None without one."""
    try:
        root = Path("/sys/fs/cgroup")
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Memory available to new allocations without swapping, bytes.

    The smaller of the kernel's ``MemAvailable`` (Linux) and what a cgroup memory
    limit leaves; elsewhere the free physical pages (``sysconf``); None when unknown.

    Examples
    --------
    >>> available = available_memory()
    >>> available is None or available > 0
    True
    """
    known = [m for m in (_meminfo_available(), _cgroup_available()) if m is not None]
    if not known:
        try:
            known = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
        except (ValueError, OSError, AttributeError):
            return None
    return min(known)


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:,.1f} GB" if n_bytes >= 1e8 else f"{n_bytes / 1e6:,.0f} MB"


def check_memory(needed: int, what: str, hint: str = "") -> None:
    """Refuse work that needs more memory than is available, before starting it.

    Parameters
    ----------
    needed : int
        Estimated peak memory of the work, bytes.
    what : str
        The work, as the message names it (e.g. ``"10,000,000,000 cells"``).
    hint : str, optional
        How to ask for less, appended to the message.

    Raises
    ------
    NotEnoughMemoryError
        ``needed`` exceeds :func:`available_memory` (never when that is unknown).

    Examples
    --------
    >>> check_memory(1, "one byte")
    >>> check_memory(10**18, "10^18 bytes")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sbidic._memory.NotEnoughMemoryError: 10^18 bytes need about 1,000,000,000.0 GB of memory; ...
    """
    available = available_memory()
    if available is None or needed <= available:
        return
    message = (
        f"{what} need about {_gb(needed)} of memory; this machine has {_gb(available)} available"
    )
    raise NotEnoughMemoryError(f"{message}{'; ' + hint if hint else ''}", needed, available)


def population_bytes(n_cells: int, n_conductances: int, factor: float = 1.0) -> int:
    """Memory of a population of ``n_cells`` cells, bytes (float64 conductances, DICs
    and residual), times ``factor`` (:data:`SAMPLING_FACTOR`: the peak of sampling it).

    Examples
    --------
    >>> population_bytes(1000, 8)  # 12 values of 8 bytes per cell
    96000
    """
    return int(8 * (n_conductances + _CELL_EXTRA) * n_cells * factor)


def inference_bytes(n_recordings: int, n_cells: int, n_draws: int, n_values: int,
                    n_conductances: int) -> int:  # fmt: skip
    """Peak memory of one batch of the inference, bytes (the flow's draws, the draws
    kept for the batch, the cells being compensated and their population).

    Parameters
    ----------
    n_recordings : int
        Recordings in the batch.
    n_cells : int
        Cells per recording.
    n_draws : int
        Posterior draws per recording.
    n_values : int
        Values per draw (2 DICs, or the conductances of an NPE posterior).
    n_conductances : int
        Conductances per cell.

    Examples
    --------
    >>> round(inference_bytes(1, 100_000, 1_000_000, 2, 8) / 1e9, 2)  # measured: 1.06
    1.31
    """
    flow = FLOW_DRAW_BYTES * min(n_recordings * n_draws, max(n_draws, FLOW_BLOCK))
    draws = DRAW_VALUE_BYTES * n_values * n_recordings * n_draws
    cells = n_recordings * n_cells * INFER_CELL_BYTES
    return flow + draws + cells + population_bytes(n_recordings * n_cells, n_conductances)
