"""Database assertions that work in ``async def`` test bodies.

Django's ``captureOnCommitCallbacks()`` and ``assertNumQueries()`` read the
connection of the thread they run on. In an ``async def`` body that is the
event loop's thread, not the main thread that holds the test's connection (and
runs the async ORM's queries): the capture silently sees nothing and the
count raises ``SynchronousOnlyOperation``. The async twins here enter and leave
Django's own context managers on the connection's thread, so they see exactly
what the test's queries and requests did; the sync ones refuse to run where
they would be wrong, naming the twin.

``ParityAssertions`` is mixed into the ``AsyncAPI*`` bases, and
``@run_both_modes`` copies it onto every class it decorates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import TestCase, TransactionTestCase
from django.test.utils import CaptureQueriesContext

from restflow_parity.request._sites import in_event_loop

__all__ = [
    "ParityAssertions",
    "aassert_num_queries",
    "acapture_on_commit_callbacks",
    "install_assertions",
]


@asynccontextmanager
async def _on_connection_thread(
    make: Callable[[], AbstractContextManager[Any]],
) -> AsyncIterator[Any]:
    # Made, entered and left in the thread that owns the test's connection
    # (thread-sensitive): connections are thread-local, so even looking one
    # up on the event loop's thread would find another.
    manager: AbstractContextManager[Any] | None = None

    def enter() -> Any:
        nonlocal manager
        manager = make()
        return manager.__enter__()

    value = await sync_to_async(enter)()
    assert manager is not None
    try:
        yield value
    except BaseException as error:
        await sync_to_async(manager.__exit__)(type(error), error, error.__traceback__)
        raise
    else:
        await sync_to_async(manager.__exit__)(None, None, None)


def acapture_on_commit_callbacks(
    *, using: str = DEFAULT_DB_ALIAS, execute: bool = False
) -> AbstractAsyncContextManager[Any]:
    """Capture (and with ``execute=True`` run) on_commit callbacks, async."""
    # Django's capture only reads the connection's on_commit list, so it
    # serves TransactionTestCase too (where callbacks run at once).
    return _on_connection_thread(
        lambda: TestCase.captureOnCommitCallbacks(using=using, execute=execute)
    )


def aassert_num_queries(
    num: int, *, using: str = DEFAULT_DB_ALIAS, exact: bool = True
) -> AbstractAsyncContextManager[Any]:
    """Fail unless the block runs ``num`` queries (at most ``num`` if not exact)."""

    return _on_connection_thread(lambda: _Counted(connections[using], num, exact))


class _Counted(CaptureQueriesContext):
    """Django's public query capture, failing unless ``num`` (or at most
    ``num``) queries ran: the message is ``assertNumQueries()``'s."""

    def __init__(self, connection: Any, num: int, exact: bool) -> None:
        super().__init__(connection)
        self.num, self.exact = num, exact

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        super().__exit__(kind, error, tb)
        executed = len(self)
        if (
            kind is not None
            or executed == self.num
            or (not self.exact and executed < self.num)
        ):
            return
        queries = "\n".join(
            f"{i}. {query['sql']}" for i, query in enumerate(self.captured_queries, 1)
        )
        if self.exact:
            raise AssertionError(
                f"{executed} queries executed, {self.num} expected\n"
                f"Captured queries were:\n{queries}"
            )
        raise AssertionError(
            f"Expected at most {self.num} queries, {executed} were run:\n{queries}"
        )


def _guarded_capture(original: Callable[..., Any]) -> Callable[..., Any]:
    @contextmanager
    def captureOnCommitCallbacks(
        cls: type, *, using: str = DEFAULT_DB_ALIAS, execute: bool = False
    ) -> Iterator[list[Callable[[], Any]]]:
        """Django's capture, refused where it would silently capture nothing."""
        if in_event_loop():
            raise RuntimeError(
                "captureOnCommitCallbacks() cannot see on_commit callbacks from "
                "an async test: the ORM registers them on the main thread's "
                "connection, not the event loop's, so it would capture nothing. "
                "Use `async with self.acaptureOnCommitCallbacks(execute=True) "
                "as callbacks:`."
            )
        with original(using=using, execute=execute) as callbacks:
            yield callbacks

    captureOnCommitCallbacks._restflow_parity_guard = True  # type: ignore[attr-defined]
    return captureOnCommitCallbacks


def _guarded_count(original: Callable[..., Any]) -> Callable[..., Any]:
    def assertNumQueries(
        self: Any, num: int, func: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        """Django's count, refused in async bodies with the async twin named."""
        if in_event_loop():
            raise RuntimeError(
                "assertNumQueries() cannot count an async test's queries: it "
                "reads the event loop thread's connection, while the async ORM "
                "and the requests query on the test's connection in the main "
                "thread. Use `async with self.aassertNumQueries(n):`."
            )
        return original(self, num, func, *args, **kwargs)

    assertNumQueries._restflow_parity_guard = True  # type: ignore[attr-defined]
    return assertNumQueries


class ParityAssertions:
    """Async twins of Django's database assertions, and a guarded sync capture."""

    captureOnCommitCallbacks = classmethod(
        _guarded_capture(TestCase.captureOnCommitCallbacks)
    )
    assertNumQueries = _guarded_count(TransactionTestCase.assertNumQueries)

    @classmethod
    def acaptureOnCommitCallbacks(
        cls, *, using: str = DEFAULT_DB_ALIAS, execute: bool = False
    ) -> AbstractAsyncContextManager[Any]:
        """Capture (and with ``execute=True`` run) on_commit callbacks.

        Both ends run in the thread that owns the test's connection, so the
        callbacks registered by ``acreate()`` and by views are the ones seen.
        """
        return acapture_on_commit_callbacks(using=using, execute=execute)

    def aassertNumQueries(
        self, num: int, *, using: str = DEFAULT_DB_ALIAS
    ) -> AbstractAsyncContextManager[Any]:
        """``async with self.aassertNumQueries(n):`` counts the queries run on
        the test's connection: the async ORM's and the requests' alike."""
        return aassert_num_queries(num, using=using)


def install_assertions(owner: type) -> None:
    """Give a test class the async twins, and guard its sync assertions."""
    for name in ("acaptureOnCommitCallbacks", "aassertNumQueries"):
        if not hasattr(owner, name):
            setattr(owner, name, ParityAssertions.__dict__[name])
    capture: Any = getattr(owner, "captureOnCommitCallbacks", None)
    if capture is not None and not getattr(capture, "_restflow_parity_guard", False):
        # The classmethod as bound to owner (Django's ignores its class).
        guarded = classmethod(_guarded_capture(capture))
        target: Any = owner
        target.captureOnCommitCallbacks = guarded
    count: Any = getattr(owner, "assertNumQueries", None)
    if count is not None and not getattr(count, "_restflow_parity_guard", False):
        counted: Any = owner
        counted.assertNumQueries = _guarded_count(count)
