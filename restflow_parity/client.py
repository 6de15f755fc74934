"""``AsyncAPIClient``: DRF's ``APIClient`` surface over Django's ASGI path."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, NoReturn

from asgiref.sync import async_to_sync
from django.core.signals import got_request_exception
from django.http import HttpResponseBase, StreamingHttpResponse
from django.test import signals
from django.test.client import (  # type: ignore[attr-defined]
    ClientMixin,
    store_rendered_templates,
)
from django.urls import resolve
from django.utils.functional import SimpleLazyObject

from restflow_parity.builder import RequestBuilder, RequestSpec
from restflow_parity.handler import AsyncClientHandler

__all__ = ["AsyncAPIClient", "ClientBase", "MissingAwaitError", "PendingResponse"]


class MissingAwaitError(TypeError):
    """A response was used before its request was awaited."""


class PendingResponse:
    """What an ``AsyncAPIClient`` verb returns: ``await`` it to send the request.

    Touching it like a response before awaiting raises ``MissingAwaitError``
    with the fix, instead of a puzzling ``AttributeError`` on a coroutine.
    """

    __slots__ = ("_awaited", "_description", "_send")

    def __init__(
        self, send: Callable[[], Awaitable[HttpResponseBase]], description: str
    ) -> None:
        self._send = send
        self._description = description
        self._awaited = False

    def __await__(self) -> Generator[Any, None, HttpResponseBase]:
        self._awaited = True
        return self._send().__await__()

    def _missing_await(self, what: str) -> NoReturn:
        raise MissingAwaitError(
            f"{what} on the result of {self._description}, which was never "
            f"sent: add `await`, as in `response = await client.get(...)`."
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
        if not self._awaited:
            warnings.warn(
                f"{self._description} was never awaited, so no request was "
                "sent: add `await` in front of the call.",
                RuntimeWarning,
                stacklevel=1,
            )


def in_event_loop() -> bool:
    """Whether this thread is running an event loop (an async test body)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _refuse_in_event_loop(client: object, name: str, instead: str) -> None:
    if in_event_loop():
        raise RuntimeError(
            f"{type(client).__name__}.{name}() uses the database synchronously "
            "and cannot run inside an async test or event loop. Use "
            f"`await client.{instead}()`."
        )


