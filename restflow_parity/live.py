"""An ASGI live server in a thread: ``AsyncAPILiveServerTestCase`` and its parts.

Thread and connection model. The server's event loop runs in an
``AsyncLiveServerThread``. Each ASGI call is handed to a *request thread* from
the server's own pool, which runs ``async_to_sync(app)``: asgiref runs the
app's coroutine back on the server's loop and sends every thread-sensitive
call it makes (sync views and middleware, the async ORM, ``on_commit``
bookkeeping) to the request thread, which waits inside ``async_to_sync`` for
exactly that. This is the shape of production, where Django's ``ASGIHandler``
gives each request one thread for its sync work, except that the threads are
ours, so the server can:

* give them the test's connection when the test database is in-memory SQLite,
  as Django's ``LiveServerThread`` does for its WSGI threads; and
* close every connection a request opened, in its thread, when it ends.

Connections opened on a request's behalf in any other thread are seen through
``connection_created`` and closed when the server stops, so PostgreSQL can drop
the test database. Only public asgiref API is used: ``sync_to_async`` with an
``executor``, and ``async_to_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import importlib.util
import os
import socket
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import got_request_exception
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.http import HttpRequest
from django.test.utils import modify_settings
from django.utils.functional import classproperty
from django.utils.module_loading import import_string

from restflow_parity.cases import AsyncAPITransactionTestCase

__all__ = [
    "SERVERS",
    "SETTING",
    "AsyncAPILiveServerTestCase",
    "AsyncLiveServer",
    "AsyncLiveServerThread",
    "LiveServerError",
    "ServerError",
    "selected_server",
]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StaticHandler = Callable[[Any], ASGIApp]

#: The Django setting that picks the server.
SETTING = "RESTFLOW_PARITY_LIVE_SERVER"
#: Each server name, and what to ``pip install`` for it.
SERVERS: Mapping[str, str] = {
    "uvicorn": "uvicorn",
    "daphne": "daphne",
    "hypercorn": "hypercorn",
}
#: How long a stopping server waits for requests still running.
GRACE_SECONDS = 5.0
#: Requests served at once; more wait for a request thread to be free.
MAX_REQUESTS = 64


def selected_server() -> str:
    """The server named by ``RESTFLOW_PARITY_LIVE_SERVER``: uvicorn by default."""
    name = getattr(settings, SETTING, "uvicorn")
    choices = ", ".join(
        f"{key!r} (pip install {dist})" for key, dist in SERVERS.items()
    )
    if not isinstance(name, str) or name not in SERVERS:
        raise ImproperlyConfigured(
            f"{SETTING} = {name!r} is not a server the live server can run. "
            f"Valid values: {choices}."
        )
    if importlib.util.find_spec(name) is None:
        raise ImproperlyConfigured(
            f"{SETTING} = {name!r}, but {name} is not installed: run "
            f"`pip install {SERVERS[name]}`, or set {SETTING} to one of: {choices}."
        )
    return name


def in_memory_connections() -> dict[str, BaseDatabaseWrapper]:
    """This thread's in-memory SQLite connections: the server must share them."""
    # Another connection to the same in-memory database would work only while
    # no transaction is open and sees "database table is locked" otherwise.
    return {
        conn.alias: conn
        for conn in connections.all()
        if isinstance(conn, SQLiteWrapper) and conn.is_in_memory_db()
    }


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
            sock = socket.create_server((self.host, self.port))
        except OSError as error:
            self.error = error
            self.is_ready.set()
            return
        with sock:
            self.port = sock.getsockname()[1]
            try:
                self._app = self._application()
                _BACKENDS[self.server](self, self.asgi, sock)
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
            if conn.connection is None:
                continue
            # Its thread is done with it (or gone): the server has stopped.
            conn.inc_thread_sharing()
            try:
                conn.close()
            finally:
                conn.dec_thread_sharing()

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


# Connected once, on import: outside a live server's requests they do nothing.
connection_created.connect(_on_connection_created, dispatch_uid=__name__)
got_request_exception.connect(_on_request_exception, dispatch_uid=__name__)


# --- servers -------------------------------------------------------------------


def _run_loop(thread: AsyncLiveServerThread, serve: Awaitable[None]) -> None:
    async def main() -> None:
        # thread_sensitive=False calls run in the server's pool too, so they
        # share the test's in-memory database like the request threads.
        asyncio.get_running_loop().set_default_executor(thread.executor)
        await serve

    asyncio.run(main())


