"""AsyncAPIRequestFactory, force_authenticate and arun_view."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.handlers.asgi import ASGIRequest
from products.async_api import adrf_products
from products.models import Product
from products.views import ProductViewSet, async_product_names, whoami
from rest_framework.test import APIRequestFactory

from restflow_parity.scope import build_scope
from restflow_parity.test import (
    AsyncAPIRequestFactory,
    AsyncAPITestCase,
    arun_view,
    force_authenticate,
)

product_list = ProductViewSet.as_view({"get": "list", "post": "create"})


class FactoryTests(AsyncAPITestCase):
    def setUp(self) -> None:
        cache.clear()  # the product list cache outlives tests under Django's runner
        self.factory = AsyncAPIRequestFactory()

    def test_verbs_return_asgi_requests_synchronously(self) -> None:
        request = self.factory.get("/api/products/", {"category": "phones"})
        assert isinstance(request, ASGIRequest)
        assert request.GET["category"] == "phones"
        assert request.scope["query_string"] == b"category=phones"

    def test_body_encoding_matches_the_client_rules(self) -> None:
        request = self.factory.post("/api/products/", {"name": "Phone"}, format="json")
        assert request.content_type == "application/json"
        assert request.body == b'{"name":"Phone"}'

    def test_same_body_bytes_as_drf_factory(self) -> None:
        ours = self.factory.put("/x/", {"name": "Phone", "n": [1, 2]}, format="json")
        drf = APIRequestFactory().put(
            "/x/", {"name": "Phone", "n": [1, 2]}, format="json"
        )
        assert ours.body == drf.body
        assert ours.content_type == drf.content_type

    def test_scope_agrees_with_build_scope_of_the_environ(self) -> None:
        class Recording(AsyncAPIRequestFactory):
            def request(self, **request: object) -> object:
                self.environ = self._base_environ(**request)
                return super().request(**request)

        factory = Recording()
        request = factory.get("/caf%C3%A9/?a=1", HTTP_X_A="b")
        assert request.scope == build_scope(factory.environ)
        assert request.path == "/café/"

    def test_follow_is_refused_with_the_fix(self) -> None:
        with self.assertRaisesMessage(TypeError, "cannot follow redirects"):
            self.factory.get("/x/", follow=True)

    async def test_async_view_is_awaited_directly(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await async_product_names(self.factory.get("/async/products/"))
        assert response.status_code == 200
        assert b"Phone" in response.content

    async def test_adrf_view_with_force_authenticate(self) -> None:
        khan = await User.objects.acreate_user(username="khan")
        request = self.factory.get("/adrf/products/")
        force_authenticate(request, user=khan, token="dummy-token")
        response = await adrf_products(request)
        assert response.data["user"] == "khan"

    async def test_arun_view_runs_a_sync_drf_viewset_and_renders(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await arun_view(product_list, self.factory.get("/api/products/"))
        assert response.status_code == 200
        assert response.data[0]["name"] == "Phone"
        assert b'"Phone"' in response.content

    async def test_arun_view_sync_post_writes_in_the_test_transaction(self) -> None:
        request = self.factory.post("/api/products/", {"name": "Tab"}, format="json")
        response = await arun_view(product_list, request)
        assert response.status_code == 201
        assert await Product.objects.filter(name="Tab").aexists()

    async def test_arun_view_awaits_async_views(self) -> None:
        response = await arun_view(async_product_names, self.factory.get("/x/"))
        assert response.status_code == 200

    async def test_force_authenticate_on_a_sync_drf_view(self) -> None:
        khan = await User.objects.acreate_user(username="khan")
        request = self.factory.get("/whoami/")
        force_authenticate(request, user=khan, token="tok")
        response = await arun_view(whoami, request)
        assert (response.data["user"], response.data["auth"]) == ("khan", "tok")

    def test_force_authenticate_rejects_a_non_user(self) -> None:
        with self.assertRaisesMessage(TypeError, "takes a user instance"):
            force_authenticate(self.factory.get("/x/"), user=42)

    def test_factory_requests_skip_csrf_unless_enforced(self) -> None:
        assert self.factory.post("/x/")._dont_enforce_csrf_checks is True
        enforcing = AsyncAPIRequestFactory(enforce_csrf_checks=True)
        assert enforcing.post("/x/")._dont_enforce_csrf_checks is False
