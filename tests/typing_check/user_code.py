"""What a type checker sees of the kit's verbs: checked by mypy, never run.

tests/test_typing.py (and ``nox -s types``) runs mypy on this file; each
``assert_type`` is a claim about the public API, and each ``type: ignore``
marks a call mypy must refuse (``warn_unused_ignores`` fails the run if it
does not).
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest
from typing_extensions import assert_type

from restflow_parity.test import (
    APIClient,
    APIRequestFactory,
    AsyncAPIClient,
    AsyncAPIRequestFactory,
    Client,
    EitherResponse,
    PendingResponse,
    RequestFactory,
    SyncAPIClient,
    SyncAPIRequestFactory,
    TestResponse,
)


def a_def_body() -> None:
    response = SyncAPIClient().post("/products/", {"name": "Phone"}, format="json")
    assert_type(response, TestResponse)
    assert_type(response.status_code, int)
    assert_type(response.data, Any)
    assert_type(response.json(), Any)
    assert_type(response.wsgi_request, HttpRequest)
    assert_type(SyncAPIClient().get("/products/", {"page": 2}), TestResponse)
    # The mode-aware clients block in a def body.
    assert_type(APIClient().get("/products/").status_code, int)
    assert_type(Client().delete("/products/1/"), EitherResponse)


async def an_async_def_body() -> None:
    pending = AsyncAPIClient().patch("/products/1/", {"name": "Tablet"})
    assert_type(pending, PendingResponse)
    response = await pending
    assert_type(response, TestResponse)
    assert_type(await AsyncAPIClient().head("/products/"), TestResponse)
    # ... and are awaited in an async def one.
    assert_type(await APIClient().options("/products/"), TestResponse)


def factories() -> None:
    assert_type(APIRequestFactory().get("/products/"), HttpRequest)
    assert_type(RequestFactory().post("/products/", {"a": 1}), HttpRequest)
    assert_type(SyncAPIRequestFactory().put("/products/1/"), WSGIRequest)
    assert_type(AsyncAPIRequestFactory().trace("/products/"), ASGIRequest)


def misuse() -> None:
    SyncAPIClient().get(42)  # type: ignore[arg-type]
    SyncAPIClient().post("/x/", headers={"X-A": 1})  # type: ignore[dict-item]
    SyncAPIClient().get("/x/", follow="yes")  # type: ignore[arg-type]
    # A forgotten await: reading the response of a request never sent.
    _ = AsyncAPIClient().get("/x/").status_code  # type: ignore[attr-defined]
