"""The allocator setting the model benchmark can switch on: keep freed memory for reuse (``--retain-memory``)."""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["retain_freed_memory"]


def retain_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system (opt-in, process-wide).

    A training step allocates and frees the same large activation buffers again and again. glibc serves blocks above
    its mmap threshold (at most 32 MB) with fresh ``mmap`` calls, so every such tensor is page-faulted in anew on
    first touch, which on this project's CPU costs about as much as the arithmetic of a LeakyReLU over it. The batched
    model's activations are five times larger than the per-group ones and cross that threshold. This turns ``mmap``
    off for ``malloc`` and raises the trim threshold, so freed blocks are reused; memory is then not given back to the
    system until the process ends. Returns False (and does nothing) where glibc's ``mallopt`` is unavailable.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 1 << 30))
