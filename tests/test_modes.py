"""@run_both_modes on Django test classes: one body, both stacks."""

from __future__ import annotations

import unittest
import unittest.mock

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.test import SimpleTestCase, TestCase, TransactionTestCase
from products.cache_rules import PRODUCT_LIST_KEY
from products.models import Product
from products.views import ProductViewSet
from rest_framework.test import APITestCase

from restflow_parity import run_both_modes
from restflow_parity.test import (
    APIClient,
    APIRequestFactory,
    AsyncAPITestCase,
    SyncAPIClient,
    arun_view,
)
from restflow_parity.variants._mode import ENV_VAR, ParityModeError, parse_mode

product_list = ProductViewSet.as_view({"get": "list"})


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


class DrfSyncBodies(APITestCase):
    """A plain DRF APITestCase with def bodies, decorated per method."""

    def setUp(self) -> None:
        cache.clear()  # the product list cache outlives tests under Django's runner
        # setUp already sees the mode's client.
        self.setup_client = self.client

    @run_both_modes
    def test_mode_client_and_factory(self) -> None:
        assert self.client is self.setup_client
        # The mode-aware drop-ins, sending on the variant's stack.
        assert type(self.client) is APIClient
        assert type(self.factory) is APIRequestFactory
        request_class = {"sync": WSGIRequest, "async": ASGIRequest}[self.mode]
        assert isinstance(self.client.get("/ping/").wsgi_request, request_class)
        assert isinstance(self.factory.get("/"), request_class)

    @run_both_modes
    def test_response_carries_the_stacks_request(self) -> None:
        response = self.client.get("/whoami/")
        assert response.status_code == 200
        assert response.data["has_scope"] is True
        if self.mode == "sync":
            assert isinstance(response.wsgi_request, WSGIRequest)
        else:
            assert isinstance(response.asgi_request, ASGIRequest)

    @run_both_modes
    def test_rows_roll_back(self) -> None:
        # Its twin in the other mode (and the test below) sees no leftovers.
        assert Product.objects.count() == 0
        response = self.client.post("/api/products/", {"name": "Phone"}, format="json")
        assert response.status_code == 201
        assert Product.objects.count() == 1

    @run_both_modes
    def test_state_behaves_alike(self) -> None:
        user = User.objects.create_user(username="khan", password="pw")
        self.client.credentials(HTTP_AUTHORIZATION="Token abc")
        assert self.client.get("/echo/").json()["authorization"] == "Token abc"
        self.client.force_authenticate(user=user)
        assert self.client.get("/whoami/").data["user"] == "khan"
        self.client.force_authenticate()
        assert self.client.get("/echo/").json()["authorization"] is None
        assert self.client.login(username="khan", password="pw")
        assert self.client.get("/whoami/").data["user"] == "khan"
        self.client.logout()
        assert self.client.get("/whoami/").data["authenticated"] is False

    @run_both_modes
    def test_streaming_is_a_plain_iterable_in_def_bodies(self) -> None:
        Product.objects.create(name="Phone")
        response = self.client.get("/export/native.csv")
        assert b"".join(response.streaming_content).endswith(b",Phone\n")

    @run_both_modes
    def test_a_stream_the_stack_cannot_serve_natively_warns(self) -> None:
        # Each stack says what Django says behind a real server of its kind.
        path, message = {
            "sync": ("/async/stream/", "must consume asynchronous iterators"),
            "async": ("/export.csv", "must consume synchronous iterators"),
        }[self.mode]
        # WSGI reads the body when it is iterated; a def body's ASGI request
        # has read it by the time it returns (its loop ends with the call).
        with self.assertWarnsMessage(Warning, message) as caught:
            response = self.client.get(path)
            assert b"".join(response.streaming_content)
        assert caught.filename == __file__
        assert response.status_code == 200

    @run_both_modes
    def test_on_commit_does_not_fire_without_capture(self) -> None:
        cache.set(PRODUCT_LIST_KEY, ["stale"])
        self.client.post("/api/products/", {"name": "Phone"}, format="json")
        assert cache.get(PRODUCT_LIST_KEY) == ["stale"]

    @run_both_modes
    def test_capture_fires_on_commit_in_both(self) -> None:
        cache.set(PRODUCT_LIST_KEY, ["stale"])
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            self.client.post("/api/products/", {"name": "Phone"}, format="json")
        assert len(callbacks) == 1
        assert cache.get(PRODUCT_LIST_KEY) is None

    def test_undecorated_tests_keep_the_class_client(self) -> None:
        assert not hasattr(self, "mode")
        assert type(self.client).__name__ == "APIClient"


