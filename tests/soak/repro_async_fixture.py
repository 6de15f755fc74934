"""Reproduction: async fixtures escape the plugin's async database isolation.

Not collected by the normal run (the name does not match ``test_*.py``); run it
explicitly, in file order:

    .venv/bin/python -m pytest tests/soak/repro_async_fixture.py -p no:randomly

The plugin runs ``async def`` *tests* through ``async_to_sync``, but an
``async def`` *fixture* still runs on pytest-asyncio's loop in the main
thread, so its async ORM calls go to asgiref's shared worker thread and that
thread's own connection: its rows are committed (and leak into every later
test), it cannot see rows from sync fixtures, and on PostgreSQL the open
connection makes the test database's DROP fail at the end of the session.
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from products.models import Product


@pytest.fixture
def sync_product(db: None) -> None:
    Product.objects.create(name="from-sync-fixture")


@pytest_asyncio.fixture
async def async_product(db: None) -> Product:
    return await Product.objects.acreate(name="from-async-fixture")


@pytest_asyncio.fixture
async def rows_seen_by_async_fixture(sync_product: None) -> list[str]:
    return [product.name async for product in Product.objects.all()]


@pytest.mark.django_db
async def test_1_async_fixture_row_is_visible(async_product: Product) -> None:
    assert await Product.objects.acount() == 1


@pytest.mark.django_db
def test_2_next_test_starts_empty() -> None:
    # Fails: 1 == 0, the async fixture's row was committed.
    assert Product.objects.count() == 0


@pytest.mark.django_db
async def test_3_async_fixture_sees_sync_fixture_rows(
    rows_seen_by_async_fixture: list[str],
) -> None:
    # Fails on PostgreSQL/MariaDB: the fixture's connection, outside the
    # test's transaction, sees test 1's committed row but not the sync
    # fixture's; on in-memory SQLite: "database table is locked".
    assert rows_seen_by_async_fixture == ["from-sync-fixture"]
