"""The guards on the request path, and the one thread that watches them.

Each client call (and ``arun_view``) registers a *watch* with one daemon
thread, the watchdog. It sleeps until the earliest deadline, so a request
costs two set operations, not a thread hop. A request still running at its
deadline gets a report (``report.py``), its task cancelled from its event
loop's thread, and, for a thread blocked in sync code, the main thread's
interrupt (``interrupt.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from restflow_parity.watchdog.interrupt import (
    forget_abandoned_loops,
    install_interrupt_handler,
    signal_main_thread,
)
from restflow_parity.watchdog.report import build_report
from restflow_parity.watchdog.watch import (
    RequestTimeoutError,
    Watch,
    current,
    fired,
)

__all__ = [
    "GRACE",
    "REPEAT",
    "Guard",
    "adopt_task",
    "aguard",
    "aguard_iter",
    "guard_iter",
    "note_connections",
]

#: After the deadline, how long cancellation gets before a signal interrupts the
#: thread that waits for the request.
GRACE = 0.5
#: How often a request that outlived both remedies is prodded again.
REPEAT = 2.0

T = TypeVar("T")


class _Watchdog:
    """The one thread that watches every request's deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._watches: set[Watch] = set()
        # When the thread will next look; -inf while it is looking. A new
        # watch with a later deadline needs no wake-up, so a run of requests
        # with one limit wakes the thread about once per limit.
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    @property
    def ident(self) -> int | None:
        return None if self._thread is None else self._thread.ident

    def add(self, watch: Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="restflow-parity watchdog", daemon=True
                )
                self._thread.start()
            if watch.next_at < self._wake_at:
                self._cond.notify()

    def discard(self, watch: Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    due = [w for w in self._watches if w.next_at <= now]
                    if due:
                        self._wake_at = -math.inf
                        break
                    self._wake_at = min(
                        (w.next_at for w in self._watches), default=math.inf
                    )
                    wait = self._wake_at - now
                    self._cond.wait(None if wait == math.inf else wait)
            for watch in due:
                try:
                    self._fire(watch)
                except Exception:  # pragma: no cover - the watchdog must not die
                    traceback.print_exc()

    def _fire(self, watch: Watch) -> None:
        if watch.done:
            return
        now = time.monotonic()
        if watch.stage == 0:
            try:
                watch.report = build_report(watch, self.ident)
            except Exception as error:  # pragma: no cover - remedies come first
                watch.report = (
                    f"{watch.description} did not finish within "
                    f"{watch.limit:g}s; the watchdog could not list the "
                    f"threads' stacks: {error!r}"
                )
            if watch.connections:
                watch.report += (
                    f"\n\nThe watchdog cancelled the queries of the "
                    f"{len(watch.connections)} database connection(s) that "
                    "thread_sensitive=False work opened for this request: such "
                    "a query may wait for a lock the test's transaction holds."
                )
            fired.watches = (*(w for w in fired.watches if not w.done), watch)
            watch.next_at = watch.deadline + GRACE
        else:
            watch.next_at = now + REPEAT
            if watch.stage == 2 and not watch.abandoned:
                # Neither remedy worked: make sure a CI log shows where.
                print(
                    f"restflow-parity watchdog: {watch.description} is still "
                    f"blocked {now - watch.deadline:.1f}s after its limit and "
                    "could not be interrupted.\n" + watch.report,
                    file=sys.__stderr__,
                    flush=True,
                )
        watch.stage += 1
        if watch.stage == 1:
            _cancel_queries(watch)
        _schedule_cancel(watch)
        if not watch.abandoned:
            signal_main_thread()


_watchdog = _Watchdog()


def note_connections(opened: list[Any]) -> None:
    """Tell the current request's watch which connections its workers open."""
    watch = current.get()
    if watch is not None:
        watch.connections = opened


def _cancel_queries(watch: Watch) -> None:
    # A thread_sensitive=False worker blocked in a query (waiting for a row
    # lock the test's transaction holds, say) can't be interrupted, but its
    # query can be cancelled from here: both drivers' calls are thread-safe.
    for conn in list(watch.connections):
        raw = conn.connection
        cancel = getattr(raw, "cancel_safe", None) or getattr(raw, "cancel", None)
        if cancel is None:  # sqlite3
            cancel = getattr(raw, "interrupt", None)
        if cancel is not None:
            with contextlib.suppress(Exception):
                cancel()


def _schedule_cancel(watch: Watch) -> None:
    loop, task = watch.loop, watch.task  # read once: the request may release them
    if loop is not None and task is not None:
        # RuntimeError: the loop is closed, so nothing is left to cancel.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_cancel_on_loop, watch, task)


def _cancel_on_loop(watch: Watch, task: asyncio.Task[Any]) -> None:
    # On the loop's thread, so checking and cancelling cannot race the request
    # finishing there. An async body's task is the test's own: once its guard
    # is done it is left alone. A def body's request has a task to itself,
    # which is cancelled even after its waiter gave up, so that a loop that
    # was blocked ends as soon as it runs again.
    watch.cancel_seen = True
    if (not watch.done or watch.owner is not None) and not task.done():
        watch.cancels += 1
        task.cancel()


def _uncancel(watch: Watch) -> None:
    # Python 3.11+: undo our cancellations so an enclosing asyncio.timeout()
    # or TaskGroup doesn't mistake them for its own.
    uncancel = getattr(watch.task, "uncancel", None)
    if uncancel is not None:
        for _ in range(watch.cancels):
            uncancel()
    watch.cancels = 0


class Guard:
    """Watch the sync work inside the ``with`` block, on this thread."""

    __slots__ = ("_token", "_watch")

    def __init__(self, description: str, limit: float | None) -> None:
        self._watch = None if limit is None else Watch(description, limit, None)

    def __enter__(self) -> None:
        watch = self._watch
        if watch is not None:
            # Again here: the end of a session (a Django runner run inside
            # another) may have put the previous handler back.
            install_interrupt_handler()
            watch.owner = threading.get_ident()
            self._token = current.set(watch)
            _watchdog.add(watch)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watch = self._watch
        if watch is None:
            return
        # First: from here on the signal handler leaves this thread alone.
        watch.done = True
        _watchdog.discard(watch)
        current.reset(self._token)
        if watch.stage:
            # The loop it ran on, if any, may be blocked still: the cancel
            # waits in its queue and ends the request when it runs again.
            _schedule_cancel(watch)
            forget_abandoned_loops()
        watch.release()
        if _late(watch, error):
            raise watch.error() from error


async def aguard(awaitable: Awaitable[T], description: str, limit: float | None) -> T:
    """Await ``awaitable`` under watch, in the current task."""
    if limit is None:
        return await awaitable
    watch = Watch(description, limit, None)
    watch.adopt_running_task()
    watch.awaitable = awaitable
    token = current.set(watch)
    _watchdog.add(watch)
    error: BaseException | None = None
    try:
        return await awaitable
    except BaseException as caught:
        error = caught
        raise
    finally:
        watch.done = True
        _watchdog.discard(watch)
        current.reset(token)
        late = _late(watch, error)
        if late:
            _uncancel(watch)  # needs the task, which release() lets go of
        watch.release()
        if late:
            raise watch.error() from error


def _late(watch: Watch, error: BaseException | None) -> bool:
    """Whether a finished request must still fail for passing its limit.

    Even a request that finished late fails: the report says where it was
    stuck when the limit passed. Our own error and an interrupt of the run
    pass through as they are.
    """
    return bool(watch.stage) and not isinstance(
        error, (RequestTimeoutError, KeyboardInterrupt, SystemExit)
    )


def adopt_task() -> None:
    """Let the watch of a def body's request cancel the loop it now runs on."""
    watch = current.get()
    if watch is not None and watch.task is None:
        watch.adopt_running_task()


def guard_iter(chunks: Iterator[T], description: str, limit: float) -> Iterator[T]:
    """Yield from ``chunks``, each ``next()`` under watch."""
    while True:
        with Guard(description, limit):
            chunk = next(chunks, _END)
        if chunk is _END:
            return
        yield chunk


async def aguard_iter(
    chunks: AsyncIterator[T], description: str, limit: float
) -> AsyncIterator[T]:
    """Yield from ``chunks``, each ``__anext__()`` under watch."""
    while True:
        try:
            chunk = await aguard(chunks.__anext__(), description, limit)
        except StopAsyncIteration:
            return
        yield chunk


_END: Any = object()
