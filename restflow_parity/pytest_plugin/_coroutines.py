"""Running an ``async def`` database test the way Django's runner runs one.

Django runs an ``async def`` test through ``async_to_sync`` from the main
thread: its event loop lives in another thread, and every thread-sensitive
call (the async ORM, sync views, WSGI requests) comes back to the main
thread, which holds the test's connection and transaction.

``TestLoop`` (``_testloop.py``) does that for one pytest test and its
function-scoped async fixtures: one event loop per test, in a reused thread.
Each step (a fixture's setup, the test, a fixture's teardown) runs on it
while the main thread serves the step's thread-sensitive calls, so an
async-generator fixture's teardown runs on the loop its setup ran on. The
helpers here find what to run on it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from restflow_parity._thirdparty.pytest_asyncio import made_by_pytest_asyncio

__all__ = [
    "async_fixture_function",
    "coroutine_test",
    "executor_context_supported",
    "first_step",
]


def executor_context_supported() -> bool:
    """Whether ``ThreadSensitiveContext`` takes an executor (asgiref 3.13+)."""
    from asgiref.sync import ThreadSensitiveContext

    return "executor" in inspect.signature(ThreadSensitiveContext).parameters


def async_fixture_function(obj: Any) -> Callable[..., Any] | None:
    """The fixture's ``async def`` function, unwrapped as for tests, or None."""
    obj = getattr(obj, "__func__", obj)
    while obj is not None:
        if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
            return obj  # type: ignore[no-any-return]
        obj = getattr(obj, "__wrapped__", None)
    return None


def first_step(generator: AsyncGenerator[Any, None], shared: bool) -> Awaitable[Any]:
    """Start an async-generator fixture, up to its ``yield``.

    Without a shared loop, the setup's loop is closed before the teardown, and
    closing it would finalize every async generator first run on it, so the
    teardown would be skipped: the loop's asyncgen hooks are kept off this one.
    """
    if shared:
        return generator.__anext__()
    hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(None, None)
    try:
        return generator.__anext__()  # the hooks run on this first call
    finally:
        sys.set_asyncgen_hooks(*hooks)


def coroutine_test(obj: Any) -> tuple[Callable[..., Any] | None, bool]:
    """The test's coroutine function, and whether pytest-asyncio wrapped it.

    pytest-asyncio swaps the test for a sync wrapper made with functools.wraps;
    its public ``__wrapped__`` leads back to the user's coroutine function.
    Only that wrapper is looked through: any other sync wrapper of a
    coroutine (hypothesis's ``@given``, a user's decorator) is the test, and
    running what it wraps would skip what it does.
    """
    if inspect.iscoroutinefunction(obj):
        return obj, False
    wrapped = getattr(obj, "__wrapped__", None)
    if made_by_pytest_asyncio(obj) and inspect.iscoroutinefunction(wrapped):
        return wrapped, True
    return None, False
