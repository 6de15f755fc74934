"""What @run_both_modes and the pytest async isolation cost.

Run: python benchmarks/bench_modes.py

1. A suite of 240 both-modes tests (120 bodies, half def and half async def,
   under ``@run_both_modes``) against the same bodies written once per stack
   by hand (four classes wiring the same clients the decorator picks), both
   run by ``manage.py test``; unittest's own
   "Ran N tests in Xs" is the measure, so database setup is left out.
2. Per-test time of an ``async def`` pytest-django test under the plugin's
   isolation against a plain sync pytest-django test doing the same query.

Rounds alternate between the sides, and the medians are compared.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import report

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
ROUNDS = 5
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
    by_hand = (
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
    (folder / "bench_by_hand.py").write_text(by_hand)


def run_in_project(
    folder: Path, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run Python with the generated tests and the test project importable."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(TESTS)]),
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def manage_test(folder: Path, label: str) -> tuple[int, float]:
    done = run_in_project(folder, TESTS, "manage.py", "test", label, "--noinput")
    ran = re.search(r"Ran (\d+) tests? in ([\d.]+)s", done.stderr)
    assert ran, done.stderr[-2000:]
    assert "OK" in done.stderr, done.stderr[-2000:]
    return int(ran[1]), float(ran[2])


def bench_both_modes(folder: Path) -> None:
    write_suites(folder)
    times: dict[str, list[float]] = {"bench_parity": [], "bench_by_hand": []}
    counts = {}
    for round_number in range(ROUNDS):
        order = list(times) if round_number % 2 == 0 else list(times)[::-1]
        for label in order:
            counts[label], seconds = manage_test(folder, label)
            times[label].append(seconds)
    parity = statistics.median(times["bench_parity"])
    by_hand = statistics.median(times["bench_by_hand"])
    print(f"@run_both_modes suite: {counts['bench_parity']} tests, {parity:.3f} s")
    print(f"written by hand:       {counts['bench_by_hand']} tests, {by_hand:.3f} s")
    print(f"ratio both-modes/by-hand: {parity / by_hand:.3f} (target <= 1.05)")
    report(
        f"@run_both_modes suite ({counts['bench_parity']} tests, manage.py test)",
        parity,
        by_hand,
        unit="s",
        baseline_name="the same bodies written by hand",
        target="≤ 1.05",
    )


ISOLATION_TESTS = """
import pytest
from django.contrib.auth.models import User

{body}
"""
SYNC_TEST = (
    "@pytest.mark.django_db\ndef test_{n}():\n    assert User.objects.count() == 0\n"
)
ASYNC_TEST = (
    "@pytest.mark.django_db\nasync def test_{n}():\n"
    "    assert await User.objects.acount() == 0\n"
)


def pytest_seconds(folder: Path, module: str, *extra: str) -> float:
    done = run_in_project(
        folder,
        ROOT,
        "-m",
        "pytest",
        str(folder / module),
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-c",
        str(ROOT / "setup.cfg"),
        "--rootdir",
        str(ROOT),
        *extra,
    )
    found = re.search(r"(\d+) passed.* in ([\d.]+)s", done.stdout)
    assert found, done.stdout[-2000:]
    return float(found[2]) / int(found[1])


def bench_isolation(folder: Path) -> None:
    count = 300
    for name, template in (("iso_sync.py", SYNC_TEST), ("iso_async.py", ASYNC_TEST)):
        body = "\n\n".join(template.format(n=n) for n in range(count))
        (folder / name).write_text(ISOLATION_TESTS.format(body=body))
    sides = {
        "sync": ("iso_sync.py",),
        "isolated": ("iso_async.py",),
        # pytest-asyncio's own loop, rows leaking: the baseline users have now.
        "pytest-asyncio": ("iso_async.py", "-o", "restflow_parity_async_isolation=0"),
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    for round_number in range(ROUNDS):
        order = list(sides) if round_number % 2 == 0 else list(sides)[::-1]
        for side in order:
            times[side].append(pytest_seconds(folder, *sides[side]))
    sync_ms = statistics.median(times["sync"]) * 1e3
    async_ms = statistics.median(times["isolated"]) * 1e3
    leaky_ms = statistics.median(times["pytest-asyncio"]) * 1e3
    print(f"pytest-django sync db test:        {sync_ms:.2f} ms/test ({count} tests)")
    print(f"async db test under the isolation: {async_ms:.2f} ms/test ({count} tests)")
    print(f"async db test, pytest-asyncio only (not isolated): {leaky_ms:.2f} ms/test")
    print(
        f"isolation overhead: {async_ms - sync_ms:+.2f} ms/test, "
        f"ratio {async_ms / sync_ms:.2f}"
    )
    report(
        "async DB test under the isolation",
        async_ms,
        sync_ms,
        unit="ms/test",
        baseline_name="pytest-django sync DB test",
    )
    report(
        "async DB test under the isolation",
        async_ms,
        leaky_ms,
        unit="ms/test",
        baseline_name="pytest-asyncio alone (rows leak)",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_both_modes(folder)
        bench_isolation(folder)


if __name__ == "__main__":
    main()
