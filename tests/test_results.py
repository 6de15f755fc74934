"""The Django runner's result classes, run in this process on made-up variants.

test_runner.py runs them through ``manage.py test`` (serial and
``--parallel``); here every unittest outcome is fed to them directly, and the
worker's side of ``--parallel`` runs without a pool.
"""

from __future__ import annotations

import io
import sys
import unittest

import pytest
from django.core.cache import cache
from django.test import SimpleTestCase

from restflow_parity import run_both_modes
from restflow_parity.django_runner._results import (
    ParityRemoteTestResult,
    RecordingSuite,
    VariantRecorder,
)
from restflow_parity.verdict._rerun import interpreter_options, pytest_command
from restflow_parity.verdict._summary import Variant


@run_both_modes
class Outcomes(SimpleTestCase):
    """Run by hand below; module-level, so a --parallel worker can pickle it."""

    __test__ = False

    def test_passes(self) -> None:
        cache.set("written-by-a-variant", self.mode)

    def test_fails(self) -> None:
        raise AssertionError(f"{self.mode} broke")

    def test_errors(self) -> None:
        raise KeyError("missing")

    def test_skips(self) -> None:
        self.skipTest("not today")

    @unittest.expectedFailure
    def test_expected_failure(self) -> None:
        raise AssertionError

    @unittest.expectedFailure
    def test_unexpected_success(self) -> None:
        pass

    def test_subtests(self) -> None:
        with self.subTest(part="assert"):
            raise AssertionError("in a subtest")

    def test_subtest_error(self) -> None:
        with self.subTest(part="error"):
            raise ValueError("in a subtest")


def make_cases() -> type[SimpleTestCase]:
    return Outcomes


def make_suite() -> unittest.TestSuite:
    case = make_cases()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    plain = unittest.FunctionTestCase(lambda: None)  # not a variant
    suite.addTest(plain)
    return suite


def run_suite(result: unittest.TestResult) -> RecordingSuite:
    recording = RecordingSuite(make_suite(), "run-1")
    recording.run(result)
    return recording


def test_every_unittest_outcome_becomes_a_variant_outcome() -> None:
    result = unittest.TextTestResult(io.StringIO(), True, 0)
    variants = run_suite(result).variants
    found = {(v.test.rpartition(".")[2], v.mode): v for v in variants}
    outcomes = {key: v.outcome for key, v in found.items() if key[1] == "sync"}
    assert outcomes == {
        ("test_passes", "sync"): "passed",
        ("test_fails", "sync"): "failed",
        ("test_errors", "sync"): "error",
        ("test_skips", "sync"): "skipped",
        ("test_expected_failure", "sync"): "skipped",
        ("test_unexpected_success", "sync"): "failed",
        ("test_subtests", "sync"): "failed",
        ("test_subtest_error", "sync"): "error",
    }
    assert found[("test_fails", "async")].message == "AssertionError: async broke"
    assert found[("test_errors", "sync")].message == "KeyError: 'missing'"
    assert found[("test_skips", "sync")].message == "not today"
    assert {v.run for v in variants} == {"run-1"}
    assert {v.worker for v in variants} == {"main"}
    positions = [v.position for v in variants]
    assert positions == sorted(positions)
    assert all(v.duration > 0 for v in variants)


def test_a_variant_rolls_back_what_it_cached_under_any_result() -> None:
    # The variant itself rolls back (modes.py), so a plain DiscoverRunner's
    # result, a --parallel worker's and ours all see the same.
    for run in (make_suite().run, run_suite):
        cache.clear()
        run(unittest.TestResult())
        assert cache.get("written-by-a-variant") is None


class XMLishResult(unittest.TestResult):
    """A result class of another runner's (an XML runner's): its own bookkeeping."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self.written.append(test.id())


def test_the_recorder_leaves_the_runners_result_whole() -> None:
    def seen(result: XMLishResult) -> list[object]:
        lists = (result.failures, result.errors, result.skipped)
        counted = [len(found) for found in lists]
        counted += [len(result.expectedFailures), len(result.unexpectedSuccesses)]
        return [result.testsRun, *counted, sorted(result.written)]

    alone, recorded = XMLishResult(), XMLishResult()
    make_suite().run(alone)
    assert len(run_suite(recorded).variants) == 16
    assert seen(recorded) == seen(alone)
    assert recorded.testsRun == 17


def test_a_parallel_worker_reports_where_each_test_ran() -> None:
    worker = ParityRemoteTestResult()
    run_suite(worker)
    ran = [event for event in worker.events if event[0] == "parityRan"]
    assert len(ran) == 17  # 16 variants and the plain test
    where = ran[0][2]
    assert where["worker"].startswith("pid ")  # no Django worker number here
    assert where["duration"] > 0
    # Replayed into the main process's result, the worker's data wins.
    variants: list[Variant] = []
    main = VariantRecorder(unittest.TestResult(), "run-1", variants)
    case = make_cases()
    tests = list(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    test = tests[0]
    main.startTest(test)
    main.addSuccess(test)
    main.parityRan(test, {**where, "worker": "2", "position": 41})
    main.stopTest(test)
    (variant,) = variants
    assert (variant.worker, variant.position) == ("2", 41)
    assert variant.duration == where["duration"]


class FakeConfig:
    def __init__(self, args: list[str], positional: list[str]) -> None:
        self.invocation_params = type("P", (), {"args": tuple(args)})()
        self.option = type("O", (), {"file_or_dir": positional})()
        self.inipath = "/project/pytest.ini"
        self.rootpath = "/project"
        self.pluginmanager = type("M", (), {"hasplugin": staticmethod(bool)})()


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["tests", "-n2", "-kslow", "-m", "db", "--lf", "-x"], []),
        (["--parity-report=r.json", "--parity-rerun", "--splits", "2"], []),
        (["--group=1", "--dist", "load", "--parity-mode", "sync"], []),
        (["-p", "no:randomly", "-o", "a=b", "--ds", "s", "-v"], None),
    ],
)
def test_a_rerun_keeps_options_but_not_the_selection(
    args: list[str], kept: list[str] | None
) -> None:
    command = pytest_command(FakeConfig(args, ["tests"]))
    assert command[: command.index("pytest") + 1] == [
        sys.executable,
        *interpreter_options(),  # this run's own -W, -X...: see below
        "-m",
        "pytest",
    ]
    start = command.index("pytest") + 1
    expected = args if kept is None else kept
    assert command[start : start + len(expected)] == expected
    assert command[start + len(expected) :] == [
        "-p",
        "no:cacheprovider",
        "-c",
        "/project/pytest.ini",
        "--rootdir",
        "/project",
        "-n",
        "0",
    ]
