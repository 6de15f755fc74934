"""One core for a request's two threads while the request is in flight.

An async request hops between two threads: the event loop's thread runs
Django's async handler, and the thread that holds the test's connection (the
main thread, under Django's runner and the pytest plugin) runs each of its
thread-sensitive calls: sync middleware, the view, signal receivers, closing
the response (17 hops for a DRF list view behind ``startproject``'s
middleware). At each hop one thread wakes the other and goes to sleep. On an
idle machine the other thread's core is asleep too, and waking a core (an
interrupt between processors; on a virtual machine, an exit to the host)
costs more than the call: the same request runs 1.4 to 2.2 times faster when
both threads share a core (``benchmarks/bench_tax.py``).

So while a request of the kit's async stack is in flight, ``SharedCore`` puts
both threads on one core, and gives each its own CPU mask back when the
request ends. One of the two always waits for the other, so sharing a core
takes no parallelism from them; a wake-up on the same core is a plain context
switch. Nothing else changes: the same threads run the same calls, in the
same order, with the same context. A thread started meanwhile inherits the
mask of the thread that starts it (an executor's worker, a nested
``async_to_sync`` loop): those still on the one core get the wider mask back
too. What a request can see is its threads' CPU mask, one core while it runs
(``os.sched_getaffinity(0)`` in a view).

Which core, and whether at all, follows the machine's load (``_Cores``): on a
machine where other processes keep some cores busy and none sleeps, the
threads keep their own cores, as before.

Why not a spin before sleeping: a Python thread that spins holds the GIL the
other thread needs to answer, and waiting for the GIL is a sleep of its own
(a prototype that spun on either side was slower than sleeping).

``RESTFLOW_PARITY_SHARE_CORE = False`` turns it off. It is off where the OS
has no ``sched_setaffinity`` (macOS, Windows) or the process may use one core.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, TypeVar

from restflow_parity._settings import CachedSetting

__all__ = ["SETTING", "SharedCore", "release_all", "served_here", "serving_thread"]

T = TypeVar("T")

SETTING = "RESTFLOW_PARITY_SHARE_CORE"

#: The native id of the thread that serves this context's thread-sensitive
#: calls, set where the kit starts the loop and knows it (a def body's async
#: request, the pytest plugin's TestLoop). Unset, it is the main thread: the
#: one Django's runner serves an ``async def`` test from.
serving_thread: ContextVar[int | None] = ContextVar(
    "restflow_parity_serving_thread", default=None
)


def served_here(blocking: Callable[..., T], *args: Any) -> T:
    """Call ``blocking`` (an ``async_to_sync`` wrapper) with this thread named
    as the one that serves its loop's thread-sensitive calls."""
    token = serving_thread.set(threading.get_native_id())
    try:
        return blocking(*args)
    finally:
        serving_thread.reset(token)


# Re-entrant: release_all() may run in a signal handler (the watchdog's) on
# a thread that was inside a hold, rare as that is (a loop run inside a sync
# call on that thread).
_lock = threading.RLock()
#: Held threads: native id -> [holds, the mask it had before].
_held: dict[int, list[Any]] = {}
#: While any thread is held: the one core, the threads alive when the first
#: hold began, and the mask a thread started meanwhile gets back.
_core = -1
_before: frozenset[int] = frozenset()
_wide: frozenset[int] = frozenset()
#: Bumped by release_all(): holds taken before it are gone.
_generation = 0


class SharedCore:
    """Keep this thread and ``serving_thread`` on one core for the block.

    Re-entrant and safe under concurrency: concurrent requests (``gather``)
    share the core their first one chose; each thread gets its mask back
    when the last request holding it ends.
    """

    __slots__ = ("_generation", "_ids")

    def __enter__(self) -> None:
        self._ids: tuple[int, ...] = ()
        if not enabled():
            return
        here = threading.get_native_id()
        other = serving_thread.get()
        if other is None:
            other = threading.main_thread().native_id
        # A loop in the main thread (pytest-asyncio's) sends each request's
        # calls to a thread it starts for the request: holding this thread
        # is enough, the new one inherits the core.
        ids = (here,) if other is None or other == here else (here, other)
        self._ids, self._generation = _hold(ids)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ids:
            _release(self._ids, self._generation)


