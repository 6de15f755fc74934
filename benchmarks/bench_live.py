"""Cost of a live-server test class: set-up, first request and tear-down.

Run: python benchmarks/bench_live.py
Times one test class with one test that makes one request, run through
unittest with Django's test database already set up, for: our
AsyncAPILiveServerTestCase (uvicorn in a thread), Django's LiveServerTestCase
(WSGI in a thread) and channels' ChannelsLiveServerTestCase (daphne in a
process), when channels and daphne are installed. Rounds are interleaved and
rotated so machine noise hits every side alike; prints medians and ratios.

channels refuses in-memory databases, so the test database is a SQLite file
unless DATABASE_URL names PostgreSQL; every side uses the same one. Most of
Django's time is its tear-down: socketserver's shutdown() waits for the serve
loop's 0.5 s poll. Ours pays uvicorn's fixed 0.1 s shutdown pause; channels
pays for starting and stopping a process.
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import tempfile
import time
import unittest
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django

django.setup()

from _report import report  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import LiveServerTestCase  # noqa: E402
from django.test.runner import DiscoverRunner  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from restflow_parity.live import AsyncAPILiveServerTestCase  # noqa: E402

ROUNDS = 15


def first_request(base_url: str) -> int:
    # http.client, not httpx: a client costs the same on every side, but
    # httpx's start-up (an SSL context) would only blur the comparison.
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", "/ping/")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class FirstRequest:
    """The one test every side runs."""

    live_server_url: str

    def test_first_request(self) -> None:
        assert first_request(self.live_server_url) == 200


class Ours(FirstRequest, AsyncAPILiveServerTestCase):
    pass


class Django(FirstRequest, LiveServerTestCase):
    pass


def channels_case() -> type | str:
    """The channels test class, or why it cannot run here."""
    try:
        from channels.testing import ChannelsLiveServerTestCase
    except ImportError as error:
        return f"channels is not importable ({error}): pip install channels daphne"

    class Channels(FirstRequest, ChannelsLiveServerTestCase):
        pass

    return Channels


def time_class(case: type) -> float:
    suite = unittest.TestSuite([case("test_first_request")])
    result = unittest.TestResult()
    started = time.perf_counter()
    suite.run(result)
    elapsed = time.perf_counter() - started
    if not result.wasSuccessful():
        problems = result.errors + result.failures
        raise RuntimeError(f"{case.__name__} failed:\n{problems[0][1]}")
    return elapsed


def main() -> None:
    database = settings.DATABASES["default"]
    with tempfile.TemporaryDirectory(prefix="bench_live_") as folder:
        if database["ENGINE"].endswith("sqlite3"):
            database.setdefault("TEST", {})["NAME"] = os.path.join(
                folder, "test.sqlite3"
            )
        timings = run_rounds()
    ms = {name: statistics.median(values) * 1e3 for name, values in timings.items()}
    print(f"database: {database['ENGINE'].rsplit('.', 1)[-1]}, {ROUNDS} rounds")
    print("set-up + first request + tear-down of one test class (median):")
    for name, value in ms.items():
        print(f"  {name:<9} {value:8.1f} ms")
    print(f"ratio ours/django:   {ms['ours'] / ms['django']:.2f} (target <= 1.5)")
    if "channels" in ms:
        print(f"ratio ours/channels: {ms['ours'] / ms['channels']:.2f} (target < 1)")
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    measure = f"live-server test class set-up + request + tear-down ({engine})"
    report(
        measure,
        ms["ours"],
        ms["django"],
        unit="ms",
        baseline_name="Django LiveServerTestCase (WSGI)",
        target="≤ 1.5",
    )
    if "channels" in ms:
        report(
            measure,
            ms["ours"],
            ms["channels"],
            unit="ms",
            baseline_name="channels ChannelsLiveServerTestCase",
            target="< 1",
        )


def run_rounds() -> dict[str, list[float]]:
    setup_test_environment()
    runner = DiscoverRunner(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        sides: dict[str, type] = {"ours": Ours, "django": Django}
        channels = channels_case()
        if isinstance(channels, str):
            print(f"channels: skipped, {channels}")
        else:
            sides["channels"] = channels
        time_class(Ours)  # warm-up: imports, first-use caches
        time_class(Django)
        if "channels" in sides:
            try:
                time_class(sides["channels"])
            except Exception as error:
                print(f"channels: skipped, it failed to run: {error}")
                del sides["channels"]
        timings: dict[str, list[float]] = {name: [] for name in sides}
        for round_number in range(ROUNDS):
            names = list(sides)
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                timings[name].append(time_class(sides[name]))
    finally:
        runner.teardown_databases(old_config)
    return timings


if __name__ == "__main__":
    main()
