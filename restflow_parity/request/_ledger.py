"""The stack ledger: which stack served each variant's requests.

A variant's promise is "this body passed on *its* stack". Whatever a suite
sends through a name the kit does not control (pytest-django's ``client``, a
stock ``APIClient()`` made in the body, a module-level ``RequestFactory``)
would silently stay on one stack, and both variants would test it. So while
a variant runs, the ledger counts every request that a Django handler serves
and every request object a factory builds, by stack, and a request on the
other stack fails the test, naming what sent it and the fix.

Where it looks, in order of preference:

- ``request_started``, Django's public signal: every handler sends it, with
  ``environ=`` on WSGI (Django's test ``ClientHandler``, ``WSGIHandler``) and
  ``scope=`` on ASGI (``ASGIHandler``, Django's ``AsyncClientHandler``, the
  kit's handler and live server). The receiver is connected only while a
  variant runs.
- The kit's own factories report what they build.
- Django's own factories (and DRF's, built on them) have no hook: while a
  variant runs, ``stock.py`` wraps their ``request()`` to report (and to
  build for the variant's stack).

The ledger counts; it keeps no request. A test may mean to use one stack
(DRF's ``RequestsClient`` is a WSGI adapter by design): ``one_stack()`` says
so, and those requests are counted apart, as by design.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from django.test.client import AsyncClient, AsyncRequestFactory, Client, RequestFactory

from restflow_parity._thirdparty.cpython import getframe
from restflow_parity.request._errors import MissingAwaitError, WrongStackError
from restflow_parity.variants._mode import STACKS, other

if TYPE_CHECKING:
    from restflow_parity.variants._mode import Mode

__all__ = [
    "Ledger",
    "WrongStackError",
    "counting",
    "current",
    "name_fixture",
    "one_stack",
    "record_built",
    "recording",
    "sending",
]

_ONE_STACK_ATTR = "_restflow_parity_one_stack"
#: How many wrong-stack requests a failure lists; the rest are counted.
_LISTED = 5

F = TypeVar("F", bound=Callable[..., Any])


class Ledger:
    """One test's requests by stack, and what its variant must not send."""

    def __init__(self, mode: Mode | None, allowed: Mode | None = None) -> None:
        #: The variant's stack; None for a test that is no variant (only its
        #: forgotten awaits are checked).
        self.mode = mode
        self.counts: dict[str, int] = {"sync": 0, "async": 0}
        #: Requests on the other stack that ``one_stack()`` allowed.
        self.by_design = 0
        self.wrong = 0
        self.reported = 0  # wrong requests already raised about
        self.offenders: list[str] = []
        self.suspended = 0
        self._allowed: list[Mode] = [allowed] if allowed else []
        #: Responses to await that are still alive, and ones that died unawaited.
        self.pending: weakref.WeakSet[Any] = weakref.WeakSet()
        self.never_awaited: list[str] = []
        #: Clients and factories the test's fixtures made (pytest).
        self.fixture_senders: list[Any] = []
        self.open = True

    def allows(self, stack: str) -> bool:
        return stack in self._allowed

    def add(self, stack: Mode, describe: Callable[[], str]) -> None:
        if self.suspended or self.mode is None:
            return
        with _lock:
            self.counts[stack] += 1
            if stack == self.mode:
                return
            if self.allows(stack):
                self.by_design += 1
                return
            self.wrong += 1
            listed = len(self.offenders) < _LISTED
        if listed:
            # Only a wrong request is described: the description walks the
            # sender's frames, on the thread that sends it.
            text = describe()
            with _lock:
                self.offenders.append(text)

    def absorb(self, inner: Ledger) -> None:
        """Take an inner (variant) ledger's counts; it raised what it found."""
        with _lock:
            if inner.mode is not None:
                self.mode = self.mode or inner.mode
            for stack, count in inner.counts.items():
                self.counts[stack] += count
            self.by_design += inner.by_design
            self.wrong += inner.wrong
            self.reported += inner.wrong

    def totals(self) -> dict[str, int]:
        """What a report records of this ledger."""
        return {
            "wsgi": self.counts["sync"],
            "asgi": self.counts["async"],
            "by_design": self.by_design,
        }

    def verify(self) -> None:
        """Fail the test for a forgotten ``await`` or a wrong-stack request."""
        __tracebackhide__ = True
        unawaited = self.never_awaited + [p.unawaited() for p in list(self.pending)]
        if unawaited:
            self.never_awaited.clear()
            self.pending.clear()
            more = f" (and {len(unawaited) - 1} more)" if len(unawaited) > 1 else ""
            raise MissingAwaitError(unawaited[0] + more)
        if self.wrong > self.reported:
            message = self._wrong_stack_message()
            self.reported = self.wrong
            raise WrongStackError(message)

    def _wrong_stack_message(self) -> str:
        assert self.mode is not None
        own, wrong = STACKS[self.mode], STACKS[other(self.mode)]
        new = self.wrong - self.reported
        lines = [
            f"the {self.mode} variant sent {new} request(s) through {wrong}, not "
            f"{own}, so it did not test the {self.mode} stack "
            f"({self.counts[self.mode]} went through {own}):"
        ]
        lines += [f"  - {offender}" for offender in self.offenders]
        if self.wrong > len(self.offenders):
            lines.append(f"  - and {self.wrong - len(self.offenders)} more")
        lines.append(
            "A request meant for one stack only (DRF's RequestsClient is WSGI by "
            'design) goes in `with restflow_parity.one_stack("sync", '
            'reason="..."):`, or the test is decorated with it.'
        )
        self.offenders.clear()
        return "\n".join(lines)