def _hold(ids: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    global _core, _before, _wide
    with _lock:
        if not _held:
            core = _cores.choose(_current_cpu(), ids)
            if core is None:
                return (), _generation
            _core, _before, _wide = core, _thread_ids(), frozenset()
        taken = []
        for ident in ids:
            entry = _held.get(ident)
            if entry is not None:
                entry[0] += 1
                taken.append(ident)
                continue
            try:
                mask = frozenset(os.sched_getaffinity(ident))
                if _core not in mask or len(mask) < 2:
                    continue  # pinned already, by whoever made it so
                os.sched_setaffinity(ident, (_core,))
            except OSError:  # the thread ended, or the OS refuses
                continue
            _held[ident] = [1, mask]
            _wide = _wide or mask
            taken.append(ident)
        return tuple(taken), _generation


def _release(ids: tuple[int, ...], generation: int) -> None:
    with _lock:
        if generation != _generation:
            return  # release_all() gave them back already
        for ident in ids:
            entry = _held[ident]
            entry[0] -= 1
            if entry[0] == 0:
                del _held[ident]
                _give_back(ident, entry[1])
        if not _held:
            _give_back_started()


def release_all() -> None:
    """Give every held thread its mask back now, whatever holds it.

    For the watchdog: a request it gave up on may never reach the end of its
    block (its loop is blocked), and the test's thread must not stay on one
    core for the rest of the run.
    """
    global _generation
    with _lock:
        if not _held:
            return
        _generation += 1
        for ident, (_, mask) in _held.items():
            _give_back(ident, mask)
        _held.clear()
        _give_back_started()


def _give_back(ident: int, mask: frozenset[int]) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(ident, mask)


def _give_back_started() -> None:
    # Threads started while the core was held inherited it from the thread
    # that started them: the ones still on it alone get the wide mask.
    one = {_core}
    for ident in _thread_ids() - _before:
        with contextlib.suppress(OSError):
            if os.sched_getaffinity(ident) == one:
                os.sched_setaffinity(ident, _wide)


def _thread_ids() -> frozenset[int]:
    return frozenset(
        ident for thread in threading.enumerate() if (ident := thread.native_id)
    )


class _Cores:
    """Whether a request's threads share a core now, and which one.

    Sharing pays on a machine with a sleeping core (a wake-up across cores
    would wake it) and on one where other processes keep every core busy
    (the two threads then take turns on one core instead of queuing behind
    a busy process on each). It loses where other processes keep some cores
    busy and none sleeps: a wake-up across cores then lands on a core that is
    awake, which is quick. So every ``WINDOW`` seconds, at the start of a
    request, it reads ``/proc/stat`` (about 15 µs): how many other threads
    are running or waiting to run (``procs_running``, less the request's own
    two; the fewest of the last three looks), and how busy each core was
    since the last look, less this process's own CPU time:

    - other runnable threads leave a core free: share, on the core shared
      last (where the threads' caches are), unless other processes kept it
      busier than another core by ``MARGIN`` of a core;
    - every core has another runnable thread: share;
    - otherwise (some cores busy, none free): do not share.
    """

    WINDOW = 0.1
    #: Of one core: how much less busy another core must have been to move
    #: there (a move costs both threads their caches).
    MARGIN = 0.25

    def __init__(self) -> None:
        self.core = -1
        self.share = True
        self._at = -math.inf
        self._busy: dict[int, tuple[int, int]] = {}
        self._own = 0.0
        #: Other runnable threads at the last few looks.
        self._others: collections.deque[int] = collections.deque(maxlen=3)

    def choose(self, here: int, ids: tuple[int, ...] = ()) -> int | None:
        """The core to share, or None; ``here`` is the core of the thread
        that asks, ``ids`` the threads to share it (that one first)."""
        now = time.monotonic()
        if now - self._at >= self.WINDOW:
            self._at = now
            self._look(ids)
        if self.core < 0:
            self.core = here
        return self.core if self.share else None

    def _look(self, ids: tuple[int, ...]) -> None:
        busy, running = _machine()
        # The request's own threads are no other process's: this one runs,
        # and the other may not have gone back to sleep yet.
        running -= 1 + sum(_runnable(ident) for ident in ids[1:])
        own = _own_cpu()
        before, own_before = self._busy, self._own
        self._busy, self._own = busy, own
        if not busy:
            return  # no /proc: share, as asked
        cores = len(busy)
        # Other runnable threads: one look sees an instant, and a thread that
        # runs for a moment (another process starting, a thread ending) is
        # no load; the fewest of the last few looks is.
        self._others.append(max(running, 0))
        others = min(self._others)
        if others >= cores:
            self.share = True
            return
        self.share = others <= cores - 2
        if not self.share or self.core not in busy or self.core not in before:
            return
        # How busy other processes kept each core: this process's time went
        # to the shared core, nearly all of it.
        busier: dict[int, float] = {}
        spans = []
        for core, (ticks, total) in busy.items():
            start = before.get(core)
            if start is not None and total > start[1]:
                busier[core] = (ticks - start[0]) / (total - start[1])
                spans.append(total - start[1])
        if self.core not in busier:
            return
        mine = (own - own_before) * _TICKS * len(spans) / sum(spans)
        busier[self.core] = max(busier[self.core] - mine, 0.0)
        best = min(busier, key=busier.__getitem__)
        if busier[best] + self.MARGIN < busier[self.core]:
            self.core = best


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine() -> tuple[dict[int, tuple[int, int]], int]:
    """Each core's (busy, total) clock ticks since boot, and the number of
    threads running or runnable now, from /proc/stat."""
    cores: dict[int, tuple[int, int]] = {}
    running = 0
    try:
        with open("/proc/stat", "rb") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith(b"cpu") and name != b"cpu":
                    ticks = [int(value) for value in fields[:8]]
                    total = sum(ticks)
                    cores[int(name[3:])] = (total - ticks[3] - ticks[4], total)
                elif name == b"procs_running":
                    running = int(fields[0])
    except (OSError, ValueError, IndexError):
        return {}, 0
    return cores, running


def _runnable(ident: int) -> bool:
    """Whether this process's thread ``ident`` runs or waits to run."""
    try:
        with open(f"/proc/self/task/{ident}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split(None, 1)[0] == b"R"
    except (OSError, IndexError):
        return False


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


_cores = _Cores()


# --- the setting, and what the platform offers ---------------------------------

_enabled = CachedSetting(SETTING, True, lambda wanted: bool(wanted) and _supported())


def enabled() -> bool:
    """Whether requests share a core: the setting, read once per change."""
    return _enabled.get()


def _supported() -> bool:
    return _getcpu is not None


def _find_getcpu() -> Callable[[], int] | None:
    # The standard library has no sched_getcpu(); the C library (glibc,
    # musl) has, and ctypes calls it in well under a microsecond.
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    function.argtypes = []
    function.restype = ctypes.c_int
    return function


def _current_cpu() -> int:
    assert _getcpu is not None  # enabled() found it
    return _getcpu()


def _platform_getcpu() -> Callable[[], int] | None:
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        return None
    return _find_getcpu()


#: sched_getcpu() where this process may share: looked up at import, when no
#: thread is held yet. Later, the calling thread's own mask may be the one
#: core a request holds it on, which is not what the process may use.
_getcpu: Callable[[], int] | None = _platform_getcpu()
