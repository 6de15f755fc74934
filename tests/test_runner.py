"""ParityDiscoverRunner: ``manage.py test --parity-mode``, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

TESTS_DIR = Path(__file__).resolve().parent
RUNNER = "restflow_parity.runner.ParityDiscoverRunner"


def manage_test(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    environment.pop("RESTFLOW_PARITY_MODE", None) if env is None else None
    environment["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    url = environment.get("DATABASE_URL", "")
    # Never the outer run's test database: Django would destroy it at the end.
    # The pid keeps two xdist workers' runs apart.
    name = f"rp_runner_{os.getpid()}"
    if url.startswith(("postgres", "mysql", "mariadb")):
        environment["DATABASE_URL"] = urlsplit(url)._replace(path=f"/{name}").geturl()
    elif url.startswith("sqlite:///"):
        environment["DATABASE_URL"] = f"{url}-{name}"
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "test",
            "--noinput",
            "--testrunner",
            RUNNER,
            *args,
        ],
        cwd=TESTS_DIR,
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
    assert "async: 8 ran (8 skipped)" in output


def test_invalid_option_value_is_refused_with_the_choices() -> None:
    done = manage_test("test_modes", "--parity-mode", "wsgi")
    assert done.returncode != 0
    assert "invalid choice: 'wsgi'" in done.stderr
    assert "'both', 'sync', 'async'" in done.stderr


@pytest.mark.parametrize("value", ["wsgi", "ASYNC-ONLY"])
def test_invalid_variable_fails_before_tests_run(value: str) -> None:
    done = manage_test("test_modes", env={"RESTFLOW_PARITY_MODE": value})
    assert done.returncode != 0
    assert "RESTFLOW_PARITY_MODE" in done.stderr
    assert "Valid values: both, sync, async" in done.stderr
    assert "Ran " not in done.stderr


def test_parallel_runner_pickles_and_runs_the_variants() -> None:
    # Django's --parallel pickles each test: variants and their classes must
    # be importable by name, and nothing unpicklable may sit on an instance.
    done = manage_test("test_modes", "test_cases", "--parallel", "2")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "sync: 19 ran (19 passed)" in output
    assert "async: 19 ran (19 passed)" in output
