"""Placing and cancelling orders on both stacks, with the async case base."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from rest_framework.authtoken.models import Token

from catalog.models import Order, Product
from catalog.orders import place_order
from restflow_parity import run_both_modes
from restflow_parity.test import AsyncAPITestCase
from tests.helpers import ORDERS_URL, FreshCacheMixin, kettle, make_user, order_payload


@run_both_modes
class OrderTests(FreshCacheMixin, AsyncAPITestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.customer = make_user("carl")
        cls.neighbour = make_user("nora")
        cls.staff = make_user("stella", staff=True)
        cls.token = Token.objects.create(user=cls.customer)
        cls.kettle = kettle()
        cls.kettle.save()
        cls.mug = Product.objects.create(sku="MUG-1", name="Mug", price="4.50", stock=2)

    async def test_placing_an_order_takes_stock(self) -> None:
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {self.token.key}")

        response = await self.client.post(
            ORDERS_URL, order_payload((self.kettle, 2), (self.mug, 1))
        )

        assert response.status_code == 201, response.data
        assert response.data["customer"] == "carl"
        assert response.data["status"] == "placed"
        assert response.data["total"] == "54.50"
        assert [line["sku"] for line in response.data["lines"]] == ["KETTLE-1", "MUG-1"]
        await self.kettle.arefresh_from_db()
        await self.mug.arefresh_from_db()
        assert (self.kettle.stock, self.mug.stock) == (3, 1)

    async def test_an_order_beyond_stock_takes_nothing(self) -> None:
        self.client.force_authenticate(user=self.customer)

        # Two lines for the same product count together: 3 mugs, 2 on the shelf.
        response = await self.client.post(
            ORDERS_URL, order_payload((self.kettle, 1), (self.mug, 1), (self.mug, 2))
        )

        assert response.status_code == 400
        assert response.data == {"lines": ["Only 2 of MUG-1 in stock."]}
        await self.kettle.arefresh_from_db()
        assert self.kettle.stock == 5
        assert await Order.objects.acount() == 0

    def test_who_sees_which_orders(self) -> None:
        mine = place_order(self.customer, [(self.kettle, 1)])
        theirs = place_order(self.neighbour, [(self.mug, 1)])

        anonymous = self.client.get(ORDERS_URL)
        self.client.force_authenticate(user=self.customer)
        listed = self.client.get(ORDERS_URL)
        other = self.client.get(f"{ORDERS_URL}{theirs.pk}/")
        self.client.force_authenticate(user=self.staff)
        everyone = self.client.get(ORDERS_URL)

        assert anonymous.status_code == 401
        assert [order["id"] for order in listed.data["results"]] == [mine.pk]
        assert other.status_code == 404
        assert [order["id"] for order in everyone.data["results"]] == [
            theirs.pk,
            mine.pk,
        ]

    async def test_cancelling_puts_stock_back_once(self) -> None:
        order = await sync_to_async(place_order)(self.customer, [(self.kettle, 4)])
        self.client.force_authenticate(user=self.customer)
        url = f"{ORDERS_URL}{order.pk}/cancel/"

        cancelled = await self.client.post(url)
        again = await self.client.post(url)

        assert cancelled.status_code == 200
        assert cancelled.data["status"] == "cancelled"
        assert again.status_code == 409
        await self.kettle.arefresh_from_db()
        assert self.kettle.stock == 5

    async def test_invalid_orders_are_rejected(self) -> None:
        self.kettle.is_active = False
        await self.kettle.asave()
        self.client.force_authenticate(user=self.customer)

        empty = await self.client.post(ORDERS_URL, {"lines": []})
        retired = await self.client.post(ORDERS_URL, order_payload((self.kettle, 1)))
        zero = await self.client.post(ORDERS_URL, order_payload((self.mug, 0)))

        assert empty.data == {"lines": ["An order needs at least one line."]}
        assert "product" in retired.data["lines"][0]
        assert "quantity" in zero.data["lines"][0]
        assert await Order.objects.acount() == 0
