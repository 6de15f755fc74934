"""Async tests that other plugins own: left to them, with the database isolated.

anyio's pytest plugin runs every test that requests its ``anyio_backend``
fixture (``@pytest.mark.anyio``, or all async tests in its auto mode), on
asyncio or trio; pytest-trio runs tests marked ``trio``. The restflow-parity
plugin never runs such a test itself. Both plugins implement
``pytest_pyfunc_call`` with ``tryfirst=True``, so which one is asked first
depends on the plugin load order; asking who owns the test first makes the
answer the same in either order.

anyio runs its asyncio loop in the main thread, the thread that holds the
test's connection and transaction. The async ORM then goes to asgiref's
shared worker thread and its own connection, so rows leak into later tests.
``BorrowedConnections`` gives such a test (and its function-scoped async
fixtures) a one-thread executor whose thread uses the main thread's
connection objects, as Django's live server thread does, and routes the
test's thread-sensitive calls there with ``ThreadSensitiveContext``
(asgiref 3.13+). The main thread is busy running the loop meanwhile, so the
connection is used by one thread at a time. With an older asgiref the test
is left unisolated with an ``AsyncIsolationWarning`` that says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

__all__ = ["AsyncIsolationWarning", "BorrowedConnections", "owner", "wrap_steps"]


class AsyncIsolationWarning(pytest.PytestWarning):
    """An async database test that restflow-parity cannot isolate."""


def owner(item: pytest.Item) -> str | None:
    """The plugin that runs this test, when it is not restflow-parity's to run."""
    if "anyio_backend" in getattr(item, "fixturenames", ()):
        return "anyio"
    if item.get_closest_marker("trio") is not None:
        return "pytest-trio"
    return None


class BorrowedConnections:
    """A one-thread executor whose thread uses this thread's database connections.

    Make it outside the event loop: in a thread running a loop, Django's
    ``connections`` are per task, not the thread's own.
    """

    def __init__(self, name: str) -> None:
        from django.db import connections

        self._shared = [connections[alias] for alias in connections]
        for connection in self._shared:
            connection.inc_thread_sharing()
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix=f"restflow-parity connections of {name}",
            initializer=self._adopt,
        )

    def _adopt(self) -> None:
        from django.db import connections

        # In this thread only: Django's connections are thread-local.
        for connection in self._shared:
            connections[connection.alias] = connection

    def close(self) -> None:
        # Its thread ends here; thread-local storage goes with it, and the
        # borrowed connections stay open for the test's own teardown.
        self.executor.shutdown(wait=True)
        for connection in self._shared:
            connection.dec_thread_sharing()


def wrap_steps(
    function: Callable[..., Any], executor: concurrent.futures.Executor
) -> Callable[..., Any]:
    """``function`` (a coroutine or async-generator function), with each step
    on asyncio sending its thread-sensitive calls to ``executor``.

    On trio nothing is routed: Django's async ORM needs asyncio anyway.
    """
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        async def generator(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            steps = function(*args, **kwargs)
            value = await _step(steps.__anext__, executor)
            yield value
            try:
                await _step(steps.__anext__, executor)
            except StopAsyncIteration:
                return
            await steps.aclose()
            raise RuntimeError(f"{function.__qualname__} has more than one 'yield'")

        return generator

    @functools.wraps(function)
    async def coroutine(*args: Any, **kwargs: Any) -> Any:
        return await _step(lambda: function(*args, **kwargs), executor)

    return coroutine


async def _step(step: Callable[[], Any], executor: concurrent.futures.Executor) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio, or another library without an asyncio loop
        return await step()
    from asgiref.sync import ThreadSensitiveContext

    async with ThreadSensitiveContext(executor=executor):  # type: ignore[call-arg,unused-ignore]
        return await step()
