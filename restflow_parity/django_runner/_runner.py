"""The parity options for ``manage.py test``, on Django's runner or the project's.

    TEST_RUNNER = "restflow_parity.runner.ParityDiscoverRunner"

or, keeping a runner of the project's (an XML runner, a ``DiscoverRunner``
subclass), with settings alone::

    TEST_RUNNER = "restflow_parity.runner.ParityRunner"
    RESTFLOW_PARITY_TEST_RUNNER = "xmlrunner.extra.djangotestrunner.XMLTestRunner"

or in code: ``class TestRunner(ParityRunnerMixin, XMLTestRunner): pass``.

- ``--parity-mode sync`` runs only the sync variants (the others are skipped,
  naming the variable).
- ``--parity-both-modes`` (or ``RESTFLOW_PARITY_BOTH_MODES = True``, or a
  list of dotted test-label prefixes) runs every selected test case on both
  stacks, with no decorator.
- ``--parity-report PATH`` writes every variant's outcome to a JSON file for
  ``python -m restflow_parity merge``; ``--parallel`` workers included.
- ``--parity-rerun`` reruns both variants of each mismatching test alone, in
  fresh processes, and labels the mismatch.

The run ends with a per-mode summary.
"""

from __future__ import annotations

import os
import time
import unittest
from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from django.test.runner import DiscoverRunner, ParallelTestSuite
from django.utils.module_loading import import_string

from restflow_parity._changes import undo_all
from restflow_parity.django_runner._results import (
    ParityParallelTestSuite,
    RecordingSuite,
)
from restflow_parity.variants._decorator import split_test
from restflow_parity.variants._mode import (
    CHOICES,
    ENV_VAR,
    MODES,
    ParityModeError,
    export_mode,
    mode_of,
    parse_mode,
)
from restflow_parity.verdict._report import Report, Run, default_label
from restflow_parity.verdict._rerun import rerun_django
from restflow_parity.verdict._summary import ParityTally

__all__ = ["BOTH_MODES_SETTING", "ParityDiscoverRunner", "ParityRunnerMixin"]

BOTH_MODES_SETTING = "RESTFLOW_PARITY_BOTH_MODES"
BASE_RUNNER_SETTING = "RESTFLOW_PARITY_TEST_RUNNER"


