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

from restflow_parity.live.case import AsyncAPILiveServerTestCase, AsyncLiveServer
from restflow_parity.live.servers import SERVERS, SETTING, selected_server
from restflow_parity.live.thread import (
    AsyncLiveServerThread,
    LiveServerError,
    ServerError,
    in_memory_connections,
)

__all__ = [
    "SERVERS",
    "SETTING",
    "AsyncAPILiveServerTestCase",
    "AsyncLiveServer",
    "AsyncLiveServerThread",
    "LiveServerError",
    "ServerError",
    "in_memory_connections",
    "selected_server",
]
