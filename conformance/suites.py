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
    runner: str  # "runtests" (Django's own runner) or "pytest"

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
_NEEDS = {"runtests": (), "pytest": ("pytest_django", "dj_database_url", "xdist")}


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
        *(labels or ("tests",)),
        "-p",
        "parity_pytest",
        "-p",
        "no:randomly",
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
        args += ["--parity-both-modes", "--parity-report", str(ledger_path(out))]
    if run.swap == "none":
        # The unchanged run is the suite as its authors run it: without
        # restflow-parity's pytest plugin, which the swapped runs load as a
        # user's project would.
        args += ["-p", "no:restflow_parity"]
    if workers > 0:
        # Whole files per worker: the order inside a file stays the authors'.
        args += ["-n", str(workers), "--dist", "loadfile"]
    return args, tree
