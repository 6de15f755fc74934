"""``AsyncAPIClient``: DRF's ``APIClient`` surface over Django's ASGI path."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, NoReturn

from asgiref.sync import async_to_sync, sync_to_async
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
    "AsyncAPIClient",
    "ClientBase",
    "MissingAwaitError",
    "PendingResponse",
    "UnknownUserWarning",
]


class MissingAwaitError(TypeError):
    """A response was used before its request was awaited."""


class UnknownUserWarning(UserWarning):
    """``login()``/``alogin()`` returned False because the user does not exist.

    Django's contract (return False) is kept; the warning is for the common
    mistake behind it: the user was never created, or was created where the
    client's requests cannot see it.
    """


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
        *,
        request_timeout: float | Unset | None = Unset.UNSET,
        **defaults: Any,
    ) -> None:
        super().__init__(enforce_csrf_checks, **defaults)
        self.handler = self.handler_class(enforce_csrf_checks)
        self.raise_request_exception = raise_request_exception
        self.exc_info: Any = None
        self._force_user: Any = None
        self._force_token: Any = None
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

    def _dispatch(self, spec: RequestSpec, follow: bool) -> Any:
        if self.awaitable:
            send = partial(self._watched_arequest, spec, follow)
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
        return self._watched_request(spec, follow)

    def _watched_request(self, spec: RequestSpec, follow: bool) -> HttpResponseBase:
        limit = resolve_timeout(self.request_timeout)
        description = self._describe(spec)
        with Guard(description, limit):
            response = self._blocking_request(spec, follow)
        if limit is not None and isinstance(response, StreamingHttpResponse):
            # The body is read after the request returns; each chunk is watched.
            chunks: Iterator[bytes] = iter(response.streaming_content)  # type: ignore[arg-type]
            response.streaming_content = guard_iter(
                chunks, f"reading the body of {description}", limit
            )
        return response

    async def _watched_arequest(
        self, spec: RequestSpec, follow: bool
    ) -> HttpResponseBase:
        limit = resolve_timeout(self.request_timeout)
        description = self._describe(spec)
        response = await aguard(self._arequest(spec, follow), description, limit)
        if limit is not None and isinstance(response, StreamingHttpResponse):
            chunks: AsyncIterator[bytes] = response.streaming_content  # type: ignore[assignment]
            response.streaming_content = aguard_iter(
                chunks, f"reading the body of {description}", limit
            )
        return response

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
        """Log in as Django's client does; warn if the user does not exist."""
        _refuse_in_event_loop(self, "login", "alogin")
        if super().login(**credentials):
            return True
        _warn_if_unknown("login", credentials, _user_exists(credentials))
        return False

    async def alogin(self, **credentials: Any) -> bool:
        """Log in as Django's client does; warn if the user does not exist."""
        if await super().alogin(**credentials):
            return True
        # Thread-sensitive: the lookup must see the test's transaction, as
        # the client's requests do.
        exists = await sync_to_async(_user_exists)(credentials)
        _warn_if_unknown("alogin", credentials, exists)
        return False

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
        adopt_task()
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


def _user_exists(credentials: dict[str, Any]) -> bool | None:
    """Whether the user ``credentials`` name exists; None when they name none."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    field = model.USERNAME_FIELD
    if field not in credentials:
        return None  # another backend's credentials: nothing to look up
    manager: Any = model._default_manager
    try:
        # The natural key honours a custom manager's lookup (case, say).
        manager.get_by_natural_key(credentials[field])
    except model.DoesNotExist:
        return False
    except (AttributeError, model.MultipleObjectsReturned):
        return bool(manager.filter(**{field: credentials[field]}).exists())
    return True


def _warn_if_unknown(
    name: str, credentials: dict[str, Any], exists: bool | None
) -> None:
    if exists is not False:
        return  # a wrong password or an inactive user: the test may mean it
    from django.contrib.auth import get_user_model

    field = get_user_model().USERNAME_FIELD
    value = credentials[field]
    warnings.warn(
        f"{name}({field}={value!r}, ...) returned False: no user with "
        f"{field} {value!r} exists in the database the client's requests "
        "use. Create it first, in setUp()/asyncSetUp() or the test itself "
        "(`User.objects.create_user(...)` or `await "
        "User.objects.acreate_user(...)`). If the test means to check that "
        "the login fails, expect the warning: `with "
        "self.assertWarns(UnknownUserWarning):` or `with "
        "pytest.warns(UnknownUserWarning):`.",
        UnknownUserWarning,
        stacklevel=3,
    )


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
