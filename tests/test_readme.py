"""The README runs here, so it cannot drift, and it reads well on the index.

The quick-start test class is executed into this module, where pytest then
collects and runs it like any other test class. The README is also the
package's description on the index, where relative links break, and CI takes
its first two steps from it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
DOCS_URL = "https://restflow-parity.readthedocs.io/en/latest/"
# What CI runs (.ci/run reads it from the README: these must not change).
CI_COMMANDS = [
    'python3 -m venv .venv && .venv/bin/pip install -q -e ".[pytest,live]" '
    "&& cd examples && ../.venv/bin/python -m pytest",
    'python3 -m venv .venv && .venv/bin/pip install -q -e ".[dev]" '
    "&& .venv/bin/python -m pytest -n auto",
]


def test_readme_has_the_examples() -> None:
    assert len(BLOCKS) == 2
    assert "EnsureScopeMiddleware" in BLOCKS[0]
    assert "@run_both_modes" in BLOCKS[1]


def test_settings_example_is_valid_python_settings() -> None:
    namespace = {"INSTALLED_APPS": ["django.contrib.auth"], "MIDDLEWARE": ["x.Y"]}
    settings_code = BLOCKS[0].replace("from .settings import *  # noqa: F403\n", "")
    assert "import" not in settings_code
    exec(settings_code, namespace)
    assert (
        namespace["MIDDLEWARE"][0] == "restflow_parity.middleware.EnsureScopeMiddleware"
    )
    assert namespace["TEST_RUNNER"] == "restflow_parity.runner.ParityDiscoverRunner"


def test_quick_start_comes_first_and_development_near_the_top() -> None:
    headings = re.findall(r"^## (.+)$", TEXT, re.M)
    assert headings[:2] == ["Quick start", "Development"]


def test_ci_takes_the_two_fresh_machine_commands_from_the_readme() -> None:
    # Run .ci/run's own extraction, so a README edit cannot fool CI silently.
    script = (ROOT / ".ci" / "run").read_text()
    (function,) = re.findall(r"^readme_command\(\) \{.*?^\}$", script, re.M | re.S)
    found = [
        subprocess.run(
            ["bash", "-c", f"{function}\nreadme_command {n}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for n in (1, 2)
    ]
    assert found == CI_COMMANDS
    development = TEXT[TEXT.index("## Development") :]
    assert all(command in development for command in CI_COMMANDS)


def test_links_are_absolute() -> None:
    # The index renders the README away from the repository: a relative link
    # (docs/x.md) leads nowhere there.
    targets = re.findall(r"\]\(([^)]+)\)", TEXT)
    assert targets
    assert [t for t in targets if not t.startswith("https://")] == []


def test_docs_links_lead_to_pages_that_exist() -> None:
    pages = [t for t in re.findall(r"\]\(([^)#]+)", TEXT) if t.startswith(DOCS_URL)]
    assert len(pages) >= 10
    for url in pages:
        slug = url.removeprefix(DOCS_URL).strip("/")
        candidates = [ROOT / "docs" / f"{slug}.md", ROOT / "docs" / slug / "index.md"]
        if not slug:
            candidates = [ROOT / "docs" / "index.md"]
        assert any(page.exists() for page in candidates), url


exec(BLOCKS[1])  # defines ProductTests (test_create_sync, test_list_async, ...)
