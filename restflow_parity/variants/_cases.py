"""Test case bases that wire ``AsyncAPIClient`` and async set-up and tear-down.

Django runs an ``async def`` test through ``async_to_sync``: the body runs on
an event loop in a worker thread, while thread-sensitive work (the async ORM,
sync views, on_commit bookkeeping) is sent back to the main thread, which
holds the test's connection and transaction. Everything here keeps to that
model, so async tests roll back exactly like sync ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.test import (
    LiveServerTestCase,
    SimpleTestCase,
    TestCase,
    TransactionTestCase,
)
from rest_framework.test import URLPatternsTestCase as DRFURLPatternsTestCase

from restflow_parity.request._client import APIClient, AsyncAPIClient, Client
from restflow_parity.request._ledger import current, recording
from restflow_parity.variants._assertions import ParityAssertions

__all__ = [
    "APILiveServerTestCase",
    "APISimpleTestCase",
    "APITestCase",
    "APITransactionTestCase",
    "AsyncAPISimpleTestCase",
    "AsyncAPITestCase",
    "AsyncAPITestCaseMixin",
    "AsyncAPITransactionTestCase",
    "URLPatternsTestCase",
]


class AsyncAPITestCaseMixin(ParityAssertions, SimpleTestCase):
    """``self.client`` is an ``AsyncAPIClient``; async tests get async hooks.

    ``asyncSetUp()`` and ``asyncTearDown()`` run around each ``async def``
    test on that test's own event loop, after ``setUp()`` and before
    ``tearDown()``, as in ``unittest.IsolatedAsyncioTestCase``. The async
    database assertions (``acaptureOnCommitCallbacks``, ``aassertNumQueries``)
    come from ``ParityAssertions``.
    """

    client_class = AsyncAPIClient  # type: ignore[assignment]
    async_client_class = AsyncAPIClient  # type: ignore[assignment]
    client: AsyncAPIClient  # type: ignore[assignment]
    async_client: AsyncAPIClient  # type: ignore[assignment]

    def __call__(self, result: Any = None) -> None:
        self._prepare_test()
        with recording(None):  # a forgotten await fails the test
            super().__call__(result)

    def debug(self) -> None:
        self._prepare_test()
        with recording(None):
            super().debug()

    def _prepare_test(self) -> None:
        """Wrap the test method as it starts (subclasses add their wrappers
        before calling this one); not in __init__: test instances must stay
        picklable for Django's --parallel, and closures are not."""
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
            ledger = current()
            if ledger is not None:
                ledger.verify()

        return run

    async def asyncSetUp(self) -> None:
        """Hook run before each async test, on the test's event loop."""

    async def asyncTearDown(self) -> None:
        """Hook run after each async test, on the test's event loop."""


class AsyncAPISimpleTestCase(AsyncAPITestCaseMixin, SimpleTestCase):
    """No database: health checks, schema endpoints, pure view logic."""


class AsyncAPITestCase(AsyncAPITestCaseMixin, TestCase):
    """Each test in a transaction that is rolled back: fast, but on_commit
    callbacks never fire (use ``acaptureOnCommitCallbacks``)."""


class AsyncAPITransactionTestCase(AsyncAPITestCaseMixin, TransactionTestCase):
    """Real commits, tables flushed between tests: on_commit callbacks fire."""


# --- drop-ins for rest_framework.test's bases --------------------------------


class APISimpleTestCase(ParityAssertions, SimpleTestCase):
    """DRF's ``APISimpleTestCase``, with the mode-aware ``APIClient``."""

    client_class = APIClient  # type: ignore[assignment]


class APITestCase(ParityAssertions, TestCase):
    """DRF's ``APITestCase``, with the mode-aware ``APIClient``."""

    client_class = APIClient  # type: ignore[assignment]


class APITransactionTestCase(ParityAssertions, TransactionTestCase):
    """DRF's ``APITransactionTestCase``, with the mode-aware ``APIClient``."""

    client_class = APIClient  # type: ignore[assignment]


class APILiveServerTestCase(ParityAssertions, LiveServerTestCase):
    """DRF's ``APILiveServerTestCase`` (a WSGI live server), mode-aware client."""

    client_class = APIClient  # type: ignore[assignment]


class URLPatternsTestCase(ParityAssertions, DRFURLPatternsTestCase):
    """DRF's ``URLPatternsTestCase``, with Django's client made mode-aware."""

    client_class = Client  # type: ignore[assignment]
