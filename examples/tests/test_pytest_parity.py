"""pytest functions on both stacks: ``@run_both_modes`` and the parity fixtures.

Each test runs as ``test_x[sync]`` and ``test_x[async]``; ``parity_client`` is
the stack's client (awaited in ``async def`` tests) and ``parity_rf`` its
request factory.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage

from catalog.models import Order
from catalog.reports import stock_report
from catalog.views import ProductViewSet
from restflow_parity import run_both_modes
from restflow_parity.test import arun_view, force_authenticate
from tests.helpers import ORDERS_URL, PRODUCTS_URL, datasheet, order_payload


@run_both_modes
@pytest.mark.django_db
def test_walking_every_page(parity_client, catalogue):
    skus, url = [], PRODUCTS_URL
    while url:
        page = parity_client.get(url).data
        skus += [product["sku"] for product in page["results"]]
        url = page["next"]

    assert skus == sorted(product.sku for product in catalogue)


@run_both_modes
@pytest.mark.django_db
@pytest.mark.parametrize(("quantity", "status", "left"), [(5, 201, 0), (6, 400, 5)])
async def test_stock_limits(
    parity_client, customer_token, kettle, quantity, status, left
):
    parity_client.credentials(HTTP_AUTHORIZATION=f"Token {customer_token.key}")

    response = await parity_client.post(ORDERS_URL, order_payload((kettle, quantity)))

    assert response.status_code == status
    await kettle.arefresh_from_db()
    assert kettle.stock == left
    assert await Order.objects.acount() == (1 if status == 201 else 0)


@run_both_modes
@pytest.mark.django_db
def test_datasheet_upload(parity_client, staff, kettle):
    parity_client.force_authenticate(user=staff)
    upload = datasheet("kettle.pdf", size=100 * 1024)

    response = parity_client.post(
        f"{PRODUCTS_URL}{kettle.pk}/datasheet/",
        {"datasheet": upload},
        format="multipart",
    )

    assert response.status_code == 200
    kettle.refresh_from_db()
    assert default_storage.size(kettle.datasheet.name) == 100 * 1024
    default_storage.delete(kettle.datasheet.name)


@run_both_modes
@pytest.mark.django_db
async def test_views_called_without_urls(parity_rf, staff, catalogue):
    """``parity_rf`` builds WSGI or ASGI requests; ``arun_view`` calls any view."""
    request = parity_rf.get(PRODUCTS_URL, {"page": 3})
    force_authenticate(request, user=staff)
    listed = await arun_view(ProductViewSet.as_view({"get": "list"}), request)
    report = await arun_view(stock_report, parity_rf.get("/api/reports/stock/"))

    assert listed.data["count"] == 26  # staff also see the retired product
    assert [p["sku"] for p in listed.data["results"]] == [
        f"TEA-{n:03}" for n in range(20, 26)
    ]
    # 25 teas at 4.50 to 28.50, ten of each; the retired product is left out.
    assert json.loads(report.content) == {
        "products": 25,
        "out_of_stock": 0,
        "units": 250,
        "value": "4125.00",
        "low_stock": [],
    }
