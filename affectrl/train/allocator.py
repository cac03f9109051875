"""Keep freed memory for reuse: glibc allocator settings for the training and inference loops.

PyTorch on the CPU takes every intermediate tensor from malloc. glibc serves blocks above its
mmap threshold with fresh pages from the kernel, and hands the top of its heap back to the
kernel whenever more than its trim threshold lies free there; the megabyte-sized tensors of a
training step (the feed-forward's hidden layer, attention scores, per-edge messages) were then
paged in afresh at every step. Those page faults cost 7-10% of COGMEN's training epoch and more
of graph-agent inference on this project's machines (docs/PERFORMANCE.md). `keep_freed_memory`
raises both thresholds, so the heap keeps what a step freed for the next one; the peak memory
is the same, only not handed back between steps. glibc's own tuning wins: nothing is changed
when any MALLOC_* variable is set, nor off glibc (macOS, musl), where this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters (glibc's malloc.h) and the values set
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {
    M_MMAP_THRESHOLD: 32 << 20,  # glibc's largest on 64-bit: blocks below it come from the heap
    M_TRIM_THRESHOLD: 1 << 30,  # free memory at the heap's top kept up to this size
    M_TOP_PAD: 64 << 20,  # extra heap asked for at once, fewer calls to the kernel
}


def keep_freed_memory() -> bool:
    """Apply `SETTINGS` with glibc's mallopt; True when all were accepted."""
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only  # noqa: B018
    except (OSError, AttributeError):
        return False
    return all(libc.mallopt(param, value) == 1 for param, value in SETTINGS.items())
