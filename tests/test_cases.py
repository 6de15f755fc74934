"""Case bases: client wiring, async hooks, rollback, and on_commit capture."""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

from django.core.cache import cache
from django.test import SimpleTestCase
from products.cache_rules import PRODUCT_LIST_KEY
from products.models import Product

from restflow_parity.test import (
    AsyncAPIClient,
    AsyncAPISimpleTestCase,
    AsyncAPITestCase,
    AsyncAPITransactionTestCase,
)


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    """Run a nested test class and return its result."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    result = unittest.TestResult()
    suite.run(result)
    return result


class WiringTests(SimpleTestCase):
    def test_every_base_wires_the_async_client(self) -> None:
        for base in (
            AsyncAPISimpleTestCase,
            AsyncAPITestCase,
            AsyncAPITransactionTestCase,
        ):
            assert base.client_class is AsyncAPIClient
            assert base.async_client_class is AsyncAPIClient

    def test_hooks_run_in_order_on_the_tests_own_loop(self) -> None:
        seen: list[Any] = []

        class Hooked(AsyncAPISimpleTestCase):
            def setUp(self) -> None:
                seen.append("setUp")

            async def asyncSetUp(self) -> None:
                seen.append(("asyncSetUp", id(asyncio.get_running_loop())))

            async def test_body(self) -> None:
                assert isinstance(self.client, AsyncAPIClient)
                seen.append(("test", id(asyncio.get_running_loop())))

            async def asyncTearDown(self) -> None:
                seen.append(("asyncTearDown", id(asyncio.get_running_loop())))

            def tearDown(self) -> None:
                seen.append("tearDown")

        result = run_case(Hooked)
        assert result.wasSuccessful(), result.errors + result.failures
        assert [step if isinstance(step, str) else step[0] for step in seen] == [
            "setUp",
            "asyncSetUp",
            "test",
            "asyncTearDown",
            "tearDown",
        ]
        loops = {step[1] for step in seen if not isinstance(step, str)}
        assert len(loops) == 1

    def test_async_teardown_runs_when_the_test_fails(self) -> None:
        seen: list[str] = []

        class Failing(AsyncAPISimpleTestCase):
            async def test_fails(self) -> None:
                raise AssertionError("expected failure")

            async def asyncTearDown(self) -> None:
                seen.append("asyncTearDown")

        result = run_case(Failing)
        assert len(result.failures) == 1
        assert seen == ["asyncTearDown"]

    def test_async_setup_error_is_reported(self) -> None:
        class Broken(AsyncAPISimpleTestCase):
            async def asyncSetUp(self) -> None:
                raise RuntimeError("setup broke")

            async def test_never_runs(self) -> None:
                raise AssertionError("must not run")

        result = run_case(Broken)
        assert len(result.errors) == 1
        assert "setup broke" in result.errors[0][1]

    def test_skip_decorator_survives_the_wrapping(self) -> None:
        class Skipping(AsyncAPISimpleTestCase):
            @unittest.skip("not today")
            async def test_skipped(self) -> None:
                raise AssertionError("must not run")

        result = run_case(Skipping)
        assert len(result.skipped) == 1

    def test_sync_tests_are_untouched(self) -> None:
        class Plain(AsyncAPISimpleTestCase):
            async def asyncSetUp(self) -> None:
                raise AssertionError("async hooks are for async tests only")

            def test_sync(self) -> None:
                assert isinstance(self.client, AsyncAPIClient)

        assert run_case(Plain).wasSuccessful()


class RollbackTests(AsyncAPITestCase):
    async def test_rows_from_other_tests_never_show(self) -> None:
        # Runs in random order with its twin below: each sees only its own row.
        await Product.objects.acreate(name="one")
        assert await Product.objects.acount() == 1

    async def test_rows_from_other_tests_never_show_twin(self) -> None:
        await self.client.post("/api/products/", {"name": "two"}, format="json")
        assert await Product.objects.acount() == 1

    def test_sync_fixture_data_is_visible_to_async_code(self) -> None:
        Product.objects.create(name="sync")

        async def read() -> list[str]:
            return [p.name async for p in Product.objects.all()]

        from asgiref.sync import async_to_sync

        assert async_to_sync(read)() == ["sync"]


class CaptureTests(AsyncAPITestCase):
    async def test_sync_capture_in_async_test_names_the_async_one(self) -> None:
        with (
            self.assertRaisesMessage(RuntimeError, "acaptureOnCommitCallbacks"),
            self.captureOnCommitCallbacks(execute=True),
        ):
            await Product.objects.acreate(name="Phone")

    def test_sync_capture_still_works_in_sync_tests(self) -> None:
        with self.captureOnCommitCallbacks() as callbacks:
            Product.objects.create(name="Phone")
        assert len(callbacks) == 1

    async def test_async_capture_sees_orm_callbacks(self) -> None:
        async with self.acaptureOnCommitCallbacks() as callbacks:
            await Product.objects.acreate(name="Phone")
        assert len(callbacks) == 1

    async def test_async_capture_sees_callbacks_from_requests(self) -> None:
        async with self.acaptureOnCommitCallbacks() as callbacks:
            response = await self.client.post(
                "/api/products/", {"name": "Phone"}, format="json"
            )
        assert response.status_code == 201
        assert len(callbacks) == 1

    async def test_async_capture_without_execute_runs_nothing(self) -> None:
        cache.set(PRODUCT_LIST_KEY, ["stale"])
        async with self.acaptureOnCommitCallbacks(execute=False):
            await Product.objects.acreate(name="Phone")
        assert cache.get(PRODUCT_LIST_KEY) == ["stale"]

    async def test_async_capture_propagates_errors_from_the_block(self) -> None:
        with self.assertRaisesMessage(ValueError, "inside"):
            async with self.acaptureOnCommitCallbacks(execute=True):
                raise ValueError("inside")


class SeedCacheOnTestCase(AsyncAPITestCase):
    """The seed guide's scenarios, on the test project's on_commit cache rule."""

    def setUp(self) -> None:
        cache.clear()  # the list cache outlives tests under Django's runner

    async def test_rolled_back_testcase_does_not_fire(self) -> None:
        first = await self.client.get("/api/products/")
        await Product.objects.acreate(name="Phone")
        second = await self.client.get("/api/products/")
        assert first.json() == second.json() == []

    async def test_async_capture_fires_the_invalidation(self) -> None:
        first = await self.client.get("/api/products/")
        async with self.acaptureOnCommitCallbacks(execute=True) as callbacks:
            await Product.objects.acreate(name="Phone")
        second = await self.client.get("/api/products/")
        assert len(callbacks) == 1
        assert first.json() != second.json()
        assert [p["name"] for p in second.json()] == ["Phone"]


class SeedCacheOnTransactionTestCase(AsyncAPITransactionTestCase):
    def setUp(self) -> None:
        cache.clear()

    async def test_transaction_testcase_fires(self) -> None:
        first = await self.client.get("/api/products/")
        await Product.objects.acreate(name="Phone")
        second = await self.client.get("/api/products/")
        assert first.json() != second.json()

    async def test_async_capture_on_transaction_testcase(self) -> None:
        # Callbacks run at once outside atomic blocks, so none are pending.
        async with self.acaptureOnCommitCallbacks() as callbacks:
            await Product.objects.acreate(name="Phone")
        assert callbacks == []
        assert await Product.objects.acount() == 1
