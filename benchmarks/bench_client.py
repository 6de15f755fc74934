"""AsyncAPIClient against Django's AsyncClient on the same DRF view.

Run: python benchmarks/bench_client.py
Both clients send GET /ping/ (a minimal DRF view) in interleaved rounds on one
event loop, driven through async_to_sync from the main thread exactly as
Django's test runner drives an ``async def`` test; prints the median
per-request time of each and their ratio.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django

django.setup()

from _report import report  # noqa: E402
from asgiref.sync import async_to_sync  # noqa: E402
from django.test import AsyncClient  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from restflow_parity.test import AsyncAPIClient  # noqa: E402

ROUNDS = 30
REQUESTS_PER_ROUND = 200


async def time_requests(client: AsyncClient | AsyncAPIClient) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        response = await client.get("/ping/")
        assert response.status_code == 200
    return (time.perf_counter() - start) / REQUESTS_PER_ROUND


async def main() -> None:
    setup_test_environment()
    clients = {"django": AsyncClient(), "ours": AsyncAPIClient()}
    timings: dict[str, list[float]] = {name: [] for name in clients}
    for client in clients.values():  # warm both up once
        await time_requests(client)
    for round_number in range(ROUNDS):
        names = list(clients) if round_number % 2 == 0 else list(clients)[::-1]
        for name in names:
            timings[name].append(await time_requests(clients[name]))
    us = {name: statistics.median(values) * 1e6 for name, values in timings.items()}
    print(f"Django AsyncClient, DRF GET: {us['django']:.1f} us/request")
    print(f"AsyncAPIClient,     DRF GET: {us['ours']:.1f} us/request")
    # Ratio of each round's pair, then the median: drift between rounds cancels.
    paired = statistics.median(
        ours / django
        for ours, django in zip(timings["ours"], timings["django"], strict=True)
    )
    print(
        f"ratio ours/django (median of per-round ratios): {paired:.3f} (target <= 1.05)"
    )
    report(
        "AsyncAPIClient GET of a DRF view",
        us["ours"],
        us["django"],
        unit="µs",
        baseline_name="Django AsyncClient",
        target="≤ 1.05",
        ratio=paired,
    )


if __name__ == "__main__":
    async_to_sync(main)()
