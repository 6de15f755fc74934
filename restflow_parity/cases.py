"""Test case bases that wire ``AsyncAPIClient`` and async set-up and tear-down.

Django runs an ``async def`` test through ``async_to_sync``: the body runs on
an event loop in a worker thread, while thread-sensitive work (the async ORM,
sync views, on_commit bookkeeping) is sent back to the main thread, which
holds the test's connection and transaction. Everything here keeps to that
model, so async tests roll back exactly like sync ones.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.db import DEFAULT_DB_ALIAS
from django.test import SimpleTestCase, TestCase, TransactionTestCase

from restflow_parity.client import AsyncAPIClient

__all__ = [
    "AsyncAPISimpleTestCase",
    "AsyncAPITestCase",
    "AsyncAPITestCaseMixin",
    "AsyncAPITransactionTestCase",
]


class AsyncAPITestCaseMixin(SimpleTestCase):
    """``self.client`` is an ``AsyncAPIClient``; async tests get async hooks.

    ``asyncSetUp()`` and ``asyncTearDown()`` run around each ``async def``
    test on that test's own event loop, after ``setUp()`` and before
    ``tearDown()``, as in ``unittest.IsolatedAsyncioTestCase``.
    """

    client_class = AsyncAPIClient  # type: ignore[assignment]
    async_client_class = AsyncAPIClient  # type: ignore[assignment]
    client: AsyncAPIClient  # type: ignore[assignment]
    async_client: AsyncAPIClient  # type: ignore[assignment]

    def __call__(self, result: Any = None) -> None:
        self._install_async_hooks()
        super().__call__(result)

    def debug(self) -> None:
        self._install_async_hooks()
        super().debug()

    def _install_async_hooks(self) -> None:
        # When the test starts, not in __init__: test instances must stay
        # picklable for Django's --parallel, and closures are not.
        method = getattr(self, self._testMethodName, None)
        if method is not None and iscoroutinefunction(method):
            setattr(self, self._testMethodName, self._with_async_hooks(method))

    def _with_async_hooks(self, method: Callable[[], Any]) -> Callable[[], Any]:
        @functools.wraps(method)
        async def run() -> None:
            await self.asyncSetUp()
            try:
                await method()
            finally:
                await self.asyncTearDown()

        return run

    async def asyncSetUp(self) -> None:
        """Hook run before each async test, on the test's event loop."""

    async def asyncTearDown(self) -> None:
        """Hook run after each async test, on the test's event loop."""

    @classmethod
    @contextmanager
    def captureOnCommitCallbacks(
        cls, *, using: str = DEFAULT_DB_ALIAS, execute: bool = False
    ) -> Iterator[list[Callable[[], Any]]]:
        """Django's capture, refused where it would silently capture nothing."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with TestCase.captureOnCommitCallbacks(using=using, execute=execute) as cbs:
                yield cbs
            return
        raise RuntimeError(
            "captureOnCommitCallbacks() cannot see on_commit callbacks from an "
            "async test: the ORM registers them on the main thread's connection, "
            "not the event loop's, so it would capture nothing. Use "
            "`async with self.acaptureOnCommitCallbacks(execute=True) as callbacks:`."
        )

    @classmethod
    @asynccontextmanager
    async def acaptureOnCommitCallbacks(
        cls, *, using: str = DEFAULT_DB_ALIAS, execute: bool = False
    ) -> AsyncIterator[list[Callable[[], Any]]]:
        """Capture (and with ``execute=True`` run) on_commit callbacks.

        Both ends run in the thread that owns the test's connection, so the
        callbacks registered by ``acreate()`` and by views are the ones seen.
        """
        # Django's capture only reads the connection's on_commit list, so it
        # serves TransactionTestCase too (where callbacks run at once).
        capture = TestCase.captureOnCommitCallbacks(using=using, execute=execute)
        callbacks = await sync_to_async(capture.__enter__)()
        try:
            yield callbacks
        except BaseException as error:
            await sync_to_async(capture.__exit__)(type(error), error, None)
            raise
        else:
            await sync_to_async(capture.__exit__)(None, None, None)


class AsyncAPISimpleTestCase(AsyncAPITestCaseMixin, SimpleTestCase):
    """No database: health checks, schema endpoints, pure view logic."""


class AsyncAPITestCase(AsyncAPITestCaseMixin, TestCase):
    """Each test in a transaction that is rolled back: fast, but on_commit
    callbacks never fire (use ``acaptureOnCommitCallbacks``)."""


class AsyncAPITransactionTestCase(AsyncAPITestCaseMixin, TransactionTestCase):
    """Real commits, tables flushed between tests: on_commit callbacks fire."""
