"""pytest plugin for restflow-parity, loaded through the ``pytest11`` entry point.

Hooks live here; user-visible fixtures live in ``restflow_parity.fixtures``
and are registered by importing them into this module's namespace. Django is
imported lazily, so the plugin loads in projects without settings.

Async database isolation: an ``async def`` test that uses the database is run
the way Django's own runner runs one, through ``async_to_sync`` from the main
thread. Its event loop then lives in a worker thread, and every
thread-sensitive call (the async ORM, sync views, WSGI requests) comes back to
the main thread, which holds the test's connection and transaction. Rows roll
back and sync fixtures' data is visible, with or without pytest-asyncio.

Function-scoped ``async def`` fixtures of those tests get the same treatment.
They, and then the test, run on one event loop per test, in a thread of its
own: each step (a fixture's setup, the test, a fixture's teardown) is bridged
through ``async_to_sync`` so its thread-sensitive calls reach the main thread,
and an async-generator fixture's teardown runs on the loop its setup ran on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import os
import queue
import re
import sys
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

import pytest

from restflow_parity.fixtures import *  # noqa: F403
from restflow_parity.modes import (
    CHOICES,
    ENV_VAR,
    ParityModeError,
    mode_of,
    parse_mode,
    selected_modes,
)
from restflow_parity.summary import ParityTally

ISOLATION_INI = "restflow_parity_async_isolation"
_DB_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "_django_db_helper",
    }
)
_PROPERTY = "restflow_parity"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("restflow-parity")
    group.addoption(
        "--parity-mode",
        default=None,
        metavar="MODE",
        help=f"Stacks for @run_both_modes tests: {', '.join(CHOICES)}. "
        f"Overrides ${ENV_VAR}; default both.",
    )
    parser.addini(
        ISOLATION_INI,
        type="bool",
        default=True,
        help="Run async def database tests through async_to_sync from the main "
        "thread, so they share the test's transaction (default true).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "restflow_parity: a @run_both_modes test, run once per parity mode.",
    )
    option = config.getoption("--parity-mode")
    source = "--parity-mode" if option is not None else ENV_VAR
    value = option if option is not None else os.environ.get(ENV_VAR)
    try:
        parse_mode(value, source)
    except ParityModeError as error:
        raise pytest.UsageError(str(error)) from None
    if option is not None:
        # unittest variants read the variable when they run, so the option
        # must reach them (and xdist workers) through it.
        os.environ[ENV_VAR] = option
    config.pluginmanager.register(ParityReporter(), "restflow-parity-reporter")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("restflow_parity") is None:
        return
    modes = selected_modes()
    metafunc.parametrize("parity_mode", modes, indirect=True, ids=list(modes))


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    selected = selected_modes()
    kept, deselected = [], []
    for item in items:
        mode = _item_mode(item)
        if mode is None:
            kept.append(item)
            continue
        if mode not in selected:
            deselected.append(item)
            continue
        # user_properties travel with reports, also from xdist workers.
        item.user_properties.append((_PROPERTY, f"{_base_id(item, mode)}|{mode}"))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _item_mode(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "parity_mode" in callspec.params:
        return str(callspec.params["parity_mode"])
    return mode_of(getattr(item, "obj", None))


def _base_id(item: pytest.Item, mode: str) -> str:
    if getattr(item, "callspec", None) is not None:
        # test_x[sync] or test_x[sync-other]: name the pair test_x[*...].
        return re.sub(rf"([\[-]){mode}(?=[\]-])", r"\1*", item.nodeid, count=1)
    return item.nodeid.removesuffix(f"_{mode}")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    test, claimed = _coroutine_test(pyfuncitem.obj)
    if test is None:
        return None
    if claimed and not _isolated(pyfuncitem):
        return None  # pytest-asyncio runs it, as the user configured
    from asgiref.sync import async_to_sync

    parameters = inspect.signature(test).parameters
    funcargs = pyfuncitem.funcargs
    kwargs = {name: funcargs[name] for name in parameters if name in funcargs}
    loop = pyfuncitem.stash.get(_LOOP_KEY, None)
    if loop is not None:
        # Async fixtures ran on this loop: their resources are bound to it.
        loop.run(lambda: test(**kwargs))
    else:
        async_to_sync(test)(**kwargs)
    return True


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Run a function-scoped async fixture of an isolated test on the test's loop.

    Left alone, pytest-asyncio would run it on its own loop in the main
    thread, so its ORM calls would use another connection, outside the test's
    transaction. Here ``fixturedef.func`` is swapped, for this one setup, for a
    sync function that pytest (and pytest-asyncio) call like any other.
    """
    item = request.node
    function = _async_fixture_function(fixturedef.func)
    if (
        function is None
        or fixturedef.scope != "function"
        or not isinstance(item, pytest.Function)
        or not _isolated(item)
    ):
        return (yield)
    bound_to = getattr(fixturedef.func, "__self__", None)
    if (
        bound_to is not None
        and request.instance is not None
        and isinstance(request.instance, type(bound_to))
    ):
        # Defined on the test class: bind it to this test's instance, as
        # pytest does for its own fixtures.
        function = function.__get__(request.instance)
    loop = item.stash.get(_LOOP_KEY, None)
    if loop is None:
        loop = item.stash[_LOOP_KEY] = _TestLoop(item.nodeid)
    name = fixturedef.argname

    def setup(**kwargs: Any) -> Any:
        if not inspect.isasyncgenfunction(function):
            return loop.run(lambda: function(**kwargs))
        generator = function(**kwargs)
        try:
            value = loop.run(lambda: _first_step(generator, loop.shared))
        except StopAsyncIteration:
            raise ValueError(f"{name} did not yield a value") from None

        def teardown() -> None:
            try:
                loop.run(generator.__anext__)
            except StopAsyncIteration:
                return
            loop.run(generator.aclose)
            pytest.fail(f"fixture {name} has more than one 'yield'", pytrace=False)

        request.addfinalizer(teardown)
        return value

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fixturedef, "func", setup)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        yield
    finally:
        loop = item.stash.get(_LOOP_KEY, None)
        if loop is not None:
            del item.stash[_LOOP_KEY]
            loop.close()


