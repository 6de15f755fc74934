"""The live server's thread: serving, request threads, connections, errors."""

from __future__ import annotations

import gc
import pickle
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.signals import got_request_exception
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.http import HttpRequest
from django.utils.module_loading import import_string

from restflow_parity._changes import install
from restflow_parity.live.asgi_types import ASGIApp, Receive, Scope, Send, StaticHandler
from restflow_parity.live.servers import BACKENDS, GRACE_SECONDS, selected_server
from restflow_parity.request._connections import close_borrowed

__all__ = [
    "AsyncLiveServerThread",
    "LiveServerError",
    "ServerError",
    "in_memory_connections",
    "listening_socket",
]

#: Requests served at once; more wait for a request thread to be free.
MAX_REQUESTS = 64


def in_memory_connections() -> dict[str, BaseDatabaseWrapper]:
    """This thread's in-memory SQLite connections: the server must share them."""
    # Another connection to the same in-memory database would work only while
    # no transaction is open and sees "database table is locked" otherwise.
    return {
        conn.alias: conn
        for conn in connections.all()
        if isinstance(conn, SQLiteWrapper) and conn.is_in_memory_db()
    }


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, ready for an asyncio server.

    ``create_server`` leaves the socket's proto 0, and asyncio turns Nagle's
    algorithm off only on connections whose proto says TCP: without this,
    uvicorn's replies wait for the client's delayed ACK, about 40 ms per
    request on a kept-alive connection (measured: 48 ms, 3.3 ms with it).
    """
    sock = socket.create_server((host, port))
    return socket.socket(
        sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach()
    )


@dataclass(frozen=True)
class ServerError:
    """An exception the live server raised while serving ``request``.

    ``traceback`` is the full text. ``exception`` is the object itself; when it
    escaped the application, its frames have been let go (see ``asgi``).
    """

    request: str
    traceback: str
    exception: BaseException | None = None


class LiveServerError(AssertionError):
    """The live server raised while serving the test; carries its tracebacks."""

    def __init__(self, errors: Sequence[ServerError]) -> None:
        self.errors = list(errors)
        details = "".join(
            f"\n\n--- {error.request} ---\n{error.traceback}" for error in errors
        )
        super().__init__(
            f"The live server raised {len(errors)} exception(s) while serving "
            "this test. If the test expects them, take them with "
            "server_thread.pop_errors() (or the fixture's pop_errors()), or set "
            f"raise_server_exceptions = False.{details}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Django's --parallel pickles a failure to send it to the main
        # process; rebuild from the errors, not from the message.
        return type(self), ([_picklable(error) for error in self.errors],)


def _picklable(error: ServerError) -> ServerError:
    """``error``, without its exception object if that does not survive pickling."""
    try:
        pickle.loads(pickle.dumps(error.exception))
    except Exception:
        # The traceback text still names it.
        return replace(error, exception=None)
    return error


# The live server handling the current request. Context variables follow the
# request into every thread asgiref runs it in, so the signal receivers below
# can tell our requests from the in-process test client's.
_serving: ContextVar[AsyncLiveServerThread] = ContextVar("restflow_parity_serving")


class AsyncLiveServerThread(threading.Thread):
    """Serve the project's ASGI application with a real server, from a thread.

    The attributes mirror Django's ``LiveServerThread``: ``host``, ``port``
    (the bound one once ``is_ready`` is set), ``is_ready``, ``error``,
    ``static_handler`` and ``connections_override``. ``errors`` collects what
    the server raised; the test case and the fixture turn it into failures.
    """

    def __init__(
        self,
        host: str,
        static_handler: StaticHandler | None,
        connections_override: dict[str, BaseDatabaseWrapper] | None = None,
        port: int = 0,
        *,
        server: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.is_ready = threading.Event()
        self.error: BaseException | None = None
        self.static_handler = static_handler
        self.connections_override = connections_override or {}
        self.server = server or selected_server()
        self.errors: list[ServerError] = []
        self._lock = threading.Lock()
        # The request threads, made as needed and reused. For the servers whose
        # loop is ours it is also the loop's default executor, which runs
        # thread_sensitive=False calls. Each thread starts with the shared
        # connections installed.
        self.executor = ThreadPoolExecutor(
            max_workers=MAX_REQUESTS,
            thread_name_prefix=f"restflow-parity {self.server}",
            initializer=self._adopt_connections,
        )
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._opened: set[BaseDatabaseWrapper] = set()
        self._app: ASGIApp | None = None
        self._stopper: Callable[[], None] | None = None
        self._stopping = False
        super().__init__(name=f"restflow-parity {self.server} live server", daemon=True)

    # --- the thread ----------------------------------------------------------

    def run(self) -> None:
        try:
            # Bound here, not by the server, so the port is known before the
            # server starts and connections wait in the backlog meanwhile.
            sock = listening_socket(self.host, self.port)
        except OSError as error:
            self.error = error
            self.is_ready.set()
            return
        with sock:
            self.port = sock.getsockname()[1]
            try:
                self._app = self._application()
                BACKENDS[self.server](self, self.asgi, sock)
            except BaseException as error:
                if self.is_ready.is_set():
                    self._record("the server itself", error)
                self.error = error
            finally:
                self.is_ready.set()
                connections.close_all()

    def _application(self) -> ASGIApp:
        path = getattr(settings, "ASGI_APPLICATION", None)
        app: ASGIApp = import_string(path) if path else get_asgi_application()
        if self.static_handler is not None and settings.STATIC_URL:
            app = self.static_handler(app)
        return app

    def _on_started(self, stop: Callable[[], None]) -> None:
        # Called by a backend once it accepts connections, with what stops it.
        with self._lock:
            self._stopper = stop
            stopping = self._stopping
        self.is_ready.set()
        if stopping:
            stop()

    def terminate(self) -> None:
        """Stop the server; wait for it and its requests; close their connections."""
        with self._lock:
            self._stopping = True
            stop = self._stopper
        if stop is not None:
            stop()
        if self.ident is not None:  # started
            self.join()
        self.wait_idle()
        # Joins the request threads: none is left running after terminate().
        self.executor.shutdown(wait=True, cancel_futures=True)
        self._close_opened_connections()

    # --- requests ------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application the server is given: a request thread per call."""
        if scope["type"] == "lifespan":
            # Like uvicorn's lifespan="off" for the servers that lack the switch.
            await _acknowledge_lifespan(receive, send)
            return
        # Per request, not per server: the end of a session (a Django runner
        # run inside another) disconnects them. Outside a live server's
        # requests they do nothing.
        install(_RECEIVERS, _connect_receivers, _disconnect_receivers)
        _serving.set(self)
        call = sync_to_async(
            self._call_app, thread_sensitive=False, executor=self.executor
        )
        with self._idle:
            self._in_flight += 1
        try:
            await call(scope, receive, send)
        except Exception as error:
            self._record(_describe(scope), error)
            # Django's ASGIHandler leaves the request body's file open when a
            # response fails half-way. The server logs what it re-raises, and a
            # captured log record would keep the app's frames, and that file,
            # alive for the session. Drop them (the record has the full text)
            # and collect now: the file's ResourceWarning then lands in this
            # test, not in whichever test next runs the garbage collector.
            cause: BaseException | None = error
            while cause is not None and cause.__traceback__ is not None:
                cause.__traceback__ = None
                cause = cause.__cause__ or cause.__context__
            gc.collect()
            raise
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        # In a request thread. The request's thread-sensitive work comes back
        # here while async_to_sync waits, so its connections open here.
        assert self._app is not None
        try:
            async_to_sync(self._app)(scope, receive, send)
        finally:
            for conn in connections.all(initialized_only=True):
                if conn.alias not in self.connections_override:
                    conn.close()
            with self._lock:
                self._opened = {c for c in self._opened if c.connection is not None}

    def _adopt_connections(self) -> None:
        for alias, conn in self.connections_override.items():
            connections[alias] = conn

    def _track(self, conn: BaseDatabaseWrapper) -> None:
        if self.connections_override.get(conn.alias) is not conn:
            with self._lock:
                self._opened.add(conn)

    def _close_opened_connections(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, set()
        for conn in opened:
            close_borrowed(conn)  # the server has stopped: its threads are done

    def wait_idle(self, timeout: float = GRACE_SECONDS) -> bool:
        """Wait for the requests in flight to finish; True when they all did."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout)

    # --- errors --------------------------------------------------------------

    def _record(self, request: str, error: BaseException) -> None:
        text = "".join(
            traceback.format_exception(type(error), error, error.__traceback__)
        )
        with self._lock:
            # An exception Django re-raises (DEBUG_PROPAGATE_EXCEPTIONS) is seen
            # twice: by got_request_exception, then leaving the application.
            if all(known.exception is not error for known in self.errors):
                self.errors.append(ServerError(request, text, error))

    def pop_errors(self) -> list[ServerError]:
        """Return the errors recorded so far and forget them."""
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    def raise_errors(self) -> None:
        """Raise ``LiveServerError`` if the server recorded errors; forget them."""
        errors = self.pop_errors()
        if errors:
            raise LiveServerError(errors)


def _describe(scope: Scope) -> str:
    query = scope.get("query_string", b"")
    target = scope.get("path", "") + (f"?{query.decode('latin-1')}" if query else "")
    return f"{scope.get('method', scope['type'].upper())} {target}"


async def _acknowledge_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message["type"].rpartition(".")[2]
        await send({"type": f"{message['type']}.complete"})
        if kind == "shutdown":
            return


def _on_connection_created(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    server = _serving.get(None)
    if server is not None:
        server._track(connection)


def _on_request_exception(
    sender: object, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    server = _serving.get(None)
    if server is None:
        return
    name = (
        "request" if request is None else f"{request.method} {request.get_full_path()}"
    )
    # Django sends the signal from inside its except block; asgiref carries
    # that exception into the thread it runs the handler in.
    error = sys.exc_info()[1]
    if error is None:
        error = RuntimeError("got_request_exception was sent with no exception")
    server._record(name, error)


_RECEIVERS = "connection_created and got_request_exception receivers (live servers)"


def _connect_receivers() -> None:
    connection_created.connect(_on_connection_created, dispatch_uid=_RECEIVERS)
    got_request_exception.connect(_on_request_exception, dispatch_uid=_RECEIVERS)


def _disconnect_receivers() -> None:
    connection_created.disconnect(dispatch_uid=_RECEIVERS)
    got_request_exception.disconnect(dispatch_uid=_RECEIVERS)
