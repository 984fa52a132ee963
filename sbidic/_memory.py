"""Give freed heap memory back to the operating system between batches.

Batched work (``sbidic.infer`` over many recordings) allocates and frees arrays of
varying sizes every batch. glibc keeps such freed blocks in the heap (its mmap
threshold rises after each large free), so the resident memory of a long run grows
by about 10 MB per batch although the live data stay the same (measured: 2,560
recordings in batches of 64, resident memory 682 -> 1,045 MB without trimming, flat at
691 MB with it, numpy's traced memory flat at 62 MB in both).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


def release_free_memory() -> None:
    """Return the heap's free memory to the system (glibc ``malloc_trim``; a no-op on
    other C libraries)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
