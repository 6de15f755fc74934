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

The main thread serves the loop through ``MainThreadExecutor``, handed to
asgiref through its public ``ThreadSensitiveContext(executor=...)``, entered
and exited around each step: each call's result goes back on an asyncio future
(asyncio takes one from ``Executor.submit`` as it is), so no
``concurrent.futures.Future``, ``Condition`` and ``wrap_future`` are made per
call, as asgiref's ``CurrentThreadExecutor`` makes them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, async_to_sync

from restflow_parity.request._affinity import serving_thread

__all__ = ["SUPPORTED", "MainThreadExecutor", "TestLoop", "serving"]

T = TypeVar("T")

#: asgiref takes an executor for thread-sensitive work from 3.13 on.
SUPPORTED = "executor" in inspect.signature(ThreadSensitiveContext).parameters

_MISSING: Any = object()


class _Call:
    __slots__ = ("args", "fn", "future", "kwargs", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None,
        future: Any,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.loop, self.future, self.fn = loop, future, fn
        self.args, self.kwargs = args, kwargs


def _settle_call(future: asyncio.Future[Any], result: Any, error: Any) -> None:
    # On the loop's thread. A call whose awaiter was cancelled still ran (as
    # with asgiref's executor): its outcome has nowhere to go.
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class MainThreadExecutor(concurrent.futures.Executor):
    """Runs submitted calls, in order, in the thread that calls ``work_until``."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Any:
        """Queue ``fn``; from a running loop, return an asyncio future.

        asgiref submits through ``loop.run_in_executor``, which awaits an
        asyncio future as it is (``wrap_future`` passes futures through).
        From anywhere else this is a plain ``concurrent.futures`` executor.
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        future: Any = (
            concurrent.futures.Future() if loop is None else loop.create_future()
        )
        self._queue.put(_Call(loop, future, fn, args, kwargs))
        return future

    def work_until(self, done: concurrent.futures.Future[Any]) -> None:
        """Serve calls until ``done`` is; calls left queued wait for the next."""
        __tracebackhide__ = True
        done.add_done_callback(lambda _: self._queue.put(None))
        get = self._queue.get
        while (call := get()) is not None:
            self._run(call)

    def _run(self, call: _Call) -> None:
        """Run one call on this thread and hand its outcome back."""
        __tracebackhide__ = True
        __traceback_hide__ = True  # the name asgiref and Django use
        future = call.future
        if call.loop is None:
            if not future.set_running_or_notify_cancel():
                return
        elif future.cancelled():
            return  # cancelled before it started, as asgiref would skip it
        result: Any = None
        error: BaseException | None = None
        try:
            result = call.fn(*call.args, **call.kwargs)
        except BaseException as caught:
            # A WatchdogInterrupt or KeyboardInterrupt raised in the call is
            # the awaiting coroutine's to see, as with asgiref's executor.
            error = caught
        if call.loop is None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
            return
        # RuntimeError: the loop is closed, so nothing waits for this call.
        with contextlib.suppress(RuntimeError):
            call.loop.call_soon_threadsafe(_settle_call, future, result, error)
        del call, error  # no cycle through the traceback


#: Frames the watchdog recognises: a thread in ``_run`` is working on a call;
#: in ``work_until`` (outside ``_run``) it is idle, waiting for the loop.
CALL_CODES = frozenset({MainThreadExecutor._run.__code__})
WAIT_CODES = frozenset({MainThreadExecutor.work_until.__code__})


class serving:
    """Send this block's thread-sensitive calls to ``executor`` (asgiref 3.13+).

    A class, not an async generator: a loop's ``shutdown_asyncgens()`` (run
    inside such a block when a test's loop is closed) would close a generator
    from another context.
    """

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._context = ThreadSensitiveContext(executor=executor)

    async def __aenter__(self) -> None:
        await self._context.__aenter__()  # type: ignore[no-untyped-call]

    async def __aexit__(self, *exc_info: object) -> None:
        await self._context.__aexit__(*exc_info)  # type: ignore[no-untyped-call]


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

        server = threading.get_native_id()

        async def body() -> tuple[Any, contextvars.Context]:
            # This thread serves the step's calls: a request's threads share
            # its core (affinity.py). Not carried back into the test's context.
            token = serving_thread.set(server)
            try:
                async with serving(self._executor):
                    result = await step()
            finally:
                serving_thread.reset(token)
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
