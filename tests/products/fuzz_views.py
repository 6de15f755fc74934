"""The fuzzer's echo view: what a view reads, recorded for each route.

Every route of tests/fuzz (the two in-process stacks and the three real
servers, all in this process) reaches this view, which records the request as
views see it, keyed by the ``X-Probe`` header. The record is read server-side,
so HEAD requests and error answers are compared too. Each field is read in a
fixed order (the body first, so parsing it later cannot make it unreadable),
and a field that raises records the error instead, so a parse failure is a
value to compare, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from rest_framework.request import Request
from rest_framework.views import APIView

#: Records by probe. The fuzzer pops each one right after its request.
RECORDS: dict[str, dict[str, Any]] = {}

PROBE = "X-Probe"
_PROBE_META = "HTTP_X_PROBE"
_PROBE_HEADER = b"x-probe"

#: Methods the view answers; anything else gets DRF's 405 (also recorded).
METHODS = ["get", "head", "post", "put", "patch", "delete", "options", "trace"]


def _upload(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        return ("file", value.name, value.size, value.content_type)
    return value


def _lists(query: Any) -> Any:
    if isinstance(query, QueryDict):
        return [(key, [_upload(v) for v in query.getlist(key)]) for key in query]
    return query


def _files(request: Any) -> list[tuple[str, str | None, int | None, str | None]]:
    return [
        (field, upload.name, upload.size, upload.content_type)
        for field, uploads in request.FILES.lists()
        for upload in uploads
    ]


def _meta(request: HttpRequest) -> dict[str, Any]:
    return {
        key: value
        for key, value in request.META.items()
        # CSRF_COOKIE is a token Django makes up per request when it needs one.
        if isinstance(value, (str, int))
        and key != _PROBE_META
        and not key.startswith("CSRF_")
    }


def _scope(request: HttpRequest) -> dict[str, Any] | None:
    scope = getattr(request, "scope", None)
    if scope is None:
        return None
    copied = dict(scope)
    copied["headers"] = [
        (bytes(name), bytes(value))
        for name, value in scope.get("headers", [])
        if bytes(name) != _PROBE_HEADER
    ]
    return copied


def _headers(request: HttpRequest) -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name != PROBE}


def _renderer(request: Request) -> Any:
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is None:
        return None
    return (renderer.format, getattr(request, "accepted_media_type", None))


def _read(getter: Callable[[], Any]) -> Any:
    try:
        return getter()
    except Exception as error:  # a value to compare, such as a ParseError
        return f"!{type(error).__name__}: {error}"


def record(request: Request, rest: Any) -> dict[str, Any]:
    """What the view reads of ``request``, field by field."""
    django: Any = request._request
    fields: dict[str, Callable[[], Any]] = {
        "rest": lambda: rest,
        # The body first: Django refuses to give it once a parser read the
        # stream, and views read it both ways.
        "body": lambda: django.body,
        "method": lambda: django.method,
        "path": lambda: django.path,
        "path_info": lambda: django.path_info,
        "GET": lambda: _lists(django.GET),
        "data": lambda: _lists(request.data),
        "POST": lambda: _lists(django.POST),
        "FILES": lambda: _files(django),
        "COOKIES": lambda: dict(django.COOKIES),
        "headers": lambda: _headers(django),
        "content_type": lambda: django.content_type,
        "content_params": lambda: django.content_params,
        "encoding": lambda: django.encoding,
        "is_secure": lambda: django.is_secure(),
        "scheme": lambda: django.scheme,
        "get_host": lambda: django.get_host(),
        "query_params": lambda: _lists(request.query_params),
        "drf_content_type": lambda: request.content_type,
        "accepted_renderer": lambda: _renderer(request),
        "request_class": lambda: type(django).__name__,
        "META": lambda: _meta(django),
        "scope": lambda: _scope(django),
    }
    return {name: _read(getter) for name, getter in fields.items()}


class FuzzEcho(APIView):
    """Answer every method with 200 and record the request as read."""

    # No authentication or permissions: generated credentials are headers to
    # compare, and the servers' threads have no database.
    authentication_classes = ()
    permission_classes = ()
    http_method_names = METHODS

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        # Here even when negotiation or parsing failed before the handler.
        probe = request._request.headers.get(PROBE)
        if probe:
            RECORDS[probe] = record(request, kwargs.get("rest"))
        return super().finalize_response(request, response, *args, **kwargs)

    def echo(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(b"recorded", content_type="text/plain")

    get = head = post = put = patch = delete = options = trace = echo
