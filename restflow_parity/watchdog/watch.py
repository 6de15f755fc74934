"""A request under watch, and the errors a watch ends in.

The state every part of the watchdog shares: the guards create watches, the
watchdog thread fires them, the report describes them and the signal handler
reads which ones fired.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextvars import ContextVar
from typing import Any

__all__ = ["RequestTimeoutError", "Watch", "WatchdogInterrupt", "current", "fired"]


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
current: ContextVar[Watch | None] = ContextVar("restflow_parity_watch", default=None)


class _Fired:
    """Watches past their deadline, read by the signal handler.

    The tuple is replaced, never mutated, so the handler needs no lock (it
    may interrupt a main thread that holds one).
    """

    watches: tuple[Watch, ...] = ()


fired = _Fired()
