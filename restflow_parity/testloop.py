"""One test's event loop, run in a reused thread while the main thread serves it.

Django's runner runs each ``async def`` test through ``async_to_sync``: a new
thread and a new loop per test, the main thread serving the test's
thread-sensitive calls meanwhile. Starting that thread is most of the fixed
cost of an async test (``benchmarks/bench_isolation.py``). ``TestLoop`` keeps
the model (a fresh loop per test, in a thread other than the main one; every
thread-sensitive call on the main thread, which holds the test's connection)
and reuses the thread: a test's loop runs in an idle *loop thread*, started
only when none is idle.

What differs from ``async_to_sync``, by design: a test's steps (an async
fixture's set-up, the test, the teardown) share one loop, and context
variables one step sets carry over to the next, as with pytest-asyncio; and
two tests' loops may run, one after the other, in the same thread.

It needs asgiref 3.13 (``ThreadSensitiveContext(executor=...)``); with older
versions each step goes through ``async_to_sync`` of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync

from restflow_parity.hop import SUPPORTED, MainThreadExecutor, serving

__all__ = ["TestLoop"]

_MISSING: Any = object()


class _LoopThread(threading.Thread):
    """Runs one loop at a time until it stops, then waits for the next."""

    def __init__(self) -> None:
        super().__init__(name="restflow-parity test loop", daemon=True)
        self.loops: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            loop, stopped = self.loops.get()
            try:
                loop.run_forever()
            finally:
                stopped.set_result(None)
                _idle.put(self)


_Job = tuple[asyncio.AbstractEventLoop, "concurrent.futures.Future[None]"]


#: Loop threads waiting for a loop to run.
_idle: queue.SimpleQueue[_LoopThread] = queue.SimpleQueue()


def _run_in_a_loop_thread(
    loop: asyncio.AbstractEventLoop, stopped: concurrent.futures.Future[None]
) -> None:
    try:
        thread = _idle.get_nowait()
    except queue.Empty:
        # None is idle (the first test, or a loop that never stopped).
        thread = _LoopThread()
        thread.start()
    thread.loops.put((loop, stopped))


class TestLoop:
    """One test's event loop; ``run`` runs a step on it from the main thread.

    While a step runs, the calling thread serves its thread-sensitive calls
    (the async ORM, sync views and middleware, WSGI requests).
    """

    __test__ = False  # not a test class, whatever pytest's python_classes say

    def __init__(self) -> None:
        self._context = contextvars.copy_context()
        self.shared = SUPPORTED
        if not self.shared:
            return
        self._executor = MainThreadExecutor()
        self._loop = asyncio.new_event_loop()
        self._stopped = concurrent.futures.Future[None]()
        _run_in_a_loop_thread(self._loop, self._stopped)

    def run(self, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``step()`` on the test's loop; return or raise what it did."""
        __tracebackhide__ = True
        if not self.shared:
            return self._context.run(async_to_sync(_awaited), step)
        done: concurrent.futures.Future[tuple[Any, contextvars.Context]]
        done = concurrent.futures.Future()

        async def body() -> tuple[Any, contextvars.Context]:
            async with serving(self._executor):
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
        """Cancel what the test left running, then stop and close its loop."""
        if not self.shared:
            return
        try:
            self.run(self._cancel_leftovers)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.result()  # run_forever has returned: closing is safe
            self._loop.close()

    async def _cancel_leftovers(self) -> None:
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        await self._loop.shutdown_asyncgens()
        await self._loop.shutdown_default_executor()


async def _awaited(step: Callable[[], Awaitable[Any]]) -> Any:
    return await step()


def _settle(done: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())
    else:
        done.set_result(task.result())
