"""The test clients: DRF's ``APIClient`` surface, sent through either stack.

One class, ``ClientBase``, sends every request: through Django's WSGI handler
(the sync stack) or its ASGI path (the async stack), blocking in a ``def``
body or awaitable in an ``async def`` one. The public classes only fix the
stack and the body style:

- ``APIClient`` (and Django-flavoured ``Client``): the stack of the running
  ``@run_both_modes`` variant, and the sync stack outside one; drop-ins for
  DRF's and Django's clients.
- ``SyncAPIClient``: always WSGI. ``AsyncAPIClient``: always ASGI, awaitable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from django.core.signals import got_request_exception
from django.http import HttpResponseBase, StreamingHttpResponse
from django.test import signals
from django.urls import resolve
from django.utils.functional import SimpleLazyObject

from restflow_parity._thirdparty.django import (
    ClientMixin,
    json_method,
    store_rendered_templates,
)
from restflow_parity._thirdparty.drf import set_forced_auth
from restflow_parity.request._affinity import served_here
from restflow_parity.request._auth import (
    UnknownUserWarning,
    check_user,
    user_exists,
    warn_if_unknown,
)
from restflow_parity.request._builder import Hop, RequestBuilder
from restflow_parity.request._connections import closing_worker_connections
from restflow_parity.request._errors import MissingAwaitError
from restflow_parity.request._handler import (
    AsyncClientHandler,
    KitWSGIHandler,
    name_request,
)
from restflow_parity.request._ledger import counting, sending
from restflow_parity.request._pending import PendingResponse
from restflow_parity.request._responses import EitherResponse, TestResponse
from restflow_parity.request._sites import call_site, in_event_loop, warn_at
from restflow_parity.request._streams import (
    ASYNC_STREAM_WARNING,
    wsgi_stream_for_async,
)
from restflow_parity.scope import SCOPE_KEYS
from restflow_parity.variants._mode import Mode, active_mode
from restflow_parity.watchdog import (
    Guard,
    Unset,
    adopt_task,
    aguard,
    aguard_iter,
    guard_iter,
    install_interrupt_handler,
    resolve_timeout,
    validate_timeout,
)

__all__ = [
    "APIClient",
    "AsyncAPIClient",
    "Client",
    "ClientBase",
    "MissingAwaitError",
    "PendingResponse",
    "SyncAPIClient",
    "UnknownUserWarning",
]


def _refuse_in_event_loop(client: object, name: str, instead: str) -> None:
    if in_event_loop():
        raise RuntimeError(
            f"{type(client).__name__}.{name}() uses the database synchronously "
            "and cannot run inside an async test or event loop. Use "
            f"`await client.{instead}()`."
        )


_Resp = TypeVar("_Resp", covariant=True)


class ClientBase(ClientMixin, RequestBuilder[_Resp]):
    """A client on either stack; subclasses fix ``stack`` and ``awaitable``.

    Authentication state, response bookkeeping and error messages live here
    once, so client state behaves the same on both stacks.
    """

    #: True: verbs return ``PendingResponse`` to await. False: they block.
    #: None: await inside a running event loop (an ``async def`` body), block
    #: outside one.
    awaitable: bool | None = None

    def __init__(
        self,
        enforce_csrf_checks: bool = False,
        raise_request_exception: bool = True,
        *,
        request_timeout: float | Unset | None = Unset.UNSET,
        **defaults: Any,
    ) -> None:
        super().__init__(enforce_csrf_checks, **defaults)
        self.raise_request_exception = raise_request_exception
        self.exc_info: Any = None
        #: The last request's keywords, as Django's clients keep them.
        self.extra: dict[str, Any] | None = None
        self.headers: Mapping[str, str] | None = None
        self._force_user: Any = None
        self._force_token: Any = None
        self._handlers: dict[Mode, Any] = {}
        if request_timeout is not Unset.UNSET:
            request_timeout = validate_timeout(
                request_timeout, "request_timeout", ValueError
            )
        #: Seconds a request may take before the deadlock watchdog fails the
        #: test; unset means RESTFLOW_PARITY_REQUEST_TIMEOUT.
        self.request_timeout = request_timeout
        if resolve_timeout(request_timeout) is not None:
            # Clients are made in the main thread (set-up, fixtures), the
            # only thread that can install a signal handler.
            install_interrupt_handler()

    # --- which stack, which handler -------------------------------------------

    def _stack(self) -> Mode:
        return self.stack or active_mode() or "sync"

    @property
    def handler(self) -> Any:
        """The handler of the stack this client sends on now."""
        return self._handler_for(self._stack())

    @handler.setter
    def handler(self, value: Any) -> None:
        self._handlers[self._stack()] = value

    def _handler_for(self, stack: Mode) -> Any:
        handler = self._handlers.get(stack)
        if handler is None:
            kind = KitWSGIHandler if stack == "sync" else AsyncClientHandler
            handler = self._handlers[stack] = kind(self.enforce_csrf_checks)
        return handler

    # --- sending ----------------------------------------------------------------

    def request(self, **request: Any) -> Any:
        """Send a request built from environ keys (and, on the async stack,
        ASGI scope keys, as ``AsyncClient.request()`` takes)."""
        overrides = {key: request.pop(key) for key in SCOPE_KEYS & request.keys()}
        environ = self._base_environ(**request)
        stack = self._stack()
        if overrides and stack == "sync":
            raise TypeError(
                f"{type(self).__name__}.request() got ASGI scope keys "
                f"({', '.join(sorted(overrides))}) on the sync stack, where a "
                "request is a WSGI environ. Use environ names (PATH_INFO, "
                "REQUEST_METHOD, QUERY_STRING, HTTP_*) so the request works on "
                "both stacks."
            )
        awaitable = self.awaitable
        if awaitable is None:
            awaitable = in_event_loop()
        if awaitable:
            send = partial(self._arequest, environ, overrides, stack)
            return PendingResponse(send, self._describe(environ))
        if in_event_loop():
            raise RuntimeError(
                f"{self._describe(environ)} blocks, and it was called inside an "
                "event loop (an async def test body). Write `await "
                f"self.client.{environ['REQUEST_METHOD'].lower()}(...)`: under "
                "@run_both_modes the mode's client is awaitable in async "
                "bodies. Elsewhere use APIClient or AsyncAPIClient, or a def test."
            )
        return self._request(environ, stack)

    def _request(self, environ: dict[str, Any], stack: Mode) -> HttpResponseBase:
        """Send for a ``def`` body: block until the response is here."""
        limit = resolve_timeout(self.request_timeout)
        description = self._describe(environ)
        with Guard(description, limit):
            if stack == "sync":
                response = self._wsgi_send(environ)
                if isinstance(response, StreamingHttpResponse) and response.is_async:
                    # A def body iterates the body, so an async one is read
                    # on a loop of its own when it is first iterated, as
                    # Django's WSGI side does, with its warning.
                    content: Any = response.streaming_content
                    response.streaming_content = _drained_when_read(content)
            else:
                # Run the request on a loop in a worker thread while this
                # thread serves the ORM, as Django's runner does.
                response = served_here(
                    async_to_sync(self._asgi_send_drained), environ, call_site()
                )
        if limit is not None and isinstance(response, StreamingHttpResponse):
            # The body is read after the request returns; each chunk is watched.
            chunks: Iterator[bytes] = iter(response.streaming_content)  # type: ignore[arg-type]
            response.streaming_content = guard_iter(
                chunks, f"reading the body of {description}", limit
            )
        return response

    async def _arequest(
        self, environ: dict[str, Any], overrides: dict[str, Any], stack: Mode
    ) -> HttpResponseBase:
        """Send for an ``async def`` body."""
        limit = resolve_timeout(self.request_timeout)
        description = self._describe(environ)
        if stack == "sync":
            sending = self._wsgi_asend(environ)
        else:
            sending = self._asgi_send(environ, overrides)
        response = await aguard(sending, description, limit)
        if limit is not None and isinstance(response, StreamingHttpResponse):
            chunks: AsyncIterator[bytes] = response.streaming_content  # type: ignore[assignment]
            response.streaming_content = aguard_iter(
                chunks, f"reading the body of {description}", limit
            )
        return response

    def _wsgi_send(self, environ: dict[str, Any]) -> HttpResponseBase:
        # On the thread that owns the test's connection (the caller's, or
        # the one sync_to_async sends thread-sensitive work to).
        handler = self._handler_for("sync")
        set_forced_auth(handler, self._force_user, self._force_token)
        with self._recording() as rendered, closing_worker_connections():
            response: HttpResponseBase = handler(environ)
        self._finish(response, environ, rendered)
        return response

    async def _wsgi_asend(self, environ: dict[str, Any]) -> HttpResponseBase:
        # Thread-sensitive: under Django's runner and the pytest plugin this
        # is the thread holding the test's connection and transaction.
        response = await sync_to_async(self._wsgi_send)(environ)
        wsgi_stream_for_async(response)
        return response

    async def _asgi_send(
        self,
        environ: dict[str, Any],
        overrides: dict[str, Any] | None = None,
        site: Any = None,
    ) -> HttpResponseBase:
        handler = self._handler_for("async")
        # Names this client in a variant's stack ledger, should it be the
        # wrong stack. Only then: each context variable costs every hop.
        sender = sending.set(self) if counting() else None
        try:
            with self._recording() as rendered:
                response: HttpResponseBase = await handler(
                    environ,
                    self._force_user,
                    self._force_token,
                    overrides=overrides,
                    site=site,
                )
        finally:
            if sender is not None:
                sending.reset(sender)
        self._finish(response, environ, rendered)
        return response

    async def _asgi_send_drained(
        self, environ: dict[str, Any], site: Any
    ) -> HttpResponseBase:
        # The loop ends with this call, so a streaming body is read now and
        # handed to the def body as a plain iterable of the same chunks.
        adopt_task()
        response = await self._asgi_send(environ, site=site)
        if isinstance(response, StreamingHttpResponse):
            stream: Any = response.streaming_content  # always async: see handler
            response.streaming_content = [chunk async for chunk in stream]
        return response

    def _describe(self, environ: Mapping[str, Any]) -> str:
        method = str(environ["REQUEST_METHOD"]).lower()
        return f"{type(self).__name__}.{method}({environ['PATH_INFO']!r})"

    @contextmanager
    def _recording(self) -> Iterator[dict[str, Any]]:
        """Collect rendered templates and view exceptions for one request."""
        rendered: dict[str, Any] = {}
        # Signals hold receivers weakly: the partial must outlive the request.
        on_render = partial(store_rendered_templates, rendered)
        uid = f"restflow-parity-{id(rendered)}"
        signals.template_rendered.connect(on_render, dispatch_uid=uid)
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

    # --- following redirects ----------------------------------------------------

    def _remember(
        self, extra: dict[str, Any], headers: Mapping[str, str] | None
    ) -> None:
        self.extra = extra
        self.headers = headers

    def _follow(
        self, response: Any, hop: Hop, headers: Mapping[str, str] | None
    ) -> Any:
        if isinstance(response, PendingResponse):
            response._settle()  # the follow-up awaits it, or answers for it
            follow = partial(self._afollow, response, hop, headers)
            return PendingResponse(follow, response._description)
        chain: list[tuple[str, int]] = []
        while (next_hop := self._next_hop(response, hop, chain)) is not None:
            hop = next_hop
            response = self._send_hop(hop, headers)
        response.redirect_chain = chain
        return response

    async def _afollow(
        self, first: PendingResponse, hop: Hop, headers: Mapping[str, str] | None
    ) -> HttpResponseBase:
        response: Any = await first
        chain: list[tuple[str, int]] = []
        while (next_hop := self._next_hop(response, hop, chain)) is not None:
            hop = next_hop
            response = await self._send_hop(hop, headers)
        response.redirect_chain = chain
        return response  # type: ignore[no-any-return]

    def _send_hop(self, hop: Hop, headers: Mapping[str, str] | None) -> Any:
        return self.generic(
            hop.method, hop.path, hop.body, hop.content_type, hop.secure,
            headers=headers, **hop.extra,
        )  # fmt: skip

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
        """Log in as Django's client does; warn if the user does not exist."""
        _refuse_in_event_loop(self, "login", "alogin")
        if super().login(**credentials):
            return True
        warn_if_unknown("login", credentials, user_exists(credentials))
        return False

    async def alogin(self, **credentials: Any) -> bool:
        """Log in as Django's client does; warn if the user does not exist."""
        if await super().alogin(**credentials):
            return True
        # Thread-sensitive: the lookup must see the test's transaction, as
        # the client's requests do.
        exists = await sync_to_async(user_exists)(credentials)
        warn_if_unknown("alogin", credentials, exists)
        return False

    def force_login(self, user: Any, backend: str | None = None) -> None:
        _refuse_in_event_loop(self, "force_login", "aforce_login")
        super().force_login(user, backend)


