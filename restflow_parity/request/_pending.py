"""``PendingResponse``: what an awaitable client's verbs return.

Awaiting it sends the request. Touching it like a response first raises
``MissingAwaitError`` with the fix. One that is never awaited fails the test
that made it (the test's ledger holds it; see ``_ledger.py``), with that
message at the test's line; outside a test it warns there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, NoReturn

from django.http import HttpResponseBase

from restflow_parity.request._errors import MissingAwaitError
from restflow_parity.request._ledger import current
from restflow_parity.request._sites import call_site, in_event_loop, warn_at

if TYPE_CHECKING:
    from restflow_parity.request._responses import TestResponse

__all__ = ["PendingResponse"]


class PendingResponse:
    """What an awaitable client's verb returns: ``await`` it to send the request.

    Touching it like a response before awaiting raises ``MissingAwaitError``
    with the fix, instead of a puzzling ``AttributeError`` on a coroutine.
    """

    __slots__ = ("__weakref__", "_awaited", "_description", "_ledger", "_send", "_site")

    def __init__(
        self, send: Callable[[], Awaitable[HttpResponseBase]], description: str
    ) -> None:
        self._send = send
        self._description = description
        self._awaited = False
        self._site = call_site()
        # The test that made it answers for it.
        self._ledger = current()
        if self._ledger is not None:
            self._ledger.pending.add(self)

    def __await__(self) -> Generator[Any, None, TestResponse]:
        self._settle()
        return self._send().__await__()  # type: ignore[return-value]

    def _settle(self) -> None:
        """Awaited, or handed to another ``PendingResponse`` that will be."""
        self._awaited = True
        if self._ledger is not None:
            self._ledger.pending.discard(self)

    def unawaited(self) -> str:
        """The failure message for a response nobody awaited."""
        filename, lineno, _ = self._site
        return (
            f"{self._description} was never awaited, so no request was sent: add "
            f"`await` in front of the call (at {filename}:{lineno})."
        )

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

    if not TYPE_CHECKING:  # a type checker says "no attribute", statically

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
        ledger = self._ledger
        if ledger is not None and ledger.open:
            ledger.never_awaited.append(self.unawaited())  # fails the test
            return
        warn_at(
            f"{self._description} was never awaited, so no request was sent: "
            "add `await` in front of the call.",
            RuntimeWarning,
            self._site,
        )
