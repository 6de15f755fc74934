"""What pip users get: the built sdist and wheel, and the links to everything else.

The wheel holds the package and nothing else (the tests, the examples and
the settings snippets stay in the repository; the docs site shows the
snippets), and its metadata passes ``twine check``, which renders the README
as the index will.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.tooling

ROOT = Path(__file__).resolve().parent.parent


def project_urls() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    urls = {}
    for row in config["metadata"]["project_urls"].strip().splitlines():
        name, _, url = row.partition("=")
        urls[name.strip()] = url.strip()
    return urls


def test_project_urls_match_the_docs_site() -> None:
    urls = project_urls()
    assert set(urls) == {"Documentation", "Changelog", "Source", "Issues"}
    # mkdocs.yml has a !!python/name tag; only its plain keys are read here.
    text = (ROOT / "mkdocs.yml").read_text()
    mkdocs = yaml.safe_load(text[: text.index("\ntheme:")])
    assert mkdocs["repo_url"] == urls["Source"]
    assert mkdocs["site_url"] == urls["Documentation"]
    assert urls["Issues"] == urls["Source"] + "/issues"
    assert urls["Changelog"].startswith(urls["Documentation"])
    assert (ROOT / "docs" / "changelog.md").exists()


def test_docs_extra_has_what_the_site_build_uses() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extra = config["options.extras_require"]["docs"]
    names = {re.split(r"[\[<>=;]", row.strip())[0] for row in extra.splitlines()}
    # mkdocstrings formats the reference's signatures with ruff.
    assert {"mkdocs-material", "mkdocstrings", "ruff"} <= names


def test_built_sdist_and_wheel(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("*.tar.gz")
    (wheel,) = tmp_path.glob("*.whl")

    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode())
        entry_points = archive.read(
            metadata_name.replace("METADATA", "entry_points.txt")
        ).decode()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"restflow_parity", metadata_name.split("/")[0]}
    assert "restflow_parity/py.typed" in names
    assert "restflow_parity/live/servers.py" in names  # subpackages too
    # restflow_parity/test.py is the public test module; test suites are not.
    suites = r"(^|/)(tests/|examples/|test_\w*\.py$|conftest\.py$)"
    assert not [n for n in names if re.search(suites, n)]
    assert "restflow_parity = restflow_parity.plugin" in entry_points
    assert {url.split(", ")[0] for url in metadata.get_all("Project-URL")} == set(
        project_urls()
    )
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text().strip()

    with tarfile.open(sdist) as archive:
        files = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"README.md", "CHANGELOG.md", "setup.cfg", "pyproject.toml"} <= files
    assert "restflow_parity/py.typed" in files
    # No half test suite (test modules without the project they need).
    assert not [f for f in files if f.startswith(("tests/", "examples/"))]
