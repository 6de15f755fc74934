"""The public API's types, as a user's type checker sees them (issue 22).

mypy checks tests/typing_check/user_code.py: what each verb returns on each
client and factory, and the calls it must refuse.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.tooling
def test_the_verbs_are_typed_for_the_user() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "tests/typing_check/user_code.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 1 source file" in done.stdout
