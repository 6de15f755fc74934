"""The README's Python examples run here, so the README cannot drift.

The quick-start test class is executed into this module, where pytest then
collects and runs it like any other test class.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_the_examples() -> None:
    assert len(BLOCKS) == 2
    assert "EnsureScopeMiddleware" in BLOCKS[0]
    assert "@run_both_modes" in BLOCKS[1]


def test_settings_example_is_valid_python_settings() -> None:
    namespace = {"INSTALLED_APPS": ["django.contrib.auth"], "MIDDLEWARE": ["x.Y"]}
    settings_code = BLOCKS[0].replace("from .base import *  # noqa: F403\n", "")
    exec(settings_code, namespace)
    assert (
        namespace["MIDDLEWARE"][0] == "restflow_parity.middleware.EnsureScopeMiddleware"
    )
    assert namespace["TEST_RUNNER"] == "restflow_parity.runner.ParityDiscoverRunner"


exec(BLOCKS[1])  # defines ProductTests (test_create_sync, test_list_async, ...)
