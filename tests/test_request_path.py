"""Small contracts of the request path that the bigger tests pass by."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clients import make_factory
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.test import SimpleTestCase, TestCase
from products.models import Product

from restflow_parity import run_both_modes
from restflow_parity.test import (
    APIClient,
    AsyncAPIClient,
    AsyncAPIRequestFactory,
    AsyncAPITestCase,
    MissingAwaitError,
)
from restflow_parity.variants._mode import activated, active_mode


class Encoding(SimpleTestCase):
    def test_bytes_are_sent_as_given_under_a_named_format(self) -> None:
        request = AsyncAPIRequestFactory().post("/x/", b'{"a": 1}', format="json")
        assert request.content_type == "application/json"
        assert json.loads(request.body) == {"a": 1}

    def test_bytes_without_a_format_are_an_octet_stream(self) -> None:
        request = AsyncAPIRequestFactory().post("/x/", b"\x00\x01")
        assert (request.content_type, request.body) == (
            "application/octet-stream",
            b"\x00\x01",
        )


class Handlers(SimpleTestCase):
    def test_one_handler_per_stack_and_a_settable_one(self) -> None:
        client = APIClient()
        sync_handler = client.handler
        with activated("async"):
            assert active_mode() == "async"
            async_handler = client.handler
            assert async_handler is not sync_handler
            client.handler = marker = object()
            assert client.handler is marker
        assert active_mode() is None
        assert client.handler is sync_handler

    def test_scope_keys_on_a_wsgi_client_name_the_fix(self) -> None:
        with pytest.raises(TypeError, match="Use environ names"):
            APIClient().request(path="/ping/")


class PendingResponses(SimpleTestCase):
    def test_every_use_before_await_names_the_fix(self) -> None:
        pending = AsyncAPIClient().get("/ping/")
        assert (
            repr(pending)
            == "<PendingResponse AsyncAPIClient.get('/ping/'): not awaited>"
        )
        for use in (lambda: pending["Content-Type"], lambda: list(pending)):
            with pytest.raises(MissingAwaitError, match="was never sent"):
                use()
        with pytest.raises(AttributeError):
            pending._private  # noqa: B018  (probes of protocols miss plainly)
        pending._awaited = True


class Factories(SimpleTestCase):
    def test_make_factory_is_fixed_to_its_stack(self) -> None:
        assert isinstance(make_factory("sync").get("/"), WSGIRequest)
        assert isinstance(make_factory("async").get("/"), ASGIRequest)

    def test_a_stand_in_called_outside_its_class_is_refused(self) -> None:
        def test_x(self: Any) -> None:
            pass

        test_x.__qualname__ = "Holder.test_x"  # defined in a class body...
        stand_in = run_both_modes(test_x)  # ...but never bound to one
        with pytest.raises(TypeError, match="outside a class body"):
            stand_in()


@run_both_modes
class SyncCountInDefBodies(TestCase):
    def test_assert_num_queries_still_counts_a_def_body(self) -> None:
        with self.assertNumQueries(1):
            Product.objects.count()


class Debugging(AsyncAPITestCase):
    async def test_body(self) -> None:
        await Product.objects.acount()


@pytest.mark.django_db
def test_debug_runs_an_async_test_with_its_hooks() -> None:
    # unittest's debug() path (used by debuggers) installs the async hooks too.
    Debugging("test_body").debug()
