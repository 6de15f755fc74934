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
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
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
    if claimed and not (
        pyfuncitem.config.getini(ISOLATION_INI) and _uses_database(pyfuncitem)
    ):
        return None  # pytest-asyncio runs it, as the user configured
    from asgiref.sync import async_to_sync

    parameters = inspect.signature(test).parameters
    funcargs = pyfuncitem.funcargs
    kwargs = {name: funcargs[name] for name in parameters if name in funcargs}
    async_to_sync(test)(**kwargs)
    return True


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


def _uses_database(item: pytest.Function) -> bool:
    return item.get_closest_marker(
        "django_db"
    ) is not None or not _DB_FIXTURES.isdisjoint(item.fixturenames)


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
