"""Silencing pybullet's C-level chatter ("pybullet build time" on stderr, "argv[0]=" and
urdfdom warnings on stdout), which bypasses Python and would mix with the program's own
output."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

_LIBC = ctypes.CDLL(None)


@contextlib.contextmanager
def quiet_stdout():
    """Send file descriptors 1 and 2 to /dev/null for the duration of the block
    (exceptions still propagate; they are printed after the block)."""
    streams = [s for s in (sys.stdout, sys.stderr) if _has_fd(s)]
    for stream in streams:
        stream.flush()
    saved = [(stream.fileno(), os.dup(stream.fileno())) for stream in streams]
    try:
        with open(os.devnull, "w") as devnull:
            for fd, _ in saved:
                os.dup2(devnull.fileno(), fd)
            yield
    finally:
        _LIBC.fflush(None)  # C stdio may still buffer what pybullet printed: drop it here
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def _has_fd(stream) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):  # pytest capture, StringIO
        return False
