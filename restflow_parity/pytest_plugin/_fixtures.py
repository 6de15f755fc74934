"""User-visible pytest fixtures, each with a one-line docstring for ``--fixtures``.

The clients, factories, assertions and live server are imported inside the
fixtures: they import DRF or Django's test machinery, which read the
settings, and the plugin loads before pytest-django configures them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from restflow_parity.variants._mode import activated

if TYPE_CHECKING:
    from restflow_parity.live import AsyncLiveServer

__all__: list[str] = [
    "_async_live_server_session",
    "async_api_client",
    "async_api_rf",
    "async_assert_max_num_queries",
    "async_assert_num_queries",
    "async_live_server",
    "parity_client",
    "parity_mode",
    "parity_rf",
]


@pytest.fixture(scope="session")
def _async_live_server_session(django_db_setup: None) -> Iterator[AsyncLiveServer]:
    """The session's ASGI live server; tests use ``async_live_server``."""
    # After django_db_setup, so an in-memory test database exists to share.
    from restflow_parity.live import AsyncLiveServer

    server = AsyncLiveServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def async_live_server(
    _async_live_server_session: AsyncLiveServer, transactional_db: None
) -> Iterator[AsyncLiveServer]:
    """A real ASGI server (uvicorn by default) in a thread; its URL is ``.url``."""
    # Function-scoped over a session-scoped server: depending on
    # transactional_db by name is what makes pytest-django create the test
    # database for this test, sort it with the transactional tests and flush
    # after it, as it does for its own live_server.
    __tracebackhide__ = True
    server = _async_live_server_session
    server.modified_settings.enable()
    try:
        yield server
        # Let requests still in flight finish, so their errors are this test's.
        server.thread.wait_idle()
        server.thread.raise_errors()
    finally:
        server.modified_settings.disable()


# --- clients, factories and parity modes -------------------------------------


@pytest.fixture
def async_api_client() -> Any:
    """An ``AsyncAPIClient``: ``await async_api_client.get(...)``."""
    from restflow_parity.request._client import AsyncAPIClient

    return AsyncAPIClient()


@pytest.fixture
def async_api_rf() -> Any:
    """An ``AsyncAPIRequestFactory``; its verbs return ``ASGIRequest`` objects."""
    from restflow_parity.request._factory import AsyncAPIRequestFactory

    return AsyncAPIRequestFactory()


@pytest.fixture
def parity_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """The stack a ``@run_both_modes`` test runs on: ``"sync"`` or ``"async"``."""
    __tracebackhide__ = True
    mode = getattr(request, "param", None)
    if mode is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses parity_mode (or parity_client/"
            "parity_rf) without @run_both_modes. Decorate the test with "
            "@run_both_modes (from restflow_parity import run_both_modes), or "
            "use async_api_client / pytest-django's client directly."
        )

    # Mode-aware clients and factories, the test's own included, follow it.
    with activated(mode):
        yield str(mode)


@pytest.fixture
def parity_client(parity_mode: str) -> Any:
    """The mode's ``APIClient``: awaitable in ``async def`` tests, else blocking."""
    from restflow_parity.request._client import APIClient

    return APIClient()


@pytest.fixture
def parity_rf(parity_mode: str) -> Any:
    """The mode's ``APIRequestFactory``: WSGI or ASGI requests, both with ``.scope``."""
    from restflow_parity.request._factory import APIRequestFactory

    return APIRequestFactory()


@pytest.fixture
def async_assert_num_queries() -> Any:
    """``async with async_assert_num_queries(n):`` counts an async test's queries."""
    from restflow_parity.variants._assertions import aassert_num_queries

    return aassert_num_queries


@pytest.fixture
def async_assert_max_num_queries() -> Any:
    """``async with async_assert_max_num_queries(n):``: at most ``n`` queries."""
    from restflow_parity.variants._assertions import aassert_num_queries

    return partial(aassert_num_queries, exact=False)
