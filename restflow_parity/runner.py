"""``ParityDiscoverRunner``: Django's test runner with the parity options.

    TEST_RUNNER = "restflow_parity.runner.ParityDiscoverRunner"

- ``manage.py test --parity-mode sync`` runs only the sync variants of
  ``@run_both_modes`` tests (the others are skipped, naming the variable).
- ``--parity-report PATH`` writes every variant's outcome to a JSON file for
  ``python -m restflow_parity merge``; ``--parallel`` workers included.
- ``--parity-rerun`` reruns both variants of each mismatching test alone, in
  fresh processes, and labels the mismatch.

The run ends with a per-mode summary.
"""

from __future__ import annotations

import os
import sys
import time
import unittest
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.test.runner import DiscoverRunner, ParallelTestSuite

from restflow_parity.modes import CHOICES, ENV_VAR, ParityModeError, parse_mode
from restflow_parity.report import Report, Run, default_label
from restflow_parity.results import ParityParallelTestSuite, ParityResultMixin
from restflow_parity.summary import ParityTally

__all__ = ["ParityDiscoverRunner"]


class ParityDiscoverRunner(DiscoverRunner):
    """Adds ``--parity-mode``, ``--parity-report``, ``--parity-rerun`` and a
    parity summary to ``manage.py test``."""

    parallel_test_suite = ParityParallelTestSuite

    def __init__(
        self,
        parity_mode: str | None = None,
        parity_report: str | None = None,
        parity_rerun: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if parity_mode is not None:
            os.environ[ENV_VAR] = parity_mode
        try:
            # Fail before any test runs, in one line, as under pytest.
            self.parity_selected = parse_mode(os.environ.get(ENV_VAR))
        except ParityModeError as error:
            raise CommandError(str(error)) from None
        self.parity_why = (
            f"--parity-mode {parity_mode}"
            if parity_mode is not None
            else f"{ENV_VAR}={os.environ.get(ENV_VAR)}"
        )
        self.parity_report = parity_report
        self.parity_rerun = parity_rerun
        self.parity_options = kwargs  # --settings, --keepdb... for reruns
        self.parity_run = Run.start(
            "django",
            default_label(parity_report or "manage.py-test"),
            self.parity_selected,
        )
        self._parallel = False

    @classmethod
    def add_arguments(cls, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--parity-mode",
            choices=CHOICES,
            help=f"Stacks for @run_both_modes tests (default: ${ENV_VAR} or both).",
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

    def get_resultclass(self) -> Any:
        base = super().get_resultclass() or unittest.TextTestResult
        return type(
            f"Parity{base.__name__}",
            (ParityResultMixin, base),
            {
                "parity_run_id": self.parity_run.id,
            },
        )

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        self._parallel = isinstance(suite, ParallelTestSuite)
        return super().run_suite(suite, **kwargs)

    def suite_result(
        self, suite: unittest.TestSuite, result: Any, **kwargs: Any
    ) -> int:
        variants = getattr(result, "parity_variants", [])
        tally = ParityTally()
        skipped: dict[str, int] = {}
        for variant in variants:
            if variant.mode in self.parity_selected:
                tally.add(variant)
            else:  # skipped by the decorator: RESTFLOW_PARITY_MODE left it out
                skipped[variant.mode] = skipped.get(variant.mode, 0) + 1
        self.parity_run.finished = time.time()
        rerun_lines: list[str] = []
        if self.parity_rerun and tally.mismatches():
            from restflow_parity.rerun import rerun_django

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
        for line in tally.lines(not_selected=not_selected) + rerun_lines:
            self.log(line)
        if self.parity_report and tally.variants:
            self.log(f"  report written to {self.parity_report}")
        return super().suite_result(suite, result, **kwargs)


def manage_py() -> list[str]:
    """How to start ``manage.py`` again, for reruns: with this interpreter's
    options (``-W error``...), so a rerun fails where this run did."""
    from restflow_parity.rerun import interpreter_options

    python = [sys.executable, *interpreter_options()]
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if script.endswith(".py") and os.path.isfile(script):
        return [*python, script]
    return [*python, "-m", "django"]


def _iter_tests(suite: unittest.TestSuite) -> Any:
    """Every test in a suite, nested suites flattened (tests/soak uses it)."""
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _iter_tests(test)
        else:
            yield test
