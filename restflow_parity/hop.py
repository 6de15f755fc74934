"""The thread-sensitive hop: the way a test's event loop reaches the test's thread.

Under Django's runner (and the pytest plugin) an async test's loop runs in a
worker thread, and every thread-sensitive call of a request (sync middleware
and views, the async ORM, signal receivers, closing the response) goes back to
the main thread, which holds the test's connection and transaction. asgiref
makes each such hop with ``loop.run_in_executor`` into a
``CurrentThreadExecutor``: a ``concurrent.futures.Future``, a ``Condition``
and ``wrap_future`` for every call.

A *relay* makes the same hops with less: it is an executor handed to asgiref
through its public ``ThreadSensitiveContext(executor=...)`` (asgiref 3.13+).

- Its server is a single call that asgiref itself sends to the thread it picks
  for the request's thread-sensitive work, so that thread cannot differ. The
  server then runs every call submitted to the relay, in order, in the context
  asgiref prepared for it, and stops once none comes for ``IDLE`` seconds, so
  other work queued for that thread (another task's ORM call) waits no longer.
- Each call's result goes back on an asyncio future: asyncio accepts one from
  ``Executor.submit`` as it is, so no ``concurrent.futures.Future`` is made and
  chained per call.

``MainThreadExecutor`` is the same executor served by a thread that has
nothing else to do (the pytest plugin's per-test loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async

__all__ = [
    "IDLE",
    "SUPPORTED",
    "MainThreadExecutor",
    "Relay",
    "relayed",
    "serving",
]

T = TypeVar("T")

#: asgiref takes an executor for thread-sensitive work from 3.13 on; older
#: versions keep their own hop, unchanged.
SUPPORTED = "executor" in inspect.signature(ThreadSensitiveContext).parameters
#: Off: every request hops as asgiref does (tests compare the two paths).
ENABLED = True
#: How long a relay's server waits for the request's next call before it
#: gives its thread back. Calls of one request come tens of microseconds
#: apart; this bounds how long another task's call for that thread waits.
IDLE = 0.005

#: The executor that thread-sensitive calls in this context go to, when it
#: is one of ours: a request inside it needs no relay of its own.
_route: ContextVar[concurrent.futures.Executor | None] = ContextVar(
    "restflow_parity_route", default=None
)
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


def _settle(future: asyncio.Future[Any], result: Any, error: Any) -> None:
    # On the loop's thread. A call whose awaiter was cancelled still ran (as
    # with asgiref's executor): its outcome has nowhere to go.
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _HopExecutor(concurrent.futures.Executor):
    """Calls queue up here and run, in order, on whichever thread serves them."""

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
        self._submitted()
        return future

    def _submitted(self) -> None:
        """Make sure a thread serves the queue."""

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
            call.loop.call_soon_threadsafe(_settle, future, result, error)
        del call, error  # no cycle through the traceback


class Relay(_HopExecutor):
    """An executor whose server reaches the thread asgiref would pick.

    ``outer`` is the context the request started in, before the relay was
    installed: the server is sent from it, through asgiref, exactly as any of
    the request's thread-sensitive calls would have been.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, outer: contextvars.Context
    ) -> None:
        super().__init__()
        self._loop = loop
        self._outer = outer
        self._lock = threading.Lock()
        self._running = False
        self._released = False
        #: What a signal handler raised in the server while it idled; the
        #: request's next call gets it (it would have unwound that thread).
        self._interrupt: BaseException | None = None
        self._server: asyncio.Task[None] | None = None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Any:
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None:
            future = self._loop.create_future()
            future.set_exception(interrupt)
            return future
        return super().submit(fn, *args, **kwargs)

    def _submitted(self) -> None:
        if self._running:
            return
        with self._lock:
            if self._running:
                return
            self._running = True
        if _on_loop(self._loop):
            self._start()
        else:
            self._loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        # create_task copies the current context: the outer one, so asgiref
        # routes the server as it routed the request before the relay.
        self._server = self._outer.run(self._loop.create_task, _serve_relay(self))
        self._server.add_done_callback(_retrieve)

    def release(self) -> None:
        """The request is over: the server stops as soon as the queue is empty."""
        self._released = True
        if self._running:
            self._queue.put(None)  # wake an idle server

    def _serve(self) -> None:
        __tracebackhide__ = True
        __traceback_hide__ = True
        # Idle, this thread works for no request: the watchdog's signal
        # handler reads the request a thread works for from its context.
        contextvars.Context().run(self._serve_calls)

    def _serve_calls(self) -> None:
        get = self._queue.get
        while True:
            try:
                call = get(timeout=0 if self._released else IDLE)
            except queue.Empty:
                with self._lock:
                    # Stopped, then a last look: a call submitted before this
                    # point is served here, one after it starts a new server.
                    self._running = False
                    if self._queue.empty():
                        return
                    self._running = True
                continue
            except (KeyboardInterrupt, SystemExit):
                self._stop()
                raise  # through asgiref to the loop, which re-raises them
            except BaseException as error:
                # The watchdog's interrupt, raised while idle: it belongs to
                # the request, not to asgiref's executor, which would keep it.
                self._interrupt = error
                self._stop()
                return
            if call is not None:
                self._run(call)

    def _stop(self) -> None:
        with self._lock:
            self._running = False
        if not self._queue.empty():
            # Calls that came meanwhile need a server of their own.
            self._submitted()


