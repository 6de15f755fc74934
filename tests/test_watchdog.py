"""The deadlock watchdog: hung requests fail fast with stacks; hazards don't hang."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from clients import make_client
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.backends.signals import connection_created
from products.hazard_views import RELEASE
from products.models import Product
from sharing import PATHS, hopping

from restflow_parity.request import _connections
from restflow_parity.test import (
    AsyncAPIClient,
    AsyncAPIRequestFactory,
    SyncAPIClient,
    arun_view,
)
from restflow_parity.watchdog import (
    DEFAULT_TIMEOUT,
    GRACE,
    INTERRUPT_SIGNAL,
    SETTING,
    RequestTimeoutError,
    resolve_timeout,
)

LIMIT = 1.0
#: Scheduling slack on a loaded CI machine, on top of the limit and grace.
MARGIN = 1.5
STACKS = ("sync", "async")
BODIES = ("def", "async def")


def send(
    stack: str, body: str, path: str, method: str = "get", **kwargs: Any
) -> tuple[Any, bytes]:
    """Send a request with the stack's client from a def or an async def body.

    An async def body runs as Django's runner and the pytest plugin run one:
    through async_to_sync from this (the main) thread. The body, streamed or
    not, is read inside the test body, as a test would.
    """
    client = make_client(stack, awaitable=body == "async def", **kwargs)  # type: ignore[arg-type]
    if body == "def":
        response = getattr(client, method)(path)
        if response.streaming:
            return response, b"".join(response.streaming_content)
        return response, response.content

    async def run() -> tuple[Any, bytes]:
        response = await getattr(client, method)(path)
        if response.streaming:
            return response, b"".join([c async for c in response.streaming_content])
        return response, response.content

    return async_to_sync(run)()


def _idle_executor_worker(frame: Any) -> bool:
    # An executor's idle worker ends with the interpreter (or its executor):
    # it keeps nothing alive. A traceback still held (a captured log record,
    # say) can keep its executor uncollected until the test is over.
    # (The work queue is a C SimpleQueue: _worker is the innermost frame.)
    return (
        frame is not None
        and frame.f_code.co_name == "_worker"
        and frame.f_code.co_filename.endswith("concurrent/futures/thread.py")
    )


def threads_left(before: set[threading.Thread], wait: float = 10) -> list[Any]:
    """The non-daemon threads started since ``before`` that do not end."""
    deadline = time.monotonic() + wait
    left: list[threading.Thread] = []
    while time.monotonic() < deadline:
        # An idle executor thread ends once its executor is collected; a
        # traceback that held the executor may sit in a reference cycle.
        gc.collect()
        frames = sys._current_frames()
        left = [
            thread
            for thread in threading.enumerate()
            if thread not in before
            and not thread.daemon
            and not _idle_executor_worker(frames.get(thread.ident))
        ]
        if not left:
            break
        time.sleep(0.02)
    return left


def cpu_mask() -> set[int] | None:
    """Where this thread may run, where the OS says."""
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


@pytest.fixture(params=PATHS)
def hop_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """A request's two threads on cores of their own, or sharing one while it
    is in flight (restflow_parity/affinity.py): the watchdog must see no
    difference."""
    with hopping(request.param):
        yield str(request.param)


@pytest.fixture
def release() -> Iterator[None]:
    """Set RELEASE after the test and check that no thread it started is left:
    none may keep the process alive. The test's thread must not be left on
    one core either (a request the watchdog gave up on never ends its block)."""
    before = set(threading.enumerate())
    mask = cpu_mask()
    RELEASE.clear()
    yield
    assert cpu_mask() == mask
    RELEASE.set()
    left = threads_left(before)
    RELEASE.clear()
    frames = sys._current_frames()
    stacks = "".join(
        f"\n{thread.name}:\n" + "".join(traceback.format_stack(frames[thread.ident]))
        for thread in left
        if thread.ident in frames
    )
    assert not left, f"threads outlived the test: {stacks}"


@pytest.mark.django_db
@pytest.mark.usefixtures("release", "hop_path")
@pytest.mark.parametrize("view", ["sync", "swallow", "poll", "lock-order", "loop"])
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("stack", STACKS)
def test_deadlock_is_reported_within_the_limit(
    stack: str, body: str, view: str, settings: Any
) -> None:
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = LIMIT
    mask = cpu_mask()
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError) as raised:
        send(stack, body, f"/hazard/wait/{view}/")
    elapsed = time.monotonic() - start
    # The request may still be stuck (a blocked loop): this thread is not.
    assert cpu_mask() == mask
    assert LIMIT <= elapsed < LIMIT + GRACE + MARGIN
    message = str(raised.value)
    assert f"get('/hazard/wait/{view}/') did not finish within 1s" in message
    assert "RESTFLOW_PARITY_REQUEST_TIMEOUT" in message
    assert (
        "--- Thread 'MainThread' (main thread; holds database connection "
        "'default' in a transaction" in message
    )
    assert "hazard_views.py" in message
    # The test's connection still works.
    RELEASE.set()
    response, _ = send(stack, body, "/hazard/sync-view/")
    assert response.json() == {"count": 0}


# --- the hazard matrix ------------------------------------------------------------


@dataclass(frozen=True)
class Hazard:
    """One way a request crosses threads, and what its response must be."""

    name: str
    path: str
    #: What the response must say; ``{stack}`` is replaced by the stack.
    expected: str
    method: str = "get"
    middleware: str | None = None
    header: str | None = None


COUNT = '{"count": 1}'
HAZARDS = [
    Hazard("sync-view", "/hazard/sync-view/", COUNT),
    Hazard("async-view", "/hazard/async-view/", COUNT),
    Hazard(
        "sync-only-middleware",
        "/hazard/async-view/",
        "1",
        middleware="products.hazard_views.SyncOnlyMiddleware",
        header="X-Sync-Middleware",
    ),
    Hazard(
        "async-capable-middleware",
        "/hazard/sync-view/",
        "{stack}:1",
        middleware="products.hazard_views.HybridMiddleware",
        header="X-Hybrid-Middleware",
    ),
    Hazard("orm-receiver-sync-view", "/hazard/signal/sync/", '{"seen": 2}', "post"),
    Hazard("orm-receiver-async-view", "/hazard/signal/async/", '{"seen": 2}', "post"),
    Hazard("async-to-sync-in-sync-view", "/hazard/async-to-sync/", COUNT),
    Hazard(
        "thread-sensitive-false-orm",
        "/hazard/unsensitive/",
        '{"users": 0, "worker_is_main": false}',
    ),
    Hazard("sync-streaming", "/hazard/stream/sync/", "0:1\n1:1\n2:1\n"),
    Hazard("async-streaming", "/hazard/stream/async/", "0:1\n1:1\n2:1\n"),
]


@pytest.mark.django_db
@pytest.mark.usefixtures("hop_path")
@pytest.mark.parametrize("hazard", HAZARDS, ids=[h.name for h in HAZARDS])
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("stack", STACKS)
def test_hazard_completes(stack: str, body: str, hazard: Hazard, settings: Any) -> None:
    """None of the thread-crossing patterns hangs, on either stack or body."""
    limit = 10.0
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = limit
    if hazard.middleware:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, hazard.middleware]
    Product.objects.create(name="Phone")
    # A stream the stack cannot serve natively is read with Django's warning.
    mismatched = hazard.name == {"sync": "async", "async": "sync"}[stack] + "-streaming"
    warns = pytest.warns(Warning, match="must consume") if mismatched else nullcontext()
    start = time.monotonic()
    with warns:
        response, content = send(stack, body, hazard.path, hazard.method)
    assert time.monotonic() - start < limit
    assert response.status_code == 200
    got = response[hazard.header] if hazard.header else content.decode()
    assert got == hazard.expected.replace("{stack}", stack)


# --- the rest of the watchdog's contract ------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("release")
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume")
def test_a_hanging_streaming_body_is_reported(
    stack: str, body: str, settings: Any
) -> None:
    # Bodies are read after the request returns: each chunk is watched too.
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = LIMIT
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError, match="did not finish within 1s"):
        send(stack, body, "/hazard/wait/stream/")
    assert time.monotonic() - start < LIMIT + GRACE + MARGIN


@pytest.mark.django_db
@pytest.mark.usefixtures("release")
@pytest.mark.parametrize("view", ["sync", "poll"])
def test_arun_view_is_watched(view: str, settings: Any) -> None:
    from products import hazard_views

    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = LIMIT
    function = {"sync": hazard_views.wait_sync, "poll": hazard_views.poll_async}
    request = AsyncAPIRequestFactory().get("/")
    with pytest.raises(RequestTimeoutError, match=r"arun_view\(wait_sync|poll_async"):
        async_to_sync(arun_view)(function[view], request)


@pytest.mark.django_db
@pytest.mark.usefixtures("release")
@pytest.mark.parametrize("stack", STACKS)
def test_request_timeout_keyword_overrides_the_setting(
    stack: str, settings: Any
) -> None:
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = 30
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError, match=r"within 0\.5s"):
        send(stack, "def", "/hazard/wait/sync/", request_timeout=0.5)
    assert time.monotonic() - start < 0.5 + GRACE + MARGIN


@pytest.mark.django_db
@pytest.mark.usefixtures("release")
@pytest.mark.parametrize("off", [None, 0])
@pytest.mark.parametrize("stack", STACKS)
def test_none_and_zero_turn_the_watchdog_off(
    stack: str, off: float | None, settings: Any
) -> None:
    # A request slower than a tiny limit finishes untouched when it is off.
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = off
    threading.Timer(0.6, RELEASE.set).start()
    _, content = send(stack, "async def", "/hazard/wait/sync/")
    assert content == b"released"
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = 0.1
    RELEASE.clear()
    threading.Timer(0.6, RELEASE.set).start()
    _, content = send(stack, "def", "/hazard/wait/sync/", request_timeout=off)
    assert content == b"released"


@pytest.mark.parametrize("value", ["30", -1, True, float("nan"), float("inf"), [30]])
def test_bad_timeouts_name_the_setting_and_the_allowed_values(
    value: object, settings: Any
) -> None:
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = value
    with pytest.raises(ImproperlyConfigured) as raised:
        AsyncAPIClient()
    assert str(raised.value).startswith(f"{SETTING}={value!r} is not a request")
    assert "None or 0 to turn the deadlock watchdog off" in str(raised.value)
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = 30
    with pytest.raises(ValueError, match=r"request_timeout=.* Allowed values"):
        SyncAPIClient(request_timeout=value)


def test_the_default_is_thirty_seconds(settings: Any) -> None:
    del settings.RESTFLOW_PARITY_REQUEST_TIMEOUT
    assert resolve_timeout() == DEFAULT_TIMEOUT == 30


@pytest.mark.django_db
@pytest.mark.usefixtures("release")
def test_cancellation_is_undone_for_the_test_task(settings: Any) -> None:
    # asyncio.timeout() and TaskGroup count cancellations: ours are taken back.
    if not hasattr(asyncio.Task, "cancelling"):
        pytest.skip("Python 3.10 tasks do not count cancellations")
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = LIMIT

    async def body() -> int:
        client = AsyncAPIClient()
        with pytest.raises(RequestTimeoutError):
            await client.get("/hazard/wait/poll/")
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert async_to_sync(body)() == 0


def test_another_handler_for_the_signal_is_still_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if INTERRUPT_SIGNAL is None:
        pytest.skip("no SIGUSR2 on this platform")
    calls: list[int] = []
    before = signal.signal(INTERRUPT_SIGNAL, lambda s, f: calls.append(s))
    try:
        AsyncAPIClient()  # installs the kit's, in this (the main) thread
        signal.raise_signal(INTERRUPT_SIGNAL)  # no request waits: no interrupt
        assert calls == [INTERRUPT_SIGNAL]
    finally:
        signal.signal(INTERRUPT_SIGNAL, before)


@pytest.mark.django_db
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("stack", STACKS)
def test_worker_connections_are_closed_after_the_request(
    stack: str, body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # thread_sensitive=False work opens connections nobody closes; on
    # PostgreSQL they fail the test database's teardown.
    created: list[Any] = []

    def record(sender: object, connection: Any, **kwargs: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            created.append(connection)

    closed: list[Any] = []
    close_all = _connections._close_all
    monkeypatch.setattr(
        _connections,
        "_close_all",
        lambda opened: (closed.extend(opened), close_all(opened)),
    )
    connection_created.connect(record)
    try:
        response, _ = send(stack, body, "/hazard/unsensitive/")
    finally:
        connection_created.disconnect(record)
    assert response.status_code == 200
    assert created
    assert closed == created
    if not getattr(connection, "is_in_memory_db", lambda: False)():
        # (Django never closes an in-memory SQLite connection: it would
        # destroy the database.)
        assert all(conn.connection is None for conn in created)


@pytest.fixture
def worker_connections() -> Iterator[list[Any]]:
    """Connections opened outside the main thread during the test; closed at
    the end, once their threads are done."""
    created: list[tuple[Any, threading.Thread]] = []

    def record(sender: object, connection: Any, **kwargs: Any) -> None:
        thread = threading.current_thread()
        if thread is not threading.main_thread():
            created.append((connection, thread))

    connection_created.connect(record)
    yield [conn for conn, _ in created]  # filled as the test runs
    connection_created.disconnect(record)
    for conn, thread in created:
        thread.join(10)
        conn.inc_thread_sharing()
        conn.close()
        conn.dec_thread_sharing()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("release")
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("stack", STACKS)
def test_a_worker_waiting_for_the_tests_row_lock_is_reported(
    stack: str, body: str, settings: Any, worker_connections: list[Any]
) -> None:
    """A real cross-connection deadlock: the test's transaction holds a row
    lock, a thread_sensitive=False worker waits for it, the test waits for
    the worker. Its query is cancelled and the test fails within the limit.
    (The timed-out request leaves the worker's connection to the test.)"""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite refuses the lock at once (database table is locked)")
    settings.RESTFLOW_PARITY_REQUEST_TIMEOUT = LIMIT
    product = Product.objects.create(name="Phone")
    start = time.monotonic()
    with transaction.atomic():
        Product.objects.select_for_update().get(pk=product.pk)
        with pytest.raises(RequestTimeoutError) as raised:
            send(stack, body, f"/hazard/wait/row-lock/{product.pk}/")
    assert time.monotonic() - start < LIMIT + GRACE + MARGIN
    assert "cancelled the queries of the 1 database connection" in str(raised.value)
