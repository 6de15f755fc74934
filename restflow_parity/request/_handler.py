"""The in-process ASGI handler behind ``AsyncAPIClient``.

It follows Django's real ``ASGIHandler`` where Django's own test handler does
not: each request runs inside a ``ThreadSensitiveContext``, the response is
closed in a thread-sensitive worker (the thread that owns the test's database
connection), and every streaming body can be consumed with ``async for``.
The request's thread-sensitive calls reach that thread asgiref's way; while
the request is in flight, the two threads share a core (``affinity.py``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import IO, Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import LimitedStream
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http import (
    HttpResponseBadRequest,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.http.request import HttpRequest
from django.test.client import conditional_content_removal
from rest_framework.test import ForceAuthClientHandler

from restflow_parity.request._affinity import SharedCore
from restflow_parity.request._environ import ScopeLossWarning, lost_in_scope
from restflow_parity.request._sites import Site, warn_at
from restflow_parity.scope import HTTPScope, build_scope, overlay_scope
from restflow_parity.watchdog import note_connections

__all__ = [
    "AsyncClientHandler",
    "KitWSGIHandler",
    "aclosing_worker_connections",
    "apply_force_auth",
    "closing_worker_connections",
    "connection_recycling_paused",
    "name_request",
    "request_scope",
    "wsgi_stream_for_async",
]

#: What Django's ASGIHandler says when it serves a sync iterator (and
#: buffers it whole); the async stack says it too, so a test does not pass
#: in-process and fail behind a real server under warnings-as-errors.
SYNC_STREAM_WARNING = (
    "StreamingHttpResponse must consume synchronous iterators in order to "
    "serve them asynchronously. Use an asynchronous iterator instead."
)
#: And what its WSGI side says of an async iterator.
ASYNC_STREAM_WARNING = (
    "StreamingHttpResponse must consume asynchronous iterators in order to "
    "serve them synchronously. Use a synchronous iterator instead."
)


def request_scope(
    environ: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    site: Site | None = None,
) -> HTTPScope:
    """The scope for a test request's environ, saying what it cannot carry."""
    lost = lost_in_scope(environ)
    if lost:
        names = ", ".join(lost)
        warn_at(
            f"{names}: an ASGI scope has no place for this environ key, and "
            "Django's ASGIRequest builds META from the scope alone, so on the "
            "async stack (as behind a real ASGI server) the view never sees "
            "it. Send what the view needs as a header (headers={...} or "
            "HTTP_*), use force_authenticate() for REMOTE_USER-style "
            "authentication, or run this test on the sync stack only.",
            ScopeLossWarning,
            site,
        )
    scope = build_scope(environ)
    return overlay_scope(scope, overrides) if overrides else scope


_pause_lock = threading.Lock()
_pause_depth = 0
_END = object()


@contextmanager
def connection_recycling_paused() -> Iterator[None]:
    """Keep request signals from closing the test's database connections.

    Django's handlers close "old" connections on request_started/finished. In
    a test that would end the test's transaction, so the test clients unhook
    that receiver. A depth count (not a plain disconnect/connect pair) keeps
    concurrent requests (``asyncio.gather``) from re-hooking it under another.
    """
    global _pause_depth
    with _pause_lock:
        if _pause_depth == 0:
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
        _pause_depth += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0:
                request_started.connect(close_old_connections)
                request_finished.connect(close_old_connections)


#: The connections opened by worker threads during the current request. A
#: context variable follows the request into every thread asgiref runs its
#: sync parts in, thread_sensitive=False workers included.
_opened: ContextVar[list[BaseDatabaseWrapper] | None] = ContextVar(
    "restflow_parity_opened", default=None
)


