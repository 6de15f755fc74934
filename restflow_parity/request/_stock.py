"""Django's and DRF's own clients and factories follow the running variant's stack.

A suite sends through names the kit does not own: ``django.test.Client``,
DRF's ``APIClient`` and ``APIRequestFactory``, pytest-django's ``client``,
``rf``, ``async_client`` and ``async_rf``, a conftest fixture returning any of
them, DRF's ``RequestsClient``. While a variant runs, each of them sends on
the variant's stack, with its own request building untouched:

- a stock WSGI client (Django's ``Client``, DRF's ``APIClient``) in an
  ``_async`` variant hands the environ it built to the kit's ASGI handler,
  and Django's ``Client.request`` finishes the response as it always does;
- Django's ``AsyncClient`` in a ``_sync`` variant hands its scope, turned into
  an environ, to Django's WSGI test handler;
- Django's ``RequestFactory`` (and DRF's, through ``super()``) builds an
  ``ASGIRequest`` in ``_async`` variants; ``AsyncRequestFactory`` a
  ``WSGIRequest`` (with ``.scope``) in ``_sync`` ones;
- DRF's ``RequestsClient`` sends through the kit's ASGI handler in ``_async``
  variants.

A response from either route carries both ``wsgi_request`` and
``asgi_request``: the request the view saw, under either name, so a body
that reads ``response.wsgi_request.session`` runs unchanged on both stacks.

None of this has a public hook, so it is done by wrapping five attributes
(listed in ``_targets()`` and in docs/reference/stock.md) while a variant
runs, and restoring them when it ends: outside variants every stock name is
exactly Django's and DRF's. Every factory build is also reported to the stack
ledger, which proves the routing worked. ``RESTFLOW_PARITY_ROUTE_STOCK =
False`` turns the routing off (the ledger then reports stock senders).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from asgiref.sync import async_to_sync, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponseBase, StreamingHttpResponse
from django.test.client import RequestFactory
from rest_framework.test import ForceAuthClientHandler

from restflow_parity._thirdparty.drf import forced_auth
from restflow_parity.middleware import ensure_scope
from restflow_parity.request._affinity import served_here
from restflow_parity.request._environ import environ_from_scope
from restflow_parity.request._handler import (
    AsyncClientHandler,
    name_request,
    request_scope,
)
from restflow_parity.request._ledger import record_built
from restflow_parity.request._sites import call_site, in_event_loop
from restflow_parity.request._streams import body_stream, wsgi_stream_for_async
from restflow_parity.variants._mode import Mode, active_mode
from restflow_parity.watchdog import Guard, adopt_task, resolve_timeout

__all__ = ["SETTING", "following", "stock_factories"]

SETTING = "RESTFLOW_PARITY_ROUTE_STOCK"
#: A handler class attribute: False keeps a client on its own stack.
ROUTED = "restflow_parity_routed"

_depth = 0
_saved: list[tuple[Any, str, Any]] = []


@contextmanager
def following() -> Iterator[None]:
    """Wrap the stock names for the block (re-entrant): see the module doc."""
    global _depth
    if _depth == 0:
        _install()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            _uninstall()


def _route_to(stack: Mode) -> bool:
    """Whether a stock sender of the other stack goes to ``stack`` now.

    Read per request, and only then: override_settings in a test applies.
    """
    if active_mode() != stack:
        return False
    from django.conf import settings

    return bool(getattr(settings, SETTING, True))


def stock_factories() -> list[tuple[type, Mode]]:
    """Django's ``RequestFactory`` and ``AsyncRequestFactory`` classes.

    Found through the MRO of whatever ``django.test.client`` names so: a
    harness may have put another class under the name (the class that
    defines ``request`` is the one every stock factory builds with).
    """
    import django.test.client as module

    found: list[tuple[type, Mode]] = []
    for name, stack in (("RequestFactory", "sync"), ("AsyncRequestFactory", "async")):
        for cls in getattr(module, name).__mro__:
            if cls.__module__ == module.__name__ and cls.__name__ == name:
                found.append((cls, stack))  # type: ignore[arg-type]
                break
    return found


def _targets() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, replacement) for every wrapped attribute."""
    import django.test.client as client
    import rest_framework.test as drf

    targets: list[tuple[Any, str, Any]] = [
        (cls, "request", _factory_request(cls.__dict__["request"], stack))
        for cls, stack in stock_factories()
    ]
    targets += [
        (client.ClientHandler, "__call__", _wsgi_handler(client.ClientHandler)),
        (
            client.AsyncClientHandler,
            "__call__",
            _asgi_handler(client.AsyncClientHandler),
        ),
    ]
    if hasattr(drf, "DjangoTestAdapter"):  # DRF's RequestsClient needs requests
        targets += [
            (drf, "WSGIHandler", StackWSGIHandler),
            (drf, "DjangoRequestFactory", _EnvironFactory),
        ]
    return targets


def _install() -> None:
    for owner, name, replacement in _targets():
        _saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, replacement)


def _uninstall() -> None:
    while _saved:
        owner, name, original = _saved.pop()
        setattr(owner, name, original)


# --- factories -----------------------------------------------------------------