def _serve_uvicorn(
    thread: AsyncLiveServerThread, app: ASGIApp, sock: socket.socket
) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        wake: asyncio.Event

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            self.wake = asyncio.Event()
            loop = asyncio.get_running_loop()

            def stop() -> None:
                self.should_exit = True
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(self.wake.set)

            thread._on_started(stop)

        async def main_loop(self) -> None:
            # uvicorn polls should_exit every 0.1 s; wake as soon as stop() asks.
            ticks = 0
            while not await self.on_tick(ticks):
                ticks = (ticks + 1) % 864_000
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 0.1)

    config = uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="off",
        # Never trust X-Forwarded-*: tests would see the client they forged.
        proxy_headers=False,
        access_log=False,
        # Leave the process's logging alone; uvicorn.error still propagates.
        log_config=None,
        timeout_graceful_shutdown=int(GRACE_SECONDS),
    )
    # Our own loop: Server.run() would pick uvloop and, on old uvicorn, set
    # the process-wide event loop policy.
    _run_loop(thread, Server(config).serve(sockets=[sock]))


def _serve_hypercorn(
    thread: AsyncLiveServerThread, app: ASGIApp, sock: socket.socket
) -> None:
    hypercorn_config = importlib.import_module("hypercorn.config")
    hypercorn_asyncio = importlib.import_module("hypercorn.asyncio")
    config = hypercorn_config.Config()
    # Hypercorn owns (and closes) the socket it is given: hand it a duplicate.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = GRACE_SECONDS

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        shutdown = asyncio.Event()

        # Hypercorn has no "started" hook. The socket already listens, so
        # connections made before it accepts wait in the backlog.
        def stop() -> None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(shutdown.set)

        thread._on_started(stop)
        await hypercorn_asyncio.serve(app, config, shutdown_trigger=shutdown.wait)

    _run_loop(thread, serve())


