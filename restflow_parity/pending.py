"""``PendingResponse``: what an awaitable client's verbs return.

Awaiting it sends the request. Touching it like a response first raises
``MissingAwaitError`` with the fix, and one that is never awaited warns at
the test's line, not at a line of the kit.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Awaitable, Callable, Generator
from typing import Any, NoReturn

from django.http import HttpResponseBase

__all__ = ["MissingAwaitError", "PendingResponse", "call_site", "in_event_loop"]

# Frames of these files are the kit's (or asgiref's, or unittest's), never the
# line a user wrote.
_INTERNAL = (
    __file__.rpartition("/")[0] + "/",
    "/asgiref/",
    "/django/test/",
    "/django/http/",
    "/unittest/",
    "/contextlib.py",
    "/functools.py",
)


def _internal(filename: str) -> bool:
    return filename.startswith(_INTERNAL[0]) or any(
        part in filename for part in _INTERNAL[1:]
    )


class MissingAwaitError(TypeError):
    """A response was used before its request was awaited."""


def in_event_loop() -> bool:
    """Whether this thread is running an event loop (an async test body)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def call_site() -> tuple[str, int, dict[str, Any]]:
    """The file, line and globals of the innermost frame outside the kit."""
    frame = sys._getframe(1)
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals


class PendingResponse:
    """What an awaitable client's verb returns: ``await`` it to send the request.

    Touching it like a response before awaiting raises ``MissingAwaitError``
    with the fix, instead of a puzzling ``AttributeError`` on a coroutine.
    """

    __slots__ = ("_awaited", "_description", "_send", "_site")

    def __init__(
        self, send: Callable[[], Awaitable[HttpResponseBase]], description: str
    ) -> None:
        self._send = send
        self._description = description
        self._awaited = False
        self._site = call_site()

    def __await__(self) -> Generator[Any, None, HttpResponseBase]:
        self._awaited = True
        return self._send().__await__()

    def _missing_await(self, what: str) -> NoReturn:
        __tracebackhide__ = True
        if in_event_loop():
            fix = "add `await`, as in `response = await client.get(...)`."
        else:
            # A def body cannot await: it needs a blocking client, or async def.
            fix = (
                "this test is a plain `def`, which cannot await. Make it "
                "`async def` and write `response = await self.client.get(...)`, "
                "or use a client that blocks in def tests "
                "(restflow_parity.test.APIClient)."
            )
        raise MissingAwaitError(
            f"{what} on the result of {self._description}, which was never sent: " + fix
        )

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("_"):
            # Protocol probes (asyncio, inspect, copy) must see a plain miss.
            raise AttributeError(name)
        self._missing_await(f"Read .{name}")

    def __getitem__(self, key: object) -> NoReturn:
        self._missing_await(f"Read [{key!r}]")

    def __bool__(self) -> NoReturn:
        self._missing_await("Tested the truth")

    def __iter__(self) -> NoReturn:
        self._missing_await("Iterated")

    def __repr__(self) -> str:
        return f"<PendingResponse {self._description}: not awaited>"

    def __del__(self) -> None:
        if self._awaited:
            return
        filename, lineno, module_globals = self._site
        warnings.warn_explicit(
            f"{self._description} was never awaited, so no request was sent: "
            "add `await` in front of the call.",
            RuntimeWarning,
            filename,
            lineno,
            module=module_globals.get("__name__"),
            registry=module_globals.setdefault("__warningregistry__", {}),
            module_globals=module_globals,
        )
