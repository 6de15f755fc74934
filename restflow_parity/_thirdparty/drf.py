"""DRF's private attributes the kit relies on."""

from __future__ import annotations

from typing import Any

__all__ = ["forced_auth", "set_forced_auth"]


# APIClient.force_authenticate() keeps its user and token on the client's
# ForceAuthClientHandler, which marks each request with them. A stock client
# routed to the async stack reads them there; the kit's WSGI handler (DRF's
# class) is given them before each request.
def forced_auth(handler: Any) -> tuple[Any, Any]:
    """The user and token of ``handler``'s client's ``force_authenticate()``."""
    return getattr(handler, "_force_user", None), getattr(handler, "_force_token", None)


def set_forced_auth(handler: Any, user: Any, token: Any) -> None:
    handler._force_user = user
    handler._force_token = token
