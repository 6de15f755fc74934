"""The request fuzzer: N generated requests, five routes, one table.

    python tests/fuzz/run.py                    # 200 requests, seed 15
    python tests/fuzz/run.py --n 10000          # the full run (docs/reliability.md)
    python tests/fuzz/run.py --seed 7 --shrink  # stop at the first unexplained
                                                # difference, shrunk

Each request is sent through SyncAPIClient (WSGI, EnsureScopeMiddleware),
AsyncAPIClient, and over loopback HTTP to the test project served by uvicorn,
hypercorn and daphne in this process. The echo view records what the view
reads; the tables give agreement per field and route pair, the differences
grouped by cause, requests per second per route, and how requests ended.

The exit status is 1 if the two in-process stacks, or either of them and
uvicorn, differ in a way no documented cause explains.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=200, help="requests to generate (default 200)"
    )
    parser.add_argument(
        "--seed", type=int, default=15, help="hypothesis seed (default 15)"
    )
    parser.add_argument(
        "--shrink",
        action="store_true",
        help="stop at the first unexplained difference and shrink it",
    )
    parser.add_argument(
        "--examples", type=int, default=5, help="unexplained groups to show"
    )
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.test.utils import setup_test_environment

    # What the test runners do: ALLOWED_HOSTS gains testserver, and so on.
    setup_test_environment()
    # Servers and Django log every 400 they answer; the tables count them.
    logging.disable(logging.CRITICAL)

    from fuzz import report
    from fuzz.compare import GATED
    from fuzz.routes import Routes
    from fuzz.session import fuzz, tls_files
    from fuzz.tally import Tally

    tally = Tally()
    started = time.perf_counter()

    def progress(count: int) -> None:
        if count % 1000 == 0:
            rate = count / (time.perf_counter() - started)
            print(f"  {count} requests, {rate:.0f}/s", file=sys.stderr, flush=True)

    error = None
    with tls_files() as tls, Routes(tls) as routes:
        try:
            fuzz(
                routes,
                args.n,
                args.seed,
                tally,
                fail_fast=args.shrink,
                progress=progress,
            )
        except AssertionError as failure:
            error = failure
    wall = time.perf_counter() - started

    print(
        f"# Request fuzzer: {tally.requests} requests, seed {args.seed}, {wall:.0f} s\n"
    )
    print(report.environment() + "\n")
    print("## Agreement per field and route pair (% of requests with equal values)\n")
    print("\n".join(report.agreement(tally)) + "\n")
    print("## Disagreements by cause (requests)\n")
    print("\n".join(report.by_cause(tally)) + "\n")
    print("## Requests per second per route\n")
    print("\n".join(report.speed(tally)) + "\n")
    print("## How requests ended\n")
    print("\n".join(report.outcomes(tally)) + "\n")
    print("## Dimensions generated\n")
    print("\n".join(report.coverage(tally.covered, tally.requests)) + "\n")
    gated = sum(tally.unexplained_count[pair] for pair in GATED)
    if tally.unexplained:
        print("## Unexplained differences\n")
        print("\n".join(report.unexplained(tally, args.examples)) + "\n")
    if error is not None:
        print("## First unexplained difference, shrunk\n")
        print(str(error))
        return 1
    print(f"Unexplained differences between gated routes: {gated}")
    return 1 if gated else 0


if __name__ == "__main__":
    raise SystemExit(main())
