"""A request's two threads share a core while it is in flight, and only then.

What the code under test sees of its hops (threads, connections, context
variables, order, exceptions, the watchdog) is compared with sharing on and
off in tests/test_hop.py and tests/test_watchdog.py. Here: the CPU masks
themselves, which are the one thing sharing changes, and only while a
request is in flight.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from clients import make_client
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path
from sharing import AlwaysShare

from restflow_parity.request import _affinity as affinity
from restflow_parity.request._affinity import SETTING, SharedCore, release_all
from restflow_parity.test import AsyncAPIClient

CAN_SHARE = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1
pytestmark = pytest.mark.skipif(
    not CAN_SHARE, reason="needs sched_setaffinity and more than one core"
)

MAIN = threading.main_thread()


def mask(thread: int | None = None) -> set[int]:
    return set(os.sched_getaffinity(thread or 0))


def masks_seen() -> dict[str, Any]:
    return {"main": mask(MAIN.native_id), "here": mask()}


async def in_flight_view(request: HttpRequest) -> JsonResponse:
    """Where each thread of the request may run, seen from both."""
    loop = mask()
    served = await sync_to_async(masks_seen)()
    # An executor's thread started now (the loop's first unsensitive call)
    # inherits the loop thread's mask.
    worker = await sync_to_async(threading.get_native_id, thread_sensitive=False)()
    return JsonResponse(
        {
            "loop": sorted(loop),
            "main": sorted(served["main"]),
            "serving": sorted(served["here"]),
            "worker": worker,
        }
    )


urlpatterns = [path("in-flight/", in_flight_view)]


@pytest.fixture(autouse=True)
def _urls_and_masks(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[set[int]]:
    settings.ROOT_URLCONF = __name__
    # Whatever the machine's load: a loaded CI machine shares too.
    monkeypatch.setattr(affinity, "_cores", AlwaysShare())
    before = mask()
    yield before
    # Whatever a test did, the main thread ends with the mask it had.
    release_all()
    assert mask() == before


def send_from_async_body(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A request from an async def body (as Django's runner runs one), and
    the masks of the loop's thread and the request's worker after it."""

    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        seen = (await client.get("/in-flight/")).json()
        after = {"loop": sorted(mask()), "worker": sorted(mask(seen["worker"]))}
        return seen, after

    return async_to_sync(body)()


def test_both_threads_share_one_core_while_a_request_is_in_flight() -> None:
    every = sorted(mask())
    seen, after = send_from_async_body(AsyncAPIClient())
    assert len(seen["loop"]) == 1
    assert seen["main"] == seen["serving"] == seen["loop"]
    # Afterwards each has its mask back, and so has the worker started
    # during the request.
    assert after == {"loop": every, "worker": every}
    assert sorted(mask()) == every


def test_a_request_from_a_thread_on_one_core_leaves_sharing_on() -> None:
    # The setting is read again after each change, by the next request's
    # thread. A thread on one core (held by another request, or pinned by the
    # test) must not read that the machine cannot share, for the rest of
    # the run.
    every = sorted(mask())
    with override_settings(**{SETTING: True}):
        pass  # a change: the next request reads the setting again

    def send_on_one_core() -> None:
        os.sched_setaffinity(0, {every[0]})
        send_from_async_body(AsyncAPIClient())

    thread = threading.Thread(target=send_on_one_core)
    thread.start()
    thread.join()
    seen, _ = send_from_async_body(AsyncAPIClient())
    assert len(seen["loop"]) == 1


def test_a_def_bodys_request_shares_the_core_with_the_thread_that_sends_it() -> None:
    every = sorted(mask())
    client = make_client("async", awaitable=False)  # blocks, on the async stack
    seen = client.get("/in-flight/").json()
    assert len(seen["loop"]) == 1
    assert seen["main"] == seen["serving"] == seen["loop"]
    assert sorted(mask()) == every


def test_nothing_is_pinned_with_the_setting_off() -> None:
    every = sorted(mask())
    with override_settings(**{SETTING: False}):
        seen, after = send_from_async_body(AsyncAPIClient())
    assert seen["loop"] == seen["main"] == seen["serving"] == every
    assert after["loop"] == every


def test_concurrent_requests_share_the_first_ones_core_until_the_last_ends() -> None:
    every = sorted(mask())
    client = AsyncAPIClient()

    async def body() -> tuple[list[Any], list[int]]:
        first, second = await asyncio.gather(
            client.get("/in-flight/"), client.get("/in-flight/")
        )
        return [first.json(), second.json()], sorted(mask())

    (first, second), after = async_to_sync(body)()
    assert len(first["loop"]) == 1
    assert first["loop"] == first["main"] == second["loop"] == second["main"]
    assert after == every


