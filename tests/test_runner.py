"""ParityDiscoverRunner: ``manage.py test --parity-mode``, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

TESTS_DIR = Path(__file__).resolve().parent
RUNNER = "restflow_parity.runner.ParityDiscoverRunner"


def own_database(environment: dict[str, str], prefix: str) -> None:
    """Point ``DATABASE_URL`` at a database of the child run's own.

    Never the outer run's test database: Django would destroy it at the end.
    The pid keeps two xdist workers' runs apart.
    """
    url = environment.get("DATABASE_URL", "")
    name = f"{prefix}_{os.getpid()}"
    if url.startswith(("postgres", "mysql", "mariadb")):
        environment["DATABASE_URL"] = urlsplit(url)._replace(path=f"/{name}").geturl()
    elif url.startswith("sqlite:///"):
        environment["DATABASE_URL"] = f"{url}-{name}"


def manage_test(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = TESTS_DIR,
    python: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """``python [python...] manage.py test ARGS`` in the test project."""
    environment = {**os.environ, **(env or {})}
    environment.pop("RESTFLOW_PARITY_MODE", None) if env is None else None
    environment["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    own_database(environment, "rp_runner")
    return subprocess.run(
        [
            sys.executable,
            *python,
            "manage.py",
            "test",
            "--noinput",
            "--testrunner",
            RUNNER,
            *args,
        ],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_both_modes_by_default_with_a_summary() -> None:
    done = manage_test("test_modes.DrfSyncBodies")
    assert done.returncode == 0, done.stderr
    assert "Ran 17 tests" in done.stderr
    assert "sync: 8 ran (8 passed)" in done.stdout + done.stderr
    assert "async: 8 ran (8 passed)" in done.stdout + done.stderr


def test_parity_mode_option_skips_the_other_stack() -> None:
    done = manage_test("test_modes.AsyncBodies", "--parity-mode", "sync", "-v", "2")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "skipped=8" in output
    assert "RESTFLOW_PARITY_MODE=sync runs only the sync variant" in output
    assert "sync: 8 ran (8 passed)" in output
    # Issue 13: the stack left out is not reported as having run.
    assert (
        "async: not selected (--parity-mode sync; its 8 variants were skipped)"
        in output
    )
    assert "async: 8 ran" not in output


def test_invalid_option_value_is_refused_with_the_choices() -> None:
    done = manage_test("test_modes", "--parity-mode", "wsgi")
    assert done.returncode != 0
    assert "invalid choice: 'wsgi'" in done.stderr
    assert "'both', 'sync', 'async'" in done.stderr


@pytest.mark.parametrize("value", ["wsgi", "ASYNC-ONLY"])
def test_invalid_variable_fails_before_tests_run(value: str) -> None:
    done = manage_test("test_modes", env={"RESTFLOW_PARITY_MODE": value})
    assert done.returncode != 0
    # Issue 13: one line, as under pytest, not a traceback.
    assert done.stderr.strip().splitlines() == [
        f"CommandError: RESTFLOW_PARITY_MODE={value!r} is not a parity mode. "
        "Valid values: both, sync, async (default both). Set RESTFLOW_PARITY_MODE "
        "or pass --parity-mode to pick the stacks to run."
    ]
    assert "Ran " not in done.stderr


def test_parallel_runner_pickles_and_runs_the_variants() -> None:
    # Django's --parallel pickles each test: variants and their classes must
    # be importable by name, and nothing unpicklable may sit on an instance.
    done = manage_test("test_modes", "test_cases", "--parallel", "2")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "sync: 19 ran (19 passed)" in output
    assert "async: 19 ran (19 passed)" in output


PLANTED = """
from django.test import SimpleTestCase

from restflow_parity import run_both_modes

tokens = iter(["the only token"])


@run_both_modes
class Planted(SimpleTestCase):
    def test_takes_a_module_level_token(self):
        # The first variant to run uses the token up.
        assert next(tokens, None) == "the only token"

    def test_only_sync_works(self):
        assert self.mode == "sync"

    def test_passes(self):
        pass


@run_both_modes
class SetUpBreaks(SimpleTestCase):
    def setUp(self):
        if self.mode == "async":
            raise RuntimeError("async set-up broke")

    def test_after_setup(self):
        pass
