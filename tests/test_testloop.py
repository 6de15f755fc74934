"""TestLoop: a test's event loop in a reused thread, served by the main thread."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from sharing import PATHS, hopping

from restflow_parity.pytest_plugin import _testloop as testloop
from restflow_parity.pytest_plugin._testloop import TestLoop
from restflow_parity.test import AsyncAPIClient

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("testloop_var")

needs_executor = pytest.mark.skipif(
    not testloop.SUPPORTED, reason="TestLoop shares a loop from asgiref 3.13 on"
)


@pytest.fixture
def loop() -> Any:
    made = TestLoop()
    yield made
    made.close()


@needs_executor
def test_steps_share_the_loop_and_their_context(loop: TestLoop) -> None:
    async def first() -> Any:
        VAR.set("set by the first step")
        return asyncio.get_running_loop()

    async def second() -> tuple[Any, str]:
        return asyncio.get_running_loop(), VAR.get("-")

    running = loop.run(first)
    assert loop.run(second) == (running, "set by the first step")
    assert VAR.get("-") == "-"  # the caller's context is the caller's


@pytest.mark.django_db
@needs_executor
def test_thread_sensitive_calls_run_on_this_thread_in_the_tests_transaction(
    loop: TestLoop,
) -> None:
    User.objects.create(username="seen")
    connection.ensure_connection()
    mine = id(connection.connection)

    def where() -> tuple[bool, int, bool, int]:
        return (
            threading.current_thread() is threading.main_thread(),
            id(connection.connection),
            connection.in_atomic_block,
            User.objects.count(),
        )

    async def step() -> tuple[Any, ...]:
        loop_thread = threading.current_thread() is threading.main_thread()
        return (
            loop_thread,
            *(await sync_to_async(where)()),
            await User.objects.acount(),
        )

    assert loop.run(step) == (False, True, mine, True, 1, 1)


@needs_executor
def test_an_exception_reaches_the_caller(loop: TestLoop) -> None:
    async def step() -> None:
        await sync_to_async(int)("not a number")

    with pytest.raises(ValueError, match="invalid literal"):
        loop.run(step)
    assert loop.run(_answer) == 42  # the loop still works


async def _answer() -> int:
    return 42


@needs_executor
def test_close_cancels_leftover_tasks_and_finalizes_generators(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = TestLoop()
    cancelled = threading.Event()
    finalized = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def generator() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finalized.set()

    async def step() -> None:
        asyncio.get_running_loop().create_task(forever())
        started = generator()
        await started.__anext__()
        step.started = started  # type: ignore[attr-defined]  # keep it alive

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.run(step)
        loop.close()
    assert cancelled.is_set()
    assert finalized.is_set()
    # Closing must not close the step's own machinery from another context.
    assert not caplog.records, [record.getMessage() for record in caplog.records]


@needs_executor
def test_loop_threads_are_reused_once_their_loop_is_closed() -> None:
    async def thread() -> int:
        return threading.get_ident()

    def loop_threads() -> set[threading.Thread]:
        return {
            t for t in threading.enumerate() if t.name == "restflow-parity test loop"
        }

    first = TestLoop()
    first.run(thread)
    first.close()
    before = loop_threads()  # first's thread among them, idle now
    second, third = TestLoop(), TestLoop()
    # Two loops open at once run in two threads; at most one had to start.
    assert second.run(thread) != third.run(thread)
    assert len(loop_threads() - before) <= 1
    second.close()
    third.close()


def test_older_asgiref_runs_each_step_through_async_to_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(testloop, "SUPPORTED", False)
    loop = TestLoop()
    assert not loop.shared

    async def step() -> tuple[bool, bool]:
        on_main = await sync_to_async(
            lambda: threading.current_thread() is threading.main_thread()
        )()
        return on_main, threading.current_thread() is threading.main_thread()

    assert loop.run(step) == (True, False)
    loop.close()


def where(request: HttpRequest) -> JsonResponse:
    """A sync view: which thread serves it, with which connection and mask."""
    return JsonResponse(
        {
            "main": threading.current_thread() is threading.main_thread(),
            "connection": id(connection.connection),
            "atomic": connection.in_atomic_block,
            "cores": sorted(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else [],
        }
    )


urlpatterns = [path("where/", where)]


@pytest.mark.django_db
@needs_executor
@pytest.mark.parametrize("cores", PATHS)
def test_a_request_in_a_step_is_served_by_this_thread_whether_or_not_it_shares_a_core(
    loop: TestLoop, settings: Any, cores: str
) -> None:
    settings.ROOT_URLCONF = __name__
    connection.ensure_connection()
    mine = id(connection.connection)
    every = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

    async def step() -> dict[str, Any]:
        return (await AsyncAPIClient().get("/where/")).json()

    with hopping(cores):
        seen = loop.run(step)
    assert (seen["main"], seen["connection"], seen["atomic"]) == (True, mine, True)
    sharing = cores == "shared core" and len(every) > 1
    assert len(seen["cores"]) == (1 if sharing else len(every))
    if every:
        assert sorted(os.sched_getaffinity(0)) == every  # given back
