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

Its parts: ``limit`` (the setting), ``watch`` (a request under watch and the
errors), ``guard`` (what the clients wrap requests in, and the watchdog
thread), ``report`` (the stacks) and ``interrupt`` (the main thread's signal).
"""

from __future__ import annotations

from restflow_parity.watchdog.guard import (
    GRACE,
    REPEAT,
    Guard,
    adopt_task,
    aguard,
    aguard_iter,
    guard_iter,
    note_connections,
)
from restflow_parity.watchdog.interrupt import (
    INTERRUPT_SIGNAL,
    install_interrupt_handler,
)
from restflow_parity.watchdog.limit import (
    DEFAULT_TIMEOUT,
    SETTING,
    Unset,
    resolve_timeout,
    validate_timeout,
)
from restflow_parity.watchdog.watch import RequestTimeoutError, WatchdogInterrupt

__all__ = [
    "DEFAULT_TIMEOUT",
    "GRACE",
    "INTERRUPT_SIGNAL",
    "REPEAT",
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
