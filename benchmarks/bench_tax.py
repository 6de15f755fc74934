"""The async tax: one DRF request on each stack, where its time goes, what the kit adds.

Run: python benchmarks/bench_tax.py

The request: GET of a DRF ``ListAPIView`` over three rows, with Django's
default middleware, on in-memory SQLite (``benchmarks/benchproject``). An
async client is driven the way Django's runner drives an ``async def`` test:
through ``async_to_sync`` from the main thread, which serves the loop's
thread-sensitive calls. Every side runs 20 requests per round; rounds are
interleaved in a fresh random order (``_rounds.py``).

1. The tax: each async client against DRF's sync ``APIClient``; our
   ``AsyncAPIClient`` against Django's ``AsyncClient``; our client with its
   relay against the same client hopping asgiref's way (``hop.ENABLED``).
2. Core affinity: the same requests with every thread of the process pinned
   to one core.
3. Where the time goes: each thread's CPU time per request (``thread_time``)
   and what is left of the wall time, the threads waiting for each other.
4. The kit's own parts of a request, each timed alone.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["DJANGO_SETTINGS_MODULE"] = "benchproject.settings"

import django  # noqa: E402

django.setup()

from _report import report  # noqa: E402
from _rounds import interleave, median, paired  # noqa: E402
from asgiref.sync import async_to_sync  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import AsyncClient  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.test import APIClient as DRFAPIClient  # noqa: E402

from restflow_parity import hop  # noqa: E402
from restflow_parity.builder import _host  # noqa: E402
from restflow_parity.client import decorate_response  # noqa: E402
from restflow_parity.handler import (  # noqa: E402
    aclosing_worker_connections,
    connection_recycling_paused,
    request_scope,
)
from restflow_parity.pending import call_site  # noqa: E402
from restflow_parity.test import AsyncAPIClient, SyncAPIClient  # noqa: E402
from restflow_parity.watchdog import aguard  # noqa: E402

PATH = "/groups/"
REQUESTS = 20
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 60))
CAN_PIN = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1


def blocking(client: Any) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(REQUESTS):
            assert client.get(PATH).status_code == 200
        return (time.perf_counter() - start) / REQUESTS

    return run


async def _requests(client: Any) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS):
        assert (await client.get(PATH)).status_code == 200
    return (time.perf_counter() - start) / REQUESTS


def awaiting(client: Any, relay: bool = True) -> Callable[[], float]:
    def run() -> float:
        hop.ENABLED = relay
        try:
            return float(async_to_sync(_requests)(client))
        finally:
            hop.ENABLED = True

    return run


def pinned(side: Callable[[], float]) -> Callable[[], float]:
    """``side`` with every thread of the process on one core (threads started
    meanwhile inherit the mask of the thread that starts them)."""
    every = os.sched_getaffinity(0)
    one = {min(every)}

    def run() -> float:
        _set_affinity(one)
        try:
            return side()
        finally:
            _set_affinity(every)

    return run


def _set_affinity(cpus: set[int]) -> None:
    for thread in threading.enumerate():
        if thread.native_id is not None:
            # A thread may end meanwhile (asgiref's loop threads do).
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread.native_id, cpus)


def bench_tax() -> None:
    sides = {
        "drf sync": blocking(DRFAPIClient()),
        "ours sync": blocking(SyncAPIClient()),
        "django async": awaiting(AsyncClient()),
        "ours async": awaiting(AsyncAPIClient()),
        "ours async, asgiref hop": awaiting(AsyncAPIClient(), relay=False),
    }
    if CAN_PIN:
        sides["drf sync, one core"] = pinned(blocking(DRFAPIClient()))
        sides["ours async, one core"] = pinned(awaiting(AsyncAPIClient()))
    results = interleave(sides, ROUNDS)
    us = {name: median(results, name) * 1e6 for name in results}
    for name, value in us.items():
        print(f"{name:>26}: {value:8.1f} µs/request")
    rows = [
        ("ours async", "drf sync", "async/sync tax, our AsyncAPIClient", "≤ 2.5"),
        ("django async", "drf sync", "async/sync tax, Django's AsyncClient", ""),
        (
            "ours async",
            "django async",
            "AsyncAPIClient vs Django AsyncClient",
            "≤ 1.00",
        ),
        (
            "ours async",
            "ours async, asgiref hop",
            "AsyncAPIClient, relay vs asgiref's hop",
            "< 1",
        ),
        ("ours sync", "drf sync", "SyncAPIClient vs DRF APIClient", ""),
    ]
    if CAN_PIN:
        rows += [
            (
                "ours async, one core",
                "ours async",
                "AsyncAPIClient pinned to one core",
                "",
            ),
            ("drf sync, one core", "drf sync", "DRF APIClient pinned to one core", ""),
        ]
    for ours, baseline, measure, target in rows:
        ratio = paired(results, ours, baseline)
        print(f"{measure}: {ratio:.3f} {('(target ' + target + ')') if target else ''}")
        report(
            measure,
            us[ours],
            us[baseline],
            unit="µs",
            baseline_name=baseline,
            target=target,
            ratio=ratio,
        )
    if CAN_PIN:
        ratio = paired(results, "ours async, one core", "drf sync, one core")
        print(f"async/sync tax, both pinned to one core: {ratio:.3f}")
        report(
            "async/sync tax, our AsyncAPIClient, one core",
            us["ours async, one core"],
            us["drf sync, one core"],
            unit="µs",
            baseline_name="drf sync, one core",
            ratio=ratio,
        )


# --- where the time goes ------------------------------------------------------


async def _loop_cpu(client: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(REQUESTS):
        await client.get(PATH)
    return time.perf_counter() - wall, time.thread_time() - cpu


def breakdown(client: Any) -> dict[str, float]:
    """Per request: each thread's CPU time, and the wall time neither ran."""
    samples: list[tuple[float, float, float]] = []
    for _ in range(ROUNDS // 2):
        main = time.thread_time()
        wall, loop = async_to_sync(_loop_cpu)(client)
        samples.append((wall, loop, time.thread_time() - main))
    wall, loop, main = (
        statistics.median(sample[i] for sample in samples) / REQUESTS * 1e6
        for i in range(3)
    )
    return {
        "wall": wall,
        "main thread (sync middleware, view, ORM)": main,
        "loop thread (async handler, asgiref, the kit)": loop,
        "threads waiting for each other": max(wall - main - loop, 0.0),
    }


def bench_breakdown() -> None:
    sync_client = DRFAPIClient()
    sync_cpu = []
    for _ in range(ROUNDS // 2):
        start = time.thread_time()
        blocking(sync_client)()
        sync_cpu.append((time.thread_time() - start) / REQUESTS * 1e6)
    print(f"\nDRF APIClient, one thread: {statistics.median(sync_cpu):.0f} µs CPU")
    for name, client in (
        ("Django AsyncClient", AsyncClient()),
        ("AsyncAPIClient", AsyncAPIClient()),
    ):
        parts = breakdown(client)
        print(f"{name}, per request:")
        for part, value in parts.items():
            print(f"  {part:>46}: {value:7.0f} µs")
            if part != "wall":
                report(f"{name}: {part}", value, unit="µs/request")


# --- the kit's own parts --------------------------------------------------------


def per_call(function: Callable[[], Any], number: int = 5000) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


async def _noop() -> None:
    pass


def per_await(make: Callable[[], Any], number: int = 2000) -> float:
    async def run() -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(number):
                await make()
            best = min(best, time.perf_counter() - start)
        return best / number * 1e6

    return float(async_to_sync(run)())


def bench_kit() -> None:
    client = AsyncAPIClient()
    environ = client._base_environ(PATH_INFO=PATH, REQUEST_METHOD="GET")

    async def fetch() -> Any:
        return await client.get(PATH)

    response = async_to_sync(fetch)()

    def build() -> None:
        pending = client.get(PATH)
        pending._awaited = True  # no warning: this one is never sent

    def pause() -> None:
        with connection_recycling_paused():
            pass

    def recording() -> None:
        with client._recording():
            pass

    async def tracked() -> None:
        async with aclosing_worker_connections():
            pass

    bare = per_await(_noop)
    parts = {
        "request built: verb to PendingResponse": per_call(build),
        "  of which the warning's call site": per_call(call_site),
        "  of which the Host header": per_call(lambda: _host(environ)),
        "ASGI scope from the environ": per_call(lambda: request_scope(environ)),
        "response decorated": per_call(
            lambda: decorate_response(client, response, environ, {})
        ),
        "templates and exceptions recorded": per_call(recording),
        "connection recycling paused": per_call(pause),
        "worker connections tracked": per_await(tracked) - bare,
        "watchdog guard": per_await(lambda: aguard(_noop(), "x", 30.0)) - bare,
        "relay: task, context, server start and stop": (
            per_await(lambda: hop.relayed(_noop)) - bare
        ),
    }
    print("\nThe kit's parts of one async request:")
    for part, value in parts.items():
        print(f"  {part:>46}: {value:6.2f} µs")
        report(f"kit: {part.strip()}", value, unit="µs")


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    Group.objects.bulk_create(Group(name=f"group {n}") for n in range(3))
    bench_tax()
    bench_breakdown()
    bench_kit()


if __name__ == "__main__":
    main()
