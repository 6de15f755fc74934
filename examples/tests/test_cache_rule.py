"""The on_commit cache rule: cached product lists are busted when a write commits.

``AsyncAPITestCase`` rolls every test back, so nothing commits and on_commit
callbacks only run through ``acaptureOnCommitCallbacks``. That makes the rule
visible: a write is not in the list until its callbacks run.
``AsyncAPITransactionTestCase`` commits for real, as production does.
"""

from __future__ import annotations

from contextlib import suppress

from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import transaction

from catalog.cache_rules import GENERATION_KEY
from catalog.models import Product
from restflow_parity import run_both_modes
from restflow_parity.test import AsyncAPITestCase, AsyncAPITransactionTestCase
from tests.helpers import PRODUCTS_URL, FreshCacheMixin, kettle, make_user


@run_both_modes
class CachedListTests(FreshCacheMixin, AsyncAPITestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.staff = make_user("stella", staff=True)
        cls.kettle = kettle()
        cls.kettle.save()

    async def skus(self) -> list[str]:
        response = await self.client.get(PRODUCTS_URL)
        return [product["sku"] for product in response.data["results"]]

    async def test_a_write_shows_once_it_commits(self) -> None:
        assert await self.skus() == ["KETTLE-1"]

        await Product.objects.acreate(sku="MUG-1", name="Mug", price=4)
        assert await self.skus() == ["KETTLE-1"]  # not committed: still cached

        async with self.acaptureOnCommitCallbacks(execute=True) as callbacks:
            await Product.objects.acreate(sku="POT-1", name="Teapot", price=30)
        assert len(callbacks) == 1
        assert await self.skus() == ["KETTLE-1", "MUG-1", "POT-1"]

    async def test_api_writes_register_the_bust(self) -> None:
        await self.skus()
        self.client.force_authenticate(user=self.staff)
        new = {"sku": "MUG-1", "name": "Mug", "price": "4.50"}

        async with self.acaptureOnCommitCallbacks(execute=True) as created:
            assert (await self.client.post(PRODUCTS_URL, new)).status_code == 201
        async with self.acaptureOnCommitCallbacks(execute=True) as refused:
            assert (await self.client.post(PRODUCTS_URL, new)).status_code == 400

        assert len(created) == 1
        assert refused == []
        assert await self.skus() == ["KETTLE-1", "MUG-1"]

    def test_deleting_busts_too(self) -> None:
        self.client.get(PRODUCTS_URL)
        self.client.force_authenticate(user=self.staff)

        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            deleted = self.client.delete(f"{PRODUCTS_URL}{self.kettle.pk}/")

        assert deleted.status_code == 204
        assert len(callbacks) == 1
        assert self.client.get(PRODUCTS_URL).data["results"] == []


def rename_and_roll_back(product: Product) -> None:
    """Save a change, then fail before the transaction commits."""
    with suppress(RuntimeError), transaction.atomic():
        product.name = "Renamed"
        product.save()
        raise RuntimeError("payment declined")


@run_both_modes
class CommittedWriteTests(FreshCacheMixin, AsyncAPITransactionTestCase):
    async def asyncSetUp(self) -> None:
        # Tables are flushed after each test, so each test makes its own rows.
        self.staff = await sync_to_async(make_user)("stella", staff=True)
        self.kettle = await Product.objects.acreate(
            sku="KETTLE-1", name="Kettle", price=25, stock=5
        )

    async def test_a_committed_write_busts_on_its_own(self) -> None:
        self.client.force_authenticate(user=self.staff)
        await self.client.get(PRODUCTS_URL)

        created = await self.client.post(
            PRODUCTS_URL, {"sku": "MUG-1", "name": "Mug", "price": "4.50"}
        )
        listed = await self.client.get(PRODUCTS_URL)

        assert created.status_code == 201
        assert [p["sku"] for p in listed.data["results"]] == ["KETTLE-1", "MUG-1"]

    async def test_a_rolled_back_write_busts_nothing(self) -> None:
        await self.client.get(PRODUCTS_URL)
        generation = await cache.aget(GENERATION_KEY)
        assert generation is not None

        await sync_to_async(rename_and_roll_back)(self.kettle)

        assert await cache.aget(GENERATION_KEY) == generation
        listed = await self.client.get(PRODUCTS_URL)
        assert listed.data["results"][0]["name"] == "Kettle"
