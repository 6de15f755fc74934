"""The project's matrix, in one place.

Python versions come from the classifiers in setup.cfg, as in hynek's
noxfiles; Django and DRF ranges are parametrized here. Run ``nox -l`` to see
every session.
"""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "types", "tests"]


def _python_versions() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    classifiers = config["metadata"]["classifiers"]
    return re.findall(
        r"Programming Language :: Python :: (3\.\d+)\s*$", classifiers, re.M
    )


PYTHONS = _python_versions()
DJANGO = {
    "5.2": "Django>=5.2,<5.3",
    "6.0": "Django>=6.0,<6.1",
    "6.1": "Django>=6.1,<6.2",
}
DRF = {
    "3.16": "djangorestframework>=3.16,<3.17",
    "3.17": "djangorestframework>=3.17,<3.18",
    "3.18": "djangorestframework>=3.18,<3.19",
}
DATABASES = {"sqlite": "", "postgres": "postgres://postgres@127.0.0.1:5432/postgres"}
STACKS = ("sync", "async")


def _supported(python: str, django: str) -> bool:
    # Django 6.x dropped Python 3.10 and 3.11.
    return not (django.startswith("6.") and python in ("3.10", "3.11"))


MATRIX = [
    nox.param(
        python, django, drf, db, stack, id=f"{python}-dj{django}-drf{drf}-{db}-{stack}"
    )
    for python in PYTHONS
    for django in DJANGO
    for drf in DRF
    for db in DATABASES
    for stack in STACKS
    if _supported(python, django)
]


def _pytest(session: nox.Session, stack: str, db: str = "sqlite") -> None:
    env = {"DATABASE_URL": os.environ.get("DATABASE_URL", DATABASES[db])}
    session.run(
        "python", "-m", "pytest", "--parity-mode", stack, *session.posargs, env=env
    )


@nox.session
@nox.parametrize("python,django,drf,db,stack", MATRIX)
def tests(session: nox.Session, django: str, drf: str, db: str, stack: str) -> None:
    """The suite on one Python/Django/DRF/database/stack combination."""
    session.install("-e", ".[dev]", DJANGO[django], DRF[drf])
    _pytest(session, stack, db)


@nox.session(python=PYTHONS[-1])
@nox.parametrize("stack", [nox.param(stack, id=stack) for stack in STACKS])
def stack(session: nox.Session, stack: str) -> None:
    """The suite on one stack with the newest supported versions (CI jobs)."""
    session.install("-e", ".[dev]")
    _pytest(session, stack)


@nox.session(python=PYTHONS[-1])
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHONS[-1])
def types(session: nox.Session) -> None:
    """mypy --strict with django-stubs on the package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHONS[-1])
def bench(session: nox.Session) -> None:
    """Every benchmark; prints ratios against the in-run baseline."""
    session.install("-e", ".[dev]")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script))