class _DaphneHost:
    """The process's one daphne server, shared by every daphne live server.

    Twisted's reactor is global and cannot be restarted once stopped, so it
    runs in one daemon thread for the rest of the process. Each live server
    adds its own listening socket to it and removes it when it stops; daphne's
    single application dispatches on the port the request came in on.
    """

    _instance: ClassVar[_DaphneHost | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        daphne = importlib.import_module("daphne.server")  # installs the reactor
        self._reactor = daphne.reactor
        # Name the threads that thread_sensitive=False calls run in, so they
        # are known for what they are: the reactor's, for the process.
        daphne.twisted_loop.set_default_executor(
            ThreadPoolExecutor(thread_name_prefix="restflow-parity daphne worker")
        )
        self._threads = importlib.import_module("twisted.internet.threads")
        self.apps: dict[int, ASGIApp] = {}
        ready = threading.Event()
        self.server = daphne.Server(
            application=self._dispatch,
            # daphne insists on an endpoint; this one is closed at once.
            endpoints=["tcp:0:interface=127.0.0.1"],
            signal_handlers=False,
            verbosity=0,
            ready_callable=ready.set,
        )
        self.server.listen_success = lambda port: port.stopListening()
        threading.Thread(
            target=self.server.run, name="restflow-parity daphne reactor", daemon=True
        ).start()
        ready.wait()

    @classmethod
    def get(cls) -> _DaphneHost:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        app = self.apps.get(server[1]) if server else None
        if app is None:
            raise RuntimeError(f"No daphne live server listens on {server}.")
        await app(scope, receive, send)

    def listen(self, sock: socket.socket, app: ASGIApp) -> Any:
        """Serve ``app`` on ``sock``; return the listening port, for ``close``."""
        self.apps[sock.getsockname()[1]] = app
        sock.setblocking(False)
        # adoptStreamPort duplicates the descriptor: ours is closed by our caller.
        return self._threads.blockingCallFromThread(
            self._reactor,
            self._reactor.adoptStreamPort,
            sock.fileno(),
            sock.family,
            self.server.http_factory,
        )

    def close(self, listening: Any, port: int, wait_idle: Callable[[], Any]) -> None:
        """Stop accepting, let requests in flight finish, drop what is left."""
        try:
            self._threads.blockingCallFromThread(self._reactor, listening.stopListening)
            wait_idle()
            self._threads.blockingCallFromThread(
                self._reactor, self._drop_connections, port
            )
        finally:
            del self.apps[port]

    def _drop_connections(self, port: int) -> None:
        # In the reactor thread: close the keep-alive connections to this port.
        for protocol, details in list(self.server.connections.items()):
            if "disconnected" in details:
                continue  # its transport has no socket any more
            if protocol.transport.getHost().port == port:
                protocol.transport.loseConnection()


def _serve_daphne(
    thread: AsyncLiveServerThread, app: ASGIApp, sock: socket.socket
) -> None:
    host = _DaphneHost.get()
    listening = host.listen(sock, app)
    stopped = threading.Event()
    thread._on_started(stopped.set)
    stopped.wait()
    host.close(listening, sock.getsockname()[1], thread.wait_idle)


_BACKENDS: dict[
    str, Callable[[AsyncLiveServerThread, ASGIApp, socket.socket], None]
] = {
    "uvicorn": _serve_uvicorn,
    "daphne": _serve_daphne,
    "hypercorn": _serve_hypercorn,
}


# --- the pytest-facing handle and the test case -----------------------------------


class AsyncLiveServer:
    """A live server you start and stop yourself; ``async_live_server`` is one.

    ``url`` (also its ``str()``) is the base URL; ``server + "/path/"`` works.
    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        server: str | None = None,
        static_handler: StaticHandler | None = ASGIStaticFilesHandler,
    ) -> None:
        self.thread = AsyncLiveServerThread(
            host, static_handler, in_memory_connections(), port, server=server
        )
        #: ALLOWED_HOSTS plus our host; the fixture enables it for each test.
        self.modified_settings = modify_settings(ALLOWED_HOSTS={"append": host})
        self._shared = False

    def start(self) -> None:
        """Start serving; raise what stopped the server from starting."""
        for conn in self.thread.connections_override.values():
            conn.inc_thread_sharing()
        self._shared = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error is not None:
            error = self.thread.error
            self.stop()
            raise error

    def stop(self) -> None:
        """Stop serving and close every connection the server opened."""
        self.thread.terminate()
        if self._shared:
            self._shared = False
            for conn in self.thread.connections_override.values():
                conn.dec_thread_sharing()

    def __enter__(self) -> AsyncLiveServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self.thread.host

    @property
    def port(self) -> int:
        return self.thread.port

    @property
    def url(self) -> str:
        return f"http://{self.thread.host}:{self.thread.port}"

    def pop_errors(self) -> list[ServerError]:
        """Return what the server raised so far, and forget it."""
        return self.thread.pop_errors()

    def __str__(self) -> str:
        return self.url

    def __add__(self, other: str) -> str:
        return f"{self}{other}"

    def __repr__(self) -> str:
        return f"<AsyncLiveServer {self.thread.server} at {self.url}>"


class AsyncAPILiveServerTestCase(AsyncAPITransactionTestCase):
    """``AsyncAPITransactionTestCase`` plus a real ASGI server for the class.

    The server starts in ``setUpClass`` and stops in ``tearDownClass``; reach
    it at ``self.live_server_url`` with httpx, a browser or any HTTP client.
    An exception the server raises while a test runs fails that test with the
    server's traceback, unless ``raise_server_exceptions`` is False.
    """

    host = "127.0.0.1"
    port = 0
    server_thread_class: type[AsyncLiveServerThread] = AsyncLiveServerThread
    server_thread: ClassVar[AsyncLiveServerThread]
    static_handler: StaticHandler | None = ASGIStaticFilesHandler
    raise_server_exceptions = True

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        method = getattr(self, methodName, None)
        if method is None:
            return
        if iscoroutinefunction(method):

            async def arun() -> None:
                try:
                    await method()
                except BaseException as error:
                    self._check_server(error)
                    raise
                self._check_server(None)

            setattr(self, methodName, functools.wraps(method)(arun))
        else:

            def run() -> None:
                try:
                    method()
                except BaseException as error:
                    self._check_server(error)
                    raise
                self._check_server(None)

            setattr(self, methodName, functools.wraps(method)(run))

    def _check_server(self, failure: BaseException | None) -> None:
        # Let requests still in flight finish, so their errors are this test's.
        self.server_thread.wait_idle()
        errors = self.server_thread.pop_errors()
        if errors and self.raise_server_exceptions:
            # Chained: a failed assertion on a 500 shows why it was a 500.
            raise LiveServerError(errors) from failure

    @classproperty
    def live_server_url(cls) -> str:
        return f"http://{cls.host}:{cls.server_thread.port}"

    @classproperty
    def allowed_host(cls) -> str:
        return cls.host

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.enterClassContext(
            modify_settings(ALLOWED_HOSTS={"append": cls.allowed_host})
        )
        cls._start_server_thread()

    @classmethod
    def _make_connections_override(cls) -> dict[str, BaseDatabaseWrapper]:
        return in_memory_connections()

    @classmethod
    def _start_server_thread(cls) -> None:
        connections_override = cls._make_connections_override()
        cls.server_thread = cls._create_server_thread(connections_override)
        for conn in connections_override.values():
            conn.inc_thread_sharing()
        cls.server_thread.start()
        cls.addClassCleanup(cls._terminate_thread)
        cls.server_thread.is_ready.wait()
        if cls.server_thread.error is not None:
            raise cls.server_thread.error

    @classmethod
    def _create_server_thread(
        cls, connections_override: dict[str, BaseDatabaseWrapper]
    ) -> AsyncLiveServerThread:
        return cls.server_thread_class(
            cls.host,
            cls.static_handler,
            connections_override=connections_override,
            port=cls.port,
        )

    @classmethod
    def _terminate_thread(cls) -> None:
        cls.server_thread.terminate()
        for conn in cls.server_thread.connections_override.values():
            conn.dec_thread_sharing()
        if cls.raise_server_exceptions:
            # Raised after set-up or tear-down code's requests, outside a test.
            cls.server_thread.raise_errors()

    def _post_teardown(self) -> None:
        super()._post_teardown()  # type: ignore[misc]  # missing from the stubs
        # Requests made by tearDown() or cleanups.
        self._check_server(None)
