"""Test data and helpers shared by the unittest classes and the pytest fixtures."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Product

PASSWORD = "correct horse battery staple"
PRODUCTS_URL = "/api/products/"
ORDERS_URL = "/api/orders/"


def make_user(username: str, *, staff: bool = False) -> User:
    return User.objects.create_user(
        username=username, password=PASSWORD, is_staff=staff
    )


def product_rows(count: int, *, prefix: str = "TEA", stock: int = 10) -> list[Product]:
    """Unsaved products ``TEA-001``...; save them with ``(a)bulk_create``."""
    return [
        Product(
            sku=f"{prefix}-{number:03}",
            name=f"Tea no. {number}",
            price=Decimal("3.50") + number,
            stock=stock,
        )
        for number in range(1, count + 1)
    ]


def kettle(**fields: object) -> Product:
    values: dict[str, object] = {
        "sku": "KETTLE-1",
        "name": "Kettle",
        "price": Decimal("25.00"),
        "stock": 5,
    }
    return Product(**(values | fields))


def order_payload(*lines: tuple[Product, int]) -> dict[str, object]:
    return {
        "lines": [{"product": product.pk, "quantity": qty} for product, qty in lines]
    }


def datasheet(name: str = "kettle.pdf", size: int = 2048) -> SimpleUploadedFile:
    content = b"%PDF-1.7\n" + b"x" * (size - 9)
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


class FreshCacheMixin:
    """Start every test with an empty cache.

    The product lists live in LocMemCache, which outlives a test, and a
    rolled-back test never commits, so its cached lists are never busted.
    """

    def setUp(self) -> None:
        cache.clear()
        super().setUp()  # type: ignore[misc]
