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
from restflow_parity.client import (
    AsyncAPIClient,
    MissingAwaitError,
    PendingResponse,
    UnknownUserWarning,
)
from restflow_parity.factory import (
    AsyncAPIRequestFactory,
    arun_view,
    force_authenticate,
)
from restflow_parity.live import AsyncAPILiveServerTestCase, AsyncLiveServer
from restflow_parity.modes import run_both_modes
from restflow_parity.sync_client import SyncAPIClient, SyncAPIRequestFactory
from restflow_parity.watchdog import RequestTimeoutError, WatchdogInterrupt

__all__ = [
    "AsyncAPIClient",
    "AsyncAPILiveServerTestCase",
    "AsyncAPIRequestFactory",
    "AsyncAPISimpleTestCase",
    "AsyncAPITestCase",
    "AsyncAPITestCaseMixin",
    "AsyncAPITransactionTestCase",
    "AsyncLiveServer",
    "MissingAwaitError",
    "PendingResponse",
    "RequestTimeoutError",
    "SyncAPIClient",
    "SyncAPIRequestFactory",
    "UnknownUserWarning",
    "WatchdogInterrupt",
    "arun_view",
    "force_authenticate",
    "run_both_modes",
]
