"""The request factories, and ``force_authenticate`` and ``arun_view``.

A factory builds requests with the clients' encoding rules but runs no
middleware and no URL resolution: hand its requests straight to a view.

- ``APIRequestFactory`` (and Django-flavoured ``RequestFactory``): a
  ``WSGIRequest`` outside a ``@run_both_modes`` variant and in ``_sync``
  ones, an ``ASGIRequest`` in ``_async`` ones; drop-ins for DRF's and
  Django's factories, module-level instances included.
- ``SyncAPIRequestFactory``: always ``WSGIRequest``.
  ``AsyncAPIRequestFactory``: always ``ASGIRequest``.

Every request carries ``.scope``: an ASGI request its own, a WSGI one the
scope ``EnsureScopeMiddleware`` would give it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponseBase
from rest_framework.test import force_authenticate as drf_force_authenticate

from restflow_parity._thirdparty.django import skip_csrf_checks
from restflow_parity.middleware import ensure_scope
from restflow_parity.request._auth import check_user
from restflow_parity.request._builder import RequestBuilder
from restflow_parity.request._connections import aclosing_worker_connections
from restflow_parity.request._handler import request_scope
from restflow_parity.request._ledger import record_built
from restflow_parity.request._streams import body_stream
from restflow_parity.scope import SCOPE_KEYS, HTTPScope
from restflow_parity.variants._mode import active_mode
from restflow_parity.watchdog import aguard, resolve_timeout

__all__ = [
    "APIRequestFactory",
    "AsyncAPIRequestFactory",
    "RequestFactory",
    "SyncAPIRequestFactory",
    "arun_view",
    "force_authenticate",
]


_Req = TypeVar("_Req", bound=HttpRequest, covariant=True)


class RequestFactoryBase(RequestBuilder[_Req]):
    """Build requests for the stack in ``stack`` (or the running variant's)."""

    def request(self, **request: Any) -> HttpRequest:
        """Build a request from environ keys; on the async stack ASGI scope
        keys (``path=``, ``headers=[...]``) are taken too, as Django's
        ``AsyncRequestFactory.request()`` takes them."""
        built: Any
        stack = self.stack or active_mode() or "sync"
        if stack == "async":
            scope, body = self._scope_and_body(request)
            built = ASGIRequest(scope, body_stream(body))
        else:
            if SCOPE_KEYS & request.keys():
                raise TypeError(
                    f"{type(self).__name__}.request() got ASGI scope keys "
                    f"({', '.join(sorted(SCOPE_KEYS & request.keys()))}) for a "
                    "WSGI request. Use environ names (PATH_INFO, REQUEST_METHOD, "
                    "QUERY_STRING, HTTP_*) so the request works on both stacks."
                )
            built = WSGIRequest(self._base_environ(**request))
            ensure_scope(built)
        skip_csrf_checks(built, not self.enforce_csrf_checks)
        record_built(stack, self, built)
        return built  # type: ignore[no-any-return]

    def _base_scope(self, **request: Any) -> HTTPScope:
        """The ASGI scope of a request, as Django's ``AsyncRequestFactory``
        names it (its tests hand such scopes to a real ASGI handler)."""
        scope, _ = self._scope_and_body(request)
        return scope

    def _scope_and_body(self, request: dict[str, Any]) -> tuple[HTTPScope, Any]:
        overrides = {key: request.pop(key) for key in SCOPE_KEYS & request.keys()}
        environ = self._base_environ(**request)
        body = overrides.get("_body_file") or environ["wsgi.input"]
        return request_scope(environ, overrides), body


class APIRequestFactory(RequestFactoryBase[HttpRequest]):
    """A drop-in for DRF's ``APIRequestFactory`` that follows the running stack."""


class RequestFactory(APIRequestFactory):
    """A drop-in for Django's ``RequestFactory`` that follows the running stack."""

    django_encoding = True


class SyncAPIRequestFactory(RequestFactoryBase[WSGIRequest]):
    """Build ``WSGIRequest`` objects (with ``.scope``) with the clients' rules."""

    stack = "sync"


class AsyncAPIRequestFactory(RequestFactoryBase[ASGIRequest]):
    """Build ``ASGIRequest`` objects for ``await view(request)``.

    Verbs take ``data=``, ``format=`` and ``content_type=`` like the client's,
    and return the request synchronously: there is nothing to send.
    """

    stack = "async"


def force_authenticate(
    request: HttpRequest, user: Any = None, token: Any = None
) -> None:
    """Make DRF skip authentication for ``request``: it is ``user``/``token``.

    The same contract as ``rest_framework.test.force_authenticate``.
    """
    check_user(user)
    drf_force_authenticate(request, user, token)


async def arun_view(
    view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any
) -> HttpResponseBase:
    """Call any view from async code and return its rendered response.

    Async views are awaited. Sync views (every DRF ``APIView`` and viewset)
    run in the thread that owns the test's database connection, and DRF
    ``Response`` objects are rendered there too, since rendering may query.

    The deadlock watchdog (``RESTFLOW_PARITY_REQUEST_TIMEOUT``) watches it as
    it watches a client request.
    """
    # as_view() functions are all named "view"; their class says more.
    target = getattr(view, "view_class", view)
    name = getattr(target, "__qualname__", type(view).__name__)
    description = f"arun_view({name}) for {request.method} {request.path}"
    return await aguard(
        _run(view, request, *args, **kwargs), description, resolve_timeout()
    )


async def _run(
    view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any
) -> HttpResponseBase:
    async with aclosing_worker_connections():
        if iscoroutinefunction(view):
            response = await view(request, *args, **kwargs)
        else:
            response = await sync_to_async(_call_and_render)(
                view, request, *args, **kwargs
            )
    return response  # type: ignore[no-any-return]


def _call_and_render(
    view: Callable[..., Any], request: HttpRequest, *args: Any, **kwargs: Any
) -> Any:
    response = view(request, *args, **kwargs)
    if callable(getattr(response, "render", None)) and not getattr(
        response, "is_rendered", True
    ):
        response.render()
    return response
