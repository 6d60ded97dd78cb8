# SPDX-License-Identifier: ISC
"""Child helper for the test suite, run as ``python3 child.py ACTION ...``.

Tests run this instead of shell tools so they control exact bytes, timing
and exit codes and depend on nothing installed but Python. It writes bytes
only (never through the locale-dependent text layer).
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _out(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main(argv: list[str]) -> int:
    """Perform each ``action arg`` pair in order; return the exit code."""
    code = 0
    items = iter(argv)
    for action in items:
        if action == "out":  # write a hex-escaped payload to stdout
            _out(1, bytes.fromhex(next(items)))
        elif action == "err":
            _out(2, bytes.fromhex(next(items)))
        elif action == "text":
            _out(1, next(items).encode())
        elif action == "etext":
            _out(2, next(items).encode())
        elif action == "sleep":
            time.sleep(float(next(items)))
        elif action == "exit":
            code = int(next(items))
        elif action == "env":
            _out(1, os.environ.get(next(items), "<unset>").encode())
        elif action == "cwd":
            _out(1, os.getcwd().encode())
        elif action == "echo-stdin":
            while chunk := os.read(0, 65536):
                _out(1, chunk)
        elif action == "ignore-term":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif action == "lines":  # N numbered lines
            count = int(next(items))
            _out(1, b"".join(b"%d\n" % i for i in range(count)))
        elif action == "bytes":  # N bytes of 'x'
            _out(1, b"x" * int(next(items)))
        elif action == "ebytes":  # N bytes of 'x' to stderr
            _out(2, b"x" * int(next(items)))
        elif action == "pipesize":  # capacity of the pipe on stdout
            import fcntl

            _out(2, str(fcntl.fcntl(1, getattr(fcntl, "F_GETPIPE_SZ", 1032))).encode())
        elif action == "epipesize":  # capacity of the pipe on stderr, told on stdout
            import fcntl

            _out(1, str(fcntl.fcntl(2, getattr(fcntl, "F_GETPIPE_SZ", 1032))).encode())
        elif action == "growpipe":  # enlarge the pipe on stdout to N bytes (at most pipe-max-size)
            import fcntl

            with open("/proc/sys/fs/pipe-max-size", "rb") as handle:
                size = min(int(next(items)), int(handle.read()))
            fcntl.fcntl(1, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
        elif action == "orphan":  # leave a grandchild holding stdout/stderr
            import subprocess

            subprocess.Popen(  # noqa: S603
                [sys.executable, "-I", "-c", f"import time; time.sleep({next(items)})"],
                close_fds=False,
            )
        elif action == "touch":  # create an empty file (a marker for the test)
            with open(next(items), "xb"):
                pass
        elif action == "fifo":  # open a FIFO to write and close it: wakes its reader
            with open(next(items), "wb"):
                pass
        elif action == "close-stdin":
            os.close(0)
        else:
            _out(2, f"unknown action {action}\n".encode())
            return 99
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
