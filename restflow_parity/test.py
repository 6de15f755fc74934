"""The async DRF test kit, mirroring ``rest_framework.test``.

Import everything from here::

    from restflow_parity.test import AsyncAPIClient, AsyncAPITestCase
"""

from __future__ import annotations

from restflow_parity.cases import (
    AsyncAPISimpleTestCase,
    AsyncAPITestCase,
    AsyncAPITestCaseMixin,
    AsyncAPITransactionTestCase,
)
from restflow_parity.client import AsyncAPIClient, MissingAwaitError, PendingResponse
from restflow_parity.factory import (
    AsyncAPIRequestFactory,
    arun_view,
    force_authenticate,
)

__all__ = [
    "AsyncAPIClient",
    "AsyncAPIRequestFactory",
    "AsyncAPISimpleTestCase",
    "AsyncAPITestCase",
    "AsyncAPITestCaseMixin",
    "AsyncAPITransactionTestCase",
    "MissingAwaitError",
    "PendingResponse",
    "arun_view",
    "force_authenticate",
]