class APIClient(ClientBase[EitherResponse]):
    """A drop-in for DRF's ``APIClient`` that follows the running stack.

    Outside a ``@run_both_modes`` variant it sends through Django's WSGI
    handler, as DRF's does; inside an ``_async`` variant every instance
    (module-level ones, and those made in ``setUp``, too) sends through the
    ASGI path. Verbs block in ``def`` bodies and are awaitable in
    ``async def`` ones.
    """


class Client(APIClient):
    """A drop-in for Django's ``Client`` that follows the running stack.

    Without ``format=`` or ``content_type=`` it encodes bodies as Django's
    client does (multipart POSTs, raw bodies otherwise), not with DRF's
    renderers.
    """

    django_encoding = True


class SyncAPIClient(ClientBase[TestResponse]):
    """DRF ``APIClient``'s API, always over Django's WSGI handler.

    In a ``def`` body verbs return responses; in an ``async def`` body they
    return a ``PendingResponse`` to await, and the WSGI request runs in the
    thread that owns the test's database connection, so it sees and rolls
    back the test's data.
    """

    stack = "sync"


class AsyncAPIClient(ClientBase[PendingResponse]):
    """An async test client for DRF: ``format=``, credentials, force-auth.

    Requests are built by the same path as the sync stack's and handed to
    Django's async handler as spec-shaped ASGI scopes. Every verb returns a
    ``PendingResponse`` to ``await``.
    """

    stack = "async"
    awaitable = True


