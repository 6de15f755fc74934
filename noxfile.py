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
# A bare ``nox`` runs what CI runs; the 144 ``tests(...)`` sessions are by hand.
nox.options.sessions = ["lint", "types", "docs", "edge"]


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
DATABASES = {
    "sqlite": "",
    "postgres": os.environ.get(
        "NOX_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("NOX_MARIADB_URL", "mysql://root@127.0.0.1:3306/test"),
}
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


_WHEELS: dict[str, Path] = {}


def _wheel(session: nox.Session) -> Path:
    """Build the wheel once per nox run: sessions test what users install."""
    if "wheel" not in _WHEELS:
        outdir = Path(session.create_tmp()).resolve() / "dist"
        # create_tmp() also points TMPDIR into .nox/, under this project's
        # setup.cfg, which pytest would read for the projects that tests make
        # in temporary folders (tests/getting_started.py refuses to walk there).
        session.env.pop("TMPDIR", None)
        session.install("build")
        session.run("python", "-m", "build", "--wheel", "--outdir", str(outdir))
        (_WHEELS["wheel"],) = outdir.glob("restflow_parity-*.whl")
    return _WHEELS["wheel"]


def _install(session: nox.Session, extras: str, *pins: str) -> None:
    wheel = _wheel(session)
    session.install(f"restflow-parity[{extras}] @ {wheel.as_uri()}", *pins)
    # -I keeps the work tree off sys.path, so this sees what pytest will see.
    session.run(
        "python",
        "-I",
        "-c",
        "import restflow_parity as p, sys; "
        "assert 'site-packages' in p.__file__, p.__file__",
    )


def _pytest(session: nox.Session, stack: str, db: str = "sqlite") -> None:
    env = {"DATABASE_URL": DATABASES[db]}
    # The pytest script, not ``python -m pytest``: -m would put the work tree's
    # restflow_parity ahead of the installed wheel.
    session.run("pytest", "--parity-mode", stack, *session.posargs, env=env)


@nox.session
@nox.parametrize("python,django,drf,db,stack", MATRIX)
def tests(session: nox.Session, django: str, drf: str, db: str, stack: str) -> None:
    """The suite on one Python/Django/DRF/database/stack combination."""
    _install(session, "dev", DJANGO[django], DRF[drf])
    _pytest(session, stack, db)


@nox.session
@nox.parametrize(
    "python,django,drf,db",
    [
        nox.param(PYTHONS[-1], "6.1", "3.18", "mariadb", id="newest"),
        nox.param(PYTHONS[0], "5.2", "3.16", "sqlite", id="oldest"),
    ],
)
def edge(session: nox.Session, django: str, drf: str, db: str) -> None:
    """CI's slice: newest or oldest versions, both stacks, one database each.

    One install and one run testing both stacks (``--parity-mode both``).
    The newest versions run on MariaDB, the oldest (asgiref 3.8.1 included)
    on SQLite; CI runs the work tree's suite on SQLite and PostgreSQL.
    """
    # The oldest asgiref Django 5.2 accepts: no ThreadSensitiveContext
    # executor, so the hop and the pytest isolation take their fallbacks.
    oldest = ("asgiref==3.8.1",) if session.python == PYTHONS[0] else ()
    _install(session, "dev", DJANGO[django], DRF[drf], *oldest)
    _pytest(session, "both", db)


@nox.session(python=PYTHONS[-1])
@nox.parametrize("stack", [nox.param(stack, id=stack) for stack in STACKS])
def stack(session: nox.Session, stack: str) -> None:
    """The suite on one stack with the newest supported versions (CI jobs)."""
    _install(session, "dev")
    _pytest(session, stack)


@nox.session(python=PYTHONS[-1])
def example(session: nox.Session) -> None:
    """The example shop's suite on both stacks, ending with the parity summary."""
    _install(session, "pytest,live")
    session.chdir(ROOT / "examples")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[-1])
def smoke(session: nox.Session) -> None:
    """A new user's first hour: the getting-started page on the built wheel.

    A fresh venv gets the wheel with the extras the page's ``pip install``
    names and the newest Django; then tests/getting_started.py follows the
    page in a ``startproject`` project and runs its tests on both stacks.
    """
    page = (ROOT / "docs" / "getting-started.md").read_text()
    (extras,) = re.findall(r'pip install "restflow-parity\[([\w,]+)\]"', page)
    _install(session, extras, DJANGO[max(DJANGO, key=_version)])
    # A script, not -m: sys.path gets tests/ (for doc_fences), not the work
    # tree, so the walk and the project's commands import the wheel.
    session.run("python", str(ROOT / "tests" / "getting_started.py"), *session.posargs)


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


@nox.session(python=PYTHONS[-1])
def conformance(session: nox.Session) -> None:
    """Django's, DRF's and adrf's own suites with our classes swapped in.

    On the newest versions, from the built wheel. Pass run.py's options after
    ``--``, e.g. ``nox -s conformance -- --suite drf --only dropin``.
    """
    _install(
        session,
        "pytest",
        DJANGO["6.1"],
        DRF["3.18"],
        "adrf",
        "-r",
        str(ROOT / "conformance" / "requirements.txt"),
    )
    session.run("python", str(ROOT / "conformance" / "run.py"), *session.posargs)


@nox.session(python=PYTHONS[-1])
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning is an error."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


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
    # What a user's type checker sees of the verbs (tests/test_typing.py).
    session.run("mypy", "tests/typing_check/user_code.py")


@nox.session(python=PYTHONS[-1])
def soak(session: nox.Session) -> None:
    """Leak and flake soak: 1,000+ generated tests, 10 random orders, 4 databases.

    Pass ``-- --runs 1`` for the quick version CI runs, ``-- --control`` to
    see the invariants catch leaks with the isolation turned off.
    """
    session.install("-e", ".[dev]")
    session.run("python", "tests/soak/run.py", *session.posargs)


@nox.session(python=PYTHONS[-1])
def bench(session: nox.Session) -> None:
    """Every benchmark; writes docs/benchmarks.md (pass --only scope,live)."""
    session.install("-e", ".[dev]")
    session.run("python", "benchmarks/run_all.py", *session.posargs)
