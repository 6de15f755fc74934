"""The Django runner's side of the parity verdict: variants, as a result sees them.

``ParityResultMixin`` goes on the result class ``manage.py test`` reports to.
It records each variant's outcome, duration and position. (Each variant
rolls back its own cache writes: see ``modes.py`` and ``variant_state.py``.)
Under ``--parallel`` the tests run in worker processes, whose results Django
replays in the main process as events; ``ParityRemoteTestResult`` adds one
event per test, ``parityRan``, carrying where and when it really ran.
"""

from __future__ import annotations

import os
import time
import unittest
from typing import Any

from django.test.runner import ParallelTestSuite, RemoteTestResult, RemoteTestRunner

from restflow_parity.ledger import current
from restflow_parity.modes import Mode, mode_of
from restflow_parity.summary import Variant, first_line, worse

__all__ = [
    "ParityParallelTestSuite",
    "ParityRemoteTestResult",
    "ParityResultMixin",
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
    # Django numbers its --parallel workers from 1 (the suffix of their
    # test databases); the pid stands in where that number is not found.
    from django.test import runner

    number = getattr(runner, "_worker_id", 0)
    return str(number) if number else f"pid {os.getpid()}"


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
        self.events.append(("parityRan", self.test_index, where))
        super().stopTest(test)


class ParityRemoteTestRunner(RemoteTestRunner):
    resultclass = ParityRemoteTestResult


class ParityParallelTestSuite(ParallelTestSuite):
    runner_class = ParityRemoteTestRunner


class ParityResultMixin(unittest.TestResult):
    """Records the outcome of every parity variant the run reports."""

    parity_run_id = ""

    @property
    def parity_variants(self) -> list[Variant]:
        """The variants recorded so far, in the order they stopped."""
        variants: list[Variant] = self.__dict__.setdefault("_parity_variants", [])
        return variants

    @property
    def _parity_current(self) -> dict[str, Variant]:
        running: dict[str, Variant] = self.__dict__.setdefault("_parity_running", {})
        return running

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        mode = test_mode(test)
        if mode is None:
            _next_position()
            return
        test_id = test.id()
        self._parity_current[test_id] = Variant(
            test=test_id.removesuffix(f"_{mode}"),
            mode=mode,
            outcome="passed",
            id=test_id,
            run=self.parity_run_id,
            position=_next_position(),
            started=time.time(),
        )

    def _parity_outcome(self, test: Any, outcome: str, err: Any = None) -> None:
        variant = self._parity_current.get(test.id())
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
        super().addFailure(test, err)
        self._parity_outcome(test, "failed", err)

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._parity_outcome(test, "error", err)

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._parity_outcome(test, "skipped", reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._parity_outcome(test, "skipped", "expected failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._parity_outcome(test, "failed", "unexpected success")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            failure = issubclass(err[0], test.failureException)
            self._parity_outcome(test, "failed" if failure else "error", err)

    def parityRan(self, test: Any, where: dict[str, Any]) -> None:
        """Where and when a ``--parallel`` worker ran the test."""
        variant = self._parity_current.get(test.id())
        if variant is not None:
            variant.worker = str(where["worker"])
            variant.position = where["position"]
            variant.started = where["started"]
            variant.duration = where["duration"]
            _set_ledger(variant, where.get("ledger"))

    def stopTest(self, test: Any) -> None:
        variant = self._parity_current.pop(test.id(), None)
        if variant is not None:
            if variant.worker == "main" and variant.started is not None:
                variant.duration = time.time() - variant.started
                # The variant's ledger is still open: stopTest runs inside it.
                _set_ledger(variant, _ledger_totals())
            self.parity_variants.append(variant)
        super().stopTest(test)


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
