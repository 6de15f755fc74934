"""Django's and DRF's client contract, on both stacks (issue: existing suites
pass unchanged).

Each class is a plain DRF or Django test case under ``@run_both_modes``: the
assertions are the ones those suites make, and each must hold on the WSGI and
the ASGI stack alike.
"""

from __future__ import annotations

import json
import pickle
import sys
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.test import SimpleTestCase, TestCase
from products.models import Product
from rest_framework.test import APITestCase as DRFAPITestCase

from restflow_parity import run_both_modes
from restflow_parity.test import (
    APIClient,
    APIRequestFactory,
    APITestCase,
    AsyncAPIClient,
    AsyncAPIRequestFactory,
    Client,
    DroppedInputWarning,
    RequestFactory,
    ScopeLossWarning,
    SyncAPIClient,
    SyncAPIRequestFactory,
)

#: Module level, made at import: the common shape of DRF's own tests.
factory = APIRequestFactory()
#: Read by a string mark condition below: pytest must see this module's globals.
ALWAYS = True


class TenantClient(APIClient):
    """A subclass that adds a header in request(), as suites' clients do."""

    def request(self, **request: Any) -> Any:
        request.setdefault("HTTP_X_TENANT", "acme")
        return super().request(**request)


class VersionedClient(APIClient):
    """A subclass that adds a header in generic()."""

    def generic(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("HTTP_X_VERSION", "2")
        return super().generic(method, path, *args, **kwargs)


class MoneyEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return f"EUR {o}"
        return super().default(o)


def stack_request(mode: str) -> type:
    return {"sync": WSGIRequest, "async": ASGIRequest}[mode]


@run_both_modes
class TemplatesAndRedirects(DRFAPITestCase):
    def setUp(self) -> None:
        cache.clear()

    def test_templates_and_context_are_recorded(self) -> None:
        response = self.client.get("/greeting/", {"name": "Ada"})
        self.assertTemplateUsed(response, "products/greeting.html")
        assert response.context["name"] == "Ada"
        assert [t.name for t in response.templates] == ["products/greeting.html"]

    def test_template_not_used_fails_when_it_was_used(self) -> None:
        response = self.client.get("/greeting/")
        with pytest.raises(AssertionError, match="was used unexpectedly"):
            self.assertTemplateNotUsed(response, "products/greeting.html")

    def test_assert_redirects_fetches_the_target_with_the_same_keywords(self) -> None:
        response = self.client.get(
            "/redirect/", headers={"X-Trace": "t1"}, HTTP_ACCEPT="application/json"
        )
        assert self.client.extra == {"HTTP_ACCEPT": "application/json"}
        assert self.client.headers == {"X-Trace": "t1"}
        self.assertRedirects(response, "/whoami/")

    def test_assert_redirects_after_follow(self) -> None:
        response = self.client.get("/redirect/?hops=2", follow=True)
        self.assertRedirects(response, "/whoami/")
        assert len(response.redirect_chain) == 2


@run_both_modes
class OverridePoints(DRFAPITestCase):
    client_class = TenantClient

    def test_the_class_client_is_kept_and_sends_on_the_variants_stack(self) -> None:
        assert type(self.client) is TenantClient
        response = self.client.get("/echo/")
        assert response.json()["headers"]["X-Tenant"] == "acme"
        request = (
            response.wsgi_request if self.mode == "sync" else response.asgi_request
        )
        assert isinstance(request, stack_request(self.mode))

    def test_a_generic_override_applies_to_every_verb_and_redirect(self) -> None:
        client = VersionedClient()
        for verb in ("get", "post", "put", "patch", "delete", "options", "head"):
            response = getattr(client, verb)("/echo/")
            assert response.status_code == 200
            if verb != "head":
                assert response.json()["headers"]["X-Version"] == "2"
        response = client.get("/redirect/?to=/echo/", follow=True)
        assert response.json()["headers"]["X-Version"] == "2"

    def test_generic_takes_any_method_name(self) -> None:
        response = self.client.generic("METHOD_NOT_ALLOWED", "/whoami/")
        assert response.status_code == 405

    def test_request_takes_environ_keys(self) -> None:
        response = self.client.request(
            PATH_INFO="/echo/", REQUEST_METHOD="GET", QUERY_STRING="a=1"
        )
        assert response.json()["query"] == "a=1"


@run_both_modes
class DrfVerbArguments(DRFAPITestCase):
    def test_get_and_head_take_format_content_type_and_empty_data(self) -> None:
        for verb in (self.client.get, self.client.head):
            response = verb("/echo/", data="", format="json")
            assert response.status_code == 200
            response = verb("/echo/", content_type="application/json")
            assert response.status_code == 200
        echoed = self.client.get("/echo/", content_type="application/json").json()
        assert echoed["content_type"] == "application/json"
        assert echoed["body"] == ""

    def test_data_and_query_params_together_is_djangos_error(self) -> None:
        with pytest.raises(ValueError, match="mutually exclusive"):
            self.client.get("/echo/", {"a": 1}, query_params={"b": 2})

    def test_constructor_query_params_are_dropped_as_djangos_are(self) -> None:
        # Django's clients drop them from every request generic() builds: so
        # do the drop-ins, and they say so when the client is made.
        with pytest.warns(DroppedInputWarning, match="Pass query_params= to each"):
            client = type(self.client)(query_params={"tenant": "acme"})
        assert client.get("/echo/").json()["query"] == ""
        assert client.get("/echo/?page=2").json()["query"] == "page=2"
        assert client.post("/echo/", {"a": 1}).json()["query"] == ""

    def test_json_encoder_encodes_json_bodies(self) -> None:
        client = type(self.client)(json_encoder=MoneyEncoder)
        response = client.post(
            "/echo/", {"price": Decimal("4.50")}, content_type="application/json"
        )
        assert json.loads(response.json()["body"]) == {"price": "EUR 4.50"}

    def test_a_charset_in_content_type_encodes_a_str_body(self) -> None:
        response = self.client.post(
            "/echo/", "привет", content_type="text/plain; charset=koi8-r"
        )
        body = response.wsgi_request.body if self.mode == "sync" else None
        body = body or response.asgi_request.body
        assert body == "привет".encode("koi8-r")

    def test_a_str_body_without_a_content_type_is_sent_raw(self) -> None:
        # DRF's multipart default crashes on it; Django sends it as it is.
        with self.settings(REST_FRAMEWORK={"TEST_REQUEST_DEFAULT_FORMAT": "multipart"}):
            echoed = self.client.put("/echo/", "a=b").json()
        assert echoed["body"] == "a=b"
        assert echoed["content_type"] == "application/octet-stream"

    def test_a_django_positional_content_type(self) -> None:
        echoed = self.client.post("/echo/", {"a": 1}, "application/json").json()
        assert echoed["content_type"] == "application/json"
        assert json.loads(echoed["body"]) == {"a": 1}

    def test_bare_header_keywords_are_headers_on_both_stacks(self) -> None:
        # What Django's docs tell AsyncClient users to write.
        echoed = self.client.get("/echo/", ACCEPT="application/json").json()
        assert echoed["headers"]["Accept"] == "application/json"
        client = type(self.client)(**{"X-Api-Key": "k1"})
        assert client.get("/echo/").json()["headers"]["X-Api-Key"] == "k1"


class ScopeLoss(APITestCase):
    @run_both_modes
    def test_remote_user_reaches_wsgi_and_warns_on_asgi(self) -> None:
        if self.mode == "sync":
            response = self.client.get("/remote-user/", REMOTE_USER="khan")
            assert response.json() == {"remote_user": "khan"}
            return
        with self.assertWarnsMessage(ScopeLossWarning, "REMOTE_USER") as caught:
            response = self.client.get("/remote-user/", REMOTE_USER="khan")
        assert caught.filename == __file__
        assert response.json() == {"remote_user": None}


@run_both_modes
class ModeAwareInstances(APITestCase):
    """Instances made outside the variant follow it when they are used."""

    def setUp(self) -> None:
        self.made_in_setup = APIClient()

    def test_module_level_factory_builds_the_stacks_request(self) -> None:
        request = factory.post("/x/", {"a": 1}, format="json")
        assert isinstance(request, stack_request(self.mode))
        assert request.scope["method"] == "POST"
        assert json.loads(request.body) == {"a": 1}

    def test_client_made_in_setup_sends_on_the_stack(self) -> None:
        response = self.made_in_setup.get("/whoami/")
        assert response.data["has_scope"] is True
        # The view's request, under either name, on either stack.
        assert isinstance(response.wsgi_request, stack_request(self.mode))
        assert response.asgi_request is response.wsgi_request

    async def test_async_body_awaits_a_setup_client_on_the_stack(self) -> None:
        response = await self.made_in_setup.get("/whoami/")
        assert isinstance(response.asgi_request, stack_request(self.mode))


class OutsideVariants(SimpleTestCase):
    """Outside a variant the drop-ins are DRF's and Django's, on WSGI."""

    def test_factories_build_wsgi_requests_with_a_scope(self) -> None:
        for made in (APIRequestFactory(), RequestFactory(), SyncAPIRequestFactory()):
            request = made.get("/x/?a=1")
            assert isinstance(request, WSGIRequest)
            # A parity_rf body reads .scope on both stacks (issue 13).
            assert request.scope["query_string"] == b"a=1"

    def test_clients_send_through_wsgi(self) -> None:
        for client in (APIClient(), Client()):
            response = client.get("/whoami/")
            assert isinstance(response.wsgi_request, WSGIRequest)

    def test_django_flavoured_encoding(self) -> None:
        rf = RequestFactory()
        assert rf.post("/x/", {"a": "1"}).POST["a"] == "1"  # multipart
        assert rf.post("/x/").content_type == "multipart/form-data"
        put = rf.put("/x/", {"a": "1"})  # Django sends str(dict), octet-stream
        assert put.body == b"{'a': '1'}"
        assert put.content_type == "application/octet-stream"

    def test_stock_client_classes_become_mode_aware_in_variants(self) -> None:
        from restflow_parity.variants._policy import variant_client_classes

        class Plain(TestCase):
            pass

        assert variant_client_classes(Plain) == (Client, Client)
        assert variant_client_classes(DRFAPITestCase) == (APIClient, Client)

    def test_scope_keys_on_the_async_factory(self) -> None:
        request = AsyncAPIRequestFactory().request(
            path="/root/somepath/", root_path="/root"
        )
        assert request.path == "/root/somepath/"
        assert request.path_info == "/somepath/"
        assert request.scope["raw_path"] == b"/root/somepath/"

    def test_adrfs_factory_calls(self) -> None:
        # adrf's own suite builds requests from scope keys alone.
        request = AsyncAPIRequestFactory().request(path="/", method="GET")
        assert isinstance(request, ASGIRequest)
        assert (request.method, request.path) == ("GET", "/")
        request = AsyncAPIRequestFactory().generic("PATCH", "/x/", b"{}", "text/x")
        assert (request.method, request.body, request.content_type) == (
            "PATCH",
            b"{}",
            "text/x",
        )

    def test_base_scope_serves_a_real_asgi_handler(self) -> None:
        from asgiref.sync import async_to_sync
        from asgiref.testing import ApplicationCommunicator
        from django.core.asgi import get_asgi_application

        scope = AsyncAPIRequestFactory()._base_scope(
            path="/echo/", query_string="a=1", headers=[(b"x-hop", b"1")]
        )
        assert scope["query_string"] == b"a=1"

        async def serve() -> dict[str, Any]:
            communicator = ApplicationCommunicator(get_asgi_application(), scope)
            await communicator.send_input({"type": "http.request"})
            await communicator.receive_output()
            body = await communicator.receive_output()
            await communicator.wait()
            return json.loads(body["body"])

        echoed = async_to_sync(serve)()
        assert echoed["query"] == "a=1"
        assert echoed["headers"]["X-Hop"] == "1"


@run_both_modes
class PicklingResponses(APITestCase):
    def test_a_drf_response_caches_on_both_stacks(self) -> None:
        response = self.client.get("/ping/")
        cache.set("response", response)
        cached = cache.get("response")
        assert cached.status_code == 200
        assert cached.content == response.content
        assert not hasattr(cached, "asgi_request")
        # The live response keeps what tests read.
        assert hasattr(
            response, "wsgi_request" if self.mode == "sync" else "asgi_request"
        )

    async def test_pickling_in_an_async_body(self) -> None:
        response = await self.client.get("/ping/")
        assert pickle.loads(pickle.dumps(response)).status_code == 200


@run_both_modes
class DatabaseAssertionsOnPlainBases(DRFAPITestCase):
    """acaptureOnCommitCallbacks and aassertNumQueries on a DRF base."""

    def setUp(self) -> None:
        cache.clear()

    async def test_acapture_sees_the_views_callbacks(self) -> None:
        async with self.acaptureOnCommitCallbacks(execute=True) as callbacks:
            response = await self.client.post(
                "/api/products/", {"name": "Phone"}, format="json"
            )
        assert response.status_code == 201
        assert len(callbacks) == 1

    async def test_sync_capture_refuses_an_async_body(self) -> None:
        with (
            pytest.raises(RuntimeError, match="acaptureOnCommitCallbacks"),
            self.captureOnCommitCallbacks(),
        ):
            pass

    def test_sync_capture_still_works_in_def_bodies(self) -> None:
        with self.captureOnCommitCallbacks() as callbacks:
            transaction.on_commit(lambda: None)
        assert len(callbacks) == 1

    async def test_aassert_num_queries_counts_the_tests_connection(self) -> None:
        async with self.aassertNumQueries(2):
            await Product.objects.acreate(name="A")
            assert await Product.objects.acount() == 1
        with pytest.raises(AssertionError, match="1 queries executed, 3 expected"):
            async with self.aassertNumQueries(3):
                await Product.objects.acount()

    async def test_aassert_num_queries_counts_requests_too(self) -> None:
        async with self.aassertNumQueries(1):
            response = await self.client.get("/api/products/")
        assert response.status_code == 200

    async def test_sync_count_refuses_an_async_body(self) -> None:
        with (
            pytest.raises(RuntimeError, match="aassertNumQueries"),
            self.assertNumQueries(0),
        ):
            pass


class StringConditionsOfMarks(SimpleTestCase):
    @run_both_modes
    @pytest.mark.skipif("not ALWAYS", reason="evaluated in this module's globals")
    def test_a_string_condition_sees_the_test_modules_globals(self) -> None:
        assert self.mode in ("sync", "async")


@run_both_modes
@pytest.mark.skipif("not ALWAYS", reason="evaluated in this module's globals")
def test_a_string_condition_on_a_pytest_function(parity_client: Any) -> None:
    assert parity_client.get("/ping/").status_code == 200


@run_both_modes
def test_module_level_factory_in_a_pytest_variant(parity_mode: str) -> None:
    assert isinstance(factory.get("/"), stack_request(parity_mode))


@run_both_modes
async def test_a_client_made_in_a_pytest_async_variant(parity_mode: str) -> None:
    response = await APIClient().get("/ping/")
    sent = "asgi_request" if parity_mode == "async" else "wsgi_request"
    assert hasattr(response, sent)


@pytest.mark.django_db
async def test_async_assert_num_queries_fixture(
    async_assert_num_queries: Any, async_assert_max_num_queries: Any
) -> None:
    async with async_assert_num_queries(1):
        await Product.objects.acreate(name="A")
    async with async_assert_max_num_queries(5):
        await Product.objects.acount()
    with pytest.raises(AssertionError, match="at most 0 queries, 1 were run"):
        async with async_assert_max_num_queries(0):
            await Product.objects.acount()


def test_variants_carry_the_test_modules_globals() -> None:
    case = StringConditionsOfMarks
    variant = case.test_a_string_condition_sees_the_test_modules_globals_sync
    assert variant.__globals__ is sys.modules[__name__].__dict__


def test_fixed_stack_clients_stay_on_their_stack() -> None:
    async def requests() -> list[object]:
        clients = (SyncAPIClient(), AsyncAPIClient())
        return [(await client.get("/ping/")).wsgi_request for client in clients]

    from asgiref.sync import async_to_sync

    sync, async_ = async_to_sync(requests)()
    assert isinstance(sync, WSGIRequest)
    assert isinstance(async_, ASGIRequest)