def _track_connection(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    opened = _opened.get()
    # The main thread holds the test's own connection: never ours to close.
    if opened is not None and threading.current_thread() is not threading.main_thread():
        opened.append(connection)


connection_created.connect(_track_connection, dispatch_uid=f"{__name__}.track")


@contextmanager
def closing_worker_connections() -> Iterator[None]:
    """Close the database connections worker threads open during a request.

    ``sync_to_async(thread_sensitive=False)`` work runs in an executor thread
    with a connection of its own, which nothing closes: on PostgreSQL it
    outlives the test and can make dropping the test database fail ("being
    accessed by other users"). When the request has finished, so has that
    work, and its connections are closed here. After a timeout (or any
    BaseException) the work may still run, so they are left alone.
    """
    with _tracking() as opened:
        try:
            yield
        except Exception:
            _close_all(opened)
            raise
        _close_all(opened)


@asynccontextmanager
async def aclosing_worker_connections() -> AsyncIterator[None]:
    """``closing_worker_connections()`` for async code."""
    with _tracking() as opened:
        try:
            yield
        except Exception:
            await _aclose_all(opened)
            raise
        await _aclose_all(opened)


@contextmanager
def _tracking() -> Iterator[list[BaseDatabaseWrapper]]:
    """Collect, for the block, the connections worker threads open."""
    opened: list[BaseDatabaseWrapper] = []
    token = _opened.set(opened)
    note_connections(opened)
    try:
        yield opened
    finally:
        _opened.reset(token)


async def _aclose_all(opened: list[BaseDatabaseWrapper]) -> None:
    if opened:  # the usual case costs no thread hop
        # close() is async-unsafe; the test's thread is free by now.
        await sync_to_async(_close_all)(opened)


def _close_all(opened: list[BaseDatabaseWrapper]) -> None:
    for conn in opened:
        if conn.connection is None or conn.in_atomic_block:
            continue
        # Its thread is idle now (or gone): borrow the connection to close it.
        conn.inc_thread_sharing()
        try:
            conn.close()
        finally:
            conn.dec_thread_sharing()


def apply_force_auth(request: HttpRequest, user: Any, token: Any) -> None:
    """Mark ``request`` as DRF does, so its authenticators are skipped."""
    request._force_auth_user = user  # type: ignore[attr-defined]
    request._force_auth_token = token  # type: ignore[attr-defined]


async def _close(response: HttpResponseBase) -> None:
    # Thread-sensitive: close() fires request_finished, whose receivers may
    # use the ORM, and must see the test's connection.
    await sync_to_async(response.close)()


def _next_chunk(iterator: Iterator[bytes]) -> Any:
    return next(iterator, _END)


async def aiter_blocking(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Iterate a sync stream from async code, one chunk per thread hop."""
    # Each pull runs in the thread that owns the test's connection: a sync
    # generator may run ORM queries lazily, between chunks.
    pull = sync_to_async(_next_chunk)
    while (chunk := await pull(iterator)) is not _END:
        yield chunk


async def _async_stream(
    response: Any, content: Any, is_async: bool, site: Site | None
) -> AsyncIterator[bytes]:
    """Yield the body of any streaming response, then close it."""
    try:
        if is_async:
            async for chunk in content:
                yield chunk
        else:
            warn_at(SYNC_STREAM_WARNING, Warning, site)
            async for chunk in aiter_blocking(iter(content)):
                yield chunk
    finally:
        with connection_recycling_paused():
            await _close(response)


def wsgi_stream_for_async(response: HttpResponseBase) -> None:
    """Make a WSGI response's streaming body ``async for``-able, in place.

    A sync iterator is pulled one chunk per thread hop (thread-sensitive: a
    generator may query lazily); an async one is kept, with the warning a
    WSGI server would give as it drained it.
    """
    if not isinstance(response, StreamingHttpResponse):
        return
    if response.is_async:
        chunks: Any = response.streaming_content
        response.streaming_content = _warn_first(chunks, ASYNC_STREAM_WARNING)
    else:
        content: Iterator[bytes] = iter(response.streaming_content)  # type: ignore[arg-type]
        response.streaming_content = aiter_blocking(content)


async def _warn_first(
    content: AsyncIterator[bytes], message: str
) -> AsyncIterator[bytes]:
    warn_at(message, Warning)  # at the line that starts reading the body
    async for chunk in content:
        yield chunk


def name_request(response: Any, request: HttpRequest) -> None:
    """Give ``response`` the request the view saw as both ``wsgi_request``
    and ``asgi_request``, so a body that reads either runs on both stacks.

    A response class with a ``__getstate__`` of its own (DRF's ``Response``,
    Django's ``TemplateResponse``) pickles and copies without the added
    name, and without ``asgi_request``: DRF's leaves out ``wsgi_request``
    only, and a request does not pickle ("Cannot pickle ResolverMatch"),
    so an async-stack response would not cache where a sync one does.
    Classes that pickle everything (Django's plain ``HttpResponse``) are
    left as they are.
    """
    native = "asgi_request" if isinstance(request, ASGIRequest) else "wsgi_request"
    response.wsgi_request = response.asgi_request = request
    own = getattr(type(response), "__getstate__", None)
    if own is None or own is getattr(object, "__getstate__", None):
        return
    left_out = {"asgi_request", "__getstate__"}
    if native == "asgi_request":
        left_out.add("wsgi_request")

    def getstate() -> Any:
        state = dict(own(response))
        for name in left_out:
            state.pop(name, None)
        return state

    response.__getstate__ = getstate


class KitWSGIHandler(ForceAuthClientHandler):
    """The kit's clients' WSGI handler: DRF's, never routed to the other stack
    (a ``SyncAPIClient`` is WSGI in every variant; see ``stock.py``)."""

    restflow_parity_routed = False


def body_stream(body: Any) -> IO[bytes]:
    """The request body as ASGIRequest reads it; sized so large reads work."""
    return cast(IO[bytes], LimitedStream(body, len(body)))


class AsyncClientHandler(BaseHandler):
    """Run a WSGI-style environ through Django's async request path."""

    def __init__(self, enforce_csrf_checks: bool = True) -> None:
        self.enforce_csrf_checks = enforce_csrf_checks
        super().__init__()

    async def __call__(
        self,
        environ: dict[str, Any],
        force_user: Any = None,
        force_token: Any = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        site: Site | None = None,
    ) -> HttpResponseBase:
        """Serve ``environ`` (plus scope keys given as such) on the ASGI path.

        ``site`` is where a warning about the response belongs: the test's
        line, when the body is read somewhere else (a def body's drain).
        """
        if getattr(self, "_middleware_chain", None) is None:
            self.load_middleware(is_async=True)
        scope = request_scope(environ, overrides, site)
        body = (overrides or {}).get("_body_file") or environ["wsgi.input"]
        # One pause spans the request: each pause and resume rewires two
        # signals and clears their receiver caches (measured, not free). The
        # request's two threads share a core meanwhile (affinity.py).
        with connection_recycling_paused(), SharedCore():
            async with aclosing_worker_connections(), ThreadSensitiveContext():
                await request_started.asend(sender=self.__class__, scope=scope)
                try:
                    request = ASGIRequest(scope, body_stream(body))
                except UnicodeDecodeError:
                    # What ASGIHandler answers for a query string that is not
                    # UTF-8.
                    bad = HttpResponseBadRequest()
                    bad.asgi_request = None  # type: ignore[attr-defined]
                    return bad
                request._dont_enforce_csrf_checks = not self.enforce_csrf_checks  # type: ignore[attr-defined]
                if force_user is not None or force_token is not None:
                    apply_force_auth(request, force_user, force_token)
                response = await self.get_response_async(request)
                conditional_content_removal(request, response)
                response.asgi_request = request  # type: ignore[attr-defined]
                if isinstance(response, StreamingHttpResponse):
                    # Read the content before assigning: the property then
                    # returns our wrapper.
                    content = response.streaming_content
                    response.streaming_content = _async_stream(
                        response, content, response.is_async, site
                    )
                else:
                    await _close(response)
        return response
