"""The test kit, a drop-in for ``rest_framework.test``.

Change ``from rest_framework.test import ...`` to
``from restflow_parity.test import ...``: every name DRF's module offers is
here, and ``APIClient``, ``APIRequestFactory`` and the ``API*TestCase`` bases
follow the stack of the running ``@run_both_modes`` variant (WSGI outside
one). Django's ``Client`` and ``RequestFactory`` have mode-aware drop-ins too,
and the async kit (``AsyncAPIClient``, ``AsyncAPITestCase``...) is here::

    from restflow_parity.test import APITestCase, AsyncAPIClient
"""

from __future__ import annotations

from rest_framework.test import (
    ForceAuthClientHandler,
    RequestsClient,
    cleanup_url_patterns,
)

from restflow_parity.assertions import ParityAssertions
from restflow_parity.auth import UnknownUserWarning
from restflow_parity.cases import (
    APILiveServerTestCase,
    APISimpleTestCase,
    APITestCase,
    APITransactionTestCase,
    AsyncAPISimpleTestCase,
    AsyncAPITestCase,
    AsyncAPITestCaseMixin,
    AsyncAPITransactionTestCase,
    URLPatternsTestCase,
)
from restflow_parity.client import APIClient, AsyncAPIClient, Client, SyncAPIClient
from restflow_parity.environ import ScopeLossWarning
from restflow_parity.factory import (
    APIRequestFactory,
    AsyncAPIRequestFactory,
    RequestFactory,
    SyncAPIRequestFactory,
    arun_view,
    force_authenticate,
)
from restflow_parity.ledger import WrongStackError, one_stack
from restflow_parity.live import AsyncAPILiveServerTestCase, AsyncLiveServer
from restflow_parity.modes import run_both_modes
from restflow_parity.pending import MissingAwaitError, PendingResponse
from restflow_parity.watchdog import RequestTimeoutError, WatchdogInterrupt

__all__ = [
    "APIClient",
    "APILiveServerTestCase",
    "APIRequestFactory",
    "APISimpleTestCase",
    "APITestCase",
    "APITransactionTestCase",
    "AsyncAPIClient",
    "AsyncAPILiveServerTestCase",
    "AsyncAPIRequestFactory",
    "AsyncAPISimpleTestCase",
    "AsyncAPITestCase",
    "AsyncAPITestCaseMixin",
    "AsyncAPITransactionTestCase",
    "AsyncLiveServer",
    "Client",
    "ForceAuthClientHandler",
    "MissingAwaitError",
    "ParityAssertions",
    "PendingResponse",
    "RequestFactory",
    "RequestTimeoutError",
    "RequestsClient",
    "ScopeLossWarning",
    "SyncAPIClient",
    "SyncAPIRequestFactory",
    "URLPatternsTestCase",
    "UnknownUserWarning",
    "WatchdogInterrupt",
    "WrongStackError",
    "arun_view",
    "cleanup_url_patterns",
    "force_authenticate",
    "one_stack",
    "run_both_modes",
]
