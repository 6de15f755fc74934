"""CSV exports, streamed row by row: one sync and one async generator.

The product export is a sync view with a sync generator: fine under WSGI, and
Django consumes it in a thread under ASGI (with a warning on a real server).
The order export is an async view with an async generator, the shape ASGI
deployments want; under WSGI Django would have to drain it in one go.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from catalog.models import Order, Product

PRODUCT_COLUMNS = ["sku", "name", "price", "stock"]
ORDER_COLUMNS = ["order", "customer", "status", "created_at", "total"]


class _Line:
    """A file-like object whose ``write`` hands back what it was given."""

    def write(self, value: str) -> str:
        return value


def _csv_line(row: Iterable[Any]) -> str:
    line: str = csv.writer(_Line()).writerow(row)
    return line


def _attachment(stream: Any, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def export_products(request: HttpRequest) -> StreamingHttpResponse:
    """Active products as CSV, from a sync generator."""

    def rows() -> Iterator[str]:
        yield _csv_line(PRODUCT_COLUMNS)
        products = Product.objects.filter(is_active=True).order_by("sku")
        for product in products.iterator(chunk_size=200):
            yield _csv_line([product.sku, product.name, product.price, product.stock])

    return _attachment(rows(), "products.csv")


@require_GET
async def export_orders(request: HttpRequest) -> StreamingHttpResponse | JsonResponse:
    """Every order with its total as CSV, from an async generator (staff only)."""
    user = await request.auser()
    if not user.is_staff:
        return JsonResponse({"detail": "Staff only."}, status=403)
    line_total = ExpressionWrapper(
        F("lines__quantity") * F("lines__unit_price"),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )
    orders = (
        Order.objects.select_related("customer")
        .annotate(order_total=Sum(line_total))
        .order_by("id")
    )

    async def rows() -> AsyncIterator[str]:
        yield _csv_line(ORDER_COLUMNS)
        async for order in orders:
            yield _csv_line(
                [
                    order.pk,
                    order.customer.get_username(),
                    order.status,
                    order.created_at.isoformat(),
                    # The sum comes back without trailing zeros on SQLite: fix cents.
                    f"{order.order_total:.2f}",
                ]
            )

    return _attachment(rows(), "orders.csv")
