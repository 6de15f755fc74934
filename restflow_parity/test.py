"""The test kit, a drop-in for ``rest_framework.test``.

Change ``from rest_framework.test import ...`` (or ``django.test.client``)
to ``from restflow_parity.test import ...``: every public name of both
modules is here, and ``APIClient``, ``APIRequestFactory`` and the
``API*TestCase`` bases follow the stack of the running ``@run_both_modes``
variant (WSGI outside one). Django's ``Client`` and ``RequestFactory`` have
mode-aware drop-ins too, and the async kit (``AsyncAPIClient``,
``AsyncAPITestCase``...) is here::

    from restflow_parity.test import APITestCase, AsyncAPIClient
"""

from __future__ import annotations

# Every other public name of django.test.client and rest_framework.test, as
# they are (stock clients follow the running variant's stack anyway, see
# restflow_parity.request._stock), so that swapping an import never needs a split.
from django.test.client import (  # type: ignore[attr-defined]
    BOUNDARY,
    CONTENT_TYPE_RE,
    JSON_CONTENT_TYPE_RE,
    MULTIPART_CONTENT,
    REDIRECT_STATUS_CODES,
    AsyncClient,
    AsyncClientHandler,
    AsyncRequestFactory,
    ClientHandler,
    ClientMixin,
    FakePayload,
    RedirectCycleError,
    aclosing_iterator_wrapper,
    closing_iterator_wrapper,
    conditional_content_removal,
    encode_file,
    encode_multipart,
    store_rendered_templates,
)
from rest_framework.test import (
    ForceAuthClientHandler,
    RequestsClient,
    cleanup_url_patterns,
)

from restflow_parity.live import AsyncAPILiveServerTestCase, AsyncLiveServer
from restflow_parity.request._auth import UnknownUserWarning
from restflow_parity.request._builder import DroppedInputWarning
from restflow_parity.request._client import (
    APIClient,
    AsyncAPIClient,
    Client,
    SyncAPIClient,
)
from restflow_parity.request._environ import ScopeLossWarning
from restflow_parity.request._errors import MissingAwaitError, WrongStackError
from restflow_parity.request._factory import (
    APIRequestFactory,
    AsyncAPIRequestFactory,
    RequestFactory,
    SyncAPIRequestFactory,
    arun_view,
    force_authenticate,
)
from restflow_parity.request._ledger import one_stack
from restflow_parity.request._pending import PendingResponse
from restflow_parity.request._responses import EitherResponse, TestResponse
from restflow_parity.variants._assertions import ParityAssertions
from restflow_parity.variants._cases import (
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
from restflow_parity.variants._decorator import run_both_modes
from restflow_parity.watchdog import RequestTimeoutError, WatchdogInterrupt

#: DRF's names for Django's classes: here, the kit's mode-aware drop-ins.
DjangoClient = Client
DjangoRequestFactory = RequestFactory

__all__ = [
    "BOUNDARY",
    "CONTENT_TYPE_RE",
    "JSON_CONTENT_TYPE_RE",
    "MULTIPART_CONTENT",
    "REDIRECT_STATUS_CODES",
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
    "AsyncClient",
    "AsyncClientHandler",
    "AsyncLiveServer",
    "AsyncRequestFactory",
    "Client",
    "ClientHandler",
    "ClientMixin",
    "DjangoClient",
    "DjangoRequestFactory",
    "DroppedInputWarning",
    "EitherResponse",
    "FakePayload",
    "ForceAuthClientHandler",
    "MissingAwaitError",
    "ParityAssertions",
    "PendingResponse",
    "RedirectCycleError",
    "RequestFactory",
    "RequestTimeoutError",
    "RequestsClient",
    "ScopeLossWarning",
    "SyncAPIClient",
    "SyncAPIRequestFactory",
    "TestResponse",
    "URLPatternsTestCase",
    "UnknownUserWarning",
    "WatchdogInterrupt",
    "WrongStackError",
    "aclosing_iterator_wrapper",
    "arun_view",
    "cleanup_url_patterns",
    "closing_iterator_wrapper",
    "conditional_content_removal",
    "encode_file",
    "encode_multipart",
    "force_authenticate",
    "one_stack",
    "run_both_modes",
    "store_rendered_templates",
]

# DRF defines these only when ``requests`` is installed (its RequestsClient is
# then a stub that raises ImproperlyConfigured), so ours exports them only
# then too.
try:
    from rest_framework.test import (
        DjangoTestAdapter,
        HeaderDict,
        MockOriginalResponse,
    )
except ImportError:
    pass
else:
    __all__ += ["DjangoTestAdapter", "HeaderDict", "MockOriginalResponse"]

# DRF 3.16 has CoreAPIClient (a stub without coreapi); 3.17 removed it.
try:
    from rest_framework.test import CoreAPIClient  # type: ignore[attr-defined]
except ImportError:
    pass
else:
    __all__ += ["CoreAPIClient"]
