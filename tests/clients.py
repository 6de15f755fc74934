"""Clients and factories fixed to one stack, for tests that loop over both."""

from __future__ import annotations

from typing import Any

from restflow_parity.test import (
    AsyncAPIClient,
    AsyncAPIRequestFactory,
    SyncAPIClient,
    SyncAPIRequestFactory,
)
from restflow_parity.variants._mode import Mode


def make_client(mode: Mode, awaitable: bool, **kwargs: Any) -> Any:
    """A client fixed to ``mode``'s stack; ``awaitable`` for async def bodies."""
    kind = SyncAPIClient if mode == "sync" else AsyncAPIClient
    client: Any = kind(**kwargs)
    client.awaitable = awaitable
    return client


def make_factory(mode: Mode, **kwargs: Any) -> Any:
    """A request factory fixed to ``mode``'s stack."""
    kind = SyncAPIRequestFactory if mode == "sync" else AsyncAPIRequestFactory
    return kind(**kwargs)