def _factory_request(original: Callable[..., Any], stack: Mode) -> Callable[..., Any]:
    """Django's ``request()`` of a factory: builds for the variant's stack."""
    other: Mode = "async" if stack == "sync" else "sync"

    @functools.wraps(original)
    def request(self: Any, **kwargs: Any) -> Any:
        if not _route_to(other):
            built = original(self, **kwargs)
            if stack == "sync":
                ensure_scope(built)  # as the variant's own factory's requests
            record_built(stack, self, built)
        elif other == "async":
            built = _asgi_request(self._base_environ(**kwargs))
            record_built("async", self, built)
        else:
            body = kwargs.pop("_body_file", None)
            environ = environ_from_scope(self._base_scope(**kwargs), body)
            built = WSGIRequest(environ)
            ensure_scope(built)
            record_built("sync", self, built)
        return built

    return request


def _asgi_request(environ: dict[str, Any]) -> ASGIRequest:
    return ASGIRequest(request_scope(environ), body_stream(environ["wsgi.input"]))


class _EnvironFactory(RequestFactory):
    """What DRF's ``RequestsClient`` adapter builds its environ with: Django's
    factory, neither routed nor counted (the environ is sent, and counted
    where it is served)."""

    def request(self, **request: Any) -> WSGIRequest:
        return WSGIRequest(self._base_environ(**request))  # type: ignore[attr-defined]


# --- clients ---------------------------------------------------------------------

_twins: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()


def _twin(handler: Any, kind: Callable[[bool], Any]) -> Any:
    """The other stack's handler for a stock client's handler, made once."""
    twin = _twins.get(handler)
    if twin is None:
        twin = _twins[handler] = kind(handler.enforce_csrf_checks)
    return twin


def _wsgi_handler(cls: type) -> Callable[..., Any]:
    """``ClientHandler.__call__``: on the ASGI path in ``_async`` variants."""
    original = cls.__dict__["__call__"]

    @functools.wraps(original)
    def __call__(self: Any, environ: dict[str, Any]) -> HttpResponseBase:
        if not (getattr(self, ROUTED, True) and _route_to("async")):
            return original(self, environ)  # type: ignore[no-any-return]
        if in_event_loop():
            raise RuntimeError(
                f"{_client_name(self)} blocks, and it was called inside an event "
                "loop (an async def test body), where a blocking request cannot "
                "be sent on the async stack. Await an async client instead: "
                "`await self.async_client.get(...)` (or restflow_parity.test."
                "APIClient, awaitable in async def bodies)."
            )
        user, token = forced_auth(self)  # DRF's force_authenticate() state
        response = serve_on_asgi(_twin(self, AsyncClientHandler), environ, user, token)
        name_request(response, response.asgi_request)  # type: ignore[attr-defined]
        return response

    return __call__


def _client_name(handler: Any) -> str:
    if isinstance(handler, ForceAuthClientHandler):
        return "DRF's APIClient"
    return "Django's Client"


def serve_on_asgi(
    handler: AsyncClientHandler,
    environ: dict[str, Any],
    force_user: Any = None,
    force_token: Any = None,
) -> HttpResponseBase:
    """Serve ``environ`` on the ASGI path from blocking code; the body is read.

    As Django's runner runs an async test: the request's loop runs in a
    worker thread while this thread serves its thread-sensitive calls.
    """
    site = call_site()
    description = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
    with Guard(description, resolve_timeout()):
        return served_here(
            async_to_sync(_served_drained),
            handler,
            environ,
            force_user,
            force_token,
            site,
        )


async def _served_drained(
    handler: AsyncClientHandler,
    environ: dict[str, Any],
    force_user: Any,
    force_token: Any,
    site: Any,
) -> HttpResponseBase:
    adopt_task()
    response = await handler(environ, force_user, force_token, site=site)
    if isinstance(response, StreamingHttpResponse):
        # The loop ends with this call: the body is read now, as chunks.
        stream: Any = response.streaming_content
        response.streaming_content = [chunk async for chunk in stream]
    return response


def _asgi_handler(cls: type) -> Callable[..., Any]:
    """Django's ``AsyncClientHandler.__call__``: on WSGI in ``_sync`` variants."""
    original = cls.__dict__["__call__"]

    @functools.wraps(original)
    async def __call__(self: Any, scope: dict[str, Any]) -> HttpResponseBase:
        if not _route_to("sync"):
            return await original(self, scope)  # type: ignore[no-any-return]
        from django.test.client import ClientHandler

        environ = environ_from_scope(scope, scope.pop("_body_file", None))
        wsgi = _twin(self, ClientHandler)
        # Thread-sensitive: the thread that holds the test's connection.
        response: Any = await sync_to_async(wsgi)(environ)
        name_request(response, response.wsgi_request)
        wsgi_stream_for_async(response)
        return response  # type: ignore[no-any-return]

    return __call__


class StackWSGIHandler:
    """The WSGI app DRF's ``RequestsClient`` sends to: Django's ``WSGIHandler``,
    or in ``_async`` variants the kit's ASGI handler."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self._wsgi = WSGIHandler()
        self._asgi: AsyncClientHandler | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not _route_to("async"):
            return self._wsgi(environ, start_response)
        if self._asgi is None:
            # A server checks CSRF: the requests library is a real client.
            self._asgi = AsyncClientHandler(enforce_csrf_checks=True)
        response = serve_on_asgi(self._asgi, environ)
        headers = [*response.items()]
        cookies = response.cookies.values()
        headers += [("Set-Cookie", cookie.output(header="")) for cookie in cookies]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        if isinstance(response, StreamingHttpResponse):
            return response.streaming_content
        return [response.content]  # type: ignore[attr-defined]
