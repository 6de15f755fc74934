"""Row-count invariants for the generated soak tests (copied in as ``soak_support``).

Every test knows exactly how many ``Product`` and ``User`` rows its own
fixtures made. A row committed by another test, or a fixture row the test
cannot see, breaks the count, and the message starts with ``LEAK:`` so the
runner can tell isolation failures from other failures. Async checks count
through the async ORM, the sync ORM via ``sync_to_async`` and, where a client
is at hand, a request to an async view: a leak on any of those connections
shows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from products.models import Product

LISTING_URL = "/async/products/"
CREATE_URLS = ("/api/products/", "/async/products/create/", "/adrf/products/")


def _leak(
    tag: str, phase: str, what: str, expected: int, found: int, names: Any
) -> str:
    direction = "extra rows" if found > expected else "rows missing"
    return (
        f"LEAK: {tag} at {phase}: expected {expected} {what}, found {found} "
        f"({direction}); products: {list(names)[:12]}"
    )


def _names() -> list[str]:
    return list(Product.objects.order_by("id").values_list("name", flat=True))


def expect_rows(tag: str, phase: str, products: int, users: int = 0) -> None:
    """Fail with ``LEAK:`` unless the sync ORM sees exactly these rows."""
    __tracebackhide__ = True
    found = Product.objects.count()
    if found != products:
        raise AssertionError(_leak(tag, phase, "products", products, found, _names()))
    found_users = User.objects.count()
    if found_users != users:
        raise AssertionError(_leak(tag, phase, "users", users, found_users, _names()))


async def aexpect_rows(tag: str, phase: str, products: int, users: int = 0) -> None:
    """Fail with ``LEAK:`` unless the async and the sync ORM see these rows."""
    __tracebackhide__ = True
    found = await Product.objects.acount()
    via_sync = await sync_to_async(Product.objects.count)()
    for label, value in (("async ORM", found), ("sync ORM", via_sync)):
        if value != products:
            names = await sync_to_async(_names)()
            raise AssertionError(
                _leak(tag, f"{phase} ({label})", "products", products, value, names)
            )
    found_users = await User.objects.acount()
    if found_users != users:
        names = await sync_to_async(_names)()
        raise AssertionError(_leak(tag, phase, "users", users, found_users, names))


def expect_listed(client: Any, tag: str, phase: str, products: int) -> None:
    """Fail with ``LEAK:`` unless a request (blocking client) lists these rows."""
    __tracebackhide__ = True
    response = client.get(LISTING_URL)
    assert response.status_code == 200, response.content
    names = response.json()["names"]
    if len(names) != products:
        raise AssertionError(
            _leak(tag, f"{phase} (request)", "products", products, len(names), names)
        )


async def aexpect_listed(client: Any, tag: str, phase: str, products: int) -> None:
    """Fail with ``LEAK:`` unless a request (awaitable client) lists these rows."""
    __tracebackhide__ = True
    response = await client.get(LISTING_URL)
    assert response.status_code == 200, response.content
    names = response.json()["names"]
    if len(names) != products:
        raise AssertionError(
            _leak(tag, f"{phase} (request)", "products", products, len(names), names)
        )


def create_products(tag: str, count: int) -> None:
    """Write rows with the sync ORM, one ``create()`` (and signal) each."""
    for number in range(count):
        Product.objects.create(name=f"{tag}-{number}")


async def acreate_products(tag: str, count: int, gather: bool = False) -> None:
    """Write rows with the async ORM, one after another or concurrently."""
    if gather:
        await asyncio.gather(
            *(Product.objects.acreate(name=f"{tag}-{n}") for n in range(count))
        )
        return
    for number in range(count):
        await Product.objects.acreate(name=f"{tag}-{number}")


def post_products(client: Any, tag: str, count: int) -> None:
    """Create rows through a blocking client's POST /api/products/."""
    __tracebackhide__ = True
    for number in range(count):
        response = client.post("/api/products/", {"name": f"{tag}-{number}"})
        assert response.status_code == 201, response.content


async def apost_products(client: Any, tag: str, count: int) -> None:
    """Create rows through an awaitable client, over the DRF and async views."""
    __tracebackhide__ = True
    for number in range(count):
        url = CREATE_URLS[number % len(CREATE_URLS)]
        response = await client.post(url, {"name": f"{tag}-{number}"}, format="json")
        assert response.status_code == 201, response.content


def make_user(tag: str) -> User:
    """A user for ``force_authenticate``; counted by the invariants."""
    return User.objects.create_user(username=f"{tag}-user", password="soak")
