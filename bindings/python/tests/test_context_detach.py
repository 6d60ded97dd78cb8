# SPDX-License-Identifier: ISC
"""Detaching registrations and leaving scopes, in any order.

``detach()`` takes out its own registration and nothing else: the context
becomes what it would be had that registration never been made, so a
revoked grant stays revoked, a scope's narrowing stays in force, and the
other registrations stay, whatever the order of the detaches. A scope's
exit drops its narrowing and what its block left registered, and keeps
what was detached in it detached.
"""

from __future__ import annotations

import asyncio
import threading
import typing as typ

import pytest
from conftest import cmd

from cuprum import (
    CommandResult,
    CuprumContext,
    ExecEvent,
    ForbiddenProgramError,
    HookRegistration,
    Program,
    SafeCmd,
    ScopeConfig,
    after,
    allow,
    before,
    current_context,
    env,
    logging_hook,
    observe,
    scoped,
)

CAT = Program("cat")
TRUE = Program("true")
FALSE = Program("false")
ONLY_TRUE = ScopeConfig(allowlist=frozenset({TRUE}))


def _before(cmd: SafeCmd) -> None:
    """A before hook."""


def _after(cmd: SafeCmd, result: CommandResult) -> None:
    """An after hook."""


def _observe(event: ExecEvent) -> None:
    """An observe hook."""


class _Hook:
    """A hook of any kind, each instance a distinct one."""

    def __call__(self, *args: object) -> None:
        """Do nothing."""


def test_a_handle_made_outside_a_scope_and_detached_in_it_keeps_its_narrowing() -> None:
    """A library's hook torn down inside an application's scope: the hook
    goes, the scope's allowlist stays."""
    seen: list[ExecEvent] = []
    watch = observe(seen.append)
    with scoped(ONLY_TRUE):
        watch.detach()
        assert current_context().allowlist == {TRUE}
        assert current_context().observe_hooks == ()
        with pytest.raises(ForbiddenProgramError, match="'false'"):
            cmd("false").run_sync()
        assert cmd("true").run_sync().ok
    assert seen == []
    assert current_context() == CuprumContext()


def test_a_revoked_grant_stays_revoked_when_a_later_handle_detaches() -> None:
    """grant, then watch; the grant is revoked first: the watch stays until
    detached, and detaching it does not bring the grant back."""
    seen: list[ExecEvent] = []
    with scoped(ONLY_TRUE):
        grant = allow(FALSE)
        watch = observe(seen.append)
        grant.detach()
        assert current_context().allowlist == {TRUE}
        assert current_context().observe_hooks == (seen.append,)
        assert cmd("true").run_sync().ok
        assert seen and all(event.program == TRUE for event in seen)
        watch.detach()
        assert current_context().allowlist == {TRUE}
        assert current_context().observe_hooks == ()
        with pytest.raises(ForbiddenProgramError, match="'false'"):
            cmd("false").run_sync()
        grant.detach()  # again: nothing changes
        assert current_context().allowlist == {TRUE}


def test_a_handle_made_in_a_scope_and_detached_after_it_changes_nothing() -> None:
    """What a block left registered goes with the scope; detaching it after
    the block does not bring the scope's allowlist back."""
    seen: list[ExecEvent] = []
    with scoped(ONLY_TRUE):
        watch = observe(seen.append)
        grant = allow(CAT)
    assert current_context() == CuprumContext()
    watch.detach()
    grant.detach()
    assert current_context() == CuprumContext()
    assert cmd("false").run_sync().exit_code == 1
    assert seen == []


_KINDS = ("allow", "before", "after", "observe", "env")


def _in_force(ctx: CuprumContext) -> set[str]:
    """Which of the registrations of the test below ``ctx`` has."""
    present = {
        "allow": ctx.is_allowed(CAT),
        "before": _before in ctx.before_hooks,
        "after": _after in ctx.after_hooks,
        "observe": _observe in ctx.observe_hooks,
        "env": dict(ctx.env_overlay or {}) == {"CUPRUM_TEST": "1"},
    }
    return {kind for kind, here in present.items() if here}


@pytest.mark.parametrize("first", _KINDS)
def test_detaching_one_registration_keeps_the_others(first: str) -> None:
    """One registration of each kind; detach ``first``, then the rest
    oldest first: each detach takes out exactly its own."""
    with scoped(ONLY_TRUE):
        handles = {
            "allow": allow(CAT),
            "before": before(_before),
            "after": after(_after),
            "observe": observe(_observe),
            "env": env(CUPRUM_TEST="1"),
        }
        remaining = set(_KINDS)
        for kind in (first, *(k for k in _KINDS if k != first)):
            handles[kind].detach()
            remaining.discard(kind)
            assert _in_force(current_context()) == remaining, kind
            assert current_context().allowlist == {TRUE} | ({CAT} if "allow" in remaining else set())
        assert current_context().env_overlay is None
    assert current_context() == CuprumContext()


