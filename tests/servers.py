"""A real uvicorn on loopback, in a thread, for the scope fidelity tests."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from restflow_parity.live.thread import listening_socket


@dataclass
class RunningServer:
    url: str
    verify: ssl.SSLContext | bool


@contextmanager
def uvicorn_thread(
    app: Any, *, root_path: str = "", tls: Any = None
) -> Iterator[RunningServer]:
    """Serve ``app`` with uvicorn (``--no-proxy-headers``) on 127.0.0.1."""
    sock, port = _listening_socket()
    options: dict[str, Any] = {}
    if tls is not None:
        _, cert_path, key_path = tls
        options = {"ssl_certfile": cert_path, "ssl_keyfile": key_path}
    config = uvicorn.Config(
        app,
        lifespan="off",
        proxy_headers=False,
        root_path=root_path,
        log_level="warning",
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    scheme = "https" if tls is not None else "http"
    try:
        yield RunningServer(f"{scheme}://127.0.0.1:{port}", _verify(tls))
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _listening_socket() -> tuple[socket.socket, int]:
    # The live server's socket: its proto says TCP, so asyncio turns Nagle
    # off on each connection (otherwise a delayed ACK, 40 ms a request).
    sock = listening_socket("127.0.0.1", 0)
    return sock, sock.getsockname()[1]


def _verify(tls: Any) -> ssl.SSLContext | bool:
    if tls is None:
        return True
    context = ssl.create_default_context()
    tls[0].configure_trust(context)
    return context


@contextmanager
def hypercorn_thread(
    app: Any, *, root_path: str = "", tls: Any = None
) -> Iterator[RunningServer]:
    """Serve ``app`` with hypercorn (asyncio worker) on 127.0.0.1."""
    import asyncio
    import os

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock, port = _listening_socket()
    config = Config()
    # Hypercorn closes the socket it is given: hand it a duplicate.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.root_path = root_path
    config.accesslog = config.errorlog = None
    if tls is not None:
        config.certfile, config.keyfile = tls[1], tls[2]
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve(app, config, shutdown_trigger=stop.wait),),  # type: ignore[arg-type]
        daemon=True,
    )
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        # The socket already listens: early connections wait in its backlog.
        yield RunningServer(f"{scheme}://127.0.0.1:{port}", _verify(tls))
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        sock.close()


@contextmanager
def daphne_listener(app: Any, *, tls: Any = None) -> Iterator[RunningServer]:
    """Serve ``app`` with daphne on 127.0.0.1.

    Twisted's reactor runs once per process, so this shares the live
    server's daphne host (restflow_parity.live.servers) and adds a port to
    it, wrapped in TLS when asked. Daphne has no per-port root path; send
    its ``Daphne-Root-Path`` header instead.
    """
    from restflow_parity.live.servers import _DaphneHost

    host = _DaphneHost.get()
    sock, port = _listening_socket()
    factory = None
    if tls is not None:
        from twisted.internet import ssl as twisted_ssl
        from twisted.protocols.tls import TLSMemoryBIOFactory

        context = twisted_ssl.DefaultOpenSSLContextFactory(tls[2], tls[1])
        factory = TLSMemoryBIOFactory(context, False, host.server.http_factory)
    listening = host.listen(sock, app, factory)
    scheme = "https" if tls is not None else "http"
    try:
        yield RunningServer(f"{scheme}://127.0.0.1:{port}", _verify(tls))
    finally:
        host.close(listening, port, lambda: None)
        sock.close()
