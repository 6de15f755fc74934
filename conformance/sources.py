"""The installed Django, DRF and adrf's source distributions, cached and unpacked.

Their test suites ship inside the sdists. The harness downloads the sdist of
exactly the installed version with pip, keeps it in the cache folder
(gitignored), and unpacks its tests/ and top-level files only, so the tests
run against the installed code, never against a copy beside them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".conformance"
_DONE = ".unpacked"


@dataclass(frozen=True)
class Distribution:
    """One project whose sdist is downloaded, by the name pip knows it by."""

    name: str
    #: The sdist's folders that hold its suite (its test project too).
    folders: tuple[str, ...] = ("tests",)


DJANGO = Distribution("Django")
DRF = Distribution("djangorestframework")
ADRF = Distribution("adrf")
#: Real DRF packages' own suites. DRF JSON:API's tests sit in tests/ and in
#: its example project; dj-rest-auth ships its tests inside its package, so
#: they come with the installed wheel and no sdist is needed.
JSONAPI = Distribution("djangorestframework-jsonapi", ("example", "tests"))
REST_AUTH = Distribution("dj-rest-auth", ())


class SourceError(RuntimeError):
    """An sdist could not be had; the message says what to do."""


def installed_version(dist: Distribution) -> str | None:
    try:
        return metadata.version(dist.name)
    except metadata.PackageNotFoundError:
        return None


def source_tree(dist: Distribution, cache: Path = DEFAULT_CACHE) -> Path:
    """The unpacked sdist of the installed version of ``dist``: its root folder.

    A distribution with no suite folders of its sdist gets an empty folder
    of its own (for the harness's settings module).
    """
    version = installed_version(dist)
    if version is None:
        raise SourceError(f"{dist.name} is not installed: pip install {dist.name}")
    target = cache / "src" / f"{dist.name.lower()}-{version}"
    if (target / _DONE).exists():
        return target
    if not dist.folders:
        target.mkdir(parents=True, exist_ok=True)
        (target / _DONE).write_text("installed")
        return target
    archive = _download(dist, version, cache / "sdists")
    _unpack(archive, target, dist.folders)
    return target


def checkout_tree(checkout: Path, name: str, cache: Path = DEFAULT_CACHE) -> Path:
    """A copy of a repository checkout's tests/ and top-level files.

    For a project whose sdist ships no tests (adrf). Copied, not run in place,
    so the checkout's own package cannot shadow the installed one.
    """
    if not (checkout / "tests").is_dir():
        raise SourceError(
            f"{checkout} has no tests/ folder: is it a checkout of {name}?"
        )
    target = cache / "src" / f"{name}-checkout"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        checkout / "tests",
        target / "tests",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for item in checkout.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    return target


def _download(dist: Distribution, version: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    found = _archive_in(folder, dist, version)
    if found is not None:
        return found
    # Into a folder of its own first: two harness runs (xdist workers of the
    # harness's tests) may download at once, and each renames a whole file.
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"{dist.name}=={version}",
                "--dest",
                scratch,
            ],
            capture_output=True,
            text=True,
        )
        fetched = _archive_in(Path(scratch), dist, version)
        if done.returncode != 0 or fetched is None:
            raise SourceError(
                f"pip could not download the sdist of {dist.name}=={version} "
                f"(exit {done.returncode}):\n{done.stderr.strip()[-2000:]}\n"
                "The harness needs the package index; or put the sdist in "
                f"{folder} by hand."
            )
        return fetched.replace(folder / fetched.name)


def _archive_in(folder: Path, dist: Distribution, version: str) -> Path | None:
    # Sdist names are normalised differently across versions and tools
    # (Django-5.2, django-5.2, djangorestframework_jsonapi-8.1.0): compare
    # the names as PEP 625 normalises them.
    wanted = _normal(f"{dist.name}-{version}.tar.gz")
    return next((p for p in folder.glob("*.tar.gz") if _normal(p.name) == wanted), None)


def _normal(filename: str) -> str:
    """``name-version.tar.gz`` with the name normalised (versions hold no "-")."""
    name, _, version = filename.lower().rpartition("-")
    return f"{re.sub(r'[-_.]+', '_', name)}-{version}"


def _unpack(archive: Path, target: Path, folders: tuple[str, ...] = ("tests",)) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if _wanted(m, folders)]
            if hasattr(tarfile, "data_filter"):  # 3.10.12+, 3.11.4+
                tar.extractall(scratch, members, filter="data")
            else:  # pragma: no cover - older patch releases
                tar.extractall(scratch, members)
        (top,) = scratch.iterdir()
        (top / _DONE).write_text(archive.name)
        try:
            top.replace(target)
        except OSError:
            if not (target / _DONE).exists():  # not a concurrent unpack's result
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _wanted(member: tarfile.TarInfo, folders: tuple[str, ...] = ("tests",)) -> bool:
    """The sdist's top-level files (the suite's pytest configuration) and its
    suite's folders (tests/).

    Not the installed package's copy, which would shadow it on sys.path
    (pytest puts the sdist root there for DRF's tests), nor the docs.
    """
    parts = member.name.split("/")
    top_file = len(parts) == 2 and member.isfile()
    return len(parts) == 1 or top_file or parts[1] in folders
