"""EnsureScopeMiddleware on both stacks."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory

from restflow_parity.middleware import EnsureScopeMiddleware
from restflow_parity.scope import build_scope


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def aok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def test_sync_chain_gets_sync_middleware() -> None:
    middleware = EnsureScopeMiddleware(ok)
    assert not iscoroutinefunction(middleware)
    request = RequestFactory().get("/x/?a=1")
    assert middleware(request).status_code == 200  # type: ignore[union-attr]
    assert request.scope == build_scope(request)  # type: ignore[attr-defined]


def test_async_chain_gets_coroutine_middleware() -> None:
    middleware = EnsureScopeMiddleware(aok)
    assert iscoroutinefunction(middleware)
    request = RequestFactory().get("/x/")
    response = asyncio.run(middleware(request))  # type: ignore[arg-type]
    assert response.status_code == 200
    assert request.scope["path"] == "/x/"  # type: ignore[attr-defined]


@pytest.mark.parametrize("get_response", [ok, aok])
def test_existing_scope_is_never_replaced(get_response: object) -> None:
    middleware = EnsureScopeMiddleware(get_response)  # type: ignore[arg-type]
    request = RequestFactory().get("/x/")
    real_scope = {"type": "http", "marker": object()}
    request.scope = real_scope  # type: ignore[attr-defined]
    result = middleware(request)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    assert request.scope is real_scope  # type: ignore[attr-defined]


def test_wsgi_test_client_request_has_spec_scope() -> None:
    response = Client().get("/scope/here/?a=1", headers={"X-Probe": "mw-sync"})
    scope = response.wsgi_request.scope  # type: ignore[attr-defined]
    assert scope["path"] == "/scope/here/"
    assert scope["query_string"] == b"a=1"
    assert (b"x-probe", b"mw-sync") in scope["headers"]
    assert scope["server"] == ("testserver", 80)


def test_asgi_request_keeps_the_handler_scope() -> None:
    async def run() -> None:
        response = await AsyncClient().get("/scope/here/")
        # Django's AsyncRequestFactory scope has no spec_version: ours adds one,
        # so its absence shows the middleware left the real scope alone.
        assert "spec_version" not in response.asgi_request.scope["asgi"]

    asyncio.run(run())


def test_non_utf8_path_is_handled_by_django_not_crashing() -> None:
    response = Client().get("/scope/%FF/", headers={"X-Probe": "bad"})
    assert response.status_code == 200
    assert "\ufffd" not in response.wsgi_request.scope["path"]  # type: ignore[attr-defined]


def test_real_uvicorn_scope_is_not_replaced(uvicorn_server: object) -> None:
    from products.views import RECORDED_SCOPES

    server = uvicorn_server()  # type: ignore[operator]
    httpx.get(f"{server.url}/scope/real/", headers={"X-Probe": "uvicorn-real"})
    scope = RECORDED_SCOPES.pop("uvicorn-real")
    # uvicorn's own scope: a real ephemeral client port and its "state" dict.
    assert scope["client"][1] != 0
    assert "state" in scope


def test_scope_is_built_on_first_read_and_kept() -> None:
    from django.core.handlers.wsgi import WSGIRequest

    request = RequestFactory().get("/lazy/")
    EnsureScopeMiddleware(ok)(request)
    assert isinstance(request, WSGIRequest)
    assert type(request).__name__ == "WSGIRequest"
    assert "scope" not in request.__dict__
    first = request.scope  # type: ignore[attr-defined]
    assert first["path"] == "/lazy/"
    assert request.scope is first  # type: ignore[attr-defined]


def test_middleware_listed_twice_does_not_build_the_scope() -> None:
    request = RequestFactory().get("/twice/")
    EnsureScopeMiddleware(EnsureScopeMiddleware(ok))(request)
    assert "scope" not in request.__dict__
    assert request.scope["path"] == "/twice/"  # type: ignore[attr-defined]
