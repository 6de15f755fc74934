"""The deadlock watchdog: a client request that hangs fails its test, with stacks.

Each client call (and ``arun_view``) registers a *watch* with one daemon thread,
the watchdog. It sleeps until the earliest deadline, so a request costs two
set operations, not a thread hop. A request still running at its deadline gets:

1. A report: every thread's stack, which thread holds the test's database
   connection, and the request's suspended coroutines (an ``await`` that never
   returns is on no thread's stack).
2. The gentle remedy, on the async path: the request's task is cancelled from
   the event loop's own thread, and the client raises ``RequestTimeoutError``.
3. The blunt one, for a thread blocked in sync code: ``WatchdogInterrupt`` is
   raised inside it. CPython wakes a blocked wait only in the main thread, and
   only for a signal, so the watchdog sends the main thread ``SIGUSR2``; the
   handler raises only if the main thread is working for that request. Under
   Django's runner and the pytest plugin the main thread is where the test's
   connection lives, so sync views, sync middleware and WSGI requests run
   there: that is where requests block.

A thread other than the main one that is blocked in C code (a lock, a socket)
cannot be woken by anything in CPython. The test still fails when the async
path can be cancelled; otherwise the report goes to stderr, so a CI log shows
where the run is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gc
import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextvars import ContextVar
from types import FrameType, TracebackType
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = [
    "DEFAULT_TIMEOUT",
    "SETTING",
    "Guard",
    "RequestTimeoutError",
    "Unset",
    "WatchdogInterrupt",
    "adopt_task",
    "aguard",
    "aguard_iter",
    "guard_iter",
    "install_interrupt_handler",
    "note_connections",
    "resolve_timeout",
    "validate_timeout",
]

SETTING = "RESTFLOW_PARITY_REQUEST_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
#: After the deadline, how long cancellation gets before a signal interrupts the
#: thread that waits for the request.
GRACE = 0.5
#: How often a request that outlived both remedies is prodded again.
REPEAT = 2.0
#: Frames kept per thread in the report (the innermost ones).
STACK_LIMIT = 25
#: Other suspended tasks shown in the report, at most.
MAX_TASKS = 10
#: The signal that wakes the main thread. SIGALRM is pytest-timeout's and
#: SIGUSR1 is the usual faulthandler.register() choice.
INTERRUPT_SIGNAL = getattr(signal, "SIGUSR2", None)

T = TypeVar("T")


class Unset(enum.Enum):
    """The client's ``request_timeout=`` was not given: use the setting."""

    UNSET = enum.auto()


class RequestTimeoutError(AssertionError):
    """A request did not finish within ``RESTFLOW_PARITY_REQUEST_TIMEOUT``.

    An ``AssertionError``, so the test is reported as failed, not errored: the
    code under test hung. The message holds every thread's stack.
    """


class WatchdogInterrupt(BaseException):
    """Raised inside a thread that is blocked working for a timed-out request.

    A ``BaseException``, like ``KeyboardInterrupt``, so the ``except Exception``
    of a view, a middleware or Django's handler (which turns exceptions into
    500 responses) lets it through. The client turns it into
    ``RequestTimeoutError``.
    """


# --- the limit ---------------------------------------------------------------


def validate_timeout(
    value: object, source: str, error: type[Exception] = ImproperlyConfigured
) -> float | None:
    """The limit ``value`` means, in seconds; None when the watchdog is off."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise error(
            f"{source}={value!r} is not a request timeout. Allowed values: a "
            f"number of seconds above 0 (default {DEFAULT_TIMEOUT:g}), or None "
            "or 0 to turn the deadlock watchdog off."
        )
    return float(value) or None


_configured: float | Unset | None = Unset.UNSET


def resolve_timeout(override: float | Unset | None = Unset.UNSET) -> float | None:
    """The limit for one request: the client's override, else the setting."""
    global _configured
    if override is not Unset.UNSET:
        return override
    if _configured is Unset.UNSET:
        # Read once and cached: a missing setting costs an exception per read.
        _configured = validate_timeout(
            getattr(settings, SETTING, DEFAULT_TIMEOUT), SETTING
        )
    return _configured