"""


def run_planted(tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    (tmp_path / "planted_parity.py").write_text(PLANTED)
    path = os.pathsep.join([str(tmp_path), str(TESTS_DIR)])
    done = manage_test(
        "planted_parity",
        "--parity-report",
        str(tmp_path / "parity.json"),
        *args,
        env={"PYTHONPATH": path, "RESTFLOW_PARITY_MODE": "both"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # the planted failures
    report = json.loads((tmp_path / "parity.json").read_text())
    return output, {v["id"]: v for v in report["variants"]}


def test_report_and_summary_of_a_serial_run(tmp_path: Path) -> None:
    output, found = run_planted(tmp_path)
    # Django runs a class's tests by name: each _async variant first.
    assert "sync: 4 ran (1 failed, 3 passed)" in output
    assert "async: 4 ran (1 error, 1 failed, 2 passed)" in output
    assert (
        "planted_parity.SetUpBreaks.test_after_setup: sync passed, async error "
        "(async ran first, in the same process; async errored)"
    ) in output
    assert (
        "planted_parity.Planted.test_takes_a_module_level_token: sync failed, "
        "async passed (async ran first, in the same process)"
    ) in output
    assert len(found) == 8
    error = found["planted_parity.SetUpBreaks.test_after_setup_async"]
    assert (error["outcome"], error["message"]) == (
        "error",
        "RuntimeError: async set-up broke",
    )
    assert {v["worker"] for v in found.values()} == {"main"}
    positions = sorted(v["position"] for v in found.values())
    assert positions == sorted(set(positions))


def test_parallel_workers_report_into_the_one_file(tmp_path: Path) -> None:
    output, found = run_planted(tmp_path, "--parallel", "2")
    assert "async: 4 ran (1 error, 1 failed, 2 passed)" in output
    # Django hands out whole classes: each class's variants share a worker.
    workers = {v["id"].split(".")[1]: set() for v in found.values()}
    for variant in found.values():
        workers[variant["id"].split(".")[1]].add(variant["worker"])
    assert all(len(names) == 1 for names in workers.values()), workers
    assert set().union(*workers.values()) == {"1", "2"}
    assert all(v["duration"] > 0 for v in found.values())


def test_rerun_labels_the_mismatches(tmp_path: Path) -> None:
    output, found = run_planted(tmp_path, "--parity-rerun")
    lines = output.splitlines()
    token = lines.index(
        "    planted_parity.Planted.test_takes_a_module_level_token: sync failed, "
        "async passed (async ran first, in the same process)"
    )
    assert lines[token + 1] == (
        "      rerun alone: sync passed, async passed -> order-dependent"
    )
    sync_only = lines.index(
        "    planted_parity.Planted.test_only_sync_works: sync passed, async failed "
        "(async ran first, in the same process)"
    )
    assert lines[sync_only + 1] == (
        "      rerun alone: sync passed, async failed -> stack difference"
    )
    assert found["planted_parity.Planted.test_only_sync_works_async"]["alone"] == (
        "failed"
    )


KINDS = """
import warnings

from django.test import SimpleTestCase

from restflow_parity import run_both_modes


@run_both_modes
class Kinds(SimpleTestCase):
    def test_fails_on_both(self):
        self.fail(f"{self.mode} broke")

    def test_skips_on_async(self):
        if self.mode == "async":
            self.skipTest("not on ASGI yet")

    def test_passes(self):
        pass


@run_both_modes
class Warns(SimpleTestCase):
    def test_warns_on_async_only(self):
        # A stack difference that is a warning: under -W error::UserWarning
        # it fails the async variant, after other tests or alone.
        if self.mode == "async":
            warnings.warn("only the async stack says this", UserWarning)
"""


def run_kinds(tmp_path: Path, *args: str, **kwargs: Any) -> str:
    (tmp_path / "planted_kinds.py").write_text(KINDS)
    path = os.pathsep.join([str(tmp_path), str(TESTS_DIR)])
    env = {"PYTHONPATH": path, "RESTFLOW_PARITY_MODE": "both"}
    done = manage_test(*args, env=env, **kwargs)
    return done.stdout + done.stderr


def test_the_summary_lists_failed_on_both_stacks_and_uneven_tests(
    tmp_path: Path,
) -> None:
    output = run_kinds(tmp_path, "planted_kinds.Kinds")
    lines = output.splitlines()
    start = lines.index("  no test passed in one mode and failed in the other")
    assert lines[start + 1 : start + 5] == [
        "  failed on both stacks (or failed on one, skipped on the other):",
        "    planted_kinds.Kinds.test_fails_on_both: sync failed, async failed",
        "  ran on both stacks but not alike:",
        "    planted_kinds.Kinds.test_skips_on_async: passed on sync, skipped on "
        "async: not on ASGI yet",
    ]
    assert "FAILED (failures=2, skipped=1)" in output  # Django's own verdict


def test_rerun_runs_under_the_interpreters_warning_options(tmp_path: Path) -> None:
    output = run_kinds(
        tmp_path,
        "planted_kinds.Warns",
        "--parity-rerun",
        python=("-W", "error::UserWarning"),
    )
    lines = output.splitlines()
    mismatch = lines.index(
        "    planted_kinds.Warns.test_warns_on_async_only: sync passed, async error "
        "(async ran first, in the same process; async errored)"
    )
    assert lines[mismatch + 1] == (
        "      rerun alone: sync passed, async error -> stack difference"
    )