_lock = threading.Lock()
# The running test's ledger. A process runs one test at a time (xdist and
# --parallel use processes), and requests reach it from the test's thread,
# its loop's thread, asgiref's workers and live server threads: a global.
_current: Ledger | None = None


def current() -> Ledger | None:
    """The running test's ledger, or None."""
    return _current


def counting() -> bool:
    """Whether a variant's ledger counts requests now: only then is a
    request's sender worth naming (``sending``)."""
    ledger = _current
    return ledger is not None and ledger.mode is not None


@contextmanager
def recording(mode: Mode | None, allowed: Mode | None = None) -> Iterator[Ledger]:
    """Open the ledger of a test (``mode`` None) or of a variant.

    A test's ledger opened inside another test's is that one (the pytest
    plugin opens one per item, the unittest variant inside it opens its own,
    whose counts go to the item's when it closes).
    """
    global _current
    outer = _current
    if mode is None and outer is not None:
        yield outer
        return
    ledger = Ledger(mode, allowed)
    _current = ledger
    watching = mode is not None and _watch()
    try:
        yield ledger
    finally:
        if watching:
            _unwatch()
        ledger.open = False
        _current = outer
        if outer is not None:
            outer.absorb(ledger)


@contextmanager
def suspended() -> Iterator[None]:
    """Leave the block's requests out of the ledger: a session fixture's set-up
    belongs to no variant."""
    ledger = _current
    if ledger is None:
        yield
        return
    ledger.suspended += 1
    try:
        yield
    finally:
        ledger.suspended -= 1


class one_stack:
    """Allow requests on ``stack`` in any variant: the test means one stack.

    ``with one_stack("sync", reason="RequestsClient is a WSGI adapter"):``
    around the requests, or ``@one_stack(...)`` on the test (function, method
    or class). The requests are counted in the ledger as *by design*; any
    other request on the other stack still fails the variant.
    """

    def __init__(self, stack: Mode, *, reason: str) -> None:
        if stack not in STACKS:
            raise ValueError(
                f"one_stack({stack!r}): the stack is 'sync' (WSGI) or 'async' (ASGI)."
            )
        if not reason or not reason.strip():
            raise ValueError(
                "one_stack() needs reason='...': why this test sends on one "
                "stack only (it is shown where the requests are counted)."
            )
        self.stack: Mode = stack
        self.reason = reason

    def __enter__(self) -> None:
        ledger = _current
        if ledger is not None:
            ledger._allowed.append(self.stack)

    def __exit__(self, *exc: object) -> None:
        ledger = _current
        if ledger is not None and self.stack in ledger._allowed:
            ledger._allowed.remove(self.stack)

    def __call__(self, target: F) -> F:
        if not callable(target):
            raise TypeError(
                "@one_stack decorates a test function, method or class, not "
                f"{target!r}."
            )
        setattr(target, _ONE_STACK_ATTR, self.stack)
        return target


def allowed_stack(*targets: object) -> Mode | None:
    """The stack ``@one_stack`` allows on the first of ``targets`` that has one."""
    for target in targets:
        stack = getattr(target, _ONE_STACK_ATTR, None)
        if stack is not None:
            return stack  # type: ignore[no-any-return]
    return None


# --- what sent a request ------------------------------------------------------

#: The kit's client sending the current request (for naming it: its ASGI
#: requests reach the signal in a worker thread, where no frame shows it).
sending: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "restflow_parity_sending", default=None
)
#: Clients and factories pytest fixtures returned, by the fixture's name.
_fixture_names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

# pytest-django's fixtures and the kit's replacement for each.
_FIXTURE_FIXES = {
    "client": "use the `parity_client` fixture",
    "admin_client": (
        "use the `parity_client` fixture, logged in with "
        "`parity_client.force_login(admin_user)`"
    ),
    "async_client": "use the `parity_client` fixture",
    "rf": "use the `parity_rf` fixture",
    "async_rf": "use the `parity_rf` fixture",
}
# The stock handlers that send request_started, and the clients that own them.
_HANDLER_CLIENTS = {
    "ClientHandler": "Client",
    "ForceAuthClientHandler": "APIClient",
    "AsyncClientHandler": "AsyncClient",
}


def name_fixture(value: Any, name: str, module: str) -> None:
    """Remember that fixture ``name`` (from ``module``) returned ``value``."""
    if _is_sender(value):
        owner = "pytest-django's" if module.startswith("pytest_django") else "the"
        # Not weakly referenceable: named by its class alone.
        with contextlib.suppress(TypeError):
            _fixture_names[value] = f"{owner} `{name}` fixture"
        ledger = _current
        if ledger is not None:
            # An ASGI request reaches the ledger in a worker thread, where no
            # frame shows its client: the test's fixtures are the suspects.
            ledger.fixture_senders.append(value)


