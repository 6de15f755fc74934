"""The shop on a real ASGI server (uvicorn in a thread), driven by httpx.

``AsyncAPILiveServerTestCase`` commits like production: on_commit callbacks
fire, so the cache rule runs on its own.
"""

from __future__ import annotations

import httpx
from asgiref.sync import sync_to_async

from catalog.models import Product
from catalog.orders import place_order
from restflow_parity.test import AsyncAPILiveServerTestCase
from tests.helpers import (
    ORDERS_URL,
    PASSWORD,
    PRODUCTS_URL,
    FreshCacheMixin,
    kettle,
    make_user,
    order_payload,
    product_rows,
)


class ShopOverHTTPTests(FreshCacheMixin, AsyncAPILiveServerTestCase):
    def test_checkout_with_a_token(self) -> None:
        make_user("carl")
        product = kettle()
        product.save()

        with httpx.Client(base_url=self.live_server_url) as client:
            listed = client.get(PRODUCTS_URL)  # cached from here on
            token = client.post(
                "/api/auth/token/", json={"username": "carl", "password": PASSWORD}
            ).json()["token"]
            placed = client.post(
                ORDERS_URL,
                json=order_payload((product, 2)),
                headers={"Authorization": f"Token {token}"},
            )
            relisted = client.get(PRODUCTS_URL)

        assert placed.status_code == 201, placed.text
        assert listed.json()["results"][0]["stock"] == 5
        assert relisted.json()["results"][0]["stock"] == 3

    def test_page_links_name_the_host_that_was_asked(self) -> None:
        Product.objects.bulk_create(product_rows(12))
        url = f"{self.live_server_url}{PRODUCTS_URL}"

        by_name = httpx.get(
            url, headers={"Host": f"localhost:{self.server_thread.port}"}
        )
        by_address = httpx.get(url)

        # One cache entry per host: the second answer is not the first, reused.
        assert by_name.json()["next"].startswith("http://localhost:")
        assert by_address.json()["next"] == f"{url}?page=2"

    async def test_session_and_csrf_over_http(self) -> None:
        await sync_to_async(make_user)("stella", staff=True)
        new = {"sku": "MUG-1", "name": "Mug", "price": "4.50"}

        async with httpx.AsyncClient(base_url=self.live_server_url) as client:
            login = await client.post(
                "/api/auth/login/", json={"username": "stella", "password": PASSWORD}
            )
            without_token = await client.post(PRODUCTS_URL, json=new)
            with_token = await client.post(
                PRODUCTS_URL,
                json=new,
                headers={"X-CSRFToken": client.cookies["csrftoken"]},
            )

        assert login.status_code == 200
        assert without_token.status_code == 403
        assert with_token.status_code == 201
        assert await Product.objects.filter(sku="MUG-1").aexists()

    async def test_order_export_arrives_in_chunks(self) -> None:
        def orders() -> None:
            customer = make_user("carl")
            make_user("stella", staff=True)
            teas = Product.objects.bulk_create(product_rows(2, stock=100))
            for number in range(30):
                place_order(customer, [(teas[number % 2], 1)])

        await sync_to_async(orders)()

        async with httpx.AsyncClient(base_url=self.live_server_url) as client:
            await client.post(
                "/api/auth/login/", json={"username": "stella", "password": PASSWORD}
            )
            async with client.stream("GET", "/exports/orders.csv") as response:
                lines = [line async for line in response.aiter_lines()]

        assert response.status_code == 200
        # No Content-Length: uvicorn sends the stream as it is produced.
        assert response.headers["transfer-encoding"] == "chunked"
        assert lines[0] == "order,customer,status,created_at,total"
        assert len(lines) == 31
        assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"4.50", "5.50"}
