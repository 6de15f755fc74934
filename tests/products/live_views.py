"""Views that only the live-server tests need (routed by ``products.live_urls``)."""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate, login
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt

from products.models import Product


def boom(request: HttpRequest) -> JsonResponse:
    raise ValueError("boom from a sync view")


async def async_boom(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    raise KeyError("boom from an async view")


async def stream_then_fail(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> Any:
        yield b"first\n"
        raise RuntimeError("boom in the middle of a stream")

    return StreamingHttpResponse(chunks(), content_type="text/plain")


@csrf_exempt
def session_login(request: HttpRequest) -> JsonResponse:
    """Log in with form fields ``username`` and ``password``; start a session."""
    user = authenticate(
        request,
        username=request.POST.get("username"),
        password=request.POST.get("password"),
    )
    if user is None:
        return JsonResponse({"ok": False}, status=403)
    login(request, user)
    return JsonResponse({"ok": True})


def _identity() -> dict[str, Any]:
    conn = connections[DEFAULT_DB_ALIAS]
    products = Product.objects.count()
    return {
        "thread": threading.get_ident(),
        "thread_name": threading.current_thread().name,
        # The wrapper, not django.db.connection: that proxy is one object.
        "connection": id(conn),
        "products": products,
    }


def db_identity(request: HttpRequest) -> JsonResponse:
    """Which thread and connection a sync view runs its queries on."""
    return JsonResponse(_identity())


async def async_db_identity(request: HttpRequest) -> JsonResponse:
    """The same, for thread-sensitive ORM work sent from an async view."""
    identity = await sync_to_async(_identity)()
    identity["async_count"] = await Product.objects.acount()
    return JsonResponse(identity)


async def unsensitive_query(request: HttpRequest) -> JsonResponse:
    """Query from a ``thread_sensitive=False`` worker: a connection we must track."""
    identity = await sync_to_async(_identity, thread_sensitive=False)()
    return JsonResponse(identity)


@csrf_exempt
async def async_create(request: HttpRequest) -> JsonResponse:
    """Create a product from an async view (a real client sends no CSRF token)."""
    product = await Product.objects.acreate(name=request.POST["name"])
    return JsonResponse({"id": product.pk}, status=201)


async def slow(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(float(request.GET.get("seconds", "0.2")))
    return JsonResponse({"slept": True})


#: A request to hold/ sets ENTERED, then waits until a test sets RELEASE.
ENTERED = threading.Event()
RELEASE = threading.Event()


async def hold(request: HttpRequest) -> JsonResponse:
    ENTERED.set()
    released = await asyncio.to_thread(RELEASE.wait, 30)
    return JsonResponse({"released": released})


#: Set by a test in its own thread; a server's request must not see it.
TEST_MARK: ContextVar[str] = ContextVar("live_views_test_mark")


def context_state(request: HttpRequest) -> JsonResponse:
    """The context-local state a request inherited: none, as on a WSGI thread."""
    return JsonResponse(
        {
            "mark": TEST_MARK.get(None),
            "language": translation.get_language(),
            "timezone": timezone.get_current_timezone_name(),
        }
    )
