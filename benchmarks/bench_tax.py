"""The async tax: one DRF request on each stack, in each machine state.

Run: python benchmarks/bench_tax.py
(``BENCH_ROUNDS=n`` rounds per state; ``BENCH_STATES=idle,loaded,half`` chooses
the machine states, ``half`` being one busy process.)

Two requests (``benchmarks/benchproject``): "list", a GET of a DRF
``ListAPIView`` over three rows, anonymous, behind ``startproject``'s
middleware; and "session", the same list behind ``SessionAuthentication`` and
``IsAuthenticated`` for a logged-in client, where the session, CSRF and auth
middleware load a session row and the user on every request.

Clients: DRF's ``APIClient`` and our ``SyncAPIClient`` in a def body (sync);
Django's ``AsyncClient`` and our ``AsyncAPIClient`` driven as Django's runner
drives an ``async def`` test, through ``async_to_sync`` from the main thread,
which serves the loop's thread-sensitive calls (async); and our client with
``RESTFLOW_PARITY_SHARE_CORE = False``, the hand-off as it was before the two
threads of a request shared a core (``restflow_parity/affinity.py``).

In one run, two machine states: idle, and loaded (a busy process per core,
started here). In each, the clients run in an unpinned process and with
every thread of the process pinned to one core (as ``taskset -c 0`` would).
Every side sends 20 requests per round, and the rounds of a state interleave
all its sides in a fresh random order (``_rounds.py``): a ratio is the median
of the per-round ratios. A round during which other processes used more than
5% of the machine's CPU (``BENCH_NOISE``) is run again, up to as many times
as there are rounds: on a shared machine the figures then describe these two
states, and the run says how many rounds it threw away.

Then, on the machine as found: where an async request's time goes (each
thread's CPU time), and the kit's own parts of a request, each timed alone.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["DJANGO_SETTINGS_MODULE"] = "benchproject.settings"

import django  # noqa: E402

django.setup()

from _report import report  # noqa: E402
from _rounds import Others, interleave, median, paired  # noqa: E402
from asgiref.sync import async_to_sync  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import AsyncClient, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from rest_framework.test import APIClient as DRFAPIClient  # noqa: E402

from restflow_parity.request._affinity import SETTING, SharedCore  # noqa: E402
from restflow_parity.request._builder import _host  # noqa: E402
from restflow_parity.request._client import decorate_response  # noqa: E402
from restflow_parity.request._connections import (  # noqa: E402
    aclosing_worker_connections,
    connection_recycling_paused,
)
from restflow_parity.request._handler import request_scope  # noqa: E402
from restflow_parity.request._pending import call_site  # noqa: E402
from restflow_parity.test import AsyncAPIClient, SyncAPIClient  # noqa: E402
from restflow_parity.watchdog import aguard  # noqa: E402

SHAPES = {"list": "/groups/", "session": "/session/groups/"}
PATH = SHAPES["list"]
REQUESTS = 20
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 30))
STATES = os.environ.get("BENCH_STATES", "idle,loaded").split(",")
CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
CAN_PIN = len(CPUS) > 1

DRF_SYNC, OURS_SYNC = "DRF APIClient", "SyncAPIClient"
DJANGO_ASYNC, OURS_ASYNC = "Django AsyncClient", "AsyncAPIClient"
OURS_OFF = "AsyncAPIClient, core not shared"
#: Columns of the results table, in order; the pinned process runs these.
CLIENTS = (DRF_SYNC, OURS_SYNC, DJANGO_ASYNC, OURS_ASYNC, OURS_OFF)
PINNED = (DRF_SYNC, DJANGO_ASYNC, OURS_ASYNC)


def blocking(client: Any, path: str = PATH) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(REQUESTS):
            assert client.get(path).status_code == 200
        return (time.perf_counter() - start) / REQUESTS

    return run


async def _requests(client: Any, path: str = PATH) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS):
        assert (await client.get(path)).status_code == 200
    return (time.perf_counter() - start) / REQUESTS


def awaiting(client: Any, path: str = PATH, share: bool = True) -> Callable[[], float]:
    def run() -> float:
        with override_settings(**{SETTING: share}):
            return float(async_to_sync(_requests)(client, path))

    return run


def pinned(side: Callable[[], float]) -> Callable[[], float]:
    """``side`` with every thread of the process on one core (threads started
    meanwhile inherit the mask of the thread that starts them)."""
    every = set(CPUS)
    one = {CPUS[0]}

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


def logged_in(client: Any, user: User) -> Any:
    client.force_login(user)
    return client


def sides_for(shape: str, user: User) -> dict[str, Callable[[], float]]:
    path = SHAPES[shape]

    def make(cls: Any) -> Any:
        return logged_in(cls(), user) if shape == "session" else cls()

    unpinned = {
        DRF_SYNC: blocking(make(DRFAPIClient), path),
        OURS_SYNC: blocking(make(SyncAPIClient), path),
        DJANGO_ASYNC: awaiting(make(AsyncClient), path),
        OURS_ASYNC: awaiting(make(AsyncAPIClient), path),
        OURS_OFF: awaiting(make(AsyncAPIClient), path, share=False),
    }
    sides = {(shape, "unpinned", name): side for name, side in unpinned.items()}
    if CAN_PIN:
        for name in PINNED:
            sides[(shape, "pinned", name)] = pinned(
                {
                    DRF_SYNC: blocking(make(DRFAPIClient), path),
                    DJANGO_ASYNC: awaiting(make(AsyncClient), path),
                    OURS_ASYNC: awaiting(make(AsyncAPIClient), path),
                }[name]
            )
    return {" | ".join(key): side for key, side in sides.items()}


# --- machine states -------------------------------------------------------------


#: A round during which other processes took more of the machine's CPU than
#: this is run again: it measured the other work, not the state set up here.
NOISE = float(os.environ.get("BENCH_NOISE", 0.05))


@contextlib.contextmanager
def machine(state: str) -> Iterator[list[int]]:
    """Run the block idle, loaded (a busy process per core) or half loaded
    (one busy process, ``BENCH_STATES=half``); yields the busy pids."""
    count = {"loaded": len(CPUS) or 1, "half": 1}.get(state, 0)
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(count)
    ]
    if hogs:
        time.sleep(0.5)  # running, not starting
    try:
        yield [hog.pid for hog in hogs]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def bench_states(user: User) -> None:
    for state in STATES:
        sides: dict[str, Callable[[], float]] = {}
        for shape in SHAPES:
            sides.update(sides_for(shape, user))
        discarded: list[float] = []
        with machine(state) as hogs:
            others = Others(mine=hogs)
            results = interleave(
                sides, ROUNDS, others=others, limit=NOISE, discarded=discarded
            )
        print(
            f"\n{state}: {ROUNDS} rounds kept; {len(discarded)} run again because "
            f"other processes used more than {NOISE:.0%} of the machine's CPU"
            + (f" (up to {max(discarded):.0%})" if discarded else "")
        )
        report_state(state, results)


def report_state(state: str, results: dict[str, list[float]]) -> None:
    us = {name: median(results, name) * 1e6 for name in results}
    for name, value in us.items():
        shape, process, client = name.split(" | ")
        low, high = (f(results[name]) * 1e6 for f in (min, max))
        print(f"  {name:>56}: {value:8.1f} µs/request ({low:.0f}-{high:.0f})")
        report(
            f"{shape}, {state}, {process}: {client}",
            value,
            unit="µs",
            cell={"shape": shape, "state": state, "process": process, "client": client},
        )
    for shape in SHAPES:

        def key(client: str, process: str = "unpinned") -> str:
            return f"{shape} | {process} | {client}"  # noqa: B023

        rows = [
            (OURS_ASYNC, DJANGO_ASYNC, "AsyncAPIClient / Django AsyncClient", "≤ 1.00"),
            (
                OURS_ASYNC,
                OURS_OFF,
                "AsyncAPIClient, core shared / not shared",
                "< 1" if state == "idle" else "≤ 1.02",
            ),
            (OURS_SYNC, DRF_SYNC, "SyncAPIClient / DRF APIClient", ""),
            (OURS_ASYNC, DRF_SYNC, "async/sync tax, AsyncAPIClient", ""),
            (DJANGO_ASYNC, DRF_SYNC, "async/sync tax, Django AsyncClient", ""),
        ]
        pairs = [(key(ours), key(base), what, goal) for ours, base, what, goal in rows]
        if CAN_PIN:
            pairs += [
                (
                    key(OURS_ASYNC),
                    key(OURS_ASYNC, "pinned"),
                    "AsyncAPIClient, unpinned / pinned process",
                    "≤ 1.2" if state == "idle" else "",
                ),
                (
                    key(DJANGO_ASYNC),
                    key(DJANGO_ASYNC, "pinned"),
                    "Django AsyncClient, unpinned / pinned process",
                    "",
                ),
                (
                    key(DRF_SYNC),
                    key(DRF_SYNC, "pinned"),
                    "DRF APIClient, unpinned / pinned process",
                    "",
                ),
            ]
        for ours, baseline, measure, target in pairs:
            ratio = paired(results, ours, baseline)
            text = f"({'target ' + target})" if target else ""
            print(f"  {shape}, {state}: {measure}: {ratio:.3f} {text}")
            report(
                f"{shape}, {state}: {measure}",
                us[ours],
                us[baseline],
                unit="µs",
                baseline_name=baseline.split(" | ", 1)[1],
                target=target,
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


async def _shared() -> None:
    with SharedCore():
        pass


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
        "core shared: two threads held, then given back": per_await(_shared) - bare,
    }
    print("\nThe kit's parts of one async request:")
    for part, value in parts.items():
        print(f"  {part:>46}: {value:6.2f} µs")
        report(f"kit: {part.strip()}", value, unit="µs")


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    Group.objects.bulk_create(Group(name=f"group {n}") for n in range(3))
    user = User.objects.create_user("bench", password="not-secret")
    bench_states(user)
    bench_breakdown()
    bench_kit()


if __name__ == "__main__":
    main()
