# SPDX-License-Identifier: ISC
"""The extension's objects called from a second thread while a first one is
inside a call that released the GIL (or runs Python code).

A native ``Capture.read_from`` reads into the capture's own block with the
GIL released; a ``finish()`` decodes that block through a codec and error
handler that may be Python code. Meanwhile a call that would move, free or
fill the block raises ``RuntimeError`` naming both methods and changes
nothing, and the object stays usable. ``Process.wait`` in two threads, or
with ``poll()`` beside it, reaps the child once and both see its status,
as with ``subprocess.Popen``. Skipped when ``cuprum._native`` is not built.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import subprocess
import sys
import threading
import time
import typing as typ

import pytest
from conftest import NATIVE as native
from conftest import needs_native

pytestmark = needs_native

# Past the capture's 4 MiB threshold: feeding this much moves the block
# from malloc'd memory into a str, freeing the one a read would fill.
_BIG = 8 << 20


def _wchan(tid: int) -> str:
    try:
        with open(f"/proc/self/task/{tid}/wchan") as f:
            return f.read().strip()
    except OSError:
        return "0"


def _state(tid: int) -> str:
    with open(f"/proc/self/task/{tid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def _await_blocked(tid: int) -> None:
    """Return once thread ``tid`` sleeps in the kernel on something other
    than a futex (which is how it would wait for the GIL): inside the call
    that released the GIL."""
    deadline = time.monotonic() + 60
    blank = 0
    while True:
        wchan = _wchan(tid)
        if _state(tid) == "S" and _wchan(tid) == wchan:
            if wchan not in ("", "0") and "futex" not in wchan:
                return
            # A thread caught between waking and running shows "0" once;
            # a kernel that hides wchan always does.
            blank = blank + 1 if wchan in ("", "0") else 0
            if blank > 1000:
                pytest.skip("/proc/self/task/<tid>/wchan tells nothing here")
        assert time.monotonic() < deadline, f"thread {tid} never blocked (wchan {wchan!r})"
        time.sleep(0.001)


class _Call(threading.Thread):
    """Runs ``fn`` in a thread of its own, keeping its result or error."""

    def __init__(self, fn: typ.Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: object = None
        self.error: BaseException | None = None
        self.tid = 0
        self.started_call = threading.Event()

    def run(self) -> None:
        self.tid = threading.get_native_id()
        self.started_call.set()
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def begin(self) -> _Call:
        self.start()
        self.started_call.wait()
        _await_blocked(self.tid)
        return self

    def outcome(self) -> object:
        self.join(60)
        assert not self.is_alive(), "the call never returned"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def pipe() -> typ.Iterator[tuple[int, int]]:
    r, w = os.pipe()
    try:
        yield r, w
    finally:
        for fd in (r, w):
            with contextlib.suppress(OSError):
                os.close(fd)


def _refused(method: str, running: str, how: str = "runs in another thread") -> typ.Any:
    return pytest.raises(
        RuntimeError,
        match=rf"^Capture\.{method}\(\) called while Capture\.{running}\(\) {how}$",
    )


@pytest.mark.parametrize("capped", [False, True], ids=["plain", "capped"])
def test_calls_during_read_from_in_another_thread_are_refused(pipe: tuple[int, int], capped: bool) -> None:
    r, w = pipe
    cap = native.Capture("utf-8", "strict", 1 << 30, "truncate") if capped else native.Capture("utf-8", "strict")
    cap.feed(b"head ")
    reader = _Call(lambda: cap.read_from(r, 65536)).begin()
    other_r, other_w = os.pipe()
    try:
        os.write(other_w, b"other")
        try:
            with _refused("feed", "read_from"):
                cap.feed(b"x" * _BIG)
            with _refused("read_from", "read_from"):
                cap.read_from(other_r, 65536)
            with _refused("finish", "read_from"):
                cap.finish()
            # The counts as they were when the read began.
            assert cap.nbytes == 5
            assert cap.truncated is False
        finally:
            # Let the read end whatever happened above.
            os.write(w, b"tail")
        assert reader.outcome() == 4
        assert os.read(other_r, 100) == b"other", "the refused read_from read nonetheless"
    finally:
        os.close(other_r)
        os.close(other_w)
    assert cap.nbytes == 9
    cap.feed(b"!")
    assert cap.finish() == "head tail!"
    # Usable again after finishing, with the read path too.
    os.write(w, b"again")
    assert cap.read_from(r, 65536) == 5
    assert cap.finish() == "again"


def test_a_large_capture_read_into_its_str_is_refused_too(pipe: tuple[int, int]) -> None:
    r, w = pipe
    cap = native.Capture("utf-8", "strict")
    cap.feed(b"a" * _BIG)
    reader = _Call(lambda: cap.read_from(r, 65536)).begin()
    try:
        with _refused("feed", "read_from"):
            cap.feed(b"b" * _BIG)
        with _refused("finish", "read_from"):
            cap.finish()
    finally:
        os.write(w, b"end")
    assert reader.outcome() == 3
    text = cap.finish()
    assert len(text) == _BIG + 3
    assert text.endswith("aend")


def test_dropping_the_capture_during_a_read_keeps_it_alive(pipe: tuple[int, int]) -> None:
    """The running call holds the object: dropping every other reference
    and collecting frees nothing under the read."""
    import gc

    r, w = pipe
    box = [native.Capture("utf-8", "strict")]
    box[0].feed(b"kept ")
    reader = _Call(lambda: box[0].read_from(r, 65536)).begin()
    cap = box.pop()
    del cap
    gc.collect()
    os.write(w, b"read")
    assert reader.outcome() == 4


_CALLS: list[BaseException] = []


def _recalling(exc: UnicodeError) -> tuple[str, int]:
    """An error handler that calls the capture being finished (the first
    time only: without the fix, its finish() would recurse)."""
    assert isinstance(exc, UnicodeDecodeError)
    if not _TARGET:
        return "?", exc.end
    cap, other_r = _TARGET.pop()
    for call in (lambda: cap.feed(b"y" * _BIG), cap.finish, lambda: cap.read_from(other_r, 65536)):
        try:
            call()
        except RuntimeError as err:
            _CALLS.append(err)
    return "?", exc.end


_TARGET: list[tuple[typ.Any, int]] = []
codecs.register_error("cuprum-test-recall", _recalling)


@pytest.mark.parametrize(
    ("encoding", "bad"),
    [("utf-8", b"\xff"), ("utf-16-le", b"\x00\xdc")],
    ids=["utf-8", "utf-16-le"],
)
def test_calls_from_finishs_error_handler_are_refused(pipe: tuple[int, int], encoding: str, bad: bytes) -> None:
    """A finish() whose (Python) error handler calls the capture back: the
    calls are refused, so the block being decoded stays where it is."""
    r, w = pipe
    cap = native.Capture(encoding, "cuprum-test-recall")
    cap.feed("ok ".encode(encoding) + bad + " more".encode(encoding))
    os.write(w, b"unread")
    _TARGET[:] = [(cap, r)]
    _CALLS.clear()
    try:
        text = cap.finish()
    finally:
        _TARGET.clear()
    assert text == "ok ? more"
    assert [str(err) for err in _CALLS] == [
        f"Capture.{method}() called while Capture.finish() decodes the capture"
        for method in ("feed", "finish", "read_from")
    ]
    assert os.read(r, 100) == b"unread"
    cap.feed("z".encode(encoding))
    assert cap.finish() == "z"


def _blocked_child(r: int, code: int) -> typ.Any:
    """A child that exits with ``code`` once ``r``'s writer is closed."""
    argv = [sys.executable, "-c", f"import sys; sys.stdin.buffer.read(); sys.exit({code})"]
    proc = native.spawn(argv, stdin=r, stdout=subprocess.DEVNULL)
    pidfd = proc.take_pidfd()
    if pidfd >= 0:
        os.close(pidfd)
    return proc


def test_wait_in_two_threads_gives_both_the_status(pipe: tuple[int, int]) -> None:
    r, w = pipe
    proc = _blocked_child(r, 3)
    os.close(r)
    waiters = [_Call(proc.wait).begin() for _ in range(2)]
    os.close(w)
    assert [waiter.outcome() for waiter in waiters] == [3, 3]
    assert proc.returncode == 3
    assert proc.poll() == 3


def test_poll_beside_a_waiting_thread_never_misreports(pipe: tuple[int, int]) -> None:
    r, w = pipe
    proc = _blocked_child(r, 5)
    os.close(r)
    waiter = _Call(proc.wait).begin()
    assert proc.poll() is None
    os.close(w)
    # Whichever reaps the child, neither may report anything but its status.
    while (code := proc.poll()) is None:
        time.sleep(0.001)
    assert code == 5
    assert waiter.outcome() == 5
    assert proc.returncode == 5
