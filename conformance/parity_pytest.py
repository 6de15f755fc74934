"""pytest plugin for the DRF and adrf runs: the swap, and one record per run.

Loaded with ``-p parity_pytest`` (the harness puts this folder on PYTHONPATH).

* ``--conformance-swap`` ``none``, ``dropin``, ``both`` or ``adrf`` (see
  ``parity_swap.apply_swap``). The swap happens at session start, after the
  suite's conftest has configured and set up Django, and before collection
  imports the test modules. ``both`` swaps nothing: its runs pass the
  product's ``--parity-both-modes``, and ``RESTFLOW_PARITY_MODE`` picks the
  stack of the process.
* ``--conformance-out`` the JSON record. Under xdist the controller writes it
  from the reports; the workers attach each test's request counts and mode to
  its teardown report as a user property.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from parity_swap import SWAPS, Outcomes, RequestCounter, apply_swap

_COUNTER = RequestCounter()
_OUTCOMES = Outcomes("?", "?")
_PROPERTY = "conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "restflow-parity conformance harness")
    group.addoption("--conformance-out", help="where to write the run's JSON record")
    group.addoption(
        "--conformance-swap", choices=SWAPS, default="none", help="what to swap in"
    )
    group.addoption("--conformance-suite", default="drf", help="the suite's name")
    group.addoption("--conformance-run", default="?", help="the run's name")


def pytest_configure(config: pytest.Config) -> None:
    _OUTCOMES.suite = config.getoption("conformance_suite")
    _OUTCOMES.run = config.getoption("conformance_run")


def pytest_sessionstart(session: pytest.Session) -> None:
    _COUNTER.install()
    classes = apply_swap(session.config.getoption("conformance_swap"))
    _OUTCOMES.classes = classes or {"": "(unchanged)"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _COUNTER.current = item.nodeid
    try:
        return (yield)
    finally:
        _COUNTER.current = None


def _variant(item: pytest.Item) -> tuple[str | None, str]:
    """The stack of a both-modes variant, and the id of the test it came from.

    A Django test case's variant is ``Case::test_x_sync``; a function's or
    plain class's is ``test_x[sync]`` (the mode leads the parameters:
    ``test_x[sync-1]`` came from ``test_x[1]``).
    """
    from restflow_parity.variants._mode import mode_of

    callspec = getattr(item, "callspec", None)
    if callspec is not None and "parity_mode" in callspec.params:
        mode = str(callspec.params["parity_mode"])
        head, _, rest = item.nodeid.partition(f"[{mode}")
        rest = rest.removeprefix("-").removesuffix("]")
        return mode, f"{head}[{rest}]" if rest else head
    mode = mode_of(getattr(item, "obj", None))
    if mode is None:
        return None, item.nodeid
    head, _, name = item.nodeid.rpartition("::")
    return mode, f"{head}::{name.removesuffix(f'_{mode}')}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "teardown":
        mode, base = _variant(item)
        info = {
            "asgi": _COUNTER.asgi[item.nodeid],
            "wsgi": _COUNTER.wsgi[item.nodeid],
            "mode": mode,
            "base": base,
        }
        report.user_properties.append((_PROPERTY, info))
    return report


def _detail(report: pytest.TestReport | pytest.CollectReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = str(crash.message).strip().splitlines()
        where = f"  [{Path(crash.path).name}:{crash.lineno}]"
        return ((message[0] if message else "?") + where)[:400]
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        return str(report.longrepr[2])[:400]
    text = str(report.longrepr).strip().splitlines()
    return text[-1][:400] if text else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.passed:
        outcome = "passed"
    elif report.skipped:
        outcome = "skipped"  # xfail too: neither passes nor fails
    else:
        outcome = "failed" if report.when == "call" else "error"
    info: dict[str, Any] = {}
    for key, value in report.user_properties:
        if key == _PROPERTY and isinstance(value, dict):
            info = value
    _OUTCOMES.add(
        report.nodeid,
        outcome,
        _detail(report) if outcome != "passed" else "",
        **info,
    )


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _OUTCOMES.add(report.nodeid or "<collection>", "error", _detail(report))


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = session.config.getoption("conformance_out")
    if out and not hasattr(session.config, "workerinput"):
        _OUTCOMES.write(Path(out))
