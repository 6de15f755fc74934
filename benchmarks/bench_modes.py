"""What @run_both_modes costs per test.

Run: python benchmarks/bench_modes.py

A class of 120 bodies (60 ``def``, 60 ``async def``; each a POST and a GET of
the test project's DRF viewset) under ``@run_both_modes``, so 240 tests,
against the same bodies written once per stack by hand (four classes wiring
the clients the decorator picks). Both run in this process under unittest, as
Django's runner runs them (in-memory SQLite, one transaction per test).

Each test's time is taken alone (unittest's start and stop of the test) and
the suites' rounds are interleaved; a suite's figure is the sum over its
tests of each test's median, so a stray slow round moves nothing. Third
side: the decorated suite with its tests grouped by stack (every sync variant,
then every async one), the order the hand-written suite runs in. unittest runs
a class's methods by name, so ``test_x_async`` and ``test_x_sync`` run in
turn, and a sync test right after an async one is slower, with or without the
kit (``bench_isolation.py`` measures that alone).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
os.environ.setdefault("DATABASE_URL", "sqlite://")

import django  # noqa: E402

django.setup()

from _report import report  # noqa: E402
from _rounds import interleave  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 15))
BODIES = 60  # of each kind (def and async def): 120 bodies, 240 parity tests

SYNC_BODY = """
    def test_sync_{n}(self):
        response = self.client.post("/api/products/", {{"name": "p{n}"}}, format="json")
        assert response.status_code == 201
        assert self.client.get("/api/products/").status_code == 200
"""
ASYNC_BODY = """
    async def test_async_{n}(self):
        response = await self.client.post(
            "/api/products/", {{"name": "p{n}"}}, format="json"
        )
        assert response.status_code == 201
        assert (await self.client.get("/api/products/")).status_code == 200
"""


def write_suites(folder: Path) -> None:
    sync_bodies = "".join(SYNC_BODY.format(n=n) for n in range(BODIES))
    async_bodies = "".join(ASYNC_BODY.format(n=n) for n in range(BODIES))
    header = (
        "from rest_framework.test import APITestCase\n"
        "from restflow_parity import run_both_modes\n"
        "from restflow_parity.test import AsyncAPITestCase, SyncAPIClient\n\n"
    )
    (folder / "bench_parity.py").write_text(
        header
        + "@run_both_modes\nclass Parity(AsyncAPITestCase):\n"
        + sync_bodies
        + async_bodies
    )
    # By hand: each body once per stack, with the same clients the decorator
    # picks, so the difference is the mode runner alone.
    (folder / "bench_by_hand.py").write_text(
        header
        + "class SyncDef(APITestCase):\n"
        + "    client_class = SyncAPIClient\n\n"
        + sync_bodies
        + "\n\nclass SyncAsync(APITestCase):\n"
        + "    client_class = SyncAPIClient\n\n"
        + "    def setUp(self):\n        self.client.awaitable = True\n"
        + async_bodies
        + "\n\nclass AsyncDef(AsyncAPITestCase):\n"
        + "    def setUp(self):\n        self.client.awaitable = False\n"
        + sync_bodies
        + "\n\nclass AsyncAsync(AsyncAPITestCase):\n"
        + async_bodies
    )


class _Timed(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, float] = {}

    def startTest(self, test: unittest.TestCase) -> None:
        self._start = time.perf_counter()
        super().startTest(test)

    def stopTest(self, test: unittest.TestCase) -> None:
        self.times[test.id()] = time.perf_counter() - self._start
        super().stopTest(test)


def suite_runner(
    make: Callable[[], unittest.TestSuite], per_test: dict[str, list[float]]
) -> Callable[[], float]:
    def run() -> float:
        result = _Timed()
        make().run(result)
        assert result.wasSuccessful(), (result.errors + result.failures)[:1]
        for test, seconds in result.times.items():
            per_test.setdefault(test, []).append(seconds)
        return sum(result.times.values())

    return run


def main() -> None:
    setup_test_environment()
    setup_databases(verbosity=0, interactive=False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_suites(folder)
        sys.path.insert(0, tmp)
        import bench_by_hand  # type: ignore[import-not-found]
        import bench_parity  # type: ignore[import-not-found]

        loader = unittest.TestLoader()

        def parity() -> unittest.TestSuite:
            return loader.loadTestsFromModule(bench_parity)

        def grouped() -> unittest.TestSuite:
            tests: list[Any] = list(loader.loadTestsFromTestCase(bench_parity.Parity))
            tests.sort(key=lambda t: (t._testMethodName.endswith("_async"), t.id()))
            return unittest.TestSuite(tests)

        def by_hand() -> unittest.TestSuite:
            return loader.loadTestsFromModule(bench_by_hand)

        per_test: dict[str, dict[str, list[float]]] = {
            "parity": {},
            "grouped": {},
            "by hand": {},
        }
        interleave(
            {
                "parity": suite_runner(parity, per_test["parity"]),
                "grouped": suite_runner(grouped, per_test["grouped"]),
                "by hand": suite_runner(by_hand, per_test["by hand"]),
            },
            ROUNDS,
        )
    totals = {
        name: sum(statistics.median(times[1:]) for times in tests.values())
        for name, tests in per_test.items()  # [1:]: the warm-up round
    }
    count = len(per_test["parity"])
    for name, seconds in totals.items():
        print(f"{name:>8}: {count} tests, {seconds * 1e3:.1f} ms")
    for side, measure in (
        ("parity", f"@run_both_modes suite ({count} tests), unittest order"),
        ("grouped", f"@run_both_modes suite ({count} tests), grouped by stack"),
    ):
        ratio = totals[side] / totals["by hand"]
        print(f"{measure} / by hand: {ratio:.3f}")
        report(
            measure,
            totals[side] * 1e3,
            totals["by hand"] * 1e3,
            unit="ms",
            baseline_name="the same bodies written by hand",
            target="≤ 1.05",
        )


if __name__ == "__main__":
    main()
