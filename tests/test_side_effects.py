"""Every process-wide change the kit makes is undone when it is no longer needed.

docs/reference/stock.md and the reliability page list them; each has a test
here that the process looks as before once the run (or the variant) is over.
"""

from __future__ import annotations

import os
import unittest

import pytest
from django.core.signals import request_started
from django.test import SimpleTestCase
from django.test.client import AsyncClientHandler, ClientHandler, RequestFactory
from django.test.runner import DiscoverRunner

from restflow_parity import run_both_modes
from restflow_parity.runner import ParityRunnerMixin
from restflow_parity.variants._mode import ENV_VAR

pytest_plugins = ["pytester"]


class QuietRunner(DiscoverRunner):
    """Django's runner, minus the test environment this process already has."""

    def setup_test_environment(self, **kwargs: object) -> None:
        pass

    def teardown_test_environment(self, **kwargs: object) -> None:
        pass


class Runner(ParityRunnerMixin, QuietRunner):
    pass


def test_the_runner_puts_the_mode_variable_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, "both")
    runner = Runner(parity_mode="async", verbosity=0)
    assert os.environ[ENV_VAR] == "both"  # nothing until the run starts
    runner.setup_test_environment()
    try:
        assert os.environ[ENV_VAR] == "async"
    finally:
        runner.teardown_test_environment()
    assert os.environ[ENV_VAR] == "both"


def test_the_plugin_puts_the_mode_variable_back(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    pytester.makepyfile(
        """
        import os

        def test_sees_it():
            assert os.environ["RESTFLOW_PARITY_MODE"] == "sync"
        """
    )
    # In this process (so its environment can be looked at after), without
    # pytest-django, whose test environment this process has set up already.
    result = pytester.runpytest_inprocess(
        "--parity-mode",
        "sync",
        "-p",
        "no:randomly",
        "-p",
        "no:django",
        "-p",
        "no:asyncio",
    )
    result.assert_outcomes(passed=1)
    assert ENV_VAR not in os.environ


@run_both_modes
class Sends(SimpleTestCase):
    __test__ = False

    def test_sends(self) -> None:
        assert self.client.get("/ping/").status_code == 200


def test_a_variant_leaves_django_as_it_found_it() -> None:
    before = (
        ClientHandler.__call__,
        AsyncClientHandler.__call__,
        RequestFactory.request,
        list(request_started.receivers),
    )
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Sends).run(result)
    assert result.wasSuccessful()
    after = (
        ClientHandler.__call__,
        AsyncClientHandler.__call__,
        RequestFactory.request,
        list(request_started.receivers),
    )
    assert after == before
