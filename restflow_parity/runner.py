"""``ParityDiscoverRunner``: Django's test runner with ``--parity-mode``.

    TEST_RUNNER = "restflow_parity.runner.ParityDiscoverRunner"

``manage.py test --parity-mode sync`` runs only the sync variants of
``@run_both_modes`` tests (the others are skipped, naming the variable), and
the run ends with a per-mode summary.
"""

from __future__ import annotations

import os
import unittest
from argparse import ArgumentParser
from typing import Any

from django.test.runner import DiscoverRunner

from restflow_parity.modes import CHOICES, ENV_VAR, parse_mode
from restflow_parity.summary import ParityTally

__all__ = ["ParityDiscoverRunner"]


class ParityDiscoverRunner(DiscoverRunner):
    """Adds ``--parity-mode`` and a parity summary to ``manage.py test``."""

    def __init__(self, parity_mode: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if parity_mode is not None:
            parse_mode(parity_mode, "--parity-mode")
            os.environ[ENV_VAR] = parity_mode
        parse_mode(os.environ.get(ENV_VAR))  # fail before any test runs
        self._parity_tests: list[unittest.TestCase] = []

    @classmethod
    def add_arguments(cls, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--parity-mode",
            choices=CHOICES,
            help=f"Stacks for @run_both_modes tests (default: ${ENV_VAR} or both).",
        )

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        # Listed before running: a suite drops its tests as it runs them.
        self._parity_tests = list(_iter_tests(suite))
        return super().run_suite(suite, **kwargs)

    def suite_result(
        self, suite: unittest.TestSuite, result: Any, **kwargs: Any
    ) -> int:
        tally = ParityTally()
        for test in self._parity_tests:
            tally.add_unittest(test, "passed")
        for test, _ in (*result.failures, *result.errors):
            tally.add_unittest(test, "failed")
        for test, _ in result.skipped:
            tally.add_unittest(test, "skipped")
        for line in tally.lines():
            self.log(line)
        return super().suite_result(suite, result, **kwargs)


def _iter_tests(suite: unittest.TestSuite) -> Any:
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _iter_tests(test)
        else:
            yield test
