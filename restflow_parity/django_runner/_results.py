"""The Django runner's side of the parity verdict: variants, as a result sees them.

``RecordingSuite`` runs the suite with a ``VariantRecorder`` in front of the
result the runner made, which records each variant's outcome, duration,
position and stack ledger. (Each variant rolls back its own cache writes:
see ``modes.py`` and ``variant_state.py``.) Under ``--parallel`` the tests
run in worker processes, whose results Django replays in the main process
as events; ``ParityRemoteTestResult`` adds one event per test,
``parityRan``, carrying where and when it really ran.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import unittest
from typing import Any

from django.test.runner import ParallelTestSuite, RemoteTestResult, RemoteTestRunner

from restflow_parity._thirdparty.django import send_remote_event
from restflow_parity.request._ledger import current
from restflow_parity.variants._decorator import split_test
from restflow_parity.variants._mode import MODES, Mode, mode_of
from restflow_parity.verdict._summary import Variant, first_line, worse

__all__ = [
    "ParityParallelTestSuite",
    "ParityRemoteTestResult",
    "RecordingSuite",
    "VariantRecorder",
    "test_mode",
]

_position = 0  # tests started by this process


def test_mode(test: Any) -> Mode | None:
    """The stack a unittest variant runs on, or None for other tests."""
    method = getattr(type(test), getattr(test, "_testMethodName", ""), None)
    return mode_of(method)


def _next_position() -> int:
    global _position
    _position += 1
    return _position


def _worker() -> str:
    # A --parallel worker is a multiprocessing pool's process, named
    # "ForkPoolWorker-2" (or Spawn..., Forkserver...): its number, which is
    # also Django's. The pid stands in for any other process.
    name = multiprocessing.current_process().name
    prefix, _, number = name.rpartition("-")
    if prefix.endswith("PoolWorker") and number.isdigit():
        return number
    return f"pid {os.getpid()}"


class ParityRemoteTestResult(RemoteTestResult):
    """A ``--parallel`` worker's result: it reports where each test ran."""

    def startTest(self, test: Any) -> None:
        self._parity_started = time.time()
        self._parity_where: dict[str, Any] = {
            "worker": _worker(),
            "position": _next_position(),
            "started": self._parity_started,
        }
        super().startTest(test)

    def stopTest(self, test: Any) -> None:
        where = self._parity_where
        where["duration"] = time.time() - self._parity_started
        where["ledger"] = _ledger_totals()
        # Replayed in the main process before stopTest: see parityRan().
        send_remote_event(self, "parityRan", self.test_index, where)
        super().stopTest(test)


class ParityRemoteTestRunner(RemoteTestRunner):
    resultclass = ParityRemoteTestResult

    def run(self, test: Any) -> Any:
        _split_again(test)
        return super().run(test)


def _split_again(suite: Any) -> None:
    """Split, in a ``--parallel`` worker, the classes the main process split.

    The both-modes switch splits test cases when the suite is built. A
    worker started with spawn (or forkserver) imports the test modules
    afresh, where a class has ``test_x`` and not yet ``test_x_sync``.
    """
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            _split_again(test)
            continue
        cls, name = type(test), getattr(test, "_testMethodName", "")
        base, _, mode = name.rpartition("_")
        if (
            mode in MODES
            and not hasattr(cls, name)
            and callable(getattr(cls, base, None))
        ):
            split_test(cls, base)


class ParityParallelTestSuite(ParallelTestSuite):
    runner_class = ParityRemoteTestRunner


class VariantRecorder:
    """Records every parity variant's outcome as its result reports it.

    It stands in front of the result the runner made, whatever its class
    (Django's, an XML runner's, a ``--parallel`` replay target): every call
    and attribute goes through to that result, and the outcome calls are
    noted on the way. So a project's own ``TEST_RUNNER`` keeps its result
    class, its output and its report files.
    """

    def __init__(self, result: Any, run_id: str, variants: list[Variant]) -> None:
        vars(self).update(_result=result, _run=run_id, _variants=variants, _running={})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def __setattr__(self, name: str, value: Any) -> None:
        # unittest's suites keep their state on the result
        # (_previousTestClass, _moduleSetUpFailed...): it belongs there.
        setattr(self._result, name, value)

    def startTest(self, test: Any) -> None:
        self._result.startTest(test)
        mode = test_mode(test)
        if mode is None:
            _next_position()
            return
        test_id = test.id()
        self._running[test_id] = Variant(
            test=test_id.removesuffix(f"_{mode}"),
            mode=mode,
            outcome="passed",
            id=test_id,
            run=self._run,
            position=_next_position(),
            started=time.time(),
        )

    def _note(self, test: Any, outcome: str, err: Any = None) -> None:
        variant = self._running.get(test.id())
        if variant is None:
            return
        if not worse(variant.outcome, outcome):
            variant.outcome = outcome
            variant.phase = ""  # unittest does not say if setUp or the test raised
            if isinstance(err, tuple) and len(err) > 1 and err[1] is not None:
                variant.message = _first_line(err[1])
            elif isinstance(err, str):
                variant.message = err

    def addFailure(self, test: Any, err: Any) -> None:
        self._result.addFailure(test, err)
        self._note(test, "failed", err)

    def addError(self, test: Any, err: Any) -> None:
        self._result.addError(test, err)
        self._note(test, "error", err)

    def addSkip(self, test: Any, reason: str) -> None:
        self._result.addSkip(test, reason)
        self._note(test, "skipped", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._result.addExpectedFailure(test, err)
        self._note(test, "skipped", "expected failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._result.addUnexpectedSuccess(test)
        self._note(test, "failed", "unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        self._result.addSubTest(test, subtest, err)
        if err is not None:
            failure = issubclass(err[0], test.failureException)
            self._note(test, "failed" if failure else "error", err)

    def parityRan(self, test: Any, where: dict[str, Any]) -> None:
        """Where and when a ``--parallel`` worker ran the test."""
        variant = self._running.get(test.id())
        if variant is not None:
            variant.worker = str(where["worker"])
            variant.position = where["position"]
            variant.started = where["started"]
            variant.duration = where["duration"]
            _set_ledger(variant, where.get("ledger"))

    def stopTest(self, test: Any) -> None:
        variant = self._running.pop(test.id(), None)
        if variant is not None:
            if variant.worker == "main" and variant.started is not None:
                variant.duration = time.time() - variant.started
                # The variant's ledger is still open: stopTest runs inside it.
                _set_ledger(variant, _ledger_totals())
            self._variants.append(variant)
        self._result.stopTest(test)


class RecordingSuite(unittest.TestSuite):
    """Runs a suite with a ``VariantRecorder`` in front of the runner's result."""

    def __init__(self, suite: Any, run_id: str) -> None:
        super().__init__()
        self.suite = suite
        self.run_id = run_id
        #: The variants recorded so far, in the order they stopped.
        self.variants: list[Variant] = []

    def run(self, result: Any, debug: bool = False) -> Any:
        self.suite.run(VariantRecorder(result, self.run_id, self.variants))
        return result

    def __iter__(self) -> Any:
        return iter(self.suite)

    def countTestCases(self) -> int:
        return int(self.suite.countTestCases())


def _ledger_totals() -> dict[str, int] | None:
    ledger = current()
    return ledger.totals() if ledger is not None and ledger.mode else None


def _set_ledger(variant: Variant, totals: dict[str, int] | None) -> None:
    if totals:
        variant.wsgi = totals["wsgi"]
        variant.asgi = totals["asgi"]
        variant.by_design = totals["by_design"]


def _first_line(error: BaseException) -> str:
    return first_line(f"{type(error).__name__}: {error}")
