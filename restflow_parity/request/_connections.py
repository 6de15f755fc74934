"""The test's database connections while a request is in flight.

Django's request signals close "old" connections, which in a test would end
the test's transaction: paused while requests are in flight. Connections
that ``thread_sensitive=False`` work opens in worker threads belong to no
test: closed when the request ends.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import sync_to_async
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from restflow_parity._changes import install
from restflow_parity.watchdog import note_connections

__all__ = [
    "aclosing_worker_connections",
    "close_borrowed",
    "closing_worker_connections",
    "connection_recycling_paused",
]

_pause_lock = threading.Lock()
_pause_depth = 0


@contextmanager
def connection_recycling_paused() -> Iterator[None]:
    """Keep request signals from closing the test's database connections.

    Django's handlers close "old" connections on request_started/finished. In
    a test that would end the test's transaction, so the test clients unhook
    that receiver. A depth count (not a plain disconnect/connect pair) keeps
    concurrent requests (``asyncio.gather``) from re-hooking it under another.
    """
    global _pause_depth
    with _pause_lock:
        if _pause_depth == 0:
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
        _pause_depth += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause_depth -= 1
            if _pause_depth == 0:
                request_started.connect(close_old_connections)
                request_finished.connect(close_old_connections)


#: The connections opened by worker threads during the current request. A
#: context variable follows the request into every thread asgiref runs its
#: sync parts in, thread_sensitive=False workers included.
_opened: ContextVar[list[BaseDatabaseWrapper] | None] = ContextVar(
    "restflow_parity_opened", default=None
)


def _track_connection(
    sender: object, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    opened = _opened.get()
    # The main thread holds the test's own connection: never ours to close.
    if opened is not None and threading.current_thread() is not threading.main_thread():
        opened.append(connection)


_TRACKER = "connection_created receiver (worker connections)"


def _connect_tracker() -> None:
    connection_created.connect(_track_connection, dispatch_uid=_TRACKER)


def _disconnect_tracker() -> None:
    connection_created.disconnect(dispatch_uid=_TRACKER)


@contextmanager
def closing_worker_connections() -> Iterator[None]:
    """Close the database connections worker threads open during a request.

    ``sync_to_async(thread_sensitive=False)`` work runs in an executor thread
    with a connection of its own, which nothing closes: on PostgreSQL it
    outlives the test and can make dropping the test database fail ("being
    accessed by other users"). When the request has finished, so has that
    work, and its connections are closed here. After a timeout (or any
    BaseException) the work may still run, so they are left alone.
    """
    with _tracking() as opened:
        try:
            yield
        except Exception:
            _close_all(opened)
            raise
        _close_all(opened)


@asynccontextmanager
async def aclosing_worker_connections() -> AsyncIterator[None]:
    """``closing_worker_connections()`` for async code."""
    with _tracking() as opened:
        try:
            yield
        except Exception:
            await _aclose_all(opened)
            raise
        await _aclose_all(opened)


@contextmanager
def _tracking() -> Iterator[list[BaseDatabaseWrapper]]:
    """Collect, for the block, the connections worker threads open."""
    install(_TRACKER, _connect_tracker, _disconnect_tracker)
    opened: list[BaseDatabaseWrapper] = []
    token = _opened.set(opened)
    note_connections(opened)
    try:
        yield opened
    finally:
        _opened.reset(token)


async def _aclose_all(opened: list[BaseDatabaseWrapper]) -> None:
    if opened:  # the usual case costs no thread hop
        # close() is async-unsafe; the test's thread is free by now.
        await sync_to_async(_close_all)(opened)


def _close_all(opened: list[BaseDatabaseWrapper]) -> None:
    for conn in opened:
        if not conn.in_atomic_block:
            close_borrowed(conn)


def close_borrowed(conn: BaseDatabaseWrapper) -> None:
    """Close another thread's connection, once that thread is idle or gone.

    Django refuses to close a connection from a thread that did not open it
    unless it is shared; it is, for the close.
    """
    if conn.connection is None:
        return
    conn.inc_thread_sharing()
    try:
        conn.close()
    finally:
        conn.dec_thread_sharing()