class AsyncBodies(AsyncAPITestCase):
    def setUp(self) -> None:
        cache.clear()  # the product list cache outlives tests under Django's runner

    @run_both_modes
    async def test_await_works_in_both_modes(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await self.client.get("/api/products/")
        assert [p["name"] for p in response.data] == ["Phone"]
        if self.mode == "sync":
            assert isinstance(response.wsgi_request, WSGIRequest)
        else:
            assert isinstance(response.asgi_request, ASGIRequest)

    @run_both_modes
    async def test_wsgi_request_shares_the_test_transaction(self) -> None:
        assert await Product.objects.acount() == 0
        response = await self.client.post(
            "/api/products/", {"name": "A"}, format="json"
        )
        assert response.status_code == 201
        assert await Product.objects.acount() == 1

    @run_both_modes
    async def test_async_login_state(self) -> None:
        await User.objects.acreate_user(username="khan", password="pw")
        assert await self.client.alogin(username="khan", password="pw")
        assert (await self.client.get("/whoami/")).data["user"] == "khan"
        await self.client.alogout()
        assert (await self.client.get("/whoami/")).data["authenticated"] is False

    @run_both_modes
    async def test_streaming_is_async_iterable_in_async_bodies(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await self.client.get("/export/native.csv")
        chunks = [chunk async for chunk in response.streaming_content]
        assert b"".join(chunks).endswith(b",Phone\n")

    @run_both_modes
    async def test_acapture_in_both_modes(self) -> None:
        cache.set(PRODUCT_LIST_KEY, ["stale"])
        async with self.acaptureOnCommitCallbacks(execute=True) as callbacks:
            await self.client.post("/api/products/", {"name": "P"}, format="json")
        assert len(callbacks) == 1
        assert cache.get(PRODUCT_LIST_KEY) is None

    @run_both_modes
    async def test_factory_and_arun_view_in_both_modes(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await arun_view(product_list, self.factory.get("/api/products/"))
        assert response.data[0]["name"] == "Phone"

    @run_both_modes
    async def test_forgotten_await_is_explained_in_both_modes(self) -> None:
        from restflow_parity.test import MissingAwaitError

        pending = self.client.get("/echo/")
        with pytest.raises(MissingAwaitError, match="add `await`"):
            _ = pending.status_code
        await pending

    @run_both_modes
    async def test_sync_login_in_async_body_names_the_async_call(self) -> None:
        with pytest.raises(RuntimeError, match=r"await client\.alogin\(\)"):
            self.client.login(username="x", password="y")


@run_both_modes
class WholeClassTransaction(TransactionTestCase):
    """Class decoration on a TransactionTestCase: commits in both modes."""

    def setUp(self) -> None:
        cache.clear()

    def test_on_commit_fires_because_it_commits(self) -> None:
        cache.set(PRODUCT_LIST_KEY, ["stale"])
        response = self.client.post("/api/products/", {"name": "Phone"}, format="json")
        assert response.status_code == 201
        assert cache.get(PRODUCT_LIST_KEY) is None

    async def test_async_body_commits_too(self) -> None:
        first = await self.client.get("/api/products/")
        await Product.objects.acreate(name="Phone")
        second = await self.client.get("/api/products/")
        assert first.json() != second.json()


class GeneratedNames(SimpleTestCase):
    def test_method_is_replaced_by_two_variants(self) -> None:
        assert not hasattr(DrfSyncBodies, "test_rows_roll_back")
        assert callable(DrfSyncBodies.test_rows_roll_back_sync)
        assert callable(DrfSyncBodies.test_rows_roll_back_async)

    def test_class_decoration_splits_every_test(self) -> None:
        names = {n for n in dir(WholeClassTransaction) if n.startswith("test")}
        assert names == {
            "test_on_commit_fires_because_it_commits_sync",
            "test_on_commit_fires_because_it_commits_async",
            "test_async_body_commits_too_sync",
            "test_async_body_commits_too_async",
        }

    def test_inherited_tests_are_split_and_hidden(self) -> None:
        class Base(SimpleTestCase):
            def test_inherited(self) -> None:
                assert self.mode in ("sync", "async")

        @run_both_modes
        class Child(Base):
            pass

        result = run_case(Child)
        assert result.testsRun == 2
        assert result.wasSuccessful(), result.failures + result.errors


class Misuse(SimpleTestCase):
    def test_non_test_function_is_refused(self) -> None:
        with pytest.raises(TypeError, match="its name must start with 'test'"):

            @run_both_modes
            def helper() -> None:
                pass

    def test_plain_classes_and_their_methods_are_marked_for_pytest(self) -> None:
        @run_both_modes
        class TestPlain:
            def test_x(self) -> None:
                pass

        class TestSome:
            @run_both_modes
            def test_y(self) -> None:
                pass

        for marked in (TestPlain, TestSome.test_y):
            names = {mark.name for mark in marked.pytestmark}  # type: ignore[attr-defined]
            assert names == {"restflow_parity", "usefixtures"}

    def test_a_unittest_case_that_is_not_django_is_refused(self) -> None:
        with pytest.raises(TypeError, match=r"but not a django\.test\.SimpleTestCase"):

            @run_both_modes
            class Plain(unittest.TestCase):
                def test_x(self) -> None:
                    pass

    def test_invalid_mode_names_the_variable_and_values(self) -> None:
        with pytest.raises(ParityModeError) as raised:
            parse_mode("wsgi")
        assert ENV_VAR in str(raised.value)
        assert "both, sync, async" in str(raised.value)

    def test_invalid_env_fails_at_decoration(self) -> None:
        with (
            unittest.mock.patch.dict("os.environ", {ENV_VAR: "nope"}),
            pytest.raises(ParityModeError, match=ENV_VAR),
        ):
            run_both_modes(lambda: None)

    def test_blocking_sync_client_in_an_async_body_is_explained(self) -> None:
        from asgiref.sync import async_to_sync

        async def body() -> None:
            client = SyncAPIClient()
            client.awaitable = False  # a def-body client, used in an async body
            client.get("/echo/")

        with pytest.raises(RuntimeError, match=r"await self\.client\.get"):
            async_to_sync(body)()


class Selection(SimpleTestCase):
    def test_unselected_variant_is_skipped_naming_the_variable(self) -> None:
        class Pair(SimpleTestCase):
            @run_both_modes
            def test_x(self) -> None:
                pass

        with unittest.mock.patch.dict("os.environ", {ENV_VAR: "sync"}):
            result = run_case(Pair)
        assert result.testsRun == 2
        ((skipped, reason),) = result.skipped
        assert skipped.id().endswith("test_x_async")
        assert f"{ENV_VAR}=sync" in reason


class DatabaseParity(TestCase):
    def setUp(self) -> None:
        cache.clear()  # the product list cache outlives tests under Django's runner

    @run_both_modes
    def test_sync_fixture_rows_are_seen_by_the_request(self) -> None:
        Product.objects.create(name="fixture")
        assert [p["name"] for p in self.client.get("/api/products/").data] == [
            "fixture"
        ]
