"""Views and middleware that record what code under test can see of its hops.

tests/test_hop.py sends the same requests with the request's two threads on
cores of their own and sharing one, and compares what these recorded: which
thread ran each part, which database connection it used, the context
variables it saw, the order of the parts, the exceptions. Routed with
``ROOT_URLCONF = "products.hop_views"``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.core.signals import request_finished, request_started
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import path
from django.utils.deprecation import MiddlewareMixin
from django.views.decorators.csrf import csrf_exempt

from products.models import Product

#: What the parts of a request saw, in the order they ran.
SEEN: list[dict[str, Any]] = []
#: Set by the test before a request; read by every part.
FROM_TEST: contextvars.ContextVar[str] = contextvars.ContextVar("from_test")
#: Set by the sync middleware; read by the view and the response hook.
FROM_MIDDLEWARE: contextvars.ContextVar[str] = contextvars.ContextVar("from_middleware")
#: Set by the view; the test reads it after the request.
FROM_VIEW: contextvars.ContextVar[str] = contextvars.ContextVar("from_view")
#: The test's own task, when an async body sets it.
TEST_TASK: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "test_task", default=None
)
#: Background tasks views start, for the test to await.
BACKGROUND: list[asyncio.Task[Any]] = []
#: A rendezvous between two concurrent requests' async views.
MEETING: dict[str, asyncio.Event] = {}


class ViewError(Exception):
    """Raised by the failing views."""


_threads = threading.local()
_serials = iter(range(1, 1 << 62))


def _thread_serial() -> int:
    # Unlike thread idents, which the OS hands out again once a thread has
    # ended, a serial kept in the thread's own storage names one thread.
    serial = getattr(_threads, "serial", None)
    if serial is None:
        serial = _threads.serial = next(_serials)
    return int(serial)


def note(part: str, **extra: Any) -> None:
    """Record what this part of the request sees."""
    raw = connection.connection if connection.connection is not None else None
    SEEN.append(
        {
            "part": part,
            "thread": _thread_serial(),
            "main": threading.current_thread() is threading.main_thread(),
            "connection": id(raw) if raw is not None else None,
            "in_atomic_block": connection.in_atomic_block,
            "from_test": FROM_TEST.get("-"),
            "from_middleware": FROM_MIDDLEWARE.get("-"),
            **extra,
        }
    )


class RecordingMiddleware(MiddlewareMixin):
    """A sync middleware (Django's mixin): two hops on the async stack."""

    def process_request(self, request: HttpRequest) -> None:
        FROM_MIDDLEWARE.set("set in process_request")
        note("middleware.process_request")

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        note("middleware.process_response")
        return response


def _on_started(**kwargs: Any) -> None:
    note("request_started")


def _on_finished(**kwargs: Any) -> None:
    note("request_finished")


def connect_signals() -> Callable[[], None]:
    """Record the request signals too; returns the disconnect."""
    request_started.connect(_on_started, dispatch_uid="hop-started")
    request_finished.connect(_on_finished, dispatch_uid="hop-finished")

    def disconnect() -> None:
        request_started.disconnect(dispatch_uid="hop-started")
        request_finished.disconnect(dispatch_uid="hop-finished")

    return disconnect


def sync_view(request: HttpRequest) -> JsonResponse:
    note("sync_view", count=Product.objects.count())
    FROM_VIEW.set("set in sync_view")
    return JsonResponse({"ok": True})


def plain_view(request: HttpRequest) -> JsonResponse:
    """A sync view that needs no database."""
    note("plain_view")
    return JsonResponse({"ok": True})


async def async_view(request: HttpRequest) -> JsonResponse:
    test_task = TEST_TASK.get()
    note("async_view.loop", in_the_tests_task=asyncio.current_task() is test_task)
    count = await Product.objects.acount()
    await sync_to_async(note)("async_view.orm_hop", count=count)
    FROM_VIEW.set("set in async_view")
    return JsonResponse({"count": count})


def failing_sync_view(request: HttpRequest) -> HttpResponse:
    note("failing_sync_view")
    raise ViewError("raised in the sync view")


async def failing_async_view(request: HttpRequest) -> HttpResponse:
    await sync_to_async(note)("failing_async_view.hop")
    raise ViewError("raised in the async view")


def _create(name: str) -> None:
    Product.objects.create(name=name)
    note("background.orm")


@csrf_exempt
async def background_view(request: HttpRequest) -> JsonResponse:
    """Starts a task that writes after the response has gone."""

    async def later() -> None:
        await asyncio.sleep(0.05)
        await sync_to_async(_create)("from the background")

    BACKGROUND.append(asyncio.create_task(later()))
    return JsonResponse({"started": True})


async def meet_view(request: HttpRequest, me: str, other: str) -> JsonResponse:
    """Sets its own event, then waits for the other request's."""
    loop_events = MEETING
    loop_events.setdefault(me, asyncio.Event()).set()
    await asyncio.wait_for(loop_events.setdefault(other, asyncio.Event()).wait(), 10)
    await sync_to_async(note)(f"meet.{me}")
    return JsonResponse({"met": other})


async def _acount() -> int:
    note("nested.loop")
    return await Product.objects.acount()


def nested_view(request: HttpRequest) -> JsonResponse:
    """async_to_sync inside a sync view: the coroutine's ORM hops back here."""
    note("nested.view")
    return JsonResponse({"count": async_to_sync(_acount)()})


def _worker() -> None:
    note("worker")


async def unsensitive_view(request: HttpRequest) -> JsonResponse:
    await sync_to_async(_worker, thread_sensitive=False)()
    return JsonResponse({"ok": True})


async def wait_for_event_view(request: HttpRequest) -> JsonResponse:
    """Awaits an event that only another task's thread-sensitive call sets."""
    await asyncio.wait_for(MEETING["outside"].wait(), 10)
    await sync_to_async(note)("after-outside")
    return JsonResponse({"ok": True})


urlpatterns = [
    path("sync/", sync_view),
    path("plain/", plain_view),
    path("async/", async_view),
    path("fail/sync/", failing_sync_view),
    path("fail/async/", failing_async_view),
    path("background/", background_view),
    path("meet/<str:me>/<str:other>/", meet_view),
    path("nested/", nested_view),
    path("unsensitive/", unsensitive_view),
    path("wait-outside/", wait_for_event_view),
]
