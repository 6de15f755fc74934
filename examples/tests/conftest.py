"""Fixtures for the pytest-function tests (the unittest classes use setUpTestData)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from catalog.models import Order, Product
from catalog.orders import place_order
from tests.helpers import kettle as unsaved_kettle
from tests.helpers import make_user, product_rows


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Cached product lists must not cross tests (see ``FreshCacheMixin``)."""
    cache.clear()


@pytest.fixture
def customer(db: None) -> User:
    """A customer, ``carla``."""
    return make_user("carla")


@pytest.fixture
def staff(db: None) -> User:
    """A staff user, ``stan``."""
    return make_user("stan", staff=True)


@pytest.fixture
def customer_token(customer: User) -> Token:
    """``carla``'s API token."""
    return Token.objects.create(user=customer)


@pytest.fixture
def staff_token(staff: User) -> Token:
    """``stan``'s API token."""
    return Token.objects.create(user=staff)


@pytest.fixture
def kettle(db: None) -> Product:
    """``KETTLE-1``: 25.00, five in stock."""
    product = unsaved_kettle()
    product.save()
    return product


@pytest.fixture
def catalogue(db: None) -> list[Product]:
    """25 active products and one retired one."""
    Product.objects.create(sku="OLD-1", name="Retired", price=1, is_active=False)
    return Product.objects.bulk_create(product_rows(25))


@pytest.fixture
def orders(customer: User, catalogue: list[Product]) -> list[Order]:
    """Three orders placed by ``customer``."""
    first, second = catalogue[:2]
    return [
        place_order(customer, [(first, 1)]),
        place_order(customer, [(first, 2), (second, 1)]),
        place_order(customer, [(second, 3)]),
    ]
