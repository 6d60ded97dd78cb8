# SPDX-License-Identifier: ISC
"""Pipe creation for the execution layer.

Pipes cuprum creates are close-on-exec and, where data volume matters,
enlarged with ``F_SETPIPE_SZ`` to ``/proc/sys/fs/pipe-max-size``: the 64 KiB
default is the main limit on throughput between processes. Failure to
enlarge is ignored, since a smaller pipe is slower, never wrong.
"""

from __future__ import annotations

import fcntl
import os

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_max_size: int | None = None


def max_pipe_size() -> int:
    """Return ``/proc/sys/fs/pipe-max-size`` (read once), or 0 when unknown."""
    global _max_size
    if _max_size is None:
        try:
            with open("/proc/sys/fs/pipe-max-size", "rb") as handle:
                _max_size = int(handle.read())
        except (OSError, ValueError):
            _max_size = 0
    return _max_size


def make_pipe(*, enlarge: bool) -> tuple[int, int]:
    """Create a close-on-exec pipe ``(read_fd, write_fd)``, enlarged if asked."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    if enlarge:
        size = max_pipe_size()
        if size:
            try:
                fcntl.fcntl(write_fd, _F_SETPIPE_SZ, size)
            except OSError:
                pass
    return read_fd, write_fd


__all__ = ["make_pipe", "max_pipe_size"]
