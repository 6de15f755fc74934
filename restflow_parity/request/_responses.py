"""The types a client's verbs return, for type checkers and readers.

A verb returns DRF's ``Response`` with what Django's test clients attach to
it (``json()``, ``wsgi_request``, ``templates``...): ``TestResponse``. An
awaitable client's verb returns a ``PendingResponse`` to await; a mode-aware
client's, either one, as the body is a ``def`` or an ``async def``:
``EitherResponse``, which is both to a type checker. No object of these
classes is ever made; responses are the view's own.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from django.http import HttpRequest
from rest_framework.response import Response

__all__ = ["EitherResponse", "TestResponse"]


class TestResponse(Response):
    """A sent request's response, as a test reads it."""

    __test__ = False  # not a pytest test class, despite its name

    client: Any
    request: dict[str, Any]
    templates: list[Any]
    context: Any
    resolver_match: Any
    redirect_chain: list[tuple[str, int]]
    #: The request the view saw, under either name, on either stack.
    wsgi_request: HttpRequest
    asgi_request: HttpRequest

    def json(self) -> Any:
        """The body, parsed as JSON."""
        raise NotImplementedError  # the client attaches the real one


class EitherResponse(TestResponse):
    """A mode-aware client's verb: the response in a ``def`` body, to
    ``await`` in an ``async def`` one."""

    def __await__(self) -> Generator[Any, None, TestResponse]:
        raise NotImplementedError  # a PendingResponse is what is returned
