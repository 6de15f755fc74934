"""Waking the main thread: the watchdog's signal and what its handler raises.

CPython wakes a blocked wait (a lock, a sleep, a socket) only in the main
thread, and only for a signal. So the watchdog sends the main thread
``SIGUSR2``, and the handler raises ``WatchdogInterrupt`` only if the main
thread is working for a request that timed out. Under Django's runner and the
pytest plugin the main thread holds the test's connection, so sync views,
sync middleware and WSGI requests run there: that is where requests block.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async

from restflow_parity._changes import install
from restflow_parity._thirdparty.asgiref import idles_for_calls, runs_a_call
from restflow_parity.pytest_plugin import _testloop as testloop
from restflow_parity.request._affinity import release_all
from restflow_parity.watchdog.watch import WatchdogInterrupt, current, fired

__all__ = [
    "INTERRUPT_SIGNAL",
    "forget_abandoned_loops",
    "install_interrupt_handler",
    "signal_main_thread",
]

#: The signal that wakes the main thread. SIGALRM is pytest-timeout's and
#: SIGUSR1 is the usual faulthandler.register() choice.
INTERRUPT_SIGNAL = getattr(signal, "SIGUSR2", None)

_previous_handler: Any = None
_CHANGE = "SIGUSR2 handler (the watchdog's)"


def install_interrupt_handler() -> None:
    """Let the watchdog wake the main thread; a no-op outside it.

    The clients call it when they are made (in the main thread, which an
    async test's requests leave waiting) and the watchdog when a request
    starts there. A handler installed before for the same signal is kept,
    still called, and put back at the end of the session.
    """
    global _previous_handler
    if (
        INTERRUPT_SIGNAL is None
        or threading.current_thread() is not threading.main_thread()
    ):
        return
    installed = signal.getsignal(INTERRUPT_SIGNAL)
    if installed is _on_signal:
        return
    _previous_handler = installed
    signal.signal(INTERRUPT_SIGNAL, _on_signal)
    install(_CHANGE, _nothing, _restore_handler)


def _nothing() -> None:
    pass


def _restore_handler() -> None:
    global _previous_handler
    previous, _previous_handler = _previous_handler, None
    if (
        INTERRUPT_SIGNAL is None
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(INTERRUPT_SIGNAL) is not _on_signal
    ):
        return  # someone replaced it since: theirs stays
    # None: the handler before was not set from Python (faulthandler's is
    # not); the default is the closest Python can put back.
    signal.signal(INTERRUPT_SIGNAL, signal.SIG_DFL if previous is None else previous)


def signal_main_thread() -> None:
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
    working_for = current.get()
    for watch in fired.watches:
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
        if working_for is watch:
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
            forget_abandoned_loops()
            raise watch.error()
    if callable(_previous_handler):
        _previous_handler(signum, frame)


async def _hop() -> None:
    await sync_to_async(_noop)()


def _noop() -> None:
    pass


def forget_abandoned_loops() -> None:
    """Make this thread's next async_to_sync start a loop of its own.

    A thread that served a loop's sync calls remembers that loop, and its next
    async_to_sync runs there if the loop still runs. A loop the watchdog gave
    up on may run on, blocked: the next test's coroutine would queue behind
    it. One call served for a new loop, which then closes, replaces that
    memory (public API only: force_new_loop skips the lookup).

    The threads a request in flight held on one core (``affinity.py``) get
    their masks back: the blocked loop may never end that request's block.
    """
    release_all()
    async_to_sync(_hop, force_new_loop=True)()


def _runs_a_sync_call(frame: FrameType | None) -> bool:
    # A thread serving a loop's thread-sensitive calls runs each one in a work
    # item (asgiref's) or a MainThreadExecutor's _run (the pytest plugin's),
    # inside an idle loop that waits for the next: such a frame above the idle
    # wait means a call is under way.
    while frame is not None:
        code = frame.f_code
        if code in testloop.CALL_CODES:
            return True
        if code in testloop.WAIT_CODES:
            return False
        if idles_for_calls(code):
            return False
        if runs_a_call(code):
            return True
        frame = frame.f_back
    return False


def _waits_for_a_loop(frame: FrameType | None) -> bool:
    # async_to_sync's thread idles in CurrentThreadExecutor.run_until_future
    # (the plugin's in MainThreadExecutor.work_until), serving thread-sensitive
    # calls, until the loop's coroutine finishes.
    while frame is not None:
        code = frame.f_code
        if idles_for_calls(code) or code in testloop.WAIT_CODES:
            return True
        frame = frame.f_back
    return False
