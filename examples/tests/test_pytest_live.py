"""The ``async_live_server`` fixture: one uvicorn server for the session.

Each test gets transactional database access: its writes commit (so the
server sees them, and on_commit callbacks fire) and are flushed afterwards.
"""

from __future__ import annotations

import httpx

from catalog.models import Order
from tests.helpers import ORDERS_URL, PASSWORD, PRODUCTS_URL, order_payload


def test_paginated_list_over_http(async_live_server, catalogue):
    first = httpx.get(async_live_server + PRODUCTS_URL).json()
    second = httpx.get(first["next"]).json()

    assert first["count"] == 25
    assert first["next"] == f"{async_live_server.url}{PRODUCTS_URL}?page=2"
    assert [p["sku"] for p in second["results"]][:2] == ["TEA-011", "TEA-012"]


async def test_stock_report_over_http(async_live_server, kettle):
    async with httpx.AsyncClient(base_url=async_live_server.url) as client:
        response = await client.get("/api/reports/stock/")
        refused = await client.post("/api/reports/stock/")

    assert response.json()["value"] == "125.00"
    # A real request gets no CSRF exemption: the middleware refuses it before
    # the view could answer 405.
    assert refused.status_code == 403


async def test_orders_stop_at_zero_stock(async_live_server, customer_token, kettle):
    headers = {"Authorization": f"Token {customer_token.key}"}
    async with httpx.AsyncClient(
        base_url=async_live_server.url, headers=headers
    ) as client:
        # Eight orders for a kettle each, five kettles: the last three are refused.
        responses = [
            await client.post(ORDERS_URL, json=order_payload((kettle, 1)))
            for _ in range(8)
        ]

    assert [r.status_code for r in responses] == [201] * 5 + [400] * 3
    await kettle.arefresh_from_db()
    assert kettle.stock == 0
    assert await Order.objects.acount() == 5


def test_session_cookie_over_http(async_live_server, staff):
    with httpx.Client(base_url=async_live_server.url) as client:
        wrong = client.post(
            "/api/auth/login/", json={"username": "stan", "password": "guess"}
        )
        refused = client.get("/exports/orders.csv")
        right = client.post(
            "/api/auth/login/", json={"username": "stan", "password": PASSWORD}
        )
        export = client.get("/exports/orders.csv")

    assert (wrong.status_code, refused.status_code) == (400, 403)
    assert right.status_code == 200
    assert export.status_code == 200
    assert export.text.splitlines() == ["order,customer,status,created_at,total"]
