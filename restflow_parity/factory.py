"""``AsyncAPIRequestFactory``, ``force_authenticate`` and ``arun_view``.

The factory builds requests with the clients' encoding rules but runs no
middleware and no URL resolution: hand its requests straight to a view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase

from restflow_parity.builder import RequestBuilder, RequestSpec, refuse_follow
from restflow_parity.client import check_user
from restflow_parity.handler import (
    aclosing_worker_connections,
    apply_force_auth,
    body_stream,
)
from restflow_parity.scope import build_scope
from restflow_parity.watchdog import aguard, resolve_timeout

__all__ = ["AsyncAPIRequestFactory", "arun_view", "force_authenticate"]


class AsyncAPIRequestFactory(RequestBuilder[ASGIRequest]):
    """Build ``ASGIRequest`` objects for ``await view(request)``.

    Verbs take ``data=``, ``format=`` and ``content_type=`` like the client's,
    and return the request synchronously: there is nothing to send.
    """

    def _dispatch(self, spec: RequestSpec, follow: bool) -> ASGIRequest:
        refuse_follow(follow)
        environ = self.environ(spec)
        body = environ["wsgi.input"]
        request = ASGIRequest(build_scope(environ), body_stream(body))
        request._dont_enforce_csrf_checks = not self.enforce_csrf_checks  # type: ignore[attr-defined]
        return request


def force_authenticate(
    request: HttpRequest, user: Any = None, token: Any = None
) -> None:
    """Make DRF skip authentication for ``request``: it is ``user``/``token``.

    The same contract as ``rest_framework.test.force_authenticate``.
    """
    check_user(user)
    apply_force_auth(request, user, token)


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
