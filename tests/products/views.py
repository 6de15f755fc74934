"""Views of the test project: sync DRF views and plain async Django views."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.core.cache import cache
from django.core.handlers.asgi import ASGIRequest
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from rest_framework import viewsets
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from products.cache_rules import PRODUCT_LIST_KEY
from products.models import Product
from products.serializers import ProductSerializer


class ProductViewSet(viewsets.ModelViewSet):
    serializer_class = ProductSerializer
    queryset = Product.objects.all()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Cached until a committed write busts it (products.cache_rules).
        data = cache.get(PRODUCT_LIST_KEY)
        if data is None:
            data = ProductSerializer(self.get_queryset(), many=True).data
            cache.set(PRODUCT_LIST_KEY, data)
        return Response(data)


@api_view(["GET"])
def ping(request: Request) -> Response:
    """The smallest DRF view: the benchmarks' baseline request."""
    return Response({"ok": True})


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def whoami(request: Request) -> Response:
    """Who DRF thinks is calling, and how the body was parsed."""
    return Response(
        {
            "user": request.user.get_username() if request.user else None,
            "authenticated": bool(request.user and request.user.is_authenticated),
            "auth": None if request.auth is None else str(request.auth),
            "method": request.method,
            "content_type": request.content_type,
            "data": request.data if request.method != "GET" else None,
            "query": request.query_params.dict(),
            "has_scope": hasattr(request._request, "scope"),
        }
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": value.decode("latin-1")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


#: Scopes seen by ``scope_echo``, keyed by the X-Probe header, so tests can
#: read them even for HEAD requests, whose responses carry no body.
RECORDED_SCOPES: dict[str, dict[str, Any]] = {}


@csrf_exempt
def scope_echo(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Return ``request.scope`` as JSON, marking bytes; record it too."""
    scope = getattr(request, "scope", None)
    probe = request.headers.get("X-Probe")
    if probe and scope is not None:
        RECORDED_SCOPES[probe] = dict(scope)
    if scope is None:
        return JsonResponse({"scope": None})
    keep = {key: value for key, value in scope.items() if key != "state"}
    types = {key: type(value).__name__ for key, value in keep.items()}
    if keep.get("server"):
        types["server_port"] = type(keep["server"][1]).__name__
    if keep.get("client"):
        types["client_port"] = type(keep["client"][1]).__name__
    return HttpResponse(
        json.dumps({"scope": _jsonable(keep), "types": types}),
        content_type="application/json",
    )


async def async_product_names(request: HttpRequest) -> JsonResponse:
    names = [product.name async for product in Product.objects.order_by("id")]
    return JsonResponse({"names": names})


async def async_create_product(request: HttpRequest) -> JsonResponse:
    payload = json.loads(request.body or b"{}")
    product = await Product.objects.acreate(name=payload.get("name", "unnamed"))
    return JsonResponse({"id": product.pk, "name": product.name}, status=201)


def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    def rows() -> Any:
        yield "id,name\n"
        for product in Product.objects.order_by("id"):
            yield f"{product.pk},{product.name}\n"

    return StreamingHttpResponse(rows(), content_type="text/csv")


def export_native_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The CSV export, streamed the way each stack serves natively.

    ASGI serves an async iterator as it comes (a sync one it reads in a
    thread, with a warning); WSGI serves a sync one. So: an async generator
    for an ASGIRequest, the sync one otherwise.
    """
    if not isinstance(request, ASGIRequest):
        return export_csv(request)

    async def rows() -> Any:
        yield "id,name\n"
        async for product in Product.objects.order_by("id"):
            yield f"{product.pk},{product.name}\n"

    return StreamingHttpResponse(rows(), content_type="text/csv")


async def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> Any:
        for number in range(3):
            await asyncio.sleep(0)
            yield f"chunk-{number}\n".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


@csrf_exempt
def redirect_to(request: HttpRequest) -> HttpResponseRedirect:
    status = int(request.GET.get("status", "302"))
    hops = int(request.GET.get("hops", "0"))
    target = f"/redirect/?hops={hops - 1}" if hops > 1 else "/whoami/"
    response = HttpResponseRedirect(request.GET.get("to", target))
    response.status_code = status
    return response


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    """What arrived: method, body, content type, host and selected META."""
    return JsonResponse(
        {
            "method": request.method,
            "body": request.body.decode("utf-8", "replace"),
            "content_type": request.META.get("CONTENT_TYPE"),
            "host": request.get_host(),
            "secure": request.is_secure(),
            "path": request.path,
            "query": request.META.get("QUERY_STRING"),
            "remote_addr": request.META.get("REMOTE_ADDR"),
            "server_name": request.META.get("SERVER_NAME"),
            "authorization": request.META.get("HTTP_AUTHORIZATION"),
            "headers": {k: v for k, v in request.headers.items()},
        }
    )


def greeting(request: HttpRequest) -> HttpResponse:
    """A template response: what assertTemplateUsed and response.context read."""
    from django.shortcuts import render

    return render(request, "products/greeting.html", {"name": request.GET.get("name")})


def remote_user(request: HttpRequest) -> JsonResponse:
    """REMOTE_USER: a WSGI server variable that no ASGI scope carries."""
    return JsonResponse({"remote_user": request.META.get("REMOTE_USER")})


@ensure_csrf_cookie
def csrf(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"token": get_token(request)})


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("boom from the view")


def set_cookie(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("set")
    response.set_cookie("flavour", request.GET.get("value", "oat"))
    return response


def show_cookie(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"flavour": request.COOKIES.get("flavour")})
