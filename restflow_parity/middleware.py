"""``EnsureScopeMiddleware``: give every request an ASGI ``scope``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from restflow_parity.scope import build_scope

__all__ = ["EnsureScopeMiddleware"]

_GetResponse = Callable[[HttpRequest], Any]


class EnsureScopeMiddleware:
    """Attach ``request.scope`` to WSGI requests, built by ``build_scope``.

    ASGI requests already carry the server's scope and are left untouched, so
    the middleware can sit in MIDDLEWARE for both stacks. It serves sync and
    async chains natively: no thread hop is added on either.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: _GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Django checks this marker to await us instead of wrapping us in
            # sync_to_async.
            markcoroutinefunction(self)

    def __call__(
        self, request: HttpRequest
    ) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        ensure_scope(request)
        response: HttpResponseBase = self.get_response(request)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        ensure_scope(request)
        response: HttpResponseBase = await self.get_response(request)
        return response


def ensure_scope(request: HttpRequest) -> None:
    """Give ``request`` a ``scope`` unless a server already did."""
    # Measured (benchmarks/bench_scope.py): building eagerly costs a few
    # microseconds, well under the 3% budget, and a plain dict attribute keeps
    # ``request.scope`` identical in type to the one an ASGI server sends.
    if not hasattr(request, "scope"):
        request.scope = build_scope(request)  # type: ignore[attr-defined]
