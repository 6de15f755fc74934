"""What rolling back the caches around each parity variant costs, and what it fixes.

Run: python benchmarks/bench_variant_state.py

1. The outcome: a throttling test written like DRF's (a frozen clock, no
   ``cache.clear()`` in ``setUp``) under ``@run_both_modes``, with the
   rollback on and off.
2. The cost of one rollback, in process: ``variant_state()`` around one
   ``cache.set`` with 20 entries in the cache, against the ``cache.set``
   alone (median of rounds of 20,000).
3. The cost in a suite: bench_modes.py's suite of 240 parity tests (the product API,
   whose list view caches in LocMemCache; each body starts from an empty
   cache) under ``ParityDiscoverRunner``, with
   ``RESTFLOW_PARITY_ROLLBACK_CACHES`` on and off. unittest's "Ran N
   tests in Xs" is the measure; rounds alternate and medians are compared.
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
from bench_modes import write_suites

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

# The throttling test the suite's own test plants: one copy of it.
from test_variant_state import THROTTLED  # noqa: E402

ROUNDS = 11  # the suite takes under a second: fewer rounds left a 3% noise
RUNNER = "restflow_parity.runner.ParityDiscoverRunner"


def manage_test(
    folder: Path, label: str, rollback: bool
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(TESTS)]),
        "DJANGO_SETTINGS_MODULE": "rollback_on" if rollback else "rollback_off",
        "RESTFLOW_PARITY_MODE": "both",
    }
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "test",
            label,
            "--noinput",
            "--testrunner",
            RUNNER,
        ],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
    )


def seconds(done: subprocess.CompletedProcess[str]) -> tuple[int, float]:
    ran = re.search(r"Ran (\d+) tests? in ([\d.]+)s", done.stderr)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ran, done.stderr[-2000:]
    return int(ran[1]), float(ran[2])


def level_cache(suite: Path) -> None:
    """Start every body from an empty cache, with the rollback on or off.

    The suite's list view caches its response. Without this, the run with
    the rollback off would serve every later test the first test's cached
    list and skip the view, and the ratio would count that skipped work as
    the rollback's cost.
    """
    text = suite.read_text()
    text = "from django.core.cache import cache\n" + text.replace(
        "class Parity(AsyncAPITestCase):\n",
        "class Parity(AsyncAPITestCase):\n"
        "    def setUp(self):\n"
        "        super().setUp()\n"
        "        cache.clear()\n",
        1,
    )
    suite.write_text(text)


MICRO = """
import statistics, timeit
import django
django.setup()
from django.core.cache import cache
from restflow_parity.variants._caches import variant_state
for i in range(20):
    cache.set(f"k{i}", "x" * 100)
def rolled_back():
    with variant_state():
        cache.set("a", 1)
def alone():
    cache.set("a", 1)
n = 20000
ours = [timeit.timeit(rolled_back, number=n) / n for _ in range(5)]
base = [timeit.timeit(alone, number=n) / n for _ in range(5)]
print(statistics.median(ours), statistics.median(base))
"""


def micro() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(TESTS),
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", MICRO], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ours, base = map(float, done.stdout.split())
    print(
        f"variant_state() around one cache.set: {ours * 1e6:.1f} µs, "
        f"the set alone {base * 1e6:.1f} µs: {(ours - base) * 1e6:+.1f} µs per variant"
    )
    report(
        "one cache rollback (variant_state() around a cache.set, 20 entries)",
        (ours - base) * 1e6,
        unit="µs",
    )


def main() -> None:
    micro()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for flag, module in ((True, "rollback_on"), (False, "rollback_off")):
            (folder / f"{module}.py").write_text(
                "from testproject.settings import *\n"
                f"RESTFLOW_PARITY_ROLLBACK_CACHES = {flag}\n"
            )
        (folder / "throttled.py").write_text(THROTTLED)
        for rollback in (True, False):
            done = manage_test(folder, "throttled", rollback)
            verdict = (
                "both variants passed"
                if done.returncode == 0
                else (
                    "failed: "
                    + "; ".join(
                        line.strip()
                        for line in (done.stdout + done.stderr).splitlines()
                        if "test_the_fourth_request_is_throttled:" in line
                        or line.startswith("AssertionError")
                    )
                )
            )
            print(
                f"throttling test, rollback {'on ' if rollback else 'off'}: {verdict}"
            )
        write_suites(folder)
        level_cache(folder / "bench_parity.py")
        times: dict[bool, list[float]] = {True: [], False: []}
        count = 0
        for round_number in range(ROUNDS):
            order = [True, False] if round_number % 2 == 0 else [False, True]
            for rollback in order:
                count, took = seconds(manage_test(folder, "bench_parity", rollback))
                times[rollback].append(took)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    per_variant = (on - off) / count * 1e6
    print(f"{count} parity tests, rollback on:  {on:.3f} s")
    print(f"{count} parity tests, rollback off: {off:.3f} s")
    print(f"ratio on/off: {on / off:.3f}; {per_variant:+.1f} µs per variant")
    report(
        f"cache rollback around each variant ({count} parity tests, manage.py test)",
        on,
        off,
        unit="s",
        baseline_name="the same suite with RESTFLOW_PARITY_ROLLBACK_CACHES = False",
        target="≤ 1.02",
    )


if __name__ == "__main__":
    main()
