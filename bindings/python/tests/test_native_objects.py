# SPDX-License-Identifier: ISC
"""The extension's objects as the interpreter sees them: garbage collection
and loading into subinterpreters.

``cuprum._native`` uses multi-phase initialisation, heap types and per-module
state; its objects that hold callables take part in garbage collection, so a
reference cycle through a line callback or an event hook is collected like
any Python cycle. On 3.12+ it declares support for subinterpreters with a
GIL of their own, which these tests load it into.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import typing as typ
import weakref

import pytest
from conftest import NATIVE as native
from conftest import needs_native

pytestmark = needs_native


def _template() -> tuple[object, ...]:
    from cuprum.events import ExecEvent

    fields = dict.fromkeys(ExecEvent._fields)
    fields.update(phase="stdout", program="p", argv=("p",), pid=1, tags={}, exec_id="id")
    return tuple(fields.values())


class _Owner:
    """Holds a native object whose callback is one of its own methods: the
    owner, the object and the bound method form a cycle."""

    def __init__(self, make: typ.Callable[[_Owner], object]) -> None:
        self.lines: list[object] = []
        self.splitter: typ.Any = make(self)

    def on_line(self, line: object) -> None:
        self.lines.append(line)


def _collected(make: typ.Callable[[_Owner], object], data: bytes = b"a\nb\n") -> list[object]:
    """Build the cycle, use it, drop it; return what the callback saw once
    the collector has freed the owner (fails if it was not freed)."""
    gc.collect()
    owner = _Owner(make)
    owner.splitter.feed(data)
    owner.splitter.finish()
    # What was delivered, without the cycle's own members.
    seen = [item for item in owner.lines if item is not owner and item is not owner.splitter]
    ref = weakref.ref(owner)
    del owner
    assert ref() is not None, "the cycle kept nothing alive: the test tests nothing"
    gc.collect()
    assert ref() is None, "a reference cycle through a native object was not collected"
    return seen


def test_line_splitter_cycle_through_callback_is_collected() -> None:
    seen = _collected(lambda owner: native.LineSplitter("utf-8", "strict", owner.on_line))
    assert seen == ["a", "b"]


def test_line_events_cycle_through_hook_is_collected() -> None:
    from cuprum.events import ExecEvent

    seen = _collected(
        lambda owner: native.LineEvents("utf-8", "strict", ExecEvent, _template(), (owner.on_line,), [])
    )
    assert [event.line for event in typ.cast(list[ExecEvent], seen)] == ["a", "b"]


def test_line_events_cycle_through_pending_is_collected() -> None:
    """The splitter holds the pending list, which holds the splitter."""
    from cuprum.events import ExecEvent

    class Awaitable:
        def __await__(self) -> typ.Generator[None, None, None]:
            yield

    def make(owner: _Owner) -> object:
        pending: list[object] = [owner]
        splitter = native.LineEvents("utf-8", "strict", ExecEvent, _template(), (lambda _e: Awaitable(),), pending)
        pending.append(splitter)
        owner.lines = pending
        return splitter

    seen = _collected(make)
    assert [type(item).__name__ for item in seen] == ["Awaitable", "Awaitable"]


class _Dropper:
    """Holds a splitter whose callback, at each line, drops the last outside
    reference to the holder and runs the collector."""

    def __init__(self, outside: dict[str, object], lines: list[str], *, events: bool) -> None:
        from cuprum.events import ExecEvent

        self.outside = outside
        self.lines = lines
        self.splitter: typ.Any = (
            native.LineEvents("utf-8", "strict", ExecEvent, _template(), (self.on_event,), [])
            if events
            else native.LineSplitter("utf-8", "strict", self.on_line)
        )

    def on_line(self, line: str) -> None:
        self.lines.append(line)
        self.outside.clear()
        gc.collect()

    def on_event(self, event: typ.Any) -> None:
        self.on_line(event.line)


@pytest.mark.parametrize("events", [False, True], ids=["LineSplitter", "LineEvents"])
def test_collection_inside_the_callback_leaves_the_splitter_whole(events: bool) -> None:
    """The callback makes the cycle holding its splitter unreachable but for
    the feed() running, and collects: the splitter is neither cleared nor
    freed mid-delivery (the call holds it), every line arrives, and the
    cycle is collected once the call returns."""
    gc.collect()
    outside: dict[str, object] = {}
    lines: list[str] = []
    outside["holder"] = _Dropper(outside, lines, events=events)
    ref = weakref.ref(outside["holder"])
    typ.cast(_Dropper, outside["holder"]).splitter.feed(b"a\nb\nc\n")
    assert lines == ["a", "b", "c"]
    gc.collect()
    assert ref() is None, "the cycle was not collected after the delivery"


@pytest.mark.parametrize(
    "make",
    [
        lambda: native.LineSplitter("utf-8", "strict", print),
        lambda: native.Capture("utf-8", "strict"),
        lambda: native.TextTee(2, "utf-8", "strict"),
    ],
    ids=["LineSplitter", "Capture", "TextTee(fd)"],
)
def test_objects_are_tracked_and_show_their_type(make: typ.Callable[[], object]) -> None:
    """Every native object is seen by the collector, with its heap type
    among its referents (the type keeps the module alive)."""
    obj = make()
    assert gc.is_tracked(obj)
    assert type(obj) in gc.get_referents(obj)
    assert type(obj).__module__ == "cuprum._native"
    with pytest.raises(TypeError):
        type(obj)()


def test_line_splitter_shows_its_callback_to_the_collector() -> None:
    def callback(_line: str) -> None:
        pass

    assert callback in gc.get_referents(native.LineSplitter("utf-8", "strict", callback))


def test_line_events_checks_the_template_against_exec_event() -> None:
    """The template must have ExecEvent's fields, as the pure engine checks."""
    from cuprum.events import ExecEvent

    with pytest.raises(TypeError, match="template of its fields"):
        native.LineEvents("utf-8", "strict", ExecEvent, _template()[:-1], (), [])


