"""What an isolated async database test costs, per test.

Run: python benchmarks/bench_isolation.py

1. pytest, 300 tests a side, each doing one count query: pytest-django's sync
   DB test, an ``async def`` one under the plugin's isolation, and the same
   under pytest-asyncio alone (rows leak: the baseline users have now). The
   figure is pytest's own "in N s" over the test count.
2. The same test body in this process, without pytest: the machinery that
   runs one async test. ``async_to_sync`` (Django's runner, and the pytest
   plugin before it used TestLoop) starts a thread per test;
   ``testloop.TestLoop`` (what the pytest plugin runs each isolated async
   test on) runs the test's loop in a reused thread; a plain sync call is the
   floor.
3. A sync test right after an async one, against one after a sync one:
   asgiref's per-test thread is still winding down.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _report import report  # noqa: E402
from _rounds import interleave, median, paired  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))

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
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "tests")]),
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
    }
    done = subprocess.run(
        [
            sys.executable,
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
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"(\d+) passed.* in ([\d.]+)s", done.stdout)
    assert found, done.stdout[-2000:]
    return float(found[2]) / int(found[1])


def bench_pytest() -> None:
    count = 300
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, template in (
            ("iso_sync.py", SYNC_TEST),
            ("iso_async.py", ASYNC_TEST),
        ):
            body = "\n\n".join(template.format(n=n) for n in range(count))
            (folder / name).write_text(ISOLATION_TESTS.format(body=body))
        sides: dict[str, tuple[str, ...]] = {
            "sync": ("iso_sync.py",),
            "isolated": ("iso_async.py",),
            "pytest-asyncio": (
                "iso_async.py",
                "-o",
                "restflow_parity_async_isolation=0",
            ),
        }
        results = interleave(
            {
                name: (lambda args=args: pytest_seconds(folder, *args))
                for name, args in sides.items()
            },
            ROUNDS,
        )
    ms = {name: median(results, name) * 1e3 for name in results}
    for name, value in ms.items():
        print(f"pytest, {name:>14}: {value:.2f} ms/test ({count} tests)")
    for baseline, target in (("sync", "≤ 1.15"), ("pytest-asyncio", "")):
        report(
            "pytest: async DB test under the isolation",
            ms["isolated"],
            ms[baseline],
            unit="ms/test",
            baseline_name=f"{baseline} DB test" if baseline == "sync" else baseline,
            target=target,
            ratio=paired(results, "isolated", baseline),
        )


def bench_machinery() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchproject.settings"
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from restflow_parity.pytest_plugin._testloop import TestLoop

    call_command("migrate", verbosity=0)
    tests = 50

    async def async_test() -> None:
        assert await User.objects.acount() == 0

    def sync_test() -> None:
        assert User.objects.count() == 0

    def on_test_loop() -> None:
        loop = TestLoop()
        try:
            loop.run(async_test)
        finally:
            loop.close()

    def timed(run: Callable[[], None]) -> Callable[[], float]:
        def side() -> float:
            start = time.perf_counter()
            for _ in range(tests):
                run()
            return (time.perf_counter() - start) / tests

        return side

    def alternating(first: Callable[[], None]) -> Callable[[], float]:
        # The time of sync tests that each follow ``first``.
        def side() -> float:
            spent = 0.0
            for _ in range(tests):
                first()
                start = time.perf_counter()
                sync_test()
                spent += time.perf_counter() - start
            return spent / tests

        return side

    results = interleave(
        {
            "sync": timed(sync_test),
            "async_to_sync": timed(async_to_sync(async_test)),
            "TestLoop": timed(on_test_loop),
            "sync after sync": alternating(sync_test),
            "sync after async_to_sync": alternating(async_to_sync(async_test)),
            "sync after TestLoop": alternating(on_test_loop),
        },
        ROUNDS * 6,
    )
    us = {name: median(results, name) * 1e6 for name in results}
    for name, value in us.items():
        print(f"one test, {name:>24}: {value:8.1f} µs")
    for ours, baseline, measure in (
        (
            "async_to_sync",
            "sync",
            "one async DB test via async_to_sync (Django's runner)",
        ),
        ("TestLoop", "sync", "one async DB test on a TestLoop (the pytest plugin)"),
        ("TestLoop", "async_to_sync", "TestLoop vs async_to_sync, per test"),
        (
            "sync after async_to_sync",
            "sync after sync",
            "a sync test after an async one",
        ),
        ("sync after TestLoop", "sync after sync", "a sync test after a TestLoop one"),
    ):
        report(
            measure,
            us[ours],
            us[baseline],
            unit="µs",
            baseline_name=baseline,
            ratio=paired(results, ours, baseline),
        )


def main() -> None:
    bench_pytest()
    bench_machinery()


if __name__ == "__main__":
    main()
