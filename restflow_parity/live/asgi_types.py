"""The shapes the live server's parts share: ASGI callables and the server host.

The server backends (``servers.py``) need only this much of the thread that
runs them (``thread.py``), so neither module imports the other's internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, Protocol

__all__ = ["ASGIApp", "Receive", "Scope", "Send", "ServerHost", "StaticHandler"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StaticHandler = Callable[[Any], ASGIApp]


class ServerHost(Protocol):
    """What a server backend uses of the live server's thread."""

    @property
    def executor(self) -> Executor:
        """The loop's default executor: the request threads."""

    def _on_started(self, stop: Callable[[], None]) -> None:
        """The server accepts connections; ``stop()`` shuts it down."""

    def wait_idle(self, timeout: float = ...) -> bool:
        """Wait for the requests still running; False if some outlived it."""