def test_detaching_a_middle_registration_keeps_the_order_of_the_rest() -> None:
    b1, b2, b3, a1, a2, a3 = (_Hook() for _ in range(6))
    handles = [before(b1), after(a1), env(A="1"), before(b2), after(a2), env(A="2", B="2")]
    handles += [before(b3), after(a3), env(C="3")]
    handles[3].detach()
    handles[4].detach()
    handles[5].detach()
    ctx = current_context()
    assert ctx.before_hooks == (b1, b3)
    assert ctx.after_hooks == (a3, a1)
    assert dict(ctx.env_overlay or {}) == {"A": "1", "C": "3"}
    handles[2].detach()
    assert dict(current_context().env_overlay or {}) == {"C": "3"}
    for handle in handles:
        handle.detach()
    assert current_context() == CuprumContext()


def test_the_same_hook_registered_twice_each_handle_removes_its_own() -> None:
    first = before(_before)
    second = before(_before)
    first.detach()
    assert current_context().before_hooks == (_before,)
    first.detach()  # idempotent: the other registration stays
    assert current_context().before_hooks == (_before,)
    second.detach()
    second.detach()
    assert current_context().before_hooks == ()


def test_revoking_a_grant_inside_a_nested_scope_keeps_that_scope_narrowing() -> None:
    with scoped(ScopeConfig(allowlist=frozenset({TRUE, CAT}))):
        grant = allow(FALSE)
        with scoped(ScopeConfig(allowlist=frozenset({TRUE, FALSE}))) as inner:
            assert inner.allowlist == {TRUE, FALSE}
            grant.detach()
            assert current_context().allowlist == {TRUE}
            with pytest.raises(ForbiddenProgramError, match="'cat'"):
                cmd("cat").run_sync()
            with pytest.raises(ForbiddenProgramError, match="'false'"):
                cmd("false").run_sync()
        assert current_context().allowlist == {TRUE, CAT}
    assert current_context() == CuprumContext()


def test_a_hook_detached_inside_a_scope_stays_detached_after_it() -> None:
    calls: list[SafeCmd] = []
    hook = before(calls.append)
    with scoped(ScopeConfig(observe_hooks=(_observe,), timeout=5)):
        hook.detach()
        assert current_context().before_hooks == ()
        assert current_context().observe_hooks == (_observe,)
    assert current_context() == CuprumContext()
    cmd("true").run_sync()
    assert calls == []


def test_one_scope_object_entered_twice_with_a_detach_between() -> None:
    only_true = scoped(ONLY_TRUE)
    with only_true:
        hook = before(_before)
        with only_true:
            hook.detach()
            assert current_context().allowlist == {TRUE}
            assert current_context().before_hooks == ()
        assert current_context().allowlist == {TRUE}
        assert current_context().before_hooks == ()
    assert current_context() == CuprumContext()


def test_a_thread_does_not_see_or_change_another_thread_registrations() -> None:
    """Each thread has its own context: detaching a handle in a thread where
    it never was in force is an error that says so, and changes nothing;
    the handle still works where it was made."""
    hook = before(_before)
    seen: list[tuple[object, ...]] = []
    errors: list[ValueError] = []

    def elsewhere() -> None:
        seen.append(current_context().before_hooks)
        try:
            hook.detach()
        except ValueError as exc:
            errors.append(exc)
        seen.append(current_context().before_hooks)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert seen == [(), ()]
    assert len(errors) == 1
    assert "not in force in this thread or task" in str(errors[0])
    assert current_context().before_hooks == (_before,)
    hook.detach()
    assert current_context() == CuprumContext()
    hook.detach()


def test_a_task_detaches_in_its_own_context_only() -> None:
    """A task inherits its creator's chain; a detach in the task takes the
    registration out of the task's context, not out of its creator's."""

    async def main() -> tuple[set[str], set[str], set[str]]:
        grant = allow(CAT)
        hook = before(_before)

        async def task() -> set[str]:
            watch = observe(_observe)
            grant.detach()
            try:
                return _in_force(current_context())
            finally:
                watch.detach()

        in_task = await asyncio.create_task(task())
        in_main = _in_force(current_context())
        grant.detach()
        after_main = _in_force(current_context())
        hook.detach()

        async def register() -> HookRegistration:
            return observe(_observe)

        made_in_a_task = await asyncio.create_task(register())
        with pytest.raises(ValueError, match="never was; detach it in the thread or task that made it"):
            made_in_a_task.detach()
        return in_task, in_main, after_main

    with scoped(ONLY_TRUE):
        in_task, in_main, after_main = asyncio.run(main())
        assert current_context().allowlist == {TRUE}
    assert in_task == {"before", "observe"}
    assert in_main == {"allow", "before"}
    assert after_main == {"before"}


