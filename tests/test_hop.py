"""Sharing a core changes nothing code under test can see of its thread hops.

Each scenario runs with a request's two threads on one core
(``RESTFLOW_PARITY_SHARE_CORE``, restflow_parity/affinity.py) and without, and
what the code under test recorded (tests/products/hop_views.py) is compared:
which thread ran each part and with which database connection, the context
variables each part saw and left behind, the order of the parts, the
exceptions, and that nothing deadlocks that did not before. Every scenario
also checks the facts themselves, so both settings being wrong the same way
fails too. The watchdog's hazard matrix and deadlock reports run under both
settings in tests/test_watchdog.py; what sharing does to the threads' CPU masks
is tested in tests/test_affinity.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from clients import make_client
from django.core.signals import request_started
from django.db import connection
from products import hop_views
from products.hop_views import FROM_MIDDLEWARE, FROM_TEST, FROM_VIEW, SEEN, ViewError
from products.models import Product
from sharing import PATHS, hopping

from restflow_parity.pytest_plugin import _testloop as testloop
from restflow_parity.request._affinity import SharedCore
from restflow_parity.watchdog import interrupt

BODIES = ("def", "async def")

needs_executor = pytest.mark.skipif(
    not testloop.SUPPORTED, reason="MainThreadExecutor needs asgiref 3.13 (executor=)"
)


@pytest.fixture
def recording(settings: Any) -> Iterator[list[dict[str, Any]]]:
    """Route to the recording views, with the recording middleware last."""
    settings.ROOT_URLCONF = "products.hop_views"
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "products.hop_views.RecordingMiddleware",
    ]
    disconnect = hop_views.connect_signals()
    SEEN.clear()
    yield SEEN
    disconnect()
    SEEN.clear()
    hop_views.BACKGROUND.clear()
    hop_views.MEETING.clear()


def on_path(path: str, run: Callable[[], Any]) -> Any:
    """Run ``run`` with requests' threads on ``path``, in a context of its
    own (a request's context changes flow back into it)."""
    with hopping(path):
        return contextvars.copy_context().run(run)


def drive(body: str, scenario: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``scenario(client)`` the way Django's runner runs a test body.

    An async def body runs on a loop in a worker thread through async_to_sync
    from this (the main) thread; a def body sends blocking requests, each on
    a loop of its own.
    """
    if body == "async def":
        return async_to_sync(scenario)(make_client("async", awaitable=True))
    client = make_client("async", awaitable=False)

    class Blocking:
        """Lets one scenario serve both bodies: awaiting a response is a no-op."""

        def __getattr__(self, name: str) -> Any:
            verb = getattr(client, name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                return verb(*args, **kwargs)

            return call

    return _run_def(scenario, Blocking())


def _run_def(scenario: Callable[[Any], Awaitable[Any]], client: Any) -> Any:
    # A def body: the scenario's awaits are plain calls, so step it by hand.
    coroutine = scenario(client)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("a def-body scenario must not suspend")


def normalized(
    seen: list[dict[str, Any]], test_connection: int
) -> list[dict[str, Any]]:
    """Records with thread and connection identities made comparable."""
    threads: dict[int, str] = {}
    result = []
    for record in seen:
        entry = dict(record)
        ident = entry.pop("thread")
        if entry.pop("main"):
            entry["thread"] = "main"
        else:
            entry["thread"] = threads.setdefault(ident, f"other-{len(threads) + 1}")
        raw = entry.pop("connection")
        entry["connection"] = (
            "none" if raw is None else "test's" if raw == test_connection else "own"
        )
        result.append(entry)
    return result


def connection_id() -> int:
    connection.ensure_connection()
    return id(connection.connection)


# --- where each part runs, what it sees, in which order ------------------------


EXPECTED_PARTS = {
    "sync": [
        "request_started",
        "middleware.process_request",
        "sync_view",
        "middleware.process_response",
        "request_finished",
    ],
    "async": [
        "request_started",
        "middleware.process_request",
        "async_view.loop",
        "async_view.orm_hop",
        "middleware.process_response",
        "request_finished",
    ],
}


@pytest.mark.django_db
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("view", ["sync", "async"])
def test_each_part_runs_on_the_same_thread_with_the_same_connection_and_context(
    recording: list[dict[str, Any]], body: str, view: str
) -> None:
    Product.objects.create(name="Phone")
    mine = connection_id()

    async def scenario(client: Any) -> tuple[int, str, str]:
        FROM_TEST.set("set by the test")
        if body == "async def":
            hop_views.TEST_TASK.set(asyncio.current_task())
        response = await client.get(f"/{view}/")
        # What the request left in the test's context, as if it ran there.
        return response.status_code, FROM_VIEW.get("-"), FROM_MIDDLEWARE.get("-")

    observed = {}
    for path in PATHS:
        recording.clear()
        outcome = on_path(path, lambda: drive(body, scenario))
        observed[path] = (outcome, normalized(recording, mine))
    assert observed["shared core"] == observed["own cores"]

    outcome, records = observed["shared core"]
    left_view = "set in sync_view" if view == "sync" else "set in async_view"
    assert outcome == (200, left_view, "set in process_request")
    assert [r["part"] for r in records] == EXPECTED_PARTS[view]
    for record in records:
        assert record["from_test"] == "set by the test"
        if record["part"] == "async_view.loop":
            # Async code runs on the test's loop, in a worker thread, and in
            # the test's own task when the test body awaits the request.
            assert record["thread"] != "main"
            assert record["in_the_tests_task"] == (body == "async def")
            continue
        # Sync code runs on the thread that holds the test's transaction.
        assert record["thread"] == "main", record
        assert record["connection"] == "test's", record
        assert record["in_atomic_block"], record
    by_part = {r["part"]: r for r in records}
    assert by_part["middleware.process_response"]["from_middleware"] == (
        "set in process_request"
    )
    if view == "sync":
        assert by_part["sync_view"]["count"] == 1
    else:
        assert by_part["async_view.orm_hop"]["count"] == 1


@pytest.mark.django_db
def test_a_loop_in_the_main_thread_gets_a_thread_per_request(
    recording: list[dict[str, Any]],
) -> None:
    """pytest-asyncio without the isolation runs the loop in the main thread:
    each request's sync work then runs in a thread of its own, as behind
    Django's ASGIHandler, on either path."""

    async def scenario() -> None:
        client = make_client("async", awaitable=True)
        for _ in range(2):
            assert (await client.get("/plain/")).status_code == 200

    observed = {}
    for path in PATHS:
        recording.clear()
        on_path(path, lambda: asyncio.run(scenario()))
        observed[path] = [(r["part"], r["thread"]) for r in normalized(recording, 0)]
    assert observed["shared core"] == observed["own cores"]
    parts = [
        "request_started",
        "middleware.process_request",
        "plain_view",
        "middleware.process_response",
        "request_finished",
    ]
    assert observed["shared core"] == [
        *((part, "other-1") for part in parts),
        *((part, "other-2") for part in parts),
    ]


# --- exceptions ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("view", ["sync", "async"])
def test_an_exception_in_a_hop_reaches_the_test_unchanged(
    recording: list[dict[str, Any]], body: str, view: str
) -> None:
    async def scenario(client: Any) -> None:
        await client.get(f"/fail/{view}/")

    raised = {}
    for path in PATHS:
        with pytest.raises(ViewError) as error:
            on_path(path, lambda: drive(body, scenario))
        frames = [
            frame.name for frame in traceback.extract_tb(error.value.__traceback__)
        ]
        raised[path] = (str(error.value), f"failing_{view}_view" in frames)
    assert raised["shared core"] == raised["own cores"]
    assert raised["shared core"] == (f"raised in the {view} view", True)


# --- work that outlives the request or runs beside it -------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_a_task_the_view_started_writes_after_the_response(
    recording: list[dict[str, Any]], path: str
) -> None:
    """A background task's ORM call after the request (whose
    ThreadSensitiveContext has exited, and whose threads have their CPU masks
    back) still reaches the test's thread and transaction."""
    mine = connection_id()

    async def scenario(client: Any) -> bool:
        response = await client.post("/background/")
        assert response.json() == {"started": True}
        await asyncio.gather(*hop_views.BACKGROUND)
        return await Product.objects.filter(name="from the background").aexists()

    assert on_path(path, lambda: drive("async def", scenario)) is True
    (write,) = normalized([r for r in recording if r["part"] == "background.orm"], mine)
    assert (write["thread"], write["connection"], write["in_atomic_block"]) == (
        "main",
        "test's",
        True,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_concurrent_requests_that_wait_for_each_other_both_finish(
    recording: list[dict[str, Any]], path: str
) -> None:
    async def scenario(client: Any) -> list[Any]:
        responses = await asyncio.gather(
            client.get("/meet/a/b/"), client.get("/meet/b/a/")
        )
        return [response.json() for response in responses]

    assert on_path(path, lambda: drive("async def", scenario)) == [
        {"met": "b"},
        {"met": "a"},
    ]
    assert sorted(r["part"] for r in recording if r["part"].startswith("meet.")) == [
        "meet.a",
        "meet.b",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_another_tasks_call_to_the_tests_thread_is_served_during_a_request(
    recording: list[dict[str, Any]], path: str
) -> None:
    """A request waits for a task whose thread-sensitive call it depends on:
    the test's thread serves that call between the request's own, so this
    cannot deadlock."""

    async def scenario(client: Any) -> int:
        loop = asyncio.get_running_loop()
        event = hop_views.MEETING["outside"] = asyncio.Event()
        in_flight = asyncio.Event()

        def started(**kwargs: Any) -> None:
            loop.call_soon_threadsafe(in_flight.set)

        def set_it() -> None:
            assert threading.current_thread() is threading.main_thread()
            loop.call_soon_threadsafe(event.set)

        async def outside() -> None:
            await in_flight.wait()  # the request has started: it is in flight
            await sync_to_async(set_it)()

        request_started.connect(started, dispatch_uid="hop-in-flight")
        try:
            response, _ = await asyncio.gather(client.get("/wait-outside/"), outside())
        finally:
            request_started.disconnect(dispatch_uid="hop-in-flight")
        return int(response.status_code)

    assert on_path(path, lambda: drive("async def", scenario)) == 200
    assert [r["part"] for r in recording if r["part"] == "after-outside"] == [
        "after-outside"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("body", BODIES)
def test_async_to_sync_inside_a_sync_view_and_unsensitive_work(
    recording: list[dict[str, Any]], body: str
) -> None:
    Product.objects.create(name="Phone")
    mine = connection_id()

    async def scenario(client: Any) -> list[Any]:
        nested = await client.get("/nested/")
        unsensitive = await client.get("/unsensitive/")
        return [nested.json(), unsensitive.status_code]

    observed = {}
    for path in PATHS:
        recording.clear()
        outcome = on_path(path, lambda: drive(body, scenario))
        parts = [
            r
            for r in normalized(recording, mine)
            if r["part"] in ("nested.view", "nested.loop", "worker")
        ]
        observed[path] = (outcome, parts)
    assert observed["shared core"] == observed["own cores"]
    outcome, parts = observed["shared core"]
    assert outcome == [{"count": 1}, 200]
    assert [(p["part"], p["thread"] == "main") for p in parts] == [
        ("nested.view", True),
        ("nested.loop", False),
        ("worker", False),
    ]


# --- the executor the pytest plugin's per-test loop can use -------------------


def run_served(step: Callable[[], Awaitable[Any]], executor: Any) -> Any:
    """Run ``step`` on a loop in a thread while this thread serves
    ``executor``, as the pytest plugin's per-test loop does."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def body() -> Any:
        async with testloop.serving(executor):
            return await step()

    try:
        done: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            body(), loop
        )
        executor.work_until(done)
        return done.result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@needs_executor
@pytest.mark.django_db
def test_main_thread_executor_serves_a_test_loop_like_async_to_sync(
    recording: list[dict[str, Any]],
) -> None:
    Product.objects.create(name="Phone")
    mine = connection_id()
    client = make_client("async", awaitable=True)

    async def step() -> tuple[int, str]:
        FROM_TEST.set("set by the test")
        response = await client.get("/sync/")
        with pytest.raises(ViewError, match="raised in the sync view"):
            await client.get("/fail/sync/")
        return response.status_code, await sync_to_async(FROM_VIEW.get)("-")

    observed = {}
    for name, run in (
        ("async_to_sync", lambda: async_to_sync(step)()),
        ("served", lambda: run_served(step, testloop.MainThreadExecutor())),
    ):
        recording.clear()
        outcome = contextvars.copy_context().run(run)
        observed[name] = (outcome, normalized(recording, mine))
    assert observed["served"] == observed["async_to_sync"]
    outcome, records = observed["served"]
    assert outcome == (200, "set in sync_view")
    assert all(r["thread"] == "main" and r["connection"] == "test's" for r in records)


def test_main_thread_executor_is_a_plain_executor_outside_a_loop() -> None:
    executor = testloop.MainThreadExecutor()
    future = executor.submit(threading.get_ident)
    assert isinstance(future, concurrent.futures.Future)
    done: concurrent.futures.Future[None] = concurrent.futures.Future()
    done.set_result(None)
    executor.work_until(done)
    assert future.result() == threading.get_ident()
    failing = executor.submit(int, "x")
    executor.work_until(done)
    with pytest.raises(ValueError, match="invalid literal"):
        failing.result()


@needs_executor
def test_a_cancelled_call_is_skipped_like_asgirefs() -> None:
    def scenario() -> Callable[[], Awaitable[list[str]]]:
        ran: list[str] = []
        gate = threading.Event()

        async def body() -> list[str]:
            loop = asyncio.get_running_loop()
            working = asyncio.Event()

            def block() -> None:
                loop.call_soon_threadsafe(working.set)
                gate.wait(10)

            busy = asyncio.ensure_future(sync_to_async(block)())
            await working.wait()  # the test's thread is busy with it now
            queued = asyncio.ensure_future(sync_to_async(ran.append)("queued"))
            await asyncio.sleep(0)  # submitted, waiting behind the busy call
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            gate.set()
            await busy
            await sync_to_async(ran.append)("after")
            return ran

        return body

    assert async_to_sync(scenario())() == ["after"]
    assert run_served(scenario(), testloop.MainThreadExecutor()) == ["after"]


# --- what the watchdog reads from the thread's stack --------------------------


def watchdog_view_of_the_main_thread(run: Callable[[Any], Any]) -> dict[str, Any]:
    """What the watchdog's signal handler concludes from the main thread's
    stack: inside a sync call, and idle between two calls of a request."""
    main = threading.main_thread().ident
    assert main is not None
    seen: dict[str, Any] = {}

    def verdict(frame: Any) -> tuple[bool, bool]:
        return interrupt._runs_a_sync_call(frame), interrupt._waits_for_a_loop(frame)

    def in_call() -> None:
        seen["in a call"] = verdict(sys._getframe())

    async def request() -> None:
        await sync_to_async(in_call)()
        # The main thread goes back to waiting for the next call; on a loaded
        # machine that can take longer than a millisecond, so look until it
        # reads as idle (a misreading never does, and fails at the deadline).
        deadline = time.monotonic() + 5
        while True:
            await asyncio.sleep(0.001)
            seen["idle"] = verdict(sys._current_frames()[main])
            if seen["idle"] == (False, True) or time.monotonic() > deadline:
                break

    run(request)
    return seen


@pytest.mark.parametrize("path", PATHS)
def test_the_watchdog_tells_a_working_main_thread_from_an_idle_one(path: str) -> None:
    async def sharing(request: Callable[[], Awaitable[None]]) -> None:
        with SharedCore():  # as the kit's handler holds it around a request
            await request()

    seen = on_path(
        path,
        lambda: watchdog_view_of_the_main_thread(
            lambda request: async_to_sync(sharing)(request)
        ),
    )
    assert seen == {"in a call": (True, True), "idle": (False, True)}


@needs_executor
def test_the_watchdog_reads_a_main_thread_executor_like_asgirefs() -> None:
    seen = watchdog_view_of_the_main_thread(
        lambda request: run_served(request, testloop.MainThreadExecutor())
    )
    assert seen == {"in a call": (True, True), "idle": (False, True)}
