"""One thread-sensitive hop, measured alone: loop thread to main thread and back.

Run: python benchmarks/bench_hop.py

``await sync_to_async(noop)()`` 2,000 times, from a loop in a worker thread
while the main thread serves the calls, each way a test can run:

- asgiref: ``async_to_sync`` (Django's runner), so asgiref's
  ``CurrentThreadExecutor`` serves the calls;
- asgiref, core shared: the same, with both threads on one core
  (``affinity.SharedCore``, what every request of the kit's async clients
  holds while it is in flight);
- main-thread executor: the loop of ``testloop.TestLoop``, served by
  ``testloop.MainThreadExecutor`` (no asgiref executor at all), with and
  without the shared core;
- leaner ``SyncToAsync``: a prototype of the upstream change proposed in
  docs/benchmarks.md (no ``run_in_executor``, ``shield`` or second partial per
  call), on the main-thread executor; a subclass used by this script only;
- no thread switch: asgiref's work alone, with an executor that runs the
  call at once on the loop's thread;
- minimal: a ``SimpleQueue`` one way and ``call_soon_threadsafe`` back, no
  asgiref: the floor for two thread switches.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report
from _rounds import interleave, median, paired
from asgiref.sync import (
    SyncToAsync,
    ThreadSensitiveContext,
    _restore_context,
    async_to_sync,
    sync_to_async,
)

from restflow_parity.pytest_plugin import _testloop as testloop
from restflow_parity.pytest_plugin._testloop import TestLoop
from restflow_parity.request._affinity import SharedCore

HOPS = 2000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 15))


def _noop() -> None:
    pass


noop = sync_to_async(_noop)


async def hops(call: Callable[[], Any] = noop, shared: bool = False) -> float:
    with SharedCore() if shared else contextlib.nullcontext():
        start = time.perf_counter()
        for _ in range(HOPS):
            await call()
        return (time.perf_counter() - start) / HOPS


#: The executor of the TestLoop running now (LeanSyncToAsync queues on it).
_executor: Any = None


class LeanSyncToAsync(SyncToAsync[Any, Any]):
    """The proposal: one context copy, one partial, one future per call.

    It queues the call straight onto a ``hop`` executor and awaits its asyncio
    future: no ``run_in_executor``, no ``shield``, no ``thread_handler``
    wrapper (it keeps what that wrapper does for ``async_to_sync`` calls made
    inside the call).
    """

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        executor: Any = _executor
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        child = functools.partial(self.func, *args, **kwargs)

        def run_child() -> Any:
            _restore_context(context)  # re-homes asgiref Locals, as asgiref does
            return child()

        def run() -> Any:
            SyncToAsync.threadlocal.main_event_loop = loop
            SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
            return context.run(run_child)

        future = loop.create_future()
        executor._queue.put(testloop._Call(loop, future, run, (), {}))
        try:
            return await future
        finally:
            _restore_context(context)


def asgiref(shared: bool = False) -> Callable[[], float]:
    def run() -> float:
        return float(async_to_sync(hops)(noop, shared))

    return run


def main_thread_executor(
    call: Callable[[], Any] = noop, shared: bool = False
) -> Callable[[], float]:
    def run() -> float:
        global _executor
        loop = TestLoop()
        _executor = loop._executor
        try:
            return float(loop.run(functools.partial(hops, call, shared)))
        finally:
            loop.close()

    return run


class _AtOnce(concurrent.futures.Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def no_thread_switch() -> float:
    async def run() -> float:
        async with ThreadSensitiveContext(executor=_AtOnce()):
            return await hops()

    return asyncio.run(run())


def minimal() -> float:
    calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(HOPS):
            future = loop.create_future()
            calls.put(future)
            await future
        calls.put(None)
        return (time.perf_counter() - start) / HOPS

    done = asyncio.run_coroutine_threadsafe(run(), loop)
    while (future := calls.get()) is not None:
        _noop()
        loop.call_soon_threadsafe(future.set_result, None)
    result = done.result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    return result


def main() -> None:
    if not testloop.SUPPORTED:
        sys.exit("bench_hop needs asgiref 3.13 (ThreadSensitiveContext(executor=))")
    sides = {
        "asgiref": asgiref(),
        "asgiref, core shared": asgiref(shared=True),
        "main-thread executor": main_thread_executor(),
        "main-thread executor, core shared": main_thread_executor(shared=True),
        "leaner SyncToAsync": main_thread_executor(LeanSyncToAsync(_noop)),
        "no thread switch": no_thread_switch,
        "minimal": minimal,
    }
    results = interleave(sides, ROUNDS)
    for name in sides:
        print(f"{name:>22}: {median(results, name) * 1e6:6.1f} µs/hop")
    base = median(results, "asgiref") * 1e6
    for name in sides:
        if name == "asgiref":
            continue
        ratio = paired(results, name, "asgiref")
        print(f"{name} / asgiref: {ratio:.3f}")
        report(
            f"one hop: {name}",
            median(results, name) * 1e6,
            base,
            unit="µs",
            baseline_name="asgiref's CurrentThreadExecutor",
            ratio=ratio,
        )


if __name__ == "__main__":
    main()