def test_tasks_sharing_a_scope_detach_in_any_order() -> None:
    """Two tasks in one shared scope object, each detaching its handles out
    of order while the other is inside: each sees only its own changes."""
    policy = scoped(ONLY_TRUE)
    results: dict[str, tuple[object, ...]] = {}

    async def user(name: str, hook: _Hook, ready: asyncio.Event, go: asyncio.Event) -> None:
        with policy:
            grant = allow(CAT)
            registration = before(hook)
            ready.set()
            await go.wait()
            grant.detach()
            results[name + " inside"] = (current_context().allowlist, current_context().before_hooks)
            registration.detach()
        results[name + " after"] = (current_context().allowlist, current_context().before_hooks)

    hook_a, hook_b = _Hook(), _Hook()

    async def main() -> None:
        a_ready, b_ready, a_go, b_go = (asyncio.Event() for _ in range(4))
        a = asyncio.create_task(user("a", hook_a, a_ready, a_go))
        await a_ready.wait()
        b = asyncio.create_task(user("b", hook_b, b_ready, b_go))
        await b_ready.wait()
        a_go.set()
        await a
        b_go.set()
        await b

    asyncio.run(main())
    assert results == {
        "a inside": ({TRUE}, (hook_a,)),
        "a after": (frozenset(), ()),
        "b inside": ({TRUE}, (hook_b,)),
        "b after": (frozenset(), ()),
    }


NOTHING = ScopeConfig(allowlist=frozenset())
TRUE_OR_CAT = ScopeConfig(allowlist=frozenset({TRUE, CAT}))


def _scope_in_generator(config: ScopeConfig) -> typ.Iterator[None]:
    """A generator that holds a scope open across its ``yield``."""
    with scoped(config):
        yield


def test_a_scope_left_out_of_order_keeps_the_later_scopes() -> None:
    """A generator's scope closed inside a scope entered after it: the later
    scope, still open, keeps its narrowing; what the generator's block left
    registered goes with it."""
    seen: list[ExecEvent] = []
    opened = _scope_in_generator(TRUE_OR_CAT)
    next(opened)
    watch = observe(seen.append)
    with scoped(NOTHING):
        next(opened, None)
        assert current_context().allowlist == frozenset()
        assert current_context().observe_hooks == ()
        with pytest.raises(ForbiddenProgramError, match="'true'"):
            cmd("true").run_sync()
    assert current_context() == CuprumContext()
    watch.detach()
    assert seen == []


def test_a_scope_left_in_another_task_keeps_that_task_scopes() -> None:
    """An async generator's scope entered in one task and closed in another
    that inherited it (an async fixture torn down elsewhere): the closing
    task's own scope stays in force."""

    async def scope_in_agen() -> typ.AsyncIterator[None]:
        with scoped(NOTHING):
            yield

    async def main() -> None:
        held = scope_in_agen()
        await held.__anext__()

        async def worker() -> None:
            with scoped(ONLY_TRUE):
                await anext(held, None)
                assert current_context().allowlist == {TRUE}
                with pytest.raises(ForbiddenProgramError, match="'cat'"):
                    cmd("cat").run_sync()

        await asyncio.create_task(worker())

    asyncio.run(main())


def test_a_shared_scope_left_out_of_order_again_and_again() -> None:
    """A shared scope object entered around other scopes left out of order,
    many times: each exit takes out its own entry, nothing else."""
    shared = scoped(ONLY_TRUE)
    for _ in range(100):
        opened = _scope_in_generator(TRUE_OR_CAT)
        next(opened)
        with shared:
            next(opened, None)
            assert current_context().allowlist == {TRUE}
        assert current_context() == CuprumContext()


def test_a_logging_hook_refused_in_another_thread_detaches_later() -> None:
    """A logging_hook whose detach was refused in a thread where it never was
    in force is still detached where it is."""
    hook = logging_hook()
    refused: list[BaseException] = []

    def elsewhere() -> None:
        try:
            hook.detach()
        except ValueError as error:
            refused.append(error)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert len(refused) == 1
    hook.detach()
    assert current_context() == CuprumContext()
