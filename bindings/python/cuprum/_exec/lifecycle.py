# SPDX-License-Identifier: ISC
"""Child processes of one run: reaping, and the one stop sequence.

Every way a run ends early (timeout, fail-fast, cancellation, an exception,
a failed spawn) stops its children the same way: SIGTERM, then SIGKILL once
``cancel_grace`` has passed (at once when the grace is zero). Nothing here
waits: the driver calls :meth:`Lifecycle.tick` when :meth:`next_wakeup` is
due, and the run reaps a child when its pidfd is readable. Only
:meth:`Lifecycle.kill_now`, the last resort when a stop is itself
interrupted, blocks.

With ``ExecutionContext(process_group=True)`` every child of the run joins
one new process group (the first child's pid is its id) and every signal
of the stop sequence goes to the whole group, so grandchildren are stopped
too. The group cannot vanish while later stages join it: nothing reaps the
leader before every stage has started, and a zombie leader keeps its group.
A stopped run with a group is not done until the SIGKILL has been sent or
the group is empty, so a grandchild that ignores SIGTERM is still killed
when its parent has already exited.
"""

from __future__ import annotations

import math
import os
import signal
import time
import typing as typ

if typ.TYPE_CHECKING:
    from cuprum._engine import ChildProcess

_HAVE_PIDFD = hasattr(os, "pidfd_open")
#: Poll intervals used only when pidfds are unavailable (kernels before
#: 5.3): start short so quick children are noticed quickly, back off to spare
#: the CPU while a child runs long.
_POLL_MIN = 0.001
_POLL_MAX = 0.05


class Child:
    """One child process and what is known of its exit."""

    __slots__ = ("end", "index", "pid", "pidfd", "proc", "returncode", "start")

    def __init__(self, index: int, proc: ChildProcess, pidfd: int) -> None:
        self.index = index
        self.proc = proc
        self.pid = proc.pid
        self.pidfd = pidfd
        self.returncode: int | None = None
        self.start = time.monotonic()
        self.end = 0.0


class Lifecycle:
    """The children of one run, from start to reaping."""

    __slots__ = (
        "children",
        "grace",
        "group",
        "kill_at",
        "pgid",
        "poll_interval",
        "stopping",
        "unreaped",
        "use_pidfd",
    )

    def __init__(self, grace: float, *, group: bool = False) -> None:
        self.children: list[Child] = []
        #: True when the children run in one new process group.
        self.group = group
        #: The group's id once its first child started, else ``None``.
        self.pgid: int | None = None
        self.grace = grace
        self.unreaped = 0
        self.use_pidfd = _HAVE_PIDFD
        self.stopping = False
        self.kill_at: float | None = None
        self.poll_interval = _POLL_MIN

    def spawn_group(self) -> int | None:
        """The ``process_group`` argument for the next child's spawn:
        ``None`` without a group, 0 to create it, else the group to join."""
        if not self.group:
            return None
        return 0 if self.pgid is None else self.pgid

    def add(self, index: int, proc: ChildProcess, pidfd: int | None = None) -> Child:
        """Track a started child and its pidfd while pidfds work.

        ``pidfd`` is the one its spawner opened, now owned here (-1: none
        could be), or ``None`` to open one. When a child has no pidfd,
        :attr:`use_pidfd` turns false and the caller stops watching the
        pidfds of the children before this one.
        """
        if pidfd is None:
            pidfd = -1
            if self.use_pidfd:
                try:
                    pidfd = os.pidfd_open(proc.pid)
                except OSError:
                    self.use_pidfd = False
        elif pidfd < 0:
            self.use_pidfd = False
        elif not self.use_pidfd:
            os.close(pidfd)
            pidfd = -1
        child = Child(index, proc, pidfd)
        if self.group and self.pgid is None:
            self.pgid = proc.pid
        self.children.append(child)
        self.unreaped += 1
        return child

    def reap(self, child: Child) -> bool:
        """Collect ``child``'s exit status if it has exited; True if it just did.

        The caller closes the pidfd (after unwatching it).
        """
        if child.returncode is not None:
            return False
        returncode = child.proc.poll()
        if returncode is None:
            return False
        child.returncode = returncode
        child.end = time.monotonic()
        self.unreaped -= 1
        return True

    def poll_exits(self) -> list[Child]:
        """Without pidfds: reap whatever exited, backing off while none did."""
        reaped = [c for c in self.children if c.returncode is None and self.reap(c)]
        self.poll_interval = _POLL_MIN if reaped else min(self.poll_interval * 2, _POLL_MAX)
        return reaped

    def _signal_all(self, signum: int) -> None:
        if self.pgid is not None:
            try:
                os.killpg(self.pgid, signum)
            except ProcessLookupError:
                pass
            return
        for child in self.children:
            proc = child.proc
            if child.returncode is None and proc.returncode is None:
                try:
                    proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def stop(self, *, grace: float | None = None) -> None:
        """Stop every live child: SIGTERM (then SIGCONT) now, SIGKILL after the grace.

        ``grace`` defaults to the run's ``cancel_grace``; zero or less kills
        at once, infinity never escalates. Stopping again can only hasten
        the SIGKILL, never delay it.
        """
        grace = self.grace if grace is None else grace
        now = time.monotonic()
        if grace <= 0:
            self.kill_at = None
            self.stopping = True
            self._signal_all(signal.SIGKILL)
            return
        kill_at = None if grace == math.inf else now + grace
        if self.stopping:
            if kill_at is not None and (self.kill_at is None or kill_at < self.kill_at):
                self.kill_at = kill_at
            return
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        # A stopped child (SIGSTOP; SIGTTIN reading the terminal from a
        # group of its own) acts on SIGTERM only once continued, as
        # timeout(1) and libcuprum have it.
        self._signal_all(signal.SIGCONT)
        self.kill_at = kill_at

    def lingering(self) -> bool:
        """True while a stopped group still has members awaiting the SIGKILL.

        The run stays open until then, so the grace is honoured for
        grandchildren too and none outlives the run; with an infinite grace
        no SIGKILL is due and nothing is awaited.
        """
        if self.pgid is None or not self.stopping or self.kill_at is None:
            return False
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            # Empty (the id may even belong to someone else now): never
            # signal it again.
            self.kill_at = None
            return False
        return True

    def next_wakeup(self) -> float | None:
        """The monotonic time of the next SIGKILL or exit poll, or ``None``."""
        wakeup = self.kill_at
        if not self.use_pidfd and self.unreaped:
            poll_at = time.monotonic() + self.poll_interval
            wakeup = poll_at if wakeup is None else min(wakeup, poll_at)
        return wakeup

    def tick(self, now: float) -> list[Child]:
        """Send a due SIGKILL; without pidfds, return the children that exited."""
        reaped = self.poll_exits() if not self.use_pidfd and self.unreaped else []
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            self._signal_all(signal.SIGKILL)
        return reaped

    def kill_now(self) -> None:
        """Last resort, blocking: SIGKILL every live child and reap it."""
        self.stopping = True
        self.kill_at = None
        self._signal_all(signal.SIGKILL)
        for child in self.children:
            if child.returncode is None:
                child.returncode = child.proc.wait()
                child.end = time.monotonic()
                self.unreaped -= 1


__all__ = ["Child", "Lifecycle"]
