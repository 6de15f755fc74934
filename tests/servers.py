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


@dataclass
class RunningServer:
    url: str
    verify: ssl.SSLContext | bool


@contextmanager
def uvicorn_thread(
    app: Any, *, root_path: str = "", tls: Any = None
) -> Iterator[RunningServer]:
    """Serve ``app`` with uvicorn (``--no-proxy-headers``) on 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {}
    verify: ssl.SSLContext | bool = True
    if tls is not None:
        ca, cert_path, key_path = tls
        options = {"ssl_certfile": cert_path, "ssl_keyfile": key_path}
        verify = ssl.create_default_context()
        ca.configure_trust(verify)
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
        yield RunningServer(f"{scheme}://127.0.0.1:{port}", verify)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
