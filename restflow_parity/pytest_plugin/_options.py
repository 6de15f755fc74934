"""The plugin's options, ini keys and markers, and what it does at start and end."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from restflow_parity._changes import undo_all
from restflow_parity.pytest_plugin._reporter import (
    ParityReporter,
)
from restflow_parity.variants._mode import (
    CHOICES,
    ENV_VAR,
    MODES,
    ParityModeError,
    export_mode,
    parse_mode,
)

ISOLATION_INI = "restflow_parity_async_isolation"
BOTH_MODES_INI = "restflow_parity_both_modes"
MARKERS = {mode: f"parity_{mode}" for mode in MODES}
_RESTORE_KEY = pytest.StashKey[Callable[[], None]]()


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
    """Put back what the session changed in the process: the mode variable,
    and the signal handler and receivers the kit installed when needed."""
    restore = config.stash.get(_RESTORE_KEY, None)
    if restore is not None:
        restore()
    undo_all()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Print the kit's system check warnings, which pytest-django never runs."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None:
        return
    # Imported here: importing the module registers the kit's checks with
    # Django, which only projects that list the app (apps.py) should get.
    from restflow_parity.django_runner._checks import kit_messages

    messages = kit_messages()
    if messages:
        terminal.write_line(
            "restflow-parity: System check identified some issues:", yellow=True
        )
        for message in messages:
            terminal.write_line(str(message))