async def _drain(content: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in content]


def _drained_when_read(content: AsyncIterator[bytes]) -> Iterator[bytes]:
    warn_at(ASYNC_STREAM_WARNING, Warning)  # at the line that reads the body
    yield from async_to_sync(_drain)(content)


def decorate_response(
    client: Any, response: Any, environ: dict[str, Any], rendered: dict[str, Any]
) -> None:
    """Attach what Django's test clients attach, identically on both stacks."""
    response.client = client
    response.templates = rendered.get("templates", [])
    context = rendered.get("context")
    # One context is unwrapped, as Django's clients do.
    response.context = context[0] if context and len(context) == 1 else context
    response.json = json_method(client, response)
    request = getattr(response, "wsgi_request", None)
    if request is None:
        request = getattr(response, "asgi_request", None)
        if request is not None:
            # Django's AsyncClient records scope keys ("path"), its Client
            # environ names ("PATH_INFO", read by assertRedirects): keep both.
            environ = {**environ, **request.scope}
    if request is not None:
        name_request(response, request)
    response.request = environ
    urlconf = getattr(request, "urlconf", None)
    path_info = environ["PATH_INFO"]
    response.resolver_match = SimpleLazyObject(
        lambda: resolve(path_info, urlconf=urlconf)
    )
    if response.cookies:
        client.cookies.update(response.cookies)
