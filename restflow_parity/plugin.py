"""pytest plugin for restflow-parity, loaded through the ``pytest11`` entry point.

Hooks live here; user-visible fixtures live in ``restflow_parity.fixtures``
and are registered by importing them into this module's namespace. Django is
imported lazily, so the plugin loads in projects without settings.

- Parity variants: ``@run_both_modes`` functions are parametrized by mode;
  every variant (functions and unittest methods) carries a ``parity_sync`` or
  ``parity_async`` marker, and the stacks ``--parity-mode`` leaves out are
  deselected. ``reporter.py`` turns their reports into the summary and the
  ``--parity-report`` file; ``variant_state.py`` rolls back what a variant
  wrote to process-local caches.
- Async database isolation: an ``async def`` test that uses the database,
  and its function-scoped async fixtures, run the way Django's runner runs
  one (``isolation.py``, on a ``testloop.TestLoop``: its loop in a reused
  thread, the main thread serving its thread-sensitive calls), so rows roll
  back and sync fixtures' data is visible, with or without pytest-asyncio.
  Tests another plugin owns (anyio, pytest-trio) are left to it; anyio's
  asyncio tests get their database calls routed to the test's connection
  instead (``coexist.py``).
- System checks: pytest-django runs none, so the kit's own run at session
  start and print their warnings, as ``manage.py test`` would.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
from collections.abc import Callable, Generator
from contextlib import ExitStack
from typing import Any

import pytest

from restflow_parity.coexist import (
    AsyncIsolationWarning,
    BorrowedConnections,
    owner,
    wrap_steps,
)
from restflow_parity.fixtures import *  # noqa: F403
from restflow_parity.isolation import (
    async_fixture_function,
    coroutine_test,
    executor_context_supported,
    first_step,
)
from restflow_parity.ledger import (
    Ledger,
    allowed_stack,
    name_fixture,
    recording,
    suspended,
)
from restflow_parity.modes import (
    CHOICES,
    ENV_VAR,
    MODES,
    ParityModeError,
    activated,
    export_mode,
    mark_pytest_function,
    mode_of,
    parse_mode,
    run_both_modes,
    selected_modes,
)
from restflow_parity.reporter import (
    LEDGER_PROPERTY,
    VARIANT_PROPERTY,
    WHERE_PROPERTY,
    ParityReporter,
    where_it_runs,
)
from restflow_parity.testloop import TestLoop
from restflow_parity.variant_state import variant_state

ISOLATION_INI = "restflow_parity_async_isolation"
BOTH_MODES_INI = "restflow_parity_both_modes"
MARKERS = {mode: f"parity_{mode}" for mode in MODES}
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
_RESTORE_KEY = pytest.StashKey[Callable[[], None]]()
_LEDGER_KEY = pytest.StashKey[Ledger]()
_BORROWED_KEY = pytest.StashKey[BorrowedConnections]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("restflow-parity")
    group.addoption(
        "--parity-mode",
        default=None,
        metavar="MODE",
        help=f"Stacks for @run_both_modes tests: {', '.join(CHOICES)}. "
        f"Overrides ${ENV_VAR}; default both.",
    )
    group.addoption(
        "--parity-report",
        default=None,
        metavar="PATH",
        help="Write every parity variant's outcome to this JSON file, for "
        "'python -m restflow_parity merge'.",
    )
    group.addoption(
        "--parity-rerun",
        action="store_true",
        default=False,
        help="Rerun both variants of each mismatching test alone, each in a "
        "fresh process, and label the mismatch a stack difference or "
        "order-dependent.",
    )
    group.addoption(
        "--parity-both-modes",
        action="store_true",
        default=None,
        help="Run every selected test on both stacks, as if each carried "
        f"@run_both_modes (ini {BOTH_MODES_INI}; narrow it with "
        f"{BOTH_MODES_INI}_paths and {BOTH_MODES_INI}_markers).",
    )
    parser.addini(
        BOTH_MODES_INI,
        type="bool",
        default=False,
        help="Run every selected test (Django test cases, plain test classes "
        "and test functions) on both stacks, with no decorator (default false).",
    )
    parser.addini(
        f"{BOTH_MODES_INI}_paths",
        type="linelist",
        default=[],
        help="Only tests in files matching these globs (relative to the "
        "rootdir) run on both stacks; default all.",
    )
    parser.addini(
        f"{BOTH_MODES_INI}_exclude",
        type="linelist",
        default=[],
        help="Tests in files matching these globs run once, as they are "
        "(snapshot tests named after the test, a WSGI live server's).",
    )
    parser.addini(
        f"{BOTH_MODES_INI}_markers",
        type="linelist",
        default=[],
        help="Only tests carrying one of these markers run on both stacks; "
        "default all.",
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
    for mode, marker in MARKERS.items():
        config.addinivalue_line(
            "markers",
            f"{marker}: the {mode} variant of a @run_both_modes test "
            f"(select a stack with -m {marker}).",
        )
    option = config.getoption("--parity-mode")
    source = "--parity-mode" if option is not None else ENV_VAR
    value = option if option is not None else os.environ.get(ENV_VAR)
    try:
        selected = parse_mode(value, source)
    except ParityModeError as error:
        raise pytest.UsageError(str(error)) from None
    if option is not None:
        # unittest variants read the variable when they run, so the option
        # must reach them (and xdist workers) through it; undone at the end.
        config.stash[_RESTORE_KEY] = export_mode(option)
    if not hasattr(config, "workerinput"):  # the controller speaks for workers
        why = f"{source} {value}" if option is not None else f"{ENV_VAR}={value}"
        reporter = ParityReporter(config, selected, why)
        config.pluginmanager.register(reporter, "restflow-parity-reporter")


def pytest_unconfigure(config: pytest.Config) -> None:
    restore = config.stash.get(_RESTORE_KEY, None)
    if restore is not None:
        restore()


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Under ``--parity-both-modes``, split or mark each selected test before
    pytest collects it; collection itself is left to pytest."""
    if not isinstance(collector, pytest.Module) or not _splits(collector, obj):
        return
    if isinstance(obj, type):
        import unittest

        if issubclass(obj, unittest.TestCase):
            if _own(collector, obj) and _is_django_case(obj):
                run_both_modes(obj)
        elif collector.istestclass(obj, name):
            mark_pytest_function(obj)  # its methods inherit the marks
    elif collector.istestfunction(obj, name) and _own(collector, obj):
        mark_pytest_function(obj)