class ParityRunnerMixin:
    """Adds ``--parity-mode``, ``--parity-both-modes``, ``--parity-report``,
    ``--parity-rerun`` and a parity summary to a ``DiscoverRunner`` (subclass).

    Put it first: ``class TestRunner(ParityRunnerMixin, YourRunner)``. The
    runner's own result class and output stay as they are.
    """

    parallel_test_suite: type[ParallelTestSuite] = ParityParallelTestSuite

    def __init__(
        self,
        parity_mode: str | None = None,
        parity_report: str | None = None,
        parity_rerun: bool = False,
        parity_both_modes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        value = parity_mode if parity_mode is not None else os.environ.get(ENV_VAR)
        try:
            # Fail before any test runs, in one line, as under pytest.
            self.parity_selected = parse_mode(value)
        except ParityModeError as error:
            raise CommandError(str(error)) from None
        self._parity_mode_option = parity_mode
        self._parity_restore: Callable[[], None] | None = None
        self.parity_why = (
            f"--parity-mode {parity_mode}"
            if parity_mode is not None
            else f"{ENV_VAR}={os.environ.get(ENV_VAR)}"
        )
        self.parity_report = parity_report
        self.parity_rerun = parity_rerun
        self.parity_both_modes = _both_modes_labels(parity_both_modes)
        self.parity_options = kwargs  # --settings, --keepdb... for reruns
        self.parity_run = Run.start(
            "django",
            default_label(parity_report or "manage.py-test"),
            self.parity_selected,
        )
        self._parity_suite: RecordingSuite | None = None

    @classmethod
    def add_arguments(cls, parser: ArgumentParser) -> None:
        super().add_arguments(parser)  # type: ignore[misc]
        parser.add_argument(
            "--parity-mode",
            choices=CHOICES,
            help=f"Stacks for @run_both_modes tests (default: ${ENV_VAR} or both).",
        )
        parser.add_argument(
            "--parity-both-modes",
            action="store_true",
            help="Run every selected test case on both stacks, as if each "
            f"carried @run_both_modes (or set {BOTH_MODES_SETTING}).",
        )
        parser.add_argument(
            "--parity-report",
            metavar="PATH",
            help="Write every parity variant's outcome to this JSON file, for "
            "'python -m restflow_parity merge'.",
        )
        parser.add_argument(
            "--parity-rerun",
            action="store_true",
            help="Rerun both variants of each mismatching test alone, each in "
            "a fresh process, and label the mismatch a stack difference or "
            "order-dependent.",
        )

    def setup_test_environment(self, **kwargs: Any) -> None:
        super().setup_test_environment(**kwargs)  # type: ignore[misc]
        if self._parity_mode_option is not None:
            # Variants (and --parallel workers) read the variable when they
            # run; the run's end puts it back.
            self._parity_restore = export_mode(self._parity_mode_option)

    def teardown_test_environment(self, **kwargs: Any) -> None:
        # The run's end puts back what it changed in the process: the mode
        # variable, and what the kit installed when needed (_changes.py).
        if self._parity_restore is not None:
            self._parity_restore()
            self._parity_restore = None
        undo_all()
        super().teardown_test_environment(**kwargs)  # type: ignore[misc]

    def load_tests_for_label(self, label: str, discover_kwargs: Any) -> Any:
        tests = super().load_tests_for_label(label, discover_kwargs)  # type: ignore[misc]
        if self.parity_both_modes is None or tests is None:
            return tests
        return unittest.TestSuite(split_tests(tests, self.parity_both_modes))

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        # In front of whatever result the runner makes, a recorder.
        self._parity_suite = RecordingSuite(suite, self.parity_run.id)
        return super().run_suite(self._parity_suite, **kwargs)  # type: ignore[misc]

    def suite_result(
        self, suite: unittest.TestSuite, result: Any, **kwargs: Any
    ) -> int:
        recorded = self._parity_suite.variants if self._parity_suite else []
        tally = ParityTally()
        skipped: dict[str, int] = {}
        for variant in recorded:
            if variant.mode in self.parity_selected:
                tally.add(variant)
            else:  # skipped by the decorator: RESTFLOW_PARITY_MODE left it out
                skipped[variant.mode] = skipped.get(variant.mode, 0) + 1
        self.parity_run.finished = time.time()
        rerun_lines: list[str] = []
        if self.parity_rerun and tally.mismatches():
            rerun_lines = rerun_django(self, tally)
        if self.parity_report:
            report = Report([self.parity_run], list(tally.variants.values()))
            report.write(self.parity_report)
        not_selected = {
            mode: f"{self.parity_why}; its {skipped[mode]} variants were skipped"
            if skipped.get(mode)
            else self.parity_why
            for mode in ("sync", "async")
            if mode not in self.parity_selected
        }
        log = getattr(self, "log", print)
        for line in tally.lines(not_selected=not_selected) + rerun_lines:
            log(line)
        if self.parity_report and tally.variants:
            log(f"  report written to {self.parity_report}")
        return super().suite_result(suite, result, **kwargs)  # type: ignore[misc,no-any-return]


class ParityDiscoverRunner(ParityRunnerMixin, DiscoverRunner):
    """Django's ``DiscoverRunner`` with the parity options."""


class _Selection:
    """The tests the both-modes switch splits: label prefixes ("" is every
    test), less ``RESTFLOW_PARITY_BOTH_MODES_EXCLUDE``'s prefixes."""

    def __init__(self, labels: tuple[str, ...], excluded: tuple[str, ...]) -> None:
        self.labels, self.excluded = labels, excluded

    def __contains__(self, test_id: str) -> bool:
        return _prefixed(test_id, self.labels) and not _prefixed(test_id, self.excluded)


def _both_modes_labels(option: bool) -> _Selection | None:
    """What the both-modes switch selects, or None when it is off."""
    from django.conf import settings

    setting = getattr(settings, BOTH_MODES_SETTING, False)
    excluded = tuple(getattr(settings, f"{BOTH_MODES_SETTING}_EXCLUDE", ()))
    if isinstance(setting, str):
        setting = [setting]
    if isinstance(setting, (list, tuple)):
        return _Selection(tuple(setting) or ("",), excluded)
    return _Selection(("",), excluded) if (option or setting) else None


def split_tests(suite: Any, selection: _Selection) -> list[Any]:
    """The tests of ``suite``, each selected test case's test as its two variants."""
    from django.test import SimpleTestCase

    found: list[Any] = []
    for test in iter_tests(suite):
        cls, name = type(test), getattr(test, "_testMethodName", "")
        if (
            not isinstance(test, SimpleTestCase)
            or mode_of(getattr(cls, name, None)) is not None
            or test.id() not in selection
        ):
            found.append(test)
            continue
        if callable(getattr(cls, name, None)):
            split_test(cls, name)  # a test of a base class splits there once
        found += [cls(f"{name}_{mode}") for mode in MODES]
    return found


def _prefixed(test_id: str, labels: tuple[str, ...]) -> bool:
    return any(test_id.startswith(label) for label in labels)


def parity_runner() -> type:
    """``ParityRunnerMixin`` on the runner that ``RESTFLOW_PARITY_TEST_RUNNER``
    names (default Django's): ``restflow_parity.runner.ParityRunner``."""
    from django.conf import settings

    path = getattr(settings, BASE_RUNNER_SETTING, "django.test.runner.DiscoverRunner")
    base = import_string(path)
    if not (isinstance(base, type) and issubclass(base, DiscoverRunner)):
        raise ImportError(
            f"{BASE_RUNNER_SETTING} = {path!r} is not a DiscoverRunner subclass; "
            "restflow-parity's options build on Django's DiscoverRunner. Name "
            "your runner class, or write `class TestRunner(ParityRunnerMixin, "
            "YourRunner)` and point TEST_RUNNER at it."
        )
    composed = _composed.get(base)
    if composed is None:
        # Named as the public name it is found by: reruns start it so.
        composed = _composed[base] = type(
            "ParityRunner",
            (ParityRunnerMixin, base),
            {
                "__module__": "restflow_parity.runner",
                "__doc__": f"{path}, with the parity options.",
            },
        )
    return composed


_composed: dict[type, type] = {}


def iter_tests(suite: unittest.TestSuite) -> Any:
    """Every test in a suite, nested suites flattened (tests/soak uses it)."""
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from iter_tests(test)
        else:
            yield test