# Run in a fresh interpreter: a subinterpreter with its own GIL loads the
# extension, uses each kind of object, and the main interpreter's module
# still works after the subinterpreter is gone.  The subinterpreter gets a
# bare ``cuprum`` package object: the package's __init__ imports ctypes (for
# the load-error messages), which 3.12 refuses in such interpreters.
_SUBINTERPRETER = textwrap.dedent(
    """
    import sys
    try:
        import _interpreters as interpreters
        interp = interpreters.create("isolated")
        assert interpreters.get_config(interp).gil == "own"
    except ImportError:
        import _xxsubinterpreters as interpreters
        interp = interpreters.create(isolated=True)
    import cuprum._native as main_native

    code = '''
    import os, sys, types
    package = types.ModuleType("cuprum")
    package.__path__ = [PACKAGE_DIR]
    sys.modules["cuprum"] = package
    import cuprum._native as native
    from cuprum.events import ExecEvent
    assert native.name == "native"
    cap = native.Capture("utf-8", "strict")
    cap.feed(b"caf\\\\xc3\\\\xa9")
    assert cap.finish() == "caf\\\\u00e9"
    lines = []
    splitter = native.LineSplitter("utf-8", "strict", lines.append)
    splitter.feed(b"a\\\\r\\\\nb")
    splitter.finish()
    assert lines == ["a", "b"], lines
    events = []
    template = tuple(dict.fromkeys(ExecEvent._fields).values())
    ev = native.LineEvents("utf-8", "strict", ExecEvent, template, (events.append,), [])
    ev.feed(b"x\\\\n")
    assert [e.line for e in events] == ["x"] and type(events[0]) is ExecEvent
    r, w = os.pipe()
    os.write(w, b"1\\\\n2\\\\n")
    os.close(w)
    got = []
    assert native.consume(r, on_line=got.append) == "1\\\\n2\\\\n" and got == ["1", "2"]
    os.close(r)
    '''.replace("PACKAGE_DIR", repr(sys.argv[1]))
    failure = interpreters.run_string(interp, code)  # 3.13 returns, 3.12 raises
    assert failure is None, failure
    interpreters.destroy(interp)
    cap = main_native.Capture("utf-8", "strict")
    cap.feed(b"ok")
    print(cap.finish())
    """
)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="own-GIL subinterpreters need CPython 3.12+")
def test_loads_in_a_subinterpreter_with_its_own_gil() -> None:
    package_dir = os.path.dirname(native.__file__)
    done = subprocess.run(
        [sys.executable, "-c", _SUBINTERPRETER, package_dir],
        capture_output=True, text=True, check=False, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"


_RENAMED_FIELD = textwrap.dedent(
    """
    import collections
    import cuprum.events
    fields = [f for f in cuprum.events.ExecEvent._fields if f != "line"] + ["text"]
    cuprum.events.ExecEvent = collections.namedtuple("ExecEvent", fields)
    try:
        import cuprum._native
    except ImportError as exc:
        print(f"ImportError: {exc}")
    else:
        print("imported")
    """
)


def test_import_fails_naming_a_missing_exec_event_field() -> None:
    """The extension takes the event layout from ExecEvent's fields: without
    a field it fills in, the import fails and says which."""
    done = subprocess.run(
        [sys.executable, "-c", _RENAMED_FIELD],
        capture_output=True, text=True, check=False, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ImportError: cuprum._native fills in the fields 'timestamp' and 'line'")
    assert "has no field 'line'" in done.stdout, done.stdout