def test_blocks_nest_and_release_all_gives_every_mask_back() -> None:
    every = mask()

    async def body() -> list[set[int]]:
        seen = []
        with SharedCore():
            seen.append(mask())
            with SharedCore():
                seen.append(mask(MAIN.native_id))
            seen.append(mask())  # still held by the outer block
            release_all()  # what the watchdog does when it abandons a loop
            seen.append(mask())
            seen.append(mask(MAIN.native_id))
        # The outer block's end after release_all() changes nothing.
        seen.append(mask())
        return seen

    inner, main, outer, released, main_released, end = async_to_sync(body)()
    assert len(inner) == 1
    assert main == outer == inner
    assert released == main_released == end == every


def test_a_thread_on_one_core_already_is_left_as_it_is() -> None:
    every = mask()
    one = {min(every)}
    os.sched_setaffinity(0, one)  # the test's thread, pinned by its user
    try:
        seen, _ = send_from_async_body(AsyncAPIClient())
        assert set(seen["main"]) == one
        assert mask() == one
    finally:
        os.sched_setaffinity(0, every)


def test_the_setting_is_read_again_when_it_changes() -> None:
    assert affinity.enabled()
    with override_settings(**{SETTING: False}):
        assert not affinity.enabled()
    assert affinity.enabled()


class Machine:
    """Fake /proc/stat and process times for ``_Cores``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cores: int = 2) -> None:
        self.busy = dict.fromkeys(range(cores), 0)
        self.total = 0
        self.own = 0.0
        #: Threads running or runnable, the one that looks included.
        self.running = 1
        monkeypatch.setattr(
            affinity,
            "_machine",
            lambda: (
                {core: (busy, self.total) for core, busy in self.busy.items()},
                self.running,
            ),
        )
        monkeypatch.setattr(affinity, "_own_cpu", lambda: self.own)

    def run(self, ticks: int, busy: list[int], own: int, running: int = 1) -> None:
        """``ticks`` pass, each core busy for so many of them, this process
        for ``own``; then ``running`` threads run or wait to."""
        self.total += ticks
        for core, used in enumerate(busy):
            self.busy[core] += used
        self.own += own / affinity._TICKS
        self.running = running


def look(cores: Any, here: int = 0, times: int = 1) -> int | None:
    for _ in range(times):
        cores._at = float("-inf")  # the window has passed
        chosen = cores.choose(here)
    return chosen


def test_the_shared_core_stays_where_only_this_process_keeps_it_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = Machine(monkeypatch)
    cores = affinity._Cores()
    assert look(cores, here=0) == 0  # the loop thread's core, to start
    machine.run(10, [9, 0], own=9)
    assert look(cores, here=1) == 0  # sticky: not wherever the thread is now


def test_the_shared_core_moves_off_a_core_another_process_keeps_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = Machine(monkeypatch, cores=4)
    cores = affinity._Cores()
    assert look(cores) == 0
    machine.run(10, [10, 1, 0, 2], own=5, running=2)  # another process on core 0
    assert look(cores) == 2
    machine.run(10, [10, 1, 6, 2], own=6, running=2)  # it stayed there: so do we
    assert look(cores) == 2


def test_no_core_is_shared_while_other_processes_keep_some_cores_busy_and_none_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wake-up across cores lands on a core that is awake then: quick, and
    the woken thread runs at once."""
    machine = Machine(monkeypatch)
    cores = affinity._Cores()
    assert look(cores) == 0
    machine.run(10, [6, 10], own=6, running=2)
    assert look(cores, times=2) == 0  # one look or two might see a moment
    assert look(cores) is None  # three see a load
    machine.run(10, [6, 1], own=6, running=1)  # the other process is gone
    assert look(cores) == 0


def test_a_core_is_shared_when_other_processes_keep_every_core_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = Machine(monkeypatch)
    cores = affinity._Cores()
    assert look(cores) == 0
    machine.run(10, [10, 10], own=5, running=3)
    assert look(cores, times=3) == 0


def test_the_machine_is_looked_at_once_per_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = Machine(monkeypatch)
    cores = affinity._Cores()
    assert look(cores) == 0
    machine.run(10, [6, 10], own=6, running=2)
    assert look(cores, times=3) is None
    machine.run(10, [6, 1], own=6, running=1)
    assert cores.choose(0) is None  # within the window: no look
    assert look(cores) == 0


def test_sharing_works_without_django_settings() -> None:
    """asgiref used alone (bench_hop.py): the setting's default applies."""
    code = (
        "import threading\n"
        "from restflow_parity.request._affinity import SharedCore, enabled\n"
        "def hold():\n"
        "    with SharedCore():\n"
        "        pass\n"
        "thread = threading.Thread(target=hold)\n"
        "thread.start()\n"
        "thread.join()\n"
        "print(enabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
