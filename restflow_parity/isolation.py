"""Running an ``async def`` database test the way Django's runner runs one.

Django runs an ``async def`` test through ``async_to_sync`` from the main
thread: its event loop lives in another thread, and every thread-sensitive
call (the async ORM, sync views, WSGI requests) comes back to the main
thread, which holds the test's connection and transaction.

``PerTestLoop`` does that for one pytest test and its function-scoped async
fixtures: one event loop per test, in a thread of its own. Each step (a
fixture's setup, the test, a fixture's teardown) runs on it while the main
thread serves the step's thread-sensitive calls, so an async-generator
fixture's teardown runs on the loop its setup ran on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import queue
import sys
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

__all__ = [
    "PerTestLoop",
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


class PerTestLoop:
    """One test's event loop, running in a thread of its own.

    ``run`` runs one step (a fixture's setup or teardown, the test) on the
    loop while the main thread waits, serving the step's thread-sensitive
    calls (``ThreadSensitiveContext`` with an executor, asgiref 3.13+).
    Context variables a step sets carry over to the next, as with
    pytest-asyncio. With an older asgiref each step goes through its own
    ``async_to_sync`` call, and so its own loop.
    """

    def __init__(self, name: str) -> None:
        self._context = contextvars.copy_context()
        self.shared = executor_context_supported()
        if not self.shared:
            return
        self._executor = MainThreadExecutor()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever,
            name=f"restflow-parity loop for {name}",
            daemon=True,
        )
        self._thread.start()

    def run(self, step: Callable[[], Awaitable[Any]]) -> Any:
        from asgiref.sync import ThreadSensitiveContext, async_to_sync

        if not self.shared:
            return self._context.run(async_to_sync(_awaited), step)
        done: concurrent.futures.Future[tuple[Any, contextvars.Context]]
        done = concurrent.futures.Future()

        async def body() -> tuple[Any, contextvars.Context]:
            async with ThreadSensitiveContext(executor=self._executor):
                result = await step()
            return result, contextvars.copy_context()

        def start() -> None:
            task = self._loop.create_task(body())
            task.add_done_callback(functools.partial(_settle, done))

        self._loop.call_soon_threadsafe(start, context=self._context)
        self._executor.work_until(done)
        result, context = done.result()
        for var, value in context.items():
            if self._context.get(var, _MISSING) is not value:
                self._context.run(var.set, value)
        return result

    def close(self) -> None:
        if not self.shared:
            return
        self.run(self._cancel_leftovers)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _cancel_leftovers(self) -> None:
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        await self._loop.shutdown_asyncgens()


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


async def _awaited(step: Callable[[], Awaitable[Any]]) -> Any:
    return await step()


def _settle(done: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())
    else:
        done.set_result(task.result())


class MainThreadExecutor(concurrent.futures.Executor):
    """Runs submitted calls in the thread that calls ``work_until``."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)

        self._queue.put(work)
        return future

    def work_until(self, done: concurrent.futures.Future[Any]) -> None:
        done.add_done_callback(lambda _: self._queue.put(None))
        while (work := self._queue.get()) is not None:
            work()


_MISSING = object()


def coroutine_test(obj: Any) -> tuple[Callable[..., Any] | None, bool]:
    """The test's coroutine function, and whether another plugin wrapped it.

    pytest-asyncio swaps the test for a sync wrapper made with functools.wraps;
    the public ``__wrapped__`` leads back to the user's coroutine function.
    """
    claimed = False
    while obj is not None:
        if inspect.iscoroutinefunction(obj):
            return obj, claimed
        obj, claimed = getattr(obj, "__wrapped__", None), True
    return None, False
