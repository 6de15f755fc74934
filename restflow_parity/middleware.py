"""``EnsureScopeMiddleware``: give every request an ASGI ``scope``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import cached_property

from restflow_parity.scope import HTTPScope, build_scope

__all__ = ["EnsureScopeMiddleware", "LazyScope", "ensure_scope"]

_GetResponse = Callable[[HttpRequest], Any]


class EnsureScopeMiddleware:
    """Give WSGI requests a ``request.scope`` built by ``build_scope``.

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


class LazyScope(HttpRequest):
    """Mixin whose ``scope`` is built from ``META`` on first read, then kept."""

    @cached_property
    def scope(self) -> HTTPScope:
        return build_scope(self)


_lazy_classes: dict[type[HttpRequest], type[HttpRequest]] = {}


def _lazy_scope_class(request_class: type[HttpRequest]) -> type[HttpRequest]:
    lazy = _lazy_classes.get(request_class)
    if lazy is None:
        # Same name and module, so reprs and tracebacks still say WSGIRequest.
        lazy = type(
            request_class.__name__,
            (LazyScope, request_class),
            {"__module__": request_class.__module__},
        )
        _lazy_classes[request_class] = lazy
    return lazy


def ensure_scope(request: HttpRequest) -> None:
    """Give ``request`` a lazy ``scope`` unless a server already gave it one."""
    # Lazy, because most views never read the scope: building it costs a few
    # microseconds, a class swap a fraction of one (benchmarks/bench_scope.py).
    if isinstance(request, LazyScope) or hasattr(request, "scope"):
        return
    request.__class__ = _lazy_scope_class(type(request))
