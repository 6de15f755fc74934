"""Cost of build_scope and of EnsureScopeMiddleware on a minimal DRF request.

Run: python benchmarks/bench_scope.py
Prints microseconds per build_scope call and the with/without-middleware ratio
for one DRF request through Django's test client, from interleaved rounds so
machine noise hits both sides alike.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django

django.setup()

from _report import report  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from restflow_parity.django_runner._checks import MIDDLEWARE_PATH  # noqa: E402
from restflow_parity.scope import build_scope  # noqa: E402

ROUNDS = 15
EAGER_PATH = "bench_scope.EagerScopeMiddleware"


class EagerScopeMiddleware:
    """The design we rejected: build the scope on every request, read or not."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not hasattr(request, "scope"):
            request.scope = build_scope(request)
        return self.get_response(request)


REQUESTS_PER_ROUND = 300


def bench_build_scope() -> float:
    request = RequestFactory().get(
        "/api/products/?page=2", headers={"Authorization": "Token abc", "X-A": "1"}
    )
    environ = request.META
    calls = 20_000
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            build_scope(environ)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def time_requests(client: Client) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        client.get("/ping/")
    return (time.perf_counter() - start) / REQUESTS_PER_ROUND


def main() -> None:
    from django.conf import settings

    setup_test_environment()
    with_mw = list(settings.MIDDLEWARE)
    without_mw = [m for m in with_mw if m != MIDDLEWARE_PATH]
    per_call = bench_build_scope()
    print(f"build_scope: {per_call:.2f} us/call")
    sides = {
        "without": without_mw,
        "with": with_mw,
        "eager": [EAGER_PATH, *without_mw],
    }
    timings: dict[str, list[float]] = {side: [] for side in sides}
    for round_number in range(ROUNDS):
        # Rotate which side goes first so warm-up and drift hit all alike.
        names = list(sides)
        shift = round_number % len(names)
        for side in names[shift:] + names[:shift]:
            with override_settings(MIDDLEWARE=sides[side]):
                timings[side].append(time_requests(Client()))
    us = {side: statistics.median(values) * 1e6 for side, values in timings.items()}
    print(f"DRF request without middleware:         {us['without']:.1f} us")
    print(f"DRF request with EnsureScopeMiddleware: {us['with']:.1f} us")
    print(f"DRF request with an eager-scope variant: {us['eager']:.1f} us")
    print(f"ratio with/without: {us['with'] / us['without']:.3f} (target <= 1.03)")
    print(f"ratio eager/without: {us['eager'] / us['without']:.3f}")
    report("build_scope() per call", per_call, unit="µs")
    report(
        "DRF request with EnsureScopeMiddleware",
        us["with"],
        us["without"],
        unit="µs",
        baseline_name="without the middleware",
        target="≤ 1.03",
    )
    report(
        "DRF request with an eager scope (rejected design)",
        us["eager"],
        us["without"],
        unit="µs",
        baseline_name="without the middleware",
    )


if __name__ == "__main__":
    main()
