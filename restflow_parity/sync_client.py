"""The sync (WSGI) stack's client and factory, built like the async ones.

``SyncAPIClient`` offers DRF ``APIClient``'s API, but its requests come from
the same builder as ``AsyncAPIClient``'s: the same body bytes, headers,
cookies and ``RAW_URI``, handed to Django's WSGI handler instead of the ASGI
one. ``EnsureScopeMiddleware`` then gives each request its ``.scope``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponseBase, StreamingHttpResponse
from rest_framework.test import ForceAuthClientHandler

from restflow_parity.builder import RequestBuilder, RequestSpec, refuse_follow
from restflow_parity.client import ClientBase
from restflow_parity.handler import aiter_blocking, closing_worker_connections

__all__ = ["SyncAPIClient", "SyncAPIRequestFactory"]


class SyncAPIClient(ClientBase):
    """DRF ``APIClient``'s API over Django's WSGI handler.

    In a ``def`` body verbs return responses. With ``awaitable = True`` (the
    mode runner sets it for ``async def`` bodies) they return a
    ``PendingResponse``, and the WSGI request runs in the thread that owns the
    test's database connection, so it sees and rolls back the test's data.
    """

    awaitable = False
    handler_class = ForceAuthClientHandler

    def _blocking_request(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        response = self._follow(spec, follow)
        if isinstance(response, StreamingHttpResponse) and response.is_async:
            # A def body iterates the body, so an async one is read now, on a
            # loop of its own, as the async stack's client does; Django's own
            # sync iteration of it would warn and buffer it anyway.
            content: AsyncIterator[bytes] = response.streaming_content  # type: ignore[assignment]
            response.streaming_content = async_to_sync(_drain)(content)
        return response

    def _follow(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        response = self._send(spec)
        if follow:
            chain: list[tuple[str, int]] = []
            while (spec_next := self._next_hop(spec, response, chain)) is not None:
                spec = spec_next
                response = self._send(spec)
            response.redirect_chain = chain  # type: ignore[attr-defined]
        return response

    async def _arequest(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        # Thread-sensitive: under Django's runner and the pytest plugin this
        # is the thread holding the test's connection and transaction.
        response = await sync_to_async(self._follow)(spec, follow)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            content: Iterator[bytes] = iter(response.streaming_content)  # type: ignore[arg-type]
            response.streaming_content = aiter_blocking(content)
        return response

    def _send(self, spec: RequestSpec) -> HttpResponseBase:
        environ = self.environ(spec)
        handler: Any = self.handler
        handler._force_user, handler._force_token = self._force_user, self._force_token
        with self._recording(environ) as rendered, closing_worker_connections():
            response: HttpResponseBase = handler(environ)
        self._finish(response, environ, rendered)
        return response


class SyncAPIRequestFactory(RequestBuilder[WSGIRequest]):
    """Build ``WSGIRequest`` objects with the async factory's encoding rules."""

    def _dispatch(self, spec: RequestSpec, follow: bool) -> WSGIRequest:
        refuse_follow(follow)
        request = WSGIRequest(self.environ(spec))
        request._dont_enforce_csrf_checks = not self.enforce_csrf_checks  # type: ignore[attr-defined]
        return request


async def _drain(content: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in content]
