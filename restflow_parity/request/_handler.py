"""The in-process ASGI handler behind ``AsyncAPIClient``.

It follows Django's real ``ASGIHandler`` where Django's own test handler does
not: each request runs inside a ``ThreadSensitiveContext``, the response is
closed in a thread-sensitive worker (the thread that owns the test's database
connection), and every streaming body can be consumed with ``async for``.
The request's thread-sensitive calls reach that thread asgiref's way; while
the request is in flight, the two threads share a core (``affinity.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.base import BaseHandler
from django.core.signals import request_started
from django.http import (
    HttpResponseBadRequest,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.http.request import HttpRequest
from rest_framework.test import ForceAuthClientHandler, force_authenticate

from restflow_parity._thirdparty.django import (
    conditional_content_removal,
    skip_csrf_checks,
)
from restflow_parity.request._affinity import SharedCore
from restflow_parity.request._connections import (
    aclosing_worker_connections,
    connection_recycling_paused,
)
from restflow_parity.request._environ import ScopeLossWarning, lost_in_scope
from restflow_parity.request._sites import Site, warn_at
from restflow_parity.request._streams import async_stream, body_stream, close_response
from restflow_parity.scope import HTTPScope, build_scope, overlay_scope

__all__ = [
    "AsyncClientHandler",
    "KitWSGIHandler",
    "name_request",
    "request_scope",
]


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


class AsyncClientHandler(BaseHandler):
    """Run a WSGI-style environ through Django's async request path."""

    _middleware_loaded = False

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
        if not self._middleware_loaded:  # once, on first use, as Django's
            self.load_middleware(is_async=True)
            self._middleware_loaded = True
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
                skip_csrf_checks(request, not self.enforce_csrf_checks)
                if force_user is not None or force_token is not None:
                    force_authenticate(request, force_user, force_token)  # DRF's
                response = await self.get_response_async(request)
                conditional_content_removal(request, response)
                response.asgi_request = request  # type: ignore[attr-defined]
                if isinstance(response, StreamingHttpResponse):
                    # Read the content before assigning: the property then
                    # returns our wrapper.
                    content = response.streaming_content
                    response.streaming_content = async_stream(
                        response, content, response.is_async, site
                    )
                else:
                    await close_response(response)
        return response
