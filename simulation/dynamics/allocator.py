"""Keep freed memory in the process, so that the learned engine's short-lived tensors do
not page-fault their memory in again on every allocation.

Each network layer over a batch of scenes allocates activations of about a megabyte
(thousands of edges x 64 float32) and frees them moments later. By default glibc serves
such blocks with fresh ``mmap`` pages and returns freed heap memory above 128 KiB to the
system, so every layer zero-fills and faults in its pages anew; on the 2-core benchmark
machine that was about a tenth of a batched rollout's time. :func:`retain_freed_memory`
raises both thresholds (what PyTorch's CPU performance guide gets by swapping in a
caching allocator such as jemalloc): blocks up to 64 MiB come from the heap, and up to
256 MiB of freed memory stay in it for reuse."""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 64 << 20  # bytes: larger blocks still come from mmap
TRIM_THRESHOLD = 256 << 20  # bytes of free heap memory kept before any is given back


def retain_freed_memory() -> bool:
    """Set the process's glibc malloc thresholds (a process-wide setting). Returns whether
    it could: False where the C library is not glibc (no ``mallopt``)."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
