"""Plain ``async def`` pytest tests, with no pytest-asyncio needed.

restflow-parity's plugin runs ``async def`` database tests the way Django's
runner runs async test methods, so their rows roll back like a sync test's,
and rows made by sync fixtures are visible to them.
"""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from catalog.models import Product
from catalog.reports import stock_report
from catalog.views import ProductViewSet
from restflow_parity.test import arun_view, force_authenticate
from tests.helpers import ORDERS_URL, PRODUCTS_URL, order_payload


@pytest.mark.django_db
@pytest.mark.parametrize("attempt", [1, 2])
async def test_async_rows_roll_back(attempt):
    # Both attempts make the same unique SKU: a row left behind by the one
    # that ran first (in either order) would make the other fail.
    assert await Product.objects.acount() == 0

    await Product.objects.acreate(sku="ROLLBACK-1", name="Probe", price=1)

    assert await Product.objects.filter(sku="ROLLBACK-1").acount() == 1


@pytest.mark.django_db
async def test_client_credentials(async_api_client, customer_token, kettle):
    # kettle and the token were made by sync fixtures: the async test sees them.
    async_api_client.credentials(HTTP_AUTHORIZATION=f"Token {customer_token.key}")
    placed = await async_api_client.post(ORDERS_URL, order_payload((kettle, 1)))
    async_api_client.credentials()
    anonymous = await async_api_client.get(ORDERS_URL)

    assert placed.status_code == 201
    assert anonymous.status_code == 401


@pytest.mark.django_db
async def test_factory_and_force_authenticate(async_api_rf, staff, kettle):
    update = ProductViewSet.as_view({"patch": "partial_update"})
    request = async_api_rf.patch(f"{PRODUCTS_URL}{kettle.pk}/", {"stock": 2})

    refused = await arun_view(update, request, pk=kettle.pk)
    request = async_api_rf.patch(f"{PRODUCTS_URL}{kettle.pk}/", {"stock": 2})
    force_authenticate(request, user=staff)
    accepted = await arun_view(update, request, pk=kettle.pk)

    assert refused.status_code == 401
    assert accepted.status_code == 200
    await kettle.arefresh_from_db()
    assert kettle.stock == 2


@pytest.mark.django_db
async def test_async_view_awaited_directly(async_api_rf, kettle):
    await Product.objects.acreate(sku="MUG-1", name="Mug", price="4.50", stock=0)

    response = await stock_report(async_api_rf.get("/api/reports/stock/"))

    assert json.loads(response.content) == {
        "products": 2,
        "out_of_stock": 1,
        "units": 5,
        "value": "125.00",
        "low_stock": [],
    }


@pytest.mark.django_db
async def test_order_export_in_chunks(async_api_client, staff, orders):
    await async_api_client.aforce_login(staff)

    response = await async_api_client.get("/exports/orders.csv")
    chunks = [chunk async for chunk in response.streaming_content]

    assert [chunk.split(b",")[-1] for chunk in chunks[1:]] == [
        b"4.50\r\n",
        b"14.50\r\n",
        b"16.50\r\n",
    ]


@pytest.mark.django_db(transaction=True)
async def test_committed_writes_bust_the_cache(async_api_client, staff_token):
    async_api_client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token.key}")
    await async_api_client.get(PRODUCTS_URL)
    generation = await cache.aget("catalog:products:generation")

    created = await async_api_client.post(
        PRODUCTS_URL, {"sku": "MUG-1", "name": "Mug", "price": "4.50"}
    )
    listed = await async_api_client.get(PRODUCTS_URL)

    assert created.status_code == 201
    assert await cache.aget("catalog:products:generation") != generation
    assert [p["sku"] for p in listed.data["results"]] == ["MUG-1"]