def _forget_configured(*, setting: str, **kwargs: Any) -> None:
    global _configured
    if setting == SETTING:
        _configured = Unset.UNSET


setting_changed.connect(_forget_configured, dispatch_uid=f"{__name__}.setting")


# --- watches -----------------------------------------------------------------


class Watch:
    """One request under watch, and what the watchdog has done about it."""

    __slots__ = (
        "abandoned",
        "awaitable",
        "cancel_seen",
        "cancels",
        "connections",
        "deadline",
        "description",
        "done",
        "limit",
        "loop",
        "loop_thread",
        "next_at",
        "owner",
        "report",
        "stage",
        "task",
    )

    def __init__(self, description: str, limit: float, owner: int | None) -> None:
        self.description = description
        self.limit = limit
        self.deadline = self.next_at = time.monotonic() + limit
        #: The thread that waits synchronously for the request (def bodies).
        self.owner = owner
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        #: What aguard awaits: where the task's await chain continues when a
        #: custom __await__ hides it.
        self.awaitable: Any = None
        self.loop_thread: int | None = None
        self.stage = 0
        self.report = ""
        self.done = False
        #: The test's thread stopped waiting for it; only cancels remain.
        self.abandoned = False
        self.cancels = 0
        #: Connections worker threads opened for the request (see handler.py).
        self.connections: list[Any] = []
        #: The loop ran a cancel callback: it is not blocked.
        self.cancel_seen = False

    def adopt_running_task(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.loop_thread = threading.get_ident()

    def release(self) -> None:
        # A finished task keeps its exception, whose traceback keeps frames,
        # executors and their threads alive: a fired watch must not.
        self.loop = self.task = self.awaitable = None
        self.connections = []

    def error(self) -> RequestTimeoutError:
        return RequestTimeoutError(self.report)


#: The watch of the request this code runs for. Context variables follow the
#: request into every thread asgiref runs its sync parts in, so the signal
#: handler can tell a main thread working for the request from one that isn't.
_current: ContextVar[Watch | None] = ContextVar("restflow_parity_watch", default=None)


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
        #: Watches past their deadline, read by the signal handler. Replaced,
        #: never mutated, so the handler needs no lock (it may interrupt a
        #: main thread that holds one).
        self.fired: tuple[Watch, ...] = ()

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
                watch.report = _report(watch, self.ident)
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
            self.fired = (*(w for w in self.fired if not w.done), watch)
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
            _signal_main_thread()


_watchdog = _Watchdog()


def note_connections(opened: list[Any]) -> None:
    """Tell the current request's watch which connections its workers open."""
    watch = _current.get()
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


# --- guards: what the clients wrap requests in --------------------------------


class Guard:
    """Watch the sync work inside the ``with`` block, on this thread."""

    __slots__ = ("_token", "_watch")

    def __init__(self, description: str, limit: float | None) -> None:
        self._watch = None if limit is None else Watch(description, limit, None)

    def __enter__(self) -> None:
        watch = self._watch
        if watch is not None:
            watch.owner = threading.get_ident()
            self._token = _current.set(watch)
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
        _current.reset(self._token)
        if watch.stage:
            # The loop it ran on, if any, may be blocked still: the cancel
            # waits in its queue and ends the request when it runs again.
            _schedule_cancel(watch)
            _forget_abandoned_loops()
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
    token = _current.set(watch)
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
        _current.reset(token)
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
    watch = _current.get()
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


# --- interrupting the main thread ---------------------------------------------

_previous_handler: Any = None


def install_interrupt_handler() -> None:
    """Let the watchdog wake the main thread; call it from the main thread.

    The clients call it when they are made. A handler installed by someone
    else for the same signal is kept and still called.
    """
    global _previous_handler
    if (
        INTERRUPT_SIGNAL is None
        or threading.current_thread() is not threading.main_thread()
    ):
        return
    current = signal.getsignal(INTERRUPT_SIGNAL)
    if current is _on_signal:
        return
    _previous_handler = current
    signal.signal(INTERRUPT_SIGNAL, _on_signal)


def _signal_main_thread() -> None:
    main = threading.main_thread()
    if (
        INTERRUPT_SIGNAL is None
        or main.ident is None
        or not main.is_alive()
        or signal.getsignal(INTERRUPT_SIGNAL) is not _on_signal
    ):
        return
    signal.pthread_kill(main.ident, INTERRUPT_SIGNAL)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Runs in the main thread, between two bytecodes or after a blocking call
    # returned EINTR, in whatever context that thread is in.
    me = threading.get_ident()
    current = _current.get()
    for watch in _watchdog.fired:
        if watch.abandoned:
            continue
        waiter = watch.owner == me
        # A def body's thread that idles while the request's own loop runs is
        # left to the gentle cancel until the grace period ends; busy in one
        # of the request's sync calls, it is stuck there, so it is not.
        patient = (
            waiter
            and watch.task is not None
            and watch.stage < 2
            and not _runs_a_sync_call(frame)
        )
        if current is watch:
            # This thread works for the request. It is interrupted even when
            # the awaiting side has given up already (done): the work is
            # orphaned, and the thread is the test's. Only the waiter's own
            # guard, on its way out, is spared.
            if not patient and not (waiter and watch.done):
                raise WatchdogInterrupt(watch.report)
        elif waiter and not watch.done and not patient:
            raise WatchdogInterrupt(watch.report)
        elif (
            watch.stage >= 2
            and not watch.done
            and watch.owner is None
            and not watch.cancel_seen
            and _waits_for_a_loop(frame)
        ):
            # The request's loop is blocked by sync code (an async view that
            # sleeps or waits on a lock): nothing can wake it, so let the
            # test's thread stop waiting for it. The loop's thread carries on
            # when the blocking call returns, and the cancel queued for it
            # then ends the request.
            watch.abandoned = True
            _forget_abandoned_loops()
            raise watch.error()
    if callable(_previous_handler):
        _previous_handler(signum, frame)


async def _hop() -> None:
    await sync_to_async(_noop)()


def _noop() -> None:
    pass


def _forget_abandoned_loops() -> None:
    """Make this thread's next async_to_sync start a loop of its own.

    A thread that served a loop's sync calls remembers that loop, and its next
    async_to_sync runs there if the loop still runs. A loop the watchdog gave
    up on may run on, blocked: the next test's coroutine would queue behind
    it. One call served for a new loop, which then closes, replaces that
    memory (public API only: force_new_loop skips the lookup).
    """
    async_to_sync(_hop, force_new_loop=True)()


def _runs_a_sync_call(frame: FrameType | None) -> bool:
    # A thread serving a loop's thread-sensitive calls runs each one in a work
    # item, inside run_until_future: a work item's frame above the idle wait
    # means a call is under way. Function names only; if asgiref renames
    # them, the waiter is interrupted at the end of the grace period anyway.
    while frame is not None:
        code = frame.f_code
        if code.co_name == "run_until_future":
            return False
        if code.co_name == "run" and code.co_filename.endswith(
            "current_thread_executor.py"
        ):
            return True
        frame = frame.f_back
    return False


def _waits_for_a_loop(frame: FrameType | None) -> bool:
    # async_to_sync's thread idles in CurrentThreadExecutor.run_until_future,
    # serving thread-sensitive calls, until the loop's coroutine finishes.
    while frame is not None:
        if frame.f_code.co_name == "run_until_future":
            return True
        frame = frame.f_back
    return False


# --- the report ----------------------------------------------------------------


def _report(watch: Watch, watchdog_ident: int | None) -> str:
    frames = sys._current_frames()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    main = threading.main_thread().ident
    holders, loops = _connections_and_loops()
    sections: list[tuple[int, str]] = []
    for ident, frame in frames.items():
        if ident == watchdog_ident:
            continue
        roles = []
        if ident == main:
            roles.append("main thread")
        if ident in holders:
            roles.append(holders[ident])
        if ident == watch.owner:
            roles.append("waits for the request")
        if ident == watch.loop_thread:
            roles.append("runs the request's event loop")
        label = f"Thread {names.get(ident, ident)!r}"
        if roles:
            label += f" ({'; '.join(roles)})"
        # The threads that matter first: holders and the request's own.
        weight = 0 if ident in holders else 1 if roles else 2
        text = _format(traceback.extract_stack(frame))
        sections.append((weight, f"--- {label} ---\n{text}"))
    sections.sort(key=lambda section: section[0])
    limit = f"{watch.limit:g}"
    parts = [
        f"{watch.description} did not finish within {limit}s, so it is probably "
        "deadlocked. Every thread's stack follows (innermost call last). If the "
        f"request is only slow, raise {SETTING} (now {limit}) in your test "
        "settings or pass request_timeout= to the client; None turns the "
        "watchdog off.",
        *(text for _, text in sections),
    ]
    # A coroutine that awaits is on no thread's stack: show where each waits.
    if watch.task is not None:
        chain = _await_chain(watch.task.get_coro())
        if watch.awaitable is not None and all(
            entry.name != getattr(watch.awaitable, "__name__", None) for entry in chain
        ):
            # A custom __await__ (the clients' PendingResponse) ends the walk.
            chain.extend(_await_chain(watch.awaitable))
        parts.append(
            "--- The request's coroutines, awaiting (on no thread's stack) ---\n"
            + _format(chain)
        )
    others = [
        task
        for loop in loops
        for task in asyncio.all_tasks(loop)
        if task is not watch.task and not task.done()
    ]
    for task in others[:MAX_TASKS]:
        chain = _await_chain(task.get_coro())
        if chain:
            parts.append(
                f"--- Task {task.get_name()!r}, awaiting (on no thread's stack) ---\n"
                + _format(chain)
            )
    return "\n\n".join(parts)


def _format(stack: list[traceback.FrameSummary]) -> str:
    hidden = len(stack) - STACK_LIMIT
    text = "".join(traceback.format_list(stack[-STACK_LIMIT:]))
    return f"  ... {hidden} outer frames left out\n{text}" if hidden > 0 else text


def _connections_and_loops() -> tuple[dict[int, str], list[asyncio.AbstractEventLoop]]:
    """Who holds which open database connection; which event loops run."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    held: dict[int, list[str]] = {}
    loops: list[asyncio.AbstractEventLoop] = []
    # Connections are thread-local and loops are per thread: only the objects
    # themselves say where they are. This walk is slow, and runs only once a
    # request has timed out. type(), not isinstance(): the latter asks lazy
    # objects for their __class__, which sets them up.
    for obj in gc.get_objects():
        kind = type(obj)
        if issubclass(kind, asyncio.AbstractEventLoop):
            if obj.is_running():
                loops.append(obj)
            continue
        if not issubclass(kind, BaseDatabaseWrapper) or obj.connection is None:
            continue
        ident = getattr(obj, "_thread_ident", None)
        if ident is not None:
            what = repr(obj.alias) + (
                " in a transaction" if obj.in_atomic_block else ""
            )
            held.setdefault(ident, []).append(what)
    holders = {
        ident: "holds database connection " + ", ".join(sorted(aliases))
        for ident, aliases in held.items()
    }
    return holders, loops


def _await_chain(awaited: Any) -> list[traceback.FrameSummary]:
    """Where a suspended coroutine waits: it, then what it awaits, and so on."""
    frames: list[tuple[FrameType, int]] = []
    for _ in range(200):  # a cycle guard; real chains are a few dozen deep
        if awaited is None:
            break
        frame = (
            getattr(awaited, "cr_frame", None)
            or getattr(awaited, "ag_frame", None)
            or getattr(awaited, "gi_frame", None)
        )
        if frame is not None:
            frames.append((frame, frame.f_lineno))
        awaited = (
            getattr(awaited, "cr_await", None)
            or getattr(awaited, "ag_await", None)
            or getattr(awaited, "gi_yieldfrom", None)
        )
    return list(traceback.StackSummary.extract(iter(frames)))
