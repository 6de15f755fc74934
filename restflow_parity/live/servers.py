"""The ASGI servers the live server can run, and the setting that picks one.

Each backend runs in the live server's thread, serves ``app`` on the socket it
is given, and reports through ``thread._on_started(stop)`` once it accepts
connections. Server packages are imported only when chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import importlib.util
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from restflow_parity.live.asgi_types import ASGIApp, Receive, Scope, Send, ServerHost

__all__ = ["BACKENDS", "GRACE_SECONDS", "SERVERS", "SETTING", "selected_server"]

#: How long a stopping server waits for requests still running.
GRACE_SECONDS = 5.0

#: The Django setting that picks the server.
SETTING = "RESTFLOW_PARITY_LIVE_SERVER"
#: Each server name, and what to ``pip install`` for it.
SERVERS: Mapping[str, str] = {
    "uvicorn": "uvicorn",
    "daphne": "daphne",
    "hypercorn": "hypercorn",
}


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


def _run_loop(thread: ServerHost, serve: Awaitable[None]) -> None:
    async def main() -> None:
        # thread_sensitive=False calls run in the server's pool too, so they
        # share the test's in-memory database like the request threads.
        asyncio.get_running_loop().set_default_executor(thread.executor)
        await serve

    asyncio.run(main())


async def _stop_accepting(fds: Iterable[int]) -> None:
    """Stop taking connections, and let those already taken reach the server.

    asyncio accepts a waiting connection in one step and attaches it to its
    server in a later one. A server closed in between (uvicorn's and
    hypercorn's shutdown close theirs at once) refuses it, and its socket is
    dropped open: a ResourceWarning for an unclosed transport (Python 3.13),
    under ``-W error`` a failure in whatever test collects it. With the
    listening socket unhooked first, every taken connection reaches the
    server, which closes it as it stops.
    """
    loop = asyncio.get_running_loop()
    for fd in fds:
        loop.remove_reader(fd)
    await asyncio.sleep(0)  # the taken connections' transports attach
    await asyncio.sleep(0)  # and their protocols see connection_made


def _serve_uvicorn(thread: ServerHost, app: ASGIApp, sock: socket.socket) -> None:
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

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await _stop_accepting(sock.fileno() for sock in sockets or ())
            await super().shutdown(sockets=sockets)

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


def _serve_hypercorn(thread: ServerHost, app: ASGIApp, sock: socket.socket) -> None:
    hypercorn_config = importlib.import_module("hypercorn.config")
    hypercorn_asyncio = importlib.import_module("hypercorn.asyncio")
    config = hypercorn_config.Config()
    # Hypercorn owns (and closes) the socket it is given: hand it a duplicate.
    fd = os.dup(sock.fileno())
    config.bind = [f"fd://{fd}"]
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

        async def stopped() -> None:
            await shutdown.wait()
            await _stop_accepting([fd])

        thread._on_started(stop)
        await hypercorn_asyncio.serve(app, config, shutdown_trigger=stopped)

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

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` in the reactor thread and return its result.

        The call runs in an empty context. Twisted's reactor is an asyncio
        loop here, and a callback scheduled from another thread runs in a copy
        of that thread's context; so does everything the callback sets up,
        down to each request's task. Called from a test's thread, every daphne
        request would inherit the test's context: its active language and
        time zone, and on asgiref 3.8 (whose ``Local`` keeps one dict per
        context and shares it with copies) the very dict Django's urlconf and
        translation state live in, which two threads then race on.
        """
        return contextvars.Context().run(
            self._threads.blockingCallFromThread, self._reactor, function, *args
        )

    def listen(self, sock: socket.socket, app: ASGIApp, factory: Any = None) -> Any:
        """Serve ``app`` on ``sock``; return the listening port, for ``close``.

        ``factory`` wraps daphne's HTTP factory (a TLS one, say) when given.
        """
        self.apps[sock.getsockname()[1]] = app
        sock.setblocking(False)
        # adoptStreamPort duplicates the descriptor: ours is closed by our caller.
        return self.call(
            self._reactor.adoptStreamPort,
            sock.fileno(),
            sock.family,
            factory if factory is not None else self.server.http_factory,
        )

    def close(self, listening: Any, port: int, wait_idle: Callable[[], Any]) -> None:
        """Stop accepting, let requests in flight finish, drop what is left."""
        try:
            self.call(listening.stopListening)
            wait_idle()
            self.call(self._drop_connections, port)
        finally:
            del self.apps[port]

    def _drop_connections(self, port: int) -> None:
        # In the reactor thread: close the keep-alive connections to this port.
        for protocol, details in list(self.server.connections.items()):
            if "disconnected" in details:
                continue  # its transport has no socket any more
            if protocol.transport.getHost().port == port:
                protocol.transport.loseConnection()


def _serve_daphne(thread: ServerHost, app: ASGIApp, sock: socket.socket) -> None:
    host = _DaphneHost.get()
    listening = host.listen(sock, app)
    stopped = threading.Event()
    thread._on_started(stopped.set)
    stopped.wait()
    host.close(listening, sock.getsockname()[1], thread.wait_idle)


BACKENDS: dict[str, Callable[[ServerHost, ASGIApp, socket.socket], None]] = {
    "uvicorn": _serve_uvicorn,
    "daphne": _serve_daphne,
    "hypercorn": _serve_hypercorn,
}
