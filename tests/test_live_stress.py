"""Start and stop the live server 100 times: no thread, socket or port is leaked."""

from __future__ import annotations

import os
import socket
import threading

import httpx
import pytest
from django.db import connection

from restflow_parity.live import AsyncLiveServer

CYCLES = 100


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.django_db(transaction=True)
def test_hundred_starts_and_stops_leak_nothing():
    # No keep-alive: every client socket is closed once its response is read.
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        with AsyncLiveServer() as server:  # warm-up: imports, first-use caches
            assert client.get(server + "/whoami/").status_code == 200
        threads, fds = set(threading.enumerate()), open_fds()
        ports = []
        for _ in range(CYCLES):
            with AsyncLiveServer() as server:
                assert client.get(server + "/whoami/").status_code == 200
            ports.append(server.port)
    assert set(threading.enumerate()) == threads
    assert open_fds() == fds
    for port in ports[-3:]:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/")
        socket.create_server(("127.0.0.1", port)).close()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0
    # How long a cycle takes is measured by benchmarks/bench_live.py, not here.