class ClientBase(ClientMixin, RequestBuilder[Any]):
    """What the sync and async stacks' clients share, beyond building requests.

    Authentication state, response bookkeeping and error messages live here
    once, so client state behaves the same on both stacks.
    """

    #: Whether verbs return ``PendingResponse`` (for ``async def`` bodies) or
    #: finished responses (for ``def`` bodies). The mode runner sets it.
    awaitable: bool
    handler_class: Callable[[bool], Any]

    def __init__(
        self,
        enforce_csrf_checks: bool = False,
        raise_request_exception: bool = True,
        **defaults: Any,
    ) -> None:
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = self.handler_class(enforce_csrf_checks)
        self.raise_request_exception = raise_request_exception
        self.exc_info: Any = None
        self._force_user: Any = None
        self._force_token: Any = None

    def _dispatch(self, spec: RequestSpec, follow: bool) -> Any:
        if self.awaitable:
            send = partial(self._arequest, spec, follow)
            return PendingResponse(send, self._describe(spec))
        if in_event_loop():
            verb = spec.method.lower()
            raise RuntimeError(
                f"{self._describe(spec)} blocks, and it was called inside an "
                f"event loop (an async def test body). Write `await "
                f"self.client.{verb}(...)`: under @run_both_modes the mode's "
                "client is awaitable in async bodies. Elsewhere use "
                "AsyncAPIClient, or a def test."
            )
        return self._blocking_request(spec, follow)

    async def _arequest(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        """Send ``spec`` for an ``async def`` body."""
        raise NotImplementedError

    def _blocking_request(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        """Send ``spec`` for a ``def`` body."""
        raise NotImplementedError

    def _describe(self, spec: RequestSpec) -> str:
        return f"{type(self).__name__}.{spec.method.lower()}({spec.path!r})"

    @contextmanager
    def _recording(self, environ: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Collect rendered templates and view exceptions for one request."""
        rendered: dict[str, Any] = {}
        uid = f"restflow-parity-{id(environ)}"
        signals.template_rendered.connect(
            partial(store_rendered_templates, rendered), dispatch_uid=uid
        )
        got_request_exception.connect(self.store_exc_info, dispatch_uid=uid)
        try:
            yield rendered
        finally:
            signals.template_rendered.disconnect(dispatch_uid=uid)
            got_request_exception.disconnect(dispatch_uid=uid)

    def _finish(
        self, response: Any, environ: dict[str, Any], rendered: dict[str, Any]
    ) -> None:
        self.check_exception(response)
        decorate_response(self, response, environ, rendered)

    # --- authentication state -----------------------------------------------

    def force_authenticate(self, user: Any = None, token: Any = None) -> None:
        """Authenticate every later request as ``user``/``token``; no args clears.

        Clearing also forgets credentials and the session cookie, as DRF's
        client does, but without touching the database.
        """
        check_user(user)
        self._force_user, self._force_token = user, token
        if user is None and token is None:
            self._forget_login()

    def _forget_login(self) -> None:
        from django.conf import settings

        self._credentials = {}
        self._force_user = self._force_token = None
        self.cookies.pop(settings.SESSION_COOKIE_NAME, None)

    async def alogout(self) -> None:
        """Log out: credentials, force-auth state and the session, in one call."""
        self._force_user = self._force_token = None
        self._credentials = {}
        await super().alogout()

    def logout(self) -> None:
        """Sync twin of ``alogout()``, for use outside an event loop."""
        _refuse_in_event_loop(self, "logout", "alogout")
        self._force_user = self._force_token = None
        self._credentials = {}
        super().logout()

    def login(self, **credentials: Any) -> bool:
        _refuse_in_event_loop(self, "login", "alogin")
        return super().login(**credentials)

    def force_login(self, user: Any, backend: str | None = None) -> None:
        _refuse_in_event_loop(self, "force_login", "aforce_login")
        super().force_login(user, backend)


class AsyncAPIClient(ClientBase):
    """An async test client for DRF: ``format=``, credentials, force-auth.

    Requests are built by the same path as the sync stack's and handed to
    Django's async handler as spec-shaped ASGI scopes. Every verb returns a
    ``PendingResponse`` to ``await``.
    """

    awaitable = True
    handler_class = AsyncClientHandler

    def _blocking_request(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        # A def body on the async stack: run the request on a loop in a worker
        # thread while this thread serves the ORM, as Django's runner does.
        return async_to_sync(self._request_drained)(spec, follow)

    async def _arequest(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        response = await self._send(spec)
        if follow:
            chain: list[tuple[str, int]] = []
            while (spec_next := self._next_hop(spec, response, chain)) is not None:
                spec = spec_next
                response = await self._send(spec)
            response.redirect_chain = chain  # type: ignore[attr-defined]
        return response

    async def _request_drained(
        self, spec: RequestSpec, follow: bool
    ) -> HttpResponseBase:
        # The loop ends with this call, so a streaming body is read now and
        # handed to the def body as a plain iterable of the same chunks.
        response = await self._arequest(spec, follow)
        if isinstance(response, StreamingHttpResponse):
            stream: Any = response.streaming_content  # always async: see handler
            chunks = [chunk async for chunk in stream]
            response.streaming_content = chunks
        return response

    async def _send(self, spec: RequestSpec) -> HttpResponseBase:
        environ = self.environ(spec)
        with self._recording(environ) as rendered:
            response: HttpResponseBase = await self.handler(
                environ, self._force_user, self._force_token
            )
        self._finish(response, environ, rendered)
        return response


def check_user(user: Any) -> None:
    """Reject what cannot be a user before DRF fails on it mid-request."""
    if user is not None and not hasattr(user, "is_authenticated"):
        raise TypeError(
            f"force_authenticate(user=...) takes a user instance, got "
            f"{type(user).__name__} {user!r}. Fetch the user first, e.g. "
            "`user = await User.objects.aget(username=...)`."
        )


def decorate_response(
    client: Any, response: Any, environ: dict[str, Any], rendered: dict[str, Any]
) -> None:
    """Attach what Django's test clients attach, identically on both stacks."""
    response.client = client
    response.request = environ
    response.templates = rendered.get("templates", [])
    context = rendered.get("context")
    # One context is unwrapped, as Django's clients do.
    response.context = context[0] if context and len(context) == 1 else context
    response.json = partial(client._parse_json, response)
    request = getattr(response, "asgi_request", None) or getattr(
        response, "wsgi_request", None
    )
    urlconf = getattr(request, "urlconf", None)
    response.resolver_match = SimpleLazyObject(
        lambda: resolve(environ["PATH_INFO"], urlconf=urlconf)
    )
    if response.cookies:
        client.cookies.update(response.cookies)
