"""The CSV exports: streamed, and read back chunk by chunk."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from asgiref.sync import sync_to_async
from rest_framework.test import APITestCase

from catalog.models import Product
from catalog.orders import place_order
from restflow_parity import run_both_modes
from restflow_parity.test import AsyncAPITestCase
from tests.helpers import FreshCacheMixin, csv_rows, make_user, product_rows

SYNC_ITERATOR_WARNING = (
    "StreamingHttpResponse must consume synchronous iterators in order to "
    "serve them asynchronously. Use an asynchronous iterator instead."
)
PRODUCTS_CSV = "/exports/products.csv"
ORDERS_CSV = "/exports/orders.csv"


@run_both_modes
class ProductExportTests(FreshCacheMixin, APITestCase):
    """The sync generator export, through the WSGI and the ASGI stack.

    Under ASGI, Django reads a sync generator in a thread and says so with a
    warning, on a real server as in the async variant here: a test that
    ignored it would pass in-process and fail under warnings-as-errors in
    production. The async variant therefore expects it.
    """

    def served(self) -> AbstractContextManager[object]:
        """Where the body is read: expect ASGI's warning on the async stack."""
        if self.mode == "async":
            return self.assertWarnsMessage(Warning, SYNC_ITERATOR_WARNING)
        return nullcontext()

    @classmethod
    def setUpTestData(cls) -> None:
        Product.objects.bulk_create(product_rows(999))
        Product.objects.create(sku="OLD-1", name="Retired", price=1, is_active=False)

    def test_every_active_product_is_exported(self) -> None:
        with self.served():  # a def body's request reads the whole body
            response = self.client.get(PRODUCTS_CSV)

        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="products.csv"'
        rows = csv_rows(b"".join(response.streaming_content))
        assert rows[0] == ["sku", "name", "price", "stock"]
        assert rows[1] == ["TEA-001", "Tea no. 1", "4.50", "10"]
        assert len(rows) == 1000
        assert "OLD-1" not in {row[0] for row in rows}

    async def test_rows_arrive_one_chunk_each(self) -> None:
        response = await self.client.get(PRODUCTS_CSV)

        with self.served():
            chunks = [chunk async for chunk in response.streaming_content]

        # Streamed, not built in memory: the header and one chunk per product.
        assert len(chunks) == 1000
        assert chunks[-1] == b"TEA-999,Tea no. 999,1002.50,10\r\n"

    async def test_the_order_export_is_for_staff(self) -> None:
        customer = await sync_to_async(make_user)("carl")
        await self.client.aforce_login(customer)

        response = await self.client.get(ORDERS_CSV)

        assert response.status_code == 403
        assert response.json() == {"detail": "Staff only."}


class OrderExportTests(AsyncAPITestCase):
    """The async generator export. Only the ASGI stack streams it as it is;
    under WSGI, Django would drain the generator into memory, with a warning,
    so there is no sync variant here."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.staff = make_user("stella", staff=True)
        customer = make_user("carl")
        teas = Product.objects.bulk_create(product_rows(3, stock=50))
        orders = [
            place_order(customer, [(teas[number % 3], number % 4 + 1)])
            for number in range(40)
        ]
        # One line of 1 to 4 teas at 4.50, 5.50 or 6.50: totals like 4.50, 11.00.
        cls.expected = [
            [str(o.pk), "carl", "placed", o.created_at.isoformat(), str(o.total)]
            for o in orders
        ]

    async def test_orders_stream_with_their_totals(self) -> None:
        await self.client.aforce_login(self.staff)

        response = await self.client.get(ORDERS_CSV)
        chunks = [chunk async for chunk in response.streaming_content]

        assert response["Content-Disposition"] == 'attachment; filename="orders.csv"'
        assert len(chunks) == 41
        rows = csv_rows(b"".join(chunks))
        assert rows[0] == ["order", "customer", "status", "created_at", "total"]
        assert rows[1:] == self.expected
