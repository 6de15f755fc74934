"""The product catalogue on both stacks: one body, ``_sync`` and ``_async`` variants."""

from __future__ import annotations

from decimal import Decimal

from rest_framework.authtoken.models import Token
from rest_framework.test import APITestCase

from catalog.models import Product
from restflow_parity import run_both_modes
from tests.helpers import PRODUCTS_URL, FreshCacheMixin, make_user, product_rows


@run_both_modes
class ProductCatalogueTests(FreshCacheMixin, APITestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.staff = make_user("stella", staff=True)
        cls.customer = make_user("carl")
        cls.staff_token = Token.objects.create(user=cls.staff)
        cls.customer_token = Token.objects.create(user=cls.customer)
        cls.products = Product.objects.bulk_create(product_rows(23))
        Product.objects.create(sku="OLD-1", name="Retired", price=1, is_active=False)

    def test_list_is_paginated(self) -> None:
        first = self.client.get(PRODUCTS_URL)
        last = self.client.get(PRODUCTS_URL, {"page": 3})
        beyond = self.client.get(PRODUCTS_URL, {"page": 4})

        assert first.status_code == 200
        assert first.data["count"] == 23
        assert [p["sku"] for p in first.data["results"]] == [
            f"TEA-{n:03}" for n in range(1, 11)
        ]
        assert first.data["next"] == "http://testserver/api/products/?page=2"
        assert first.data["previous"] is None
        assert [p["sku"] for p in last.data["results"]] == [
            "TEA-021",
            "TEA-022",
            "TEA-023",
        ]
        assert last.data["next"] is None
        assert beyond.status_code == 404

    async def test_staff_also_see_retired_products(self) -> None:
        public = await self.client.get(PRODUCTS_URL)
        self.client.force_authenticate(user=self.staff)
        staff = await self.client.get(PRODUCTS_URL)

        # Two audiences, two cache entries: staff never get the public page.
        assert public.data["count"] == 23
        assert staff.data["count"] == 24
        assert staff.data["results"][0]["sku"] == "OLD-1"

    def test_in_stock_filter(self) -> None:
        Product.objects.filter(sku__in=["TEA-001", "TEA-002"]).update(stock=0)

        response = self.client.get(PRODUCTS_URL, {"in_stock": "true"})

        assert response.data["count"] == 21
        assert "TEA-001" not in [p["sku"] for p in response.data["results"]]

    async def test_writes_need_a_staff_token(self) -> None:
        payload = {"sku": "MUG-1", "name": "Mug", "price": "4.50", "stock": 3}

        anonymous = await self.client.post(PRODUCTS_URL, payload)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {self.customer_token.key}")
        customer = await self.client.post(PRODUCTS_URL, payload)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {self.staff_token.key}")
        staff = await self.client.post(PRODUCTS_URL, payload)

        assert anonymous.status_code == 401
        assert anonymous["WWW-Authenticate"] == "Token"
        assert customer.status_code == 403
        assert staff.status_code == 201, staff.data
        assert staff.data["price"] == "4.50"
        assert await Product.objects.filter(sku="MUG-1").aexists()

    def test_invalid_products_are_rejected(self) -> None:
        self.client.force_authenticate(user=self.staff)

        response = self.client.post(
            PRODUCTS_URL, {"sku": "TEA-001", "name": "Copy", "price": "-1"}
        )

        assert response.status_code == 400
        assert set(response.data) == {"sku", "price"}
        assert Product.objects.filter(name="Copy").count() == 0

    async def test_staff_update_and_delete(self) -> None:
        product = self.products[0]
        url = f"{PRODUCTS_URL}{product.pk}/"
        self.client.force_authenticate(user=self.staff)

        patched = await self.client.patch(url, {"price": "9.99"})
        await product.arefresh_from_db()
        assert patched.status_code == 200
        assert product.price == Decimal("9.99")

        deleted = await self.client.delete(url)
        assert deleted.status_code == 204
        assert not await Product.objects.filter(pk=product.pk).aexists()