def _splits(collector: pytest.Module, obj: Any) -> bool:
    """Whether the both-modes switch selects ``obj``, not yet split."""
    config = collector.config
    option = config.getoption("parity_both_modes")
    if not (option if option is not None else bool(config.getini(BOTH_MODES_INI))):
        return False
    marks = getattr(obj, "pytestmark", [])
    if any(mark.name == "restflow_parity" for mark in marks):
        return False  # decorated already
    paths = config.getini(f"{BOTH_MODES_INI}_paths")
    where = collector.path.relative_to(config.rootpath).as_posix()
    if paths and not any(fnmatch.fnmatch(where, glob) for glob in paths):
        return False
    excluded = config.getini(f"{BOTH_MODES_INI}_exclude")
    if any(fnmatch.fnmatch(where, glob) for glob in excluded):
        return False
    markers = set(config.getini(f"{BOTH_MODES_INI}_markers"))
    if markers:
        names = {m.name for m in collector.iter_markers()}
        names |= {m.name for m in marks}
        return not markers.isdisjoint(names)
    return True


def _own(collector: pytest.Module, obj: Any) -> bool:
    """Defined in this module, not imported into it (a base class, a helper)."""
    return bool(getattr(obj, "__module__", None) == collector.obj.__name__)


def _is_django_case(cls: type) -> bool:
    from django.test import SimpleTestCase

    return issubclass(cls, SimpleTestCase)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # First, so the mode leads every variant's id (test_x[sync-...]): a
    # parameter whose value is "sync" cannot be taken for it (_base_id).
    if metafunc.definition.get_closest_marker("restflow_parity") is None:
        return
    params = [
        pytest.param(mode, marks=getattr(pytest.mark, MARKERS[mode]), id=mode)
        for mode in selected_modes()
    ]
    metafunc.parametrize("parity_mode", params, indirect=True)


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
        if item.get_closest_marker(MARKERS[mode]) is None:  # a unittest variant
            item.add_marker(MARKERS[mode])
            item.add_marker("restflow_parity")
        # user_properties travel with reports, also from xdist workers.
        item.user_properties.append(
            (VARIANT_PROPERTY, f"{_base_id(item, mode)}|{mode}")
        )
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
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.nodeid.removesuffix(f"_{mode}")
    # test_x[sync] or test_x[sync-other]: name the pair test_x[*...].
    ident = str(callspec.id)
    stem = item.nodeid[: -len(ident) - 2]
    if ident == mode or ident.startswith(f"{mode}-"):
        return f"{stem}[*{ident[len(mode) :]}]"
    # Another plugin parametrized first: pair by the other parameters.
    others = {k: v for k, v in callspec.indices.items() if k != "parity_mode"}
    return f"{stem}[*{sorted(others.items())}]"


def _is_unittest(item: pytest.Item) -> bool:
    import unittest

    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and issubclass(cls, unittest.TestCase)


def _is_variant(item: pytest.Item) -> bool:
    return any(name == VARIANT_PROPERTY for name, _ in item.user_properties)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Print the kit's system check warnings, which pytest-django never runs."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return
    from restflow_parity.checks import kit_messages

    messages = kit_messages()
    if messages:
        terminal.write_line(
            "restflow-parity: System check identified some issues:", yellow=True
        )
        for message in messages:
            terminal.write_line(str(message))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    where = where_it_runs(item.config)  # every test counts towards the positions
    variant = _is_variant(item)
    if variant:
        item.user_properties.append((WHERE_PROPERTY, where))
    # From the first fixture to the last teardown: the ledger counts the
    # test's requests by stack, and a pytest function variant's caches roll
    # back (a unittest variant does both itself, in modes.py).
    scope = item.stash[_SCOPE_KEY] = ExitStack()
    function_variant = variant and not _is_unittest(item)
    mode: Any = _item_mode(item) if function_variant else None
    allowed = allowed_stack(getattr(item, "obj", None), getattr(item, "cls", None))
    item.stash[_LEDGER_KEY] = scope.enter_context(recording(mode, allowed))
    if function_variant:
        # Django's test machinery needs the settings: imported now, not
        # when the plugin loads.
        from restflow_parity.stock import following

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