def _async_fixture_function(obj: Any) -> Callable[..., Any] | None:
    """The fixture's ``async def`` function, unwrapped as for tests, or None."""
    obj = getattr(obj, "__func__", obj)
    while obj is not None:
        if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
            return obj  # type: ignore[no-any-return]
        obj = getattr(obj, "__wrapped__", None)
    return None


class _TestLoop:
    """One test's event loop, running in a thread of its own.

    ``run`` runs one step (a fixture's setup or teardown, the test) on the
    loop while the main thread waits, serving the step's thread-sensitive
    calls (``ThreadSensitiveContext`` with an executor, asgiref 3.13+).
    Context variables a step sets carry over to the next, as with
    pytest-asyncio. With an older asgiref each step goes through its own
    ``async_to_sync`` call, and so its own loop.
    """

    def __init__(self, name: str) -> None:
        from asgiref.sync import ThreadSensitiveContext

        self._context = contextvars.copy_context()
        # ThreadSensitiveContext takes an executor from asgiref 3.13 on.
        parameters = inspect.signature(ThreadSensitiveContext).parameters
        self.shared = "executor" in parameters
        if not self.shared:
            return
        self._executor = _MainThreadExecutor()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever,
            name=f"restflow-parity loop for {name}",
            daemon=True,
        )
        self._thread.start()

    def run(self, step: Callable[[], Awaitable[Any]]) -> Any:
        from asgiref.sync import ThreadSensitiveContext, async_to_sync

        if not self.shared:
            return self._context.run(async_to_sync(_awaited), step)
        done: concurrent.futures.Future[tuple[Any, contextvars.Context]]
        done = concurrent.futures.Future()

        async def body() -> tuple[Any, contextvars.Context]:
            async with ThreadSensitiveContext(executor=self._executor):
                result = await step()
            return result, contextvars.copy_context()

        def start() -> None:
            task = self._loop.create_task(body())
            task.add_done_callback(functools.partial(_settle, done))

        self._loop.call_soon_threadsafe(start, context=self._context)
        self._executor.work_until(done)
        result, context = done.result()
        for var, value in context.items():
            if self._context.get(var, _MISSING) is not value:
                self._context.run(var.set, value)
        return result

    def close(self) -> None:
        if not self.shared:
            return
        self.run(self._cancel_leftovers)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _cancel_leftovers(self) -> None:
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        await self._loop.shutdown_asyncgens()


def _first_step(generator: AsyncGenerator[Any, None], shared: bool) -> Awaitable[Any]:
    """Start an async-generator fixture, up to its ``yield``.

    Without a shared loop, the setup's loop is closed before the teardown, and
    closing it would finalize every async generator first run on it, so the
    teardown would be skipped: the loop's asyncgen hooks are kept off this one.
    """
    if shared:
        return generator.__anext__()
    hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(None, None)
    try:
        return generator.__anext__()  # the hooks run on this first call
    finally:
        sys.set_asyncgen_hooks(*hooks)


async def _awaited(step: Callable[[], Awaitable[Any]]) -> Any:
    return await step()


def _settle(done: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())
    else:
        done.set_result(task.result())


class _MainThreadExecutor(concurrent.futures.Executor):
    """Runs submitted calls in the thread that calls ``work_until``."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)

        self._queue.put(work)
        return future

    def work_until(self, done: concurrent.futures.Future[Any]) -> None:
        done.add_done_callback(lambda _: self._queue.put(None))
        while (work := self._queue.get()) is not None:
            work()


_LOOP_KEY = pytest.StashKey[_TestLoop]()
_MISSING = object()


def _coroutine_test(obj: Any) -> tuple[Callable[..., Any] | None, bool]:
    """The test's coroutine function, and whether another plugin wrapped it.

    pytest-asyncio swaps the test for a sync wrapper made with functools.wraps;
    the public ``__wrapped__`` leads back to the user's coroutine function.
    """
    claimed = False
    while obj is not None:
        if inspect.iscoroutinefunction(obj):
            return obj, claimed
        obj, claimed = getattr(obj, "__wrapped__", None), True
    return None, False


def _isolated(item: pytest.Function) -> bool:
    """Whether the async isolation applies: it is on and the test uses the DB."""
    uses_database = item.get_closest_marker(
        "django_db"
    ) is not None or not _DB_FIXTURES.isdisjoint(item.fixturenames)
    return bool(item.config.getini(ISOLATION_INI)) and uses_database


class ParityReporter:
    """Collects parity outcomes from reports and prints the summary."""

    def __init__(self) -> None:
        self.tally = ParityTally()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name != _PROPERTY:
                continue
            base, _, mode = str(value).rpartition("|")
            if report.failed:
                self.tally.add(base, mode, "failed")
            elif report.skipped:
                self.tally.add(base, mode, "skipped")
            elif report.when == "call":
                self.tally.add(base, mode, "passed")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = self.tally.lines()
        if lines:
            terminalreporter.section("restflow-parity", sep="=")
            for line in lines:
                terminalreporter.write_line(line)
