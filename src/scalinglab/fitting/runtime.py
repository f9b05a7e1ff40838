"""Process settings that make many small numpy fits fast on a small machine.

* BLAS and OpenMP pools pinned to one thread inside fits: many tiny BLAS calls are ~10x slower
  multi-threaded on a 2-core machine.
* glibc's allocator told to keep freed memory (mmap threshold 64 MiB, trim threshold 256 MiB).
  The optimiser allocates and frees arrays of a few hundred KiB every iteration. With glibc's
  defaults, those blocks can go back to the operating system and fault back in, page by page,
  which made the batched fit ~1.6x slower. This is done once per process, on Linux with glibc
  only. Set ``SCALINGLAB_NO_MALLOPT=1`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from threadpoolctl import ThreadpoolController

_CONTROLLER: ThreadpoolController | None = None
_ALLOCATOR_TUNED = False
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once; True when applied."""
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or os.environ.get("SCALINGLAB_NO_MALLOPT") or not sys.platform.startswith("linux"):
        return _ALLOCATOR_TUNED
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        ok = False
    _ALLOCATOR_TUNED = ok
    return ok


def single_threaded_blas():
    """Context pinning BLAS/OpenMP pools to one thread; the library scan is done once per process."""
    global _CONTROLLER
    tune_allocator()
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)
