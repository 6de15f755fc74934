"""What the deadlock watchdog costs per request, and how fast it reports.

Run: python benchmarks/bench_watchdog.py

1. GET /ping/ (a minimal DRF view) through each stack's client, from a def
   and from an async def body (run through async_to_sync from the main thread,
   as Django's runner runs one), with the watchdog on (30 s) and off (None):
   interleaved rounds, median per-request time, and the median of per-round
   ratios on/off.
2. The guard alone: ``with Guard(...)`` around nothing, against nothing.
3. Time to report: a view that blocks its thread forever, with a 0.5 s limit.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django

django.setup()

from _report import report  # noqa: E402
from asgiref.sync import async_to_sync  # noqa: E402
from clients import make_client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from products.hazard_views import RELEASE  # noqa: E402

from restflow_parity.watchdog import Guard, RequestTimeoutError  # noqa: E402

ROUNDS = 30
REQUESTS_PER_ROUND = 200
CONFIGS = [
    ("sync", "def"),
    ("sync", "async def"),
    ("async", "def"),
    ("async", "async def"),
]


def time_def(client: Any) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        assert client.get("/ping/").status_code == 200
    return (time.perf_counter() - start) / REQUESTS_PER_ROUND


async def time_async(client: Any) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        assert (await client.get("/ping/")).status_code == 200
    return (time.perf_counter() - start) / REQUESTS_PER_ROUND


def bench_requests(stack: str, body: str) -> None:
    awaitable = body == "async def"
    clients = {
        "on": make_client(stack, awaitable, request_timeout=30),  # type: ignore[arg-type]
        "off": make_client(stack, awaitable, request_timeout=None),  # type: ignore[arg-type]
    }

    def measure(client: Any) -> float:
        if awaitable:
            return float(async_to_sync(time_async)(client))
        return time_def(client)

    for client in clients.values():  # warm up
        measure(client)
    timings: dict[str, list[float]] = {name: [] for name in clients}
    for round_number in range(ROUNDS):
        names = list(clients) if round_number % 2 == 0 else list(clients)[::-1]
        for name in names:
            timings[name].append(measure(clients[name]))
    on, off = (statistics.median(timings[name]) * 1e6 for name in ("on", "off"))
    pairs = zip(timings["on"], timings["off"], strict=True)
    ratio = statistics.median(on_round / off_round for on_round, off_round in pairs)
    label = f"{stack} stack, {body} body"
    print(
        f"{label:27} on {on:7.1f} us, off {off:7.1f} us, "
        f"overhead {on - off:+5.1f} us/request, ratio {ratio:.3f}"
    )
    report(
        f"GET /ping/, {label}, watchdog on",
        on,
        off,
        unit="µs",
        baseline_name="watchdog off",
        target="≤ 1.02",
        ratio=ratio,
    )


def bench_guard() -> None:
    count = 200_000
    start = time.perf_counter()
    for _ in range(count):
        with Guard("GET /", 30.0):
            pass
    guarded = (time.perf_counter() - start) / count * 1e6
    start = time.perf_counter()
    for _ in range(count):
        pass
    empty = (time.perf_counter() - start) / count * 1e6
    print(f"Guard() enter+exit alone: {guarded - empty:.2f} us")
    report("Guard() around nothing", guarded - empty, unit="µs")


def bench_time_to_report(stack: str, body: str, limit: float = 0.5) -> None:
    client = make_client(stack, body == "async def", request_timeout=limit)  # type: ignore[arg-type]

    async def send_async() -> Any:
        return await client.get("/hazard/wait/sync/")

    RELEASE.clear()
    start = time.perf_counter()
    try:
        if body == "def":
            client.get("/hazard/wait/sync/")
        else:
            async_to_sync(send_async)()
    except RequestTimeoutError:
        pass
    else:
        raise AssertionError("the deadlocked request was not reported")
    finally:
        RELEASE.set()
    elapsed = time.perf_counter() - start
    print(
        f"deadlocked sync view, {stack} stack, {body} body: reported after "
        f"{elapsed:.3f} s (limit {limit} s)"
    )
    report(
        f"time to report a deadlocked sync view, {stack} stack, {body} body",
        elapsed,
        limit,
        unit="s",
        baseline_name="the limit",
        target="≤ limit + 0.5 s grace",
    )


def main() -> None:
    setup_test_environment()
    for stack, body in CONFIGS:
        bench_requests(stack, body)
    bench_guard()
    for stack, body in CONFIGS:
        bench_time_to_report(stack, body)


if __name__ == "__main__":
    main()