#: The classes a sender derives from, by where they are defined: the module
#: that checks senders imports neither DRF's test module nor the kit's
#: clients (both need the settings at import; the pytest plugin imports it
#: before Django is set up).
_KIT_BUILDER = "restflow_parity.request._builder.RequestBuilder"
_DRF_CLIENT = "rest_framework.test.APIClient"
_DRF_FACTORY = "rest_framework.test.APIRequestFactory"


def _ancestry(value: Any) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(value).__mro__}


def _is_sender(value: Any) -> bool:
    return isinstance(value, (RequestFactory, AsyncRequestFactory)) or (
        _KIT_BUILDER in _ancestry(value)
    )


def _qualname(obj: Any) -> str:
    cls = type(obj)
    module = cls.__module__
    if module.startswith("restflow_parity."):
        module = "restflow_parity.test"
    elif module == "django.test.client":
        module = "django.test"
    return f"{module}.{cls.__qualname__}"


def _fix_for(sender: Any) -> str:
    """What to use instead of ``sender``, which sends on one stack."""
    fixture = _fixture_names.get(sender)
    if fixture is not None and fixture.startswith("pytest-django's"):
        name = fixture.split("`")[1]
        return _FIXTURE_FIXES.get(name, _FIXTURE_FIXES["client"])
    ancestry = _ancestry(sender)
    if _DRF_CLIENT in ancestry:
        kit = "APIClient"
    elif isinstance(sender, (Client, AsyncClient)):
        kit = "Client"
    elif _DRF_FACTORY in ancestry:
        kit = "APIRequestFactory"
    elif _KIT_BUILDER in ancestry:
        factory = not hasattr(sender, "handler")
        kit = "APIRequestFactory" if factory else "APIClient"
    else:
        kit = "RequestFactory"
    made = " (make the fixture return it)" if fixture else ""
    return f"use restflow_parity.test.{kit}{made}, which follows the variant's stack"


def _describe_sender(sender: Any) -> str:
    fixture = _fixture_names.get(sender)
    what = _qualname(sender)
    return f"{fixture} ({what})" if fixture else what


def _find_sender() -> Any:
    """The client or factory on this thread's stack, innermost first."""
    frame = getframe(2)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if candidate is not None and _is_sender(candidate):
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _suspect(ledger: Ledger, handler: Any) -> Any:
    """The test's one fixture-made client that owns ``handler``'s kind."""
    kind = _HANDLER_CLIENTS.get(getattr(handler, "__name__", ""))
    found = [
        value
        for value in ledger.fixture_senders
        if kind is not None and kind in (cls.__name__ for cls in type(value).__mro__)
    ]
    return found[0] if len(found) == 1 else None


_SERVERS = {
    "ASGIHandler": "an ASGI server (the ASGI live server, say)",
    "WSGIHandler": (
        "a WSGI server (Django's LiveServerTestCase, or DRF's RequestsClient)"
    ),
}


def _served(signal: Any = None, sender: Any = None, **kwargs: Any) -> None:
    """``request_started`` receiver: count the request by its stack."""
    ledger = _current
    if ledger is None or ledger.mode is None:
        return
    if "scope" in kwargs:
        scope = kwargs["scope"]
        stack: Mode = "async"
        line = f"{scope.get('method', '?')} {scope.get('path', '?')}"
    else:
        environ = kwargs.get("environ") or {}
        stack = "sync"
        line = (
            f"{environ.get('REQUEST_METHOD', '?')} "
            f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '?')}"
        )

    def describe() -> str:
        client = sending.get() or _find_sender() or _suspect(ledger, sender)
        where = f"{line} through {STACKS[stack]}"
        if client is not None:
            return f"{where}, sent by {_describe_sender(client)}: {_fix_for(client)}"
        handler = getattr(sender, "__name__", str(sender))
        server = _SERVERS.get(handler)
        if server is not None:
            return (
                f"{where}, served by {server}: a live server serves one stack; "
                "run this test on that stack only (no @run_both_modes), or "
                "allow it with one_stack()"
            )
        return f"{where}, served by {handler}"

    ledger.add(stack, describe)


def record_built(stack: Mode, factory: Any, request: Any) -> None:
    """Count a request object a factory built."""
    ledger = _current
    if ledger is None or ledger.mode is None:
        return

    def describe() -> str:
        what = f"{request.method} {request.path} built as {type(request).__name__}"
        return f"{what}, by {_describe_sender(factory)}: {_fix_for(factory)}"

    ledger.add(stack, describe)


# --- connecting while a variant runs ----------------------------------------

_watching = 0


def _watch() -> bool:
    global _watching
    if _watching == 0:
        from django.core.signals import request_started

        request_started.connect(_served, dispatch_uid=__name__)
    _watching += 1
    return True


def _unwatch() -> None:
    global _watching
    _watching -= 1
    if _watching == 0:
        from django.core.signals import request_started

        request_started.disconnect(dispatch_uid=__name__)
