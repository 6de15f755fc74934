"""Streaming bodies across the stacks: each readable with ``async for``.

A sync iterator served on the async stack (or an async one on the sync
stack) is what a real server would drain with a warning; the kit warns the
same way, at the test's line, and pulls sync chunks in the thread that owns
the test's connection, since a generator may query lazily.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import IO, Any, cast

from asgiref.sync import sync_to_async
from django.http import HttpResponseBase, StreamingHttpResponse

from restflow_parity._thirdparty.django import LimitedStream
from restflow_parity.request._connections import connection_recycling_paused
from restflow_parity.request._sites import Site, warn_at

__all__ = [
    "ASYNC_STREAM_WARNING",
    "SYNC_STREAM_WARNING",
    "aiter_blocking",
    "async_stream",
    "body_stream",
    "close_response",
    "wsgi_stream_for_async",
]

_END = object()

#: What Django's ASGIHandler says when it serves a sync iterator (and
#: buffers it whole); the async stack says it too, so a test does not pass
#: in-process and fail behind a real server under warnings-as-errors.
SYNC_STREAM_WARNING = (
    "StreamingHttpResponse must consume synchronous iterators in order to "
    "serve them asynchronously. Use an asynchronous iterator instead."
)
#: And what its WSGI side says of an async iterator.
ASYNC_STREAM_WARNING = (
    "StreamingHttpResponse must consume asynchronous iterators in order to "
    "serve them synchronously. Use a synchronous iterator instead."
)


async def close_response(response: HttpResponseBase) -> None:
    # Thread-sensitive: close() fires request_finished, whose receivers may
    # use the ORM, and must see the test's connection.
    await sync_to_async(response.close)()


def _next_chunk(iterator: Iterator[bytes]) -> Any:
    return next(iterator, _END)


async def aiter_blocking(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Iterate a sync stream from async code, one chunk per thread hop."""
    # Each pull runs in the thread that owns the test's connection: a sync
    # generator may run ORM queries lazily, between chunks.
    pull = sync_to_async(_next_chunk)
    while (chunk := await pull(iterator)) is not _END:
        yield chunk


async def async_stream(
    response: Any, content: Any, is_async: bool, site: Site | None
) -> AsyncIterator[bytes]:
    """Yield the body of any streaming response, then close it."""
    try:
        if is_async:
            async for chunk in content:
                yield chunk
        else:
            warn_at(SYNC_STREAM_WARNING, Warning, site)
            async for chunk in aiter_blocking(iter(content)):
                yield chunk
    finally:
        with connection_recycling_paused():
            await close_response(response)


def wsgi_stream_for_async(response: HttpResponseBase) -> None:
    """Make a WSGI response's streaming body ``async for``-able, in place.

    A sync iterator is pulled one chunk per thread hop (thread-sensitive: a
    generator may query lazily); an async one is kept, with the warning a
    WSGI server would give as it drained it.
    """
    if not isinstance(response, StreamingHttpResponse):
        return
    if response.is_async:
        chunks: Any = response.streaming_content
        response.streaming_content = _warn_first(chunks, ASYNC_STREAM_WARNING)
    else:
        content: Iterator[bytes] = iter(response.streaming_content)  # type: ignore[arg-type]
        response.streaming_content = aiter_blocking(content)


async def _warn_first(
    content: AsyncIterator[bytes], message: str
) -> AsyncIterator[bytes]:
    warn_at(message, Warning)  # at the line that starts reading the body
    async for chunk in content:
        yield chunk


def body_stream(body: Any) -> IO[bytes]:
    """The request body as ASGIRequest reads it; sized so large reads work."""
    return cast(IO[bytes], LimitedStream(body, len(body)))