def _serve_relay_sync(relay: Relay) -> None:
    relay._serve()


# One SyncToAsync for every relay's server (thread-sensitive: that is the point).
_serve_relay = sync_to_async(_serve_relay_sync)


def _retrieve(task: asyncio.Task[None]) -> None:
    # Keeps asyncio from logging an exception nobody awaited: the server's
    # exceptions reach the calls it ran, not this task's awaiter (there is
    # none).
    if not task.cancelled():
        task.exception()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class MainThreadExecutor(_HopExecutor):
    """Runs submitted calls in the thread that calls ``work_until``."""

    def work_until(self, done: concurrent.futures.Future[Any]) -> None:
        """Serve calls until ``done`` is; calls left queued wait for the next."""
        __tracebackhide__ = True
        done.add_done_callback(lambda _: self._queue.put(None))
        get = self._queue.get
        while (call := get()) is not None:
            self._run(call)


class serving:
    """Send this block's thread-sensitive calls to ``executor`` (asgiref 3.13+).

    For a loop whose thread-sensitive thread serves ``executor`` itself; the
    requests inside then need no relay. A class, not an async generator: a
    loop's ``shutdown_asyncgens()`` (run inside such a block when a test's
    loop is closed) would close a generator from another context.
    """

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._context = ThreadSensitiveContext(executor=executor)
        self._executor = executor

    async def __aenter__(self) -> None:
        await self._context.__aenter__()  # type: ignore[no-untyped-call]
        self._token = _route.set(self._executor)

    async def __aexit__(self, *exc_info: object) -> None:
        _route.reset(self._token)
        await self._context.__aexit__(*exc_info)  # type: ignore[no-untyped-call]


async def relayed(call: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``call(*args)`` with its thread-sensitive calls relayed.

    The call runs in this task, in a context of its own (which holds the
    relay); the context changes it makes (a contextvar a middleware set) are
    copied back afterwards, as if it had run in this context, the relay's own
    routing aside.
    """
    if not (SUPPORTED and ENABLED) or _route.get() is not None:
        return await call(*args)
    loop = asyncio.get_running_loop()
    relay = Relay(loop, contextvars.copy_context())
    # Started now, the server reaches its thread while the loop builds the
    # request: every request makes thread-sensitive calls (request_started
    # has a sync receiver, and the response is closed in that thread).
    relay._submitted()
    contexts: list[contextvars.Context] = []
    own = contextvars.copy_context()
    try:
        result: T = await _InContext(_relay_body(relay, contexts, call, args), own)
    finally:
        if contexts:
            _adopt(*contexts)
    return result


class _InContext:
    """Await a coroutine with each of its steps run in ``context``.

    What a task does for its coroutine, without a task: the coroutine stays in
    the awaiting task (``asyncio.current_task()`` is unchanged, a cancel
    reaches it as before), only the context it sees is its own.
    """

    __slots__ = ("_context", "_coroutine")

    def __init__(self, coroutine: Any, context: contextvars.Context) -> None:
        self._coroutine = coroutine
        self._context = context

    def __await__(self) -> Any:
        return self

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return self._context.run(self._coroutine.send, None)

    def send(self, value: Any) -> Any:
        return self._context.run(self._coroutine.send, value)

    def throw(self, kind: Any, value: Any = None, traceback: Any = None) -> Any:
        # `yield from` passes (type, value, traceback); coroutines take the
        # exception alone (the three-argument form is deprecated).
        error = value if value is not None else kind
        if traceback is not None and isinstance(error, BaseException):
            error = error.with_traceback(traceback)
        return self._context.run(self._coroutine.throw, error)

    def close(self) -> None:
        self._context.run(self._coroutine.close)

    @property
    def gi_yieldfrom(self) -> Any:
        """What this awaits: the watchdog's report follows it."""
        return self._coroutine


async def _relay_body(
    relay: Relay,
    contexts: list[contextvars.Context],
    call: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
) -> T:
    before = contextvars.copy_context()
    # Entered, never exited: asgiref refuses thread-sensitive calls through
    # an exited context, and a task the request started (a view's background
    # task) may make some after the request. The relay still reaches the
    # right thread then; the context that holds it ends with the request.
    await ThreadSensitiveContext(executor=relay).__aenter__()  # type: ignore[no-untyped-call]
    _route.set(relay)
    entered = contextvars.copy_context()
    try:
        return await call(*args)
    finally:
        relay.release()
        contexts.extend((before, entered, contextvars.copy_context()))


def _adopt(
    before: contextvars.Context,
    entered: contextvars.Context,
    final: contextvars.Context,
) -> None:
    """Set in this context what the request changed in its own, routing aside."""
    for var, value in final.items():
        old = before.get(var, _MISSING)
        if value is old or entered.get(var, _MISSING) is not old:
            continue  # unchanged, or set by installing the relay
        var.set(value)


#: Frames the watchdog recognises: a thread in ``_run`` is working on a call;
#: in a server loop or ``work_until`` (outside ``_run``) it is idle, waiting
#: for the loop.
CALL_CODES = frozenset({_HopExecutor._run.__code__})
IDLE_CODES = frozenset({Relay._serve_calls.__code__, Relay._serve.__code__})
WAIT_CODES = frozenset({MainThreadExecutor.work_until.__code__})
