"""Views and middleware for the watchdog's hazard matrix and its deadlocks.

Each hazard is a way a request can cross threads: a sync view on the test's
connection thread, an async view on the loop, middleware of either kind, ORM
work in signal receivers, ``async_to_sync`` inside a sync view, ORM work in a
``thread_sensitive=False`` worker, streaming bodies. The deadlock views hang on
purpose until a test sets ``RELEASE``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from asgiref.sync import (
    async_to_sync,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)
from django.contrib.auth.models import User
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from products.models import Product

#: The deadlock views wait for this. Tests set it in cleanup, so no thread
#: outlives its test; SAFETY bounds the wait should a watchdog ever fail.
RELEASE = threading.Event()
SAFETY = 30.0
SIGNAL_PREFIX = "signal:"


# --- views that finish ---------------------------------------------------------


def sync_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"count": Product.objects.count()})


async def async_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"count": await Product.objects.acount()})


@csrf_exempt
def sync_signal_view(request: HttpRequest) -> JsonResponse:
    product = Product.objects.create(name=f"{SIGNAL_PREFIX}sync")
    return JsonResponse({"seen": product.seen_by_receiver})  # type: ignore[attr-defined]


@csrf_exempt
async def async_signal_view(request: HttpRequest) -> JsonResponse:
    product = await Product.objects.acreate(name=f"{SIGNAL_PREFIX}async")
    return JsonResponse({"seen": product.seen_by_receiver})  # type: ignore[attr-defined]


@receiver(post_save, sender=Product, dispatch_uid="hazard-count-on-save")
def count_on_save(sender: type[Product], instance: Product, **kwargs: Any) -> None:
    """An ORM query inside a receiver: it runs wherever save() runs."""
    if instance.name.startswith(SIGNAL_PREFIX):
        instance.seen_by_receiver = Product.objects.count()  # type: ignore[attr-defined]


async def _acount() -> int:
    return await Product.objects.acount()


def async_to_sync_view(request: HttpRequest) -> JsonResponse:
    # The coroutine's ORM call hops back to this very thread, which serves it
    # while async_to_sync waits.
    return JsonResponse({"count": async_to_sync(_acount)()})


def _count_users_elsewhere() -> dict[str, Any]:
    # A worker thread of the loop's default executor, with its own database
    # connection: it sees committed rows only.
    return {
        "users": User.objects.count(),
        "worker_is_main": threading.current_thread() is threading.main_thread(),
    }


async def unsensitive_view(request: HttpRequest) -> JsonResponse:
    found = await sync_to_async(_count_users_elsewhere, thread_sensitive=False)()
    return JsonResponse(found)


def sync_stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[str]:
        for number in range(3):
            # A query between chunks: it runs when the body is read.
            yield f"{number}:{Product.objects.count()}\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[str]:
        for number in range(3):
            yield f"{number}:{await Product.objects.acount()}\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


# --- middleware ----------------------------------------------------------------


class SyncOnlyMiddleware:
    """Sync-only: the async stack runs it through sync_to_async."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response["X-Sync-Middleware"] = str(Product.objects.count())
        return response


class HybridMiddleware:
    """Sync- and async-capable, in the django-cors-headers idiom."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        response = self.get_response(request)
        response["X-Hybrid-Middleware"] = f"sync:{Product.objects.count()}"
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        response["X-Hybrid-Middleware"] = f"async:{await Product.objects.acount()}"
        return response


# --- views that hang -----------------------------------------------------------


def wait_sync(request: HttpRequest) -> HttpResponse:
    """Blocks the thread running sync views until RELEASE: a lock never freed."""
    RELEASE.wait(SAFETY)
    return HttpResponse("released")


async def wait_async(request: HttpRequest) -> HttpResponse:
    """Awaits forever: an event nobody sets (cancellable, holds no thread)."""
    never = asyncio.Event()
    await asyncio.wait_for(never.wait(), SAFETY)
    return HttpResponse("unreachable")


def swallow(request: HttpRequest) -> HttpResponse:
    """A view whose `except Exception` would turn an interrupt into a 200."""
    try:
        RELEASE.wait(SAFETY)
    except Exception:
        return HttpResponse("swallowed")
    return HttpResponse("released")


def hanging_stream(request: HttpRequest) -> StreamingHttpResponse:
    """The first chunk comes at once; the second waits for RELEASE."""

    def chunks() -> Iterator[str]:
        yield "first\n"
        RELEASE.wait(SAFETY)
        yield "second\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


async def poll_async(request: HttpRequest) -> HttpResponse:
    """Awaits until RELEASE, without holding a thread."""
    deadline = time.monotonic() + SAFETY
    # RELEASE is a threading.Event, set from the test's thread: polled, since
    # an asyncio.Event belongs to one loop.
    while not RELEASE.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return HttpResponse("released")


async def block_loop(request: HttpRequest) -> HttpResponse:
    """Sync blocking inside an async view: the event loop itself is stuck."""
    RELEASE.wait(SAFETY)
    return HttpResponse("released")


_lock = threading.Lock()


def _take_lock() -> str:
    with _lock:
        return "took it"


def lock_order(request: HttpRequest) -> HttpResponse:
    """Holds a lock while a worker thread it waits for needs the same lock."""
    with _lock:
        taken = async_to_sync(sync_to_async(_take_lock, thread_sensitive=False))()
    return HttpResponse(taken)


def _bump_price(pk: int) -> int:
    return Product.objects.filter(pk=pk).update(price=1)


def row_lock(request: HttpRequest, pk: int) -> HttpResponse:
    """Updates a row from a thread_sensitive=False worker: its own connection
    waits for the test's transaction if that holds the row's lock."""
    bump: Callable[[int], Awaitable[int]] = sync_to_async(
        _bump_price, thread_sensitive=False
    )
    return HttpResponse(str(async_to_sync(bump)(pk)))


urlpatterns = [
    path("sync-view/", sync_view),
    path("async-view/", async_view),
    path("signal/sync/", sync_signal_view),
    path("signal/async/", async_signal_view),
    path("async-to-sync/", async_to_sync_view),
    path("unsensitive/", unsensitive_view),
    path("stream/sync/", sync_stream),
    path("stream/async/", async_stream),
    path("wait/sync/", wait_sync),
    path("wait/swallow/", swallow),
    path("wait/stream/", hanging_stream),
    path("wait/async/", wait_async),
    path("wait/poll/", poll_async),
    path("wait/loop/", block_loop),
    path("wait/lock-order/", lock_order),
    path("wait/row-lock/<int:pk>/", row_lock),
]
