"""Every process-wide change the kit makes is undone when it is no longer needed.

docs/reference/stock.md and the reliability page list them; each has a test
here that the process looks as before once the run (or the variant) is over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_started
from django.test import SimpleTestCase
from django.test.client import AsyncClientHandler, ClientHandler, RequestFactory
from django.test.runner import DiscoverRunner

from restflow_parity import run_both_modes
from restflow_parity.runner import ParityRunnerMixin
from restflow_parity.variants._mode import ENV_VAR

pytest_plugins = ["pytester"]
TESTS = Path(__file__).parent


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


# The process-wide changes a session makes when first needed (docs/stability.md
# lists them): a SIGUSR2 handler, and receivers of connection_created,
# setting_changed and got_request_exception. A script runs a session in one
# fresh process, so the process can be looked at before, during and after.
SESSION_TESTS = """
import json
import signal
import urllib.request
import weakref

import __main__
from django.core.signals import got_request_exception, setting_changed
from django.db.backends.signals import connection_created

from restflow_parity import one_stack, run_both_modes


def kits(signal):
    # The signal's receivers that the kit defined and that still exist (Django
    # drops dead weak references lazily, at the next connect or send).
    count = 0
    for entry in signal.receivers:
        receiver = entry[1]
        if isinstance(receiver, weakref.ReferenceType):
            receiver = receiver()
        owner = getattr(receiver, "__self__", receiver)
        module = getattr(owner, "__module__", None) or type(owner).__module__
        count += module.startswith("restflow_parity")
    return count


def state():
    return {
        "handler_is_theirs": signal.getsignal(signal.SIGUSR2) is __main__.theirs,
        "connection_created": kits(connection_created),
        "setting_changed": kits(setting_changed),
        "got_request_exception": kits(got_request_exception),
    }


@run_both_modes
def test_sends(parity_client, async_live_server):
    assert parity_client.get("/ping/").status_code == 200
    with one_stack("async", reason="the live server is ASGI in both variants"):
        with urllib.request.urlopen(str(async_live_server) + "/ping/") as reply:
            assert reply.status == 200
    __main__.during.append(state())
"""

SESSION_SCRIPT = """
import json
import signal
import sys

import pytest

during = []


def theirs(signum, frame):
    pass


signal.signal(signal.SIGUSR2, theirs)
args = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:xdist"]
# A first session that touches nothing of the kit's: Django's own receivers.
assert pytest.main([*args, "test_quiet.py"]) == 0
import test_session

before = test_session.state()
assert pytest.main([*args, "test_session.py"]) == 0
print(json.dumps({"before": before, "during": during, "after": test_session.state()}))
"""


SIGNALS = ("connection_created", "setting_changed", "got_request_exception")


def _run_session(pytester: pytest.Pytester, *, runner: str) -> dict[str, Any]:
    pytester.makepyfile(
        test_session=SESSION_TESTS,
        test_quiet="def test_nothing():\n    pass\n",
    )
    pytester.makepyfile(session=SESSION_SCRIPT if runner == "pytest" else DJANGO_SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(pytester.path), str(TESTS)]),
        "DJANGO_SETTINGS_MODULE": "testproject.settings",
    }
    env.pop(ENV_VAR, None)
    done = subprocess.run(
        [sys.executable, "session.py"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


DJANGO_SCRIPT = """
import json
import signal
import unittest

import django

during = []


def theirs(signum, frame):
    pass


signal.signal(signal.SIGUSR2, theirs)
django.setup()

from restflow_parity.runner import ParityDiscoverRunner
from restflow_parity.test import APIClient, AsyncAPILiveServerTestCase  # noqa
import test_session

before = test_session.state()


class Sends(AsyncAPILiveServerTestCase):
    def test_sends(self):
        import urllib.request

        assert APIClient().get("/ping/").status_code == 200
        with urllib.request.urlopen(self.live_server_url + "/ping/") as reply:
            assert reply.status == 200
        during.append(test_session.state())


runner = ParityDiscoverRunner(verbosity=0, parity_mode="async", interactive=False)
runner.setup_test_environment()
old = runner.setup_databases()
result = runner.run_suite(unittest.TestSuite([Sends("test_sends")]))
runner.teardown_databases(old)
runner.teardown_test_environment()
assert result.wasSuccessful(), result.errors + result.failures
print(json.dumps({"before": before, "during": during, "after": test_session.state()}))
"""


@pytest.mark.parametrize("runner", ["pytest", "django"])
def test_a_session_puts_back_the_handler_and_receivers_it_installed(
    pytester: pytest.Pytester, runner: str
) -> None:
    if not hasattr(signal, "SIGUSR2"):
        pytest.skip("no SIGUSR2 on this platform")
    seen = _run_session(pytester, runner=runner)
    before, after = seen["before"], seen["after"]
    assert before["handler_is_theirs"]
    for during in seen["during"]:
        # Installed when needed: the kit's handler, chained to theirs, and
        # receivers of its own on each signal.
        assert not during["handler_is_theirs"]
        for signal_name in SIGNALS:
            assert during[signal_name] > 0, signal_name
    assert seen["during"]
    assert after == before == {"handler_is_theirs": True, **dict.fromkeys(SIGNALS, 0)}
