"""Run Django's ``tests/runtests.py`` with a swap, recording every outcome.

Usage (the harness calls it)::

    python parity_runtests.py SWAP OUT.json DJANGO_TESTS_DIR [runtests args...]

SWAP is ``none``, ``sync`` or ``async`` (see ``parity_swap.apply_swap``). The
swap happens right after ``django.setup()``: runtests.py calls it before it
imports any test module, so ``from django.test import Client`` in them gets
restflow-parity's class. Outcomes come from a result class wrapped around the
runner's, not from the text output. Run with ``--parallel 1``: the request
counter sees only this process.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
import unittest
from pathlib import Path
from types import TracebackType
from typing import Any

from parity_swap import Outcomes, RequestCounter, apply_swap, describe

ErrInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _test_id(test: Any) -> str:
    # A subtest reports under its test; a failing setUpClass as an
    # _ErrorHolder whose id() is its description ("setUpClass (app.Class)").
    return str(getattr(test, "test_case", test).id())


def recording_result(
    base: type[unittest.TextTestResult], outcomes: Outcomes, counter: RequestCounter
) -> type[unittest.TextTestResult]:
    class Recording(base):  # type: ignore[valid-type,misc]
        def _note(self, test: Any, outcome: str, detail: str = "") -> None:
            test_id = _test_id(test)
            outcomes.add(
                test_id,
                outcome,
                detail,
                asgi=counter.asgi[test_id],
                wsgi=counter.wsgi[test_id],
            )

        def startTest(self, test: Any) -> None:
            counter.current = _test_id(test)
            super().startTest(test)

        def stopTest(self, test: Any) -> None:
            super().stopTest(test)
            counter.current = None

        def addSuccess(self, test: Any) -> None:
            super().addSuccess(test)
            self._note(test, "passed")

        def addFailure(self, test: Any, err: ErrInfo) -> None:
            super().addFailure(test, err)
            self._note(test, "failed", describe(*err))

        def addError(self, test: Any, err: ErrInfo) -> None:
            super().addError(test, err)
            self._note(test, "error", describe(*err))

        def addSkip(self, test: Any, reason: str) -> None:
            super().addSkip(test, reason)
            self._note(test, "skipped", reason)

        def addExpectedFailure(self, test: Any, err: ErrInfo) -> None:
            super().addExpectedFailure(test, err)
            self._note(test, "skipped", "expected failure")

        def addUnexpectedSuccess(self, test: Any) -> None:
            super().addUnexpectedSuccess(test)
            self._note(test, "failed", "unexpected success")

        def addSubTest(self, test: Any, subtest: Any, err: ErrInfo | None) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                failed = issubclass(err[0], test.failureException)
                self._note(test, "failed" if failed else "error", describe(*err))

    return Recording


def main(argv: list[str]) -> None:
    swap, out, tests_dir, *runtests_args = argv
    outcomes = Outcomes("django", swap)
    counter = RequestCounter()
    tests = Path(tests_dir).resolve()
    sys.path.insert(0, str(tests))
    os.chdir(tests)

    import django
    from django.test.runner import DiscoverRunner

    counter.install()
    get_resultclass = DiscoverRunner.get_resultclass

    def resultclass(self: DiscoverRunner) -> type[unittest.TextTestResult]:
        base = get_resultclass(self) or unittest.TextTestResult
        return recording_result(base, outcomes, counter)

    DiscoverRunner.get_resultclass = resultclass  # type: ignore[method-assign]
    setup = django.setup

    @functools.wraps(setup)
    def setup_then_swap(*args: Any, **kwargs: Any) -> None:
        setup(*args, **kwargs)
        if not outcomes.classes:
            outcomes.classes = apply_swap(swap) or {"": "(unchanged)"}

    django.setup = setup_then_swap
    sys.argv = [str(tests / "runtests.py"), *runtests_args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        if exit_.code not in (0, 1, False, True, None):
            raise
    finally:
        outcomes.write(Path(out))


if __name__ == "__main__":
    main(sys.argv[1:])
