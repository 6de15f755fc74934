"""One request, five routes: both in-process stacks and three real servers.

- ``sync``: ``SyncAPIClient``, through Django's WSGI handler, with
  ``EnsureScopeMiddleware`` (the test project lists it first).
- ``async``: ``AsyncAPIClient``, awaited on an event loop of its own.
- ``uvicorn``, ``hypercorn``, ``daphne``: the test project's ASGI application
  served on loopback in this process, reached with httpx. Each runs once per
  SCRIPT_NAME prefix and once with TLS, started when first needed.

The echo view (tests/products/fuzz_views.py) records each request under its
``X-Probe`` header; ``Outcome`` holds that record, or what happened instead.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from products.fuzz_views import PROBE, RECORDS
from servers import RunningServer, daphne_listener, hypercorn_thread, uvicorn_thread

from fuzz.model import FuzzRequest
from fuzz.wire import Refused, to_wire

IN_PROCESS = ("sync", "async")
SERVERS = ("uvicorn", "hypercorn", "daphne")
ROUTES = IN_PROCESS + SERVERS


@dataclass
class Outcome:
    """What one route made of one request."""

    #: The response's status, when there was a response.
    status: int | None = None
    #: What the echo view read; None when it was not reached.
    record: dict[str, Any] | None = None
    #: ``"ValueError: ..."`` raised by the kit, or what the HTTP client refused.
    error: str | None = None
    #: ``kit`` (an error from the kit), ``client`` (httpx would not send it),
    #: ``contract`` (the documented API refuses it), ``crash`` (an error that
    #: says nothing, such as a KeyError deep inside), or None.
    refused_by: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    #: The start of the response body when the view was not reached.
    reason: str = ""


#: Errors that say why (the kit raises these with a message naming the fix).
#: UnicodeError is a ValueError but says nothing a test writer can act on.
_TELLING = (ValueError, TypeError, AssertionError)


def kit_error(error: BaseException) -> str:
    telling = isinstance(error, _TELLING) and not isinstance(error, UnicodeError)
    return "kit" if telling else "crash"


def _no_default_headers(client: httpx.Client) -> httpx.Client:
    # Only what the request says, plus Host and Content-Length: the in-process
    # clients send no User-Agent, Accept or Connection either.
    for name in ("accept", "accept-encoding", "connection", "user-agent"):
        del client.headers[name]
    return client


class Routes(AbstractContextManager["Routes"]):
    """The five routes, and the servers behind three of them."""

    def __init__(self, tls_files: Any, app: Any = None) -> None:
        if app is None:
            from django.core.asgi import get_asgi_application

            app = get_asgi_application()
        self.app = app
        self.tls_files = tls_files
        self._stack = ExitStack()
        self._servers: dict[
            tuple[str, str, bool], tuple[RunningServer, httpx.Client]
        ] = {}
        self.count = 0

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.close()

    def _server(
        self, name: str, root_path: str, tls: bool
    ) -> tuple[RunningServer, httpx.Client]:
        # Daphne takes its root path per request, from a header.
        key = (name, "" if name == "daphne" else root_path, tls)
        if key not in self._servers:
            tls_files = self.tls_files if tls else None
            start: Callable[..., AbstractContextManager[RunningServer]]
            if name == "uvicorn":
                start, options = uvicorn_thread, {"root_path": key[1]}
            elif name == "hypercorn":
                start, options = hypercorn_thread, {"root_path": key[1]}
            else:
                start, options = daphne_listener, {}
            server = self._stack.enter_context(
                start(self.app, tls=tls_files, **options)
            )
            http = self._stack.enter_context(
                httpx.Client(verify=server.verify, timeout=15, trust_env=False)
            )
            self._servers[key] = (server, _no_default_headers(http))
        return self._servers[key]

    def send_all(self, request: FuzzRequest) -> dict[str, Outcome]:
        """Send ``request`` on every route, one after the other."""
        self.count += 1
        return {
            route: self.send(route, request, f"{self.count}-{route}")
            for route in ROUTES
        }

    def send(self, route: str, request: FuzzRequest, probe: str) -> Outcome:
        started = time.perf_counter()
        if route in IN_PROCESS:
            outcome = self._in_process(route, request, probe)
        else:
            outcome = self._over_http(route, request, probe)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _in_process(self, route: str, request: FuzzRequest, probe: str) -> Outcome:
        from restflow_parity.request._client import AsyncAPIClient, SyncAPIClient

        outcome = Outcome()
        with _caught(outcome):
            try:
                if route == "sync":
                    client: Any = SyncAPIClient(headers={PROBE: probe})
                    response = request.send(client)
                else:
                    client = AsyncAPIClient(headers={PROBE: probe})
                    response = async_to_sync(_awaited)(request.send(client))
            except Exception as error:
                outcome.error = f"{type(error).__name__}: {error}"
                outcome.refused_by = kit_error(error)
            else:
                outcome.status = response.status_code
        outcome.record = RECORDS.pop(probe, None)
        return outcome

    def _over_http(self, route: str, request: FuzzRequest, probe: str) -> Outcome:
        try:
            wire = to_wire(request)
        except Refused as refusal:
            return Outcome(error=f"Refused: {refusal}", refused_by="contract")
        except Exception as error:  # the contract cannot encode it either
            return Outcome(
                error=f"{type(error).__name__}: {error}", refused_by="contract"
            )
        server, http = self._server(route, wire.root_path, wire.tls)
        headers = [*wire.headers, (PROBE.lower().encode(), probe.encode())]
        if route == "daphne" and wire.root_path:
            headers.append((b"daphne-root-path", wire.root_path.encode()))
        for attempt in (1, 2):
            try:
                response = http.request(
                    wire.method,
                    server.url + "/",
                    headers=headers,
                    content=wire.body or None,
                    # The target exactly as the contract writes it (httpcore
                    # sends this extension as the request line's target).
                    extensions={"target": wire.target},
                )
                break
            except (
                httpx.LocalProtocolError,
                httpx.InvalidURL,
                UnicodeError,
                ValueError,
            ) as error:
                return Outcome(
                    error=f"{type(error).__name__}: {error}", refused_by="client"
                )
            except httpx.TransportError as error:
                # A server that answered 400 and closed (daphne does) leaves
                # a dead connection in the pool: retry once on a fresh one.
                if attempt == 2:
                    return Outcome(error=f"{type(error).__name__}: {error}")
            finally:
                http.cookies.clear()  # each request starts with no cookies
        record = RECORDS.pop(probe, None)
        reason = "" if record is not None else response.text[:160]
        return Outcome(status=response.status_code, record=record, reason=reason)


async def _awaited(pending: Any) -> Any:
    return await pending


@contextmanager
def _caught(outcome: Outcome) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    outcome.warnings = tuple(
        sorted(
            {f"{w.category.__name__}: {str(w.message).split(':')[0]}" for w in caught}
        )
    )


__all__ = ["IN_PROCESS", "ROUTES", "SERVERS", "Outcome", "Routes"]
