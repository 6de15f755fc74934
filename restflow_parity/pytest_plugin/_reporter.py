"""The pytest side of the parity verdict: variants from reports, summary, file.

Variants are read from test reports, not from items, so the controller of a
pytest-xdist run sees every worker's variants. The plugin tags each variant
item with two ``user_properties`` (they travel with reports from workers):
which test and mode it is (at collection), and where and when it ran (when
its set-up starts, in the process that runs it).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from restflow_parity.verdict._report import Report, Run, default_label
from restflow_parity.verdict._rerun import rerun_pytest
from restflow_parity.verdict._summary import ParityTally, Variant, first_line, worse

__all__ = [
    "LEDGER_PROPERTY",
    "VARIANT_PROPERTY",
    "WHERE_PROPERTY",
    "ParityReporter",
    "where_it_runs",
]

VARIANT_PROPERTY = "restflow_parity"  # "<test>|<mode>"
WHERE_PROPERTY = "restflow_parity_run"  # {"worker", "position", "started"}
LEDGER_PROPERTY = "restflow_parity_ledger"  # {"wsgi", "asgi", "by_design"}

_position = 0


def where_it_runs(config: pytest.Config) -> dict[str, Any]:
    """This process's worker name, the test's position in it, and the time."""
    global _position
    _position += 1
    # From the worker's config, not $PYTEST_XDIST_WORKER: a pytest started
    # by a test inherits the variable without being a worker.
    workerinput = getattr(config, "workerinput", {})
    return {
        "worker": str(workerinput.get("workerid", "main")),
        "position": _position,
        "started": time.time(),
    }


class ParityReporter:
    """Collects parity variants from reports; prints the summary; writes the report."""

    def __init__(
        self, config: pytest.Config, selected: tuple[str, ...], why: str
    ) -> None:
        self.config = config
        self.why = why  # how the stacks were chosen: "--parity-mode sync"
        path = config.getoption("parity_report")
        self.report_path: str | None = path
        self.run = Run.start("pytest", default_label(path or "pytest"), selected)
        self.tally = ParityTally()
        self._pending: dict[str, Variant] = {}
        self.rerun_lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties: dict[str, Any] = dict(report.user_properties)
        tag = properties.get(VARIANT_PROPERTY)
        if tag is None:
            return
        test, _, mode = str(tag).rpartition("|")
        variant = self._pending.get(report.nodeid)
        if variant is None:
            where: dict[str, Any] = properties.get(WHERE_PROPERTY) or {}
            variant = self._pending[report.nodeid] = Variant(
                test=test,
                mode=mode,
                outcome="passed",
                id=report.nodeid,
                run=self.run.id,
                worker=str(where.get("worker", "main")),
                position=where.get("position"),
                started=where.get("started"),
            )
        variant.duration += report.duration
        ledger = properties.get(LEDGER_PROPERTY)
        if ledger:
            variant.wsgi = ledger["wsgi"]
            variant.asgi = ledger["asgi"]
            variant.by_design = ledger["by_design"]
        _apply(variant, report)
        if report.when == "teardown":
            self.tally.add(self._pending.pop(report.nodeid))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A crashed xdist worker sends no teardown report for its last test.
        for variant in self._pending.values():
            self.tally.add(variant)
        self._pending.clear()
        self.run.finished = time.time()
        if self.config.getoption("parity_rerun") and self.tally.mismatches():
            self.rerun_lines = rerun_pytest(self.config, self.tally)
        if self.report_path:
            Report([self.run], list(self.tally.variants.values())).write(
                self.report_path
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        not_selected = {
            mode: self.why if mode not in self.run.selected else "deselected"
            for mode in ("sync", "async")
        }
        lines = self.tally.lines(not_selected=not_selected)
        if lines:
            terminalreporter.section("restflow-parity", sep="=")
            for line in lines + self.rerun_lines:
                terminalreporter.write_line(line)
            if self.report_path:
                terminalreporter.write_line(f"  report written to {self.report_path}")


def _apply(variant: Variant, report: pytest.TestReport) -> None:
    """Fold one phase's report into the variant's outcome; the worse one stands."""
    if report.passed:
        return
    if report.skipped:
        outcome = "skipped"
    elif report.when == "call":
        outcome = "failed"
    else:
        outcome = "error"  # set-up or tear-down: a fixture, setUpClass, ...
    if worse(outcome, variant.outcome):
        variant.outcome = outcome
        variant.phase = report.when or "call"
        variant.message = _first_line(report)


def _first_line(report: pytest.TestReport) -> str:
    xfail = getattr(report, "wasxfail", None)
    if xfail is not None:  # an expected failure: its reason, not its exception
        return first_line(f"xfail: {xfail}" if xfail else "xfail")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    elif isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        text = str(report.longrepr[2]).removeprefix("Skipped: ")
    else:
        text = str(report.longrepr or "")
    return first_line(text)
