"""The suites and their runs: what each run swaps, and the command that runs it.

The first run of each suite is the unchanged one, the baseline that the
others are judged against.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import sources

HERE = Path(__file__).resolve().parent

# Django's client suites: 288 tests on Django 5.2.19.
DJANGO_APPS = ("test_client", "test_client_regress", "handlers", "asgi")


@dataclass(frozen=True)
class Run:
    suite: str
    name: str
    swap: str  # parity_swap.apply_swap's argument
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.suite}/{self.name}"


@dataclass(frozen=True)
class Suite:
    name: str
    distribution: sources.Distribution
    runs: tuple[Run, ...]
    #: "runtests" (Django's runtests.py), "pytest", or "django" (a package's
    #: suite on Django's runner with its own TEST_RUNNER: parity_django.py).
    runner: str
    #: What the runs run when no test labels are given.
    labels: tuple[str, ...] = ("tests",)
    #: Options of the both-modes runs only, each with its reason in SUITES.
    both_args: tuple[str, ...] = ()
    #: Whether its runs may spread over xdist workers (DRF's authors run
    #: theirs so; DRF JSON:API's suite fails 12 tests when its two folders
    #: run in two processes, as its authors never run it).
    xdist: bool = True
    #: For "django": the suite's settings module and the package it tests.
    settings: str = ""
    package: str = ""

    @property
    def baseline(self) -> Run:
        return self.runs[0]


def _runs(suite: str, *specs: tuple[str, str, dict[str, str]]) -> tuple[Run, ...]:
    return tuple(Run(suite, name, swap, env) for name, swap, env in specs)


SUITES = {
    "django": Suite(
        "django",
        sources.DJANGO,
        _runs(
            "django",
            ("django", "none", {}),
            ("sync", "sync", {}),
            ("async", "async", {}),
        ),
        "runtests",
    ),
    "drf": Suite(
        "drf",
        sources.DRF,
        _runs(
            "drf",
            ("drf", "none", {}),
            ("dropin", "dropin", {}),
            ("both-sync", "both", {"RESTFLOW_PARITY_MODE": "sync"}),
            ("both-async", "both", {"RESTFLOW_PARITY_MODE": "async"}),
        ),
        "pytest",
    ),
    "adrf": Suite(
        "adrf",
        sources.ADRF,
        _runs("adrf", ("adrf", "none", {}), ("swap", "adrf", {})),
        "pytest",
    ),
    # Real DRF packages' own suites, unedited, under the product's switch.
    # DRF JSON:API: a pytest-style suite of functions and plain classes on
    # pytest-django's fixtures (client, rf) and conftest clients.
    "jsonapi": Suite(
        "jsonapi",
        sources.JSONAPI,
        _runs(
            "jsonapi",
            ("jsonapi", "none", {}),
            ("both-sync", "both", {"RESTFLOW_PARITY_MODE": "sync"}),
            ("both-async", "both", {"RESTFLOW_PARITY_MODE": "async"}),
        ),
        "pytest",
        labels=("example", "tests"),
        xdist=False,
        # Its syrupy snapshots are named after each test, so a variant
        # (test_x[sync]) finds none: that file runs once, as it is
        # (docs/guides/migrating.md#snapshot-tests).
        both_args=(
            "-o",
            "restflow_parity_both_modes_exclude=example/tests/test_errors.py",
        ),
    ),
    # dj-rest-auth: Django's runner, with its own XML TEST_RUNNER.
    "restauth": Suite(
        "restauth",
        sources.REST_AUTH,
        _runs(
            "restauth",
            ("restauth", "none", {}),
            ("both-sync", "both", {"RESTFLOW_PARITY_MODE": "sync"}),
            ("both-async", "both", {"RESTFLOW_PARITY_MODE": "async"}),
        ),
        "django",
        labels=("dj_rest_auth",),
        settings="dj_rest_auth.tests.settings",
        package="dj_rest_auth",
    ),
}

# Variables of the caller's shell that would change what the suites run on.
_CLEARED = (
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "RESTFLOW_PARITY_MODE",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
)


# What each runner needs beyond the harness: modules DRF's conftest imports,
# and the pytest that reads DRF 3.18's [tool.pytest] table.
_NEEDS = {
    "runtests": (),
    "pytest": ("pytest_django", "dj_database_url", "xdist"),
    "django": ("xmlrunner",),
}


def missing(suite: Suite) -> list[str]:
    """What the suite's runs need and this environment lacks."""
    lacking = [name for name in _NEEDS[suite.runner] if find_spec(name) is None]
    if suite.runner == "pytest":
        import pytest

        if int(pytest.__version__.split(".")[0]) < 9:
            lacking.append(f"pytest>=9 (have {pytest.__version__})")
    return lacking


def ledger_path(out: Path) -> Path:
    """Where a both-modes run writes the product's parity report."""
    return out.with_suffix(".parity.json")


def environment(run: Run) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    # Only this folder: the repository root would put the work tree's
    # restflow_parity ahead of the installed one, and our tests/ package
    # ahead of DRF's.
    env["PYTHONPATH"] = str(HERE)
    env.update(run.env)
    return env


def command(
    suite: Suite,
    run: Run,
    tree: Path,
    out: Path,
    labels: tuple[str, ...] = (),
    workers: int = 0,
) -> tuple[list[str], Path]:
    """The command line of ``run`` on the unpacked sdist ``tree``, and its cwd."""
    if suite.runner == "django":
        return [
            sys.executable,
            str(HERE / "parity_django.py"),
            run.swap,
            str(out),
            str(tree),
            suite.settings,
            suite.package,
            *(labels or suite.labels),
        ], tree
    if suite.runner == "runtests":
        tests = tree / "tests"
        return [
            sys.executable,
            str(HERE / "parity_runtests.py"),
            run.swap,
            str(out),
            str(tests),
            *(labels or DJANGO_APPS),
            # One process: the request counter sees only its own.
            "--parallel",
            "1",
            "--noinput",
        ], tests
    args = [
        sys.executable,
        "-m",
        "pytest",
        *(labels or suite.labels),
        "-p",
        "parity_pytest",
        "-p",
        "no:randomly",
        # The harness's environment may hold pytest-asyncio (the dev extra),
        # which these suites do not use; its configure-time warning would
        # fail a suite that turns DeprecationWarning into errors.
        "-p",
        "no:asyncio",
        "-p",
        "no:cacheprovider",
        "-q",
        "--conformance-out",
        str(out),
        "--conformance-swap",
        run.swap,
        "--conformance-suite",
        suite.name,
        "--conformance-run",
        run.name,
    ]
    if run.swap == "both":
        # The product's switch: every test of the suite on both stacks, and
        # its report, whose stack ledger the verdict shows.
        # One word, with "=": pytest picks its rootdir and ini file from the
        # command's paths before plugins add their options, and would take
        # a separate value outside the suite's tree for one.
        args += ["--parity-both-modes", f"--parity-report={ledger_path(out)}"]
        args += suite.both_args
    if run.swap == "none":
        # The unchanged run is the suite as its authors run it: without
        # restflow-parity's pytest plugin, which the swapped runs load as a
        # user's project would.
        args += ["-p", "no:restflow_parity"]
    if workers > 0 and suite.xdist:
        # Whole files per worker: the order inside a file stays the authors'.
        args += ["-n", str(workers), "--dist", "loadfile"]
    return args, tree
