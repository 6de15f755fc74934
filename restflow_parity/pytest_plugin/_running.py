"""Running a test: its ledger and caches, its event loop, its async fixtures."""

from __future__ import annotations

import inspect
from collections.abc import Generator
from contextlib import ExitStack
from typing import Any

import pytest

from restflow_parity.pytest_plugin._coexist import (
    AsyncIsolationWarning,
    BorrowedConnections,
    owner,
    wrap_steps,
)
from restflow_parity.pytest_plugin._collection import (
    is_unittest,
    is_variant,
    item_mode,
)
from restflow_parity.pytest_plugin._coroutines import (
    async_fixture_function,
    coroutine_test,
    executor_context_supported,
    first_step,
)
from restflow_parity.pytest_plugin._options import ISOLATION_INI
from restflow_parity.pytest_plugin._reporter import (
    LEDGER_PROPERTY,
    WHERE_PROPERTY,
    where_it_runs,
)
from restflow_parity.pytest_plugin._testloop import TestLoop
from restflow_parity.request._ledger import (
    Ledger,
    allowed_stack,
    name_fixture,
    recording,
    suspended,
)
from restflow_parity.variants._caches import variant_state
from restflow_parity.variants._mode import activated

_DB_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
    }
)
_LOOP_KEY = pytest.StashKey[TestLoop]()
_SCOPE_KEY = pytest.StashKey[ExitStack]()
_LEDGER_KEY = pytest.StashKey[Ledger]()
_BORROWED_KEY = pytest.StashKey[BorrowedConnections]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    where = where_it_runs(item.config)  # every test counts towards the positions
    variant = is_variant(item)
    if variant:
        item.user_properties.append((WHERE_PROPERTY, where))
    # From the first fixture to the last teardown: the ledger counts the
    # test's requests by stack, and a pytest function variant's caches roll
    # back (a unittest variant does both itself, in modes.py).
    scope = item.stash[_SCOPE_KEY] = ExitStack()
    function_variant = variant and not is_unittest(item)
    mode: Any = item_mode(item) if function_variant else None
    allowed = allowed_stack(getattr(item, "obj", None), getattr(item, "cls", None))
    item.stash[_LEDGER_KEY] = scope.enter_context(recording(mode, allowed))
    if function_variant:
        # Django's test machinery needs the settings: imported now, not
        # when the plugin loads.
        from restflow_parity.request._stock import following

        # Before any fixture: a fixture's request goes on the variant's stack.
        scope.enter_context(activated(mode))
        scope.enter_context(variant_state())
        scope.enter_context(following())
    if (
        isinstance(item, pytest.Function)
        and owner(item) == "anyio"
        and _isolated(item)
        and not executor_context_supported()
    ):
        item.warn(
            AsyncIsolationWarning(
                "this anyio test uses the database, but its async ORM calls "
                "run outside the test's transaction, so its rows are not "
                "rolled back: isolating anyio tests needs asgiref 3.13 or "
                "later (pip install -U 'asgiref>=3.13')."
            )
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    function = item if isinstance(item, pytest.Function) else None
    original = None
    if function is not None and _borrow_for_anyio(function):
        # anyio runs item.obj: it gets the test with its calls routed.
        original = function.obj
        function.obj = wrap_steps(original, _borrowed_executor(function))
    try:
        outcome = yield
    finally:
        if function is not None and original is not None:
            function.obj = original
    # The body passed: fail it for a forgotten await or a wrong-stack request.
    ledger = item.stash.get(_LEDGER_KEY, None)
    if ledger is not None:
        ledger.verify()
    return outcome


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if owner(pyfuncitem) is not None:
        return None  # anyio or pytest-trio runs it
    test, claimed = coroutine_test(pyfuncitem.obj)
    if test is None:
        return None
    if claimed and not _isolated(pyfuncitem):
        return None  # pytest-asyncio runs it, as the user configured
    parameters = inspect.signature(test).parameters
    funcargs = pyfuncitem.funcargs
    kwargs = {name: funcargs[name] for name in parameters if name in funcargs}
    _test_loop(pyfuncitem).run(lambda: test(**kwargs))
    return True


def _test_loop(item: pytest.Function) -> TestLoop:
    """The loop the test's async fixtures ran on (their resources are bound to
    it), or a new one; the teardown hook closes it."""
    loop = item.stash.get(_LOOP_KEY, None)
    if loop is None:
        loop = item.stash[_LOOP_KEY] = TestLoop()
    return loop


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Run a function-scoped async fixture of an isolated test on the test's loop.

    Left alone, pytest-asyncio would run it on its own loop in the main
    thread, so its ORM calls would use another connection, outside the test's
    transaction. Here ``fixturedef.func`` is swapped, for this one setup, for a
    sync function that pytest (and pytest-asyncio) call like any other. An
    anyio test's fixture stays async (anyio runs it), with its database calls
    routed to the test's connection.
    """
    if fixturedef.scope != "function":
        # Set up once for many tests: its requests belong to no variant, and
        # go as stock (on the sync stack).
        with suspended(), activated(None):
            value = yield
    else:
        value = yield from _function_fixture_setup(fixturedef, request)
    # The ledger names a client by the fixture that made it.
    name_fixture(value, fixturedef.argname, getattr(fixturedef.func, "__module__", ""))
    return value


def _function_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    item = request.node
    function = async_fixture_function(fixturedef.func)
    if function is None or not isinstance(item, pytest.Function) or not _isolated(item):
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
    if owner(item) is not None:
        if not _borrow_for_anyio(item):
            return (yield)
        replacement = wrap_steps(function, _borrowed_executor(item))
    else:
        replacement = _on_test_loop(function, fixturedef.argname, request, item)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fixturedef, "func", replacement)
        return (yield)


def _on_test_loop(
    function: Any, name: str, request: pytest.FixtureRequest, item: pytest.Function
) -> Any:
    """A sync stand-in for an async fixture, running it on the test's loop."""
    loop = _test_loop(item)

    def setup(**kwargs: Any) -> Any:
        if not inspect.isasyncgenfunction(function):
            return loop.run(lambda: function(**kwargs))
        generator = function(**kwargs)
        try:
            value = loop.run(lambda: first_step(generator, loop.shared))
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

    return setup


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    try:
        yield
    finally:
        loop = item.stash.get(_LOOP_KEY, None)
        if loop is not None:
            del item.stash[_LOOP_KEY]
            loop.close()
        borrowed = item.stash.get(_BORROWED_KEY, None)
        if borrowed is not None:
            del item.stash[_BORROWED_KEY]
            borrowed.close()
        scope = item.stash.get(_SCOPE_KEY, None)
        if scope is not None:
            del item.stash[_SCOPE_KEY]
            scope.close()
    ledger = item.stash.get(_LEDGER_KEY, None)
    if ledger is not None:
        del item.stash[_LEDGER_KEY]
        if ledger.mode is not None:
            # The teardown report carries it to the controller (xdist too).
            item.user_properties.append((LEDGER_PROPERTY, ledger.totals()))
        ledger.verify()  # what the fixtures' teardown sent


def _isolated(item: pytest.Function) -> bool:
    """Whether the async isolation applies: it is on and the test uses the DB."""
    uses_database = item.get_closest_marker(
        "django_db"
    ) is not None or not _DB_FIXTURES.isdisjoint(item.fixturenames)
    return bool(item.config.getini(ISOLATION_INI)) and uses_database


def _borrow_for_anyio(item: pytest.Function) -> bool:
    """Whether this is an anyio database test whose calls go to its connection."""
    return (
        owner(item) == "anyio"
        and _isolated(item)
        and executor_context_supported()
        and not hasattr(item.obj, "hypothesis")
    )


def _borrowed_executor(item: pytest.Function) -> Any:
    """The test's borrowed-connection executor; closed after its teardown."""
    borrowed = item.stash.get(_BORROWED_KEY, None)
    if borrowed is None:
        borrowed = item.stash[_BORROWED_KEY] = BorrowedConnections(item.nodeid)
    return borrowed.executor
