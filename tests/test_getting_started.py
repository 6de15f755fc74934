"""docs/getting-started.md, followed to the letter in a `startproject` project.

The walk itself lives in tests/getting_started.py, so that ``nox -s smoke`` can
run it from the built wheel too; here it runs against the work tree.
"""

from __future__ import annotations

from pathlib import Path

import getting_started as page
import pytest
from doc_fences import Block

pytestmark = pytest.mark.tooling


def test_page_builds_a_project_whose_tests_pass_on_both_stacks(
    tmp_path: Path,
) -> None:
    done = page.walk(tmp_path)
    page.check_summary(done)
    page.check_system_checks(done)

    # The page starts from nothing but startproject and startapp...
    assert done.commands[:2] == [
        "django-admin startproject mysite",
        "python manage.py startapp products",
    ]
    assert done.pip_lines == ['pip install "restflow-parity[pytest]"']
    # ...selects the test settings each of the three ways, for both runners...
    assert {(run.runner, run.selected_by) for run in done.runs} == {
        (runner, way)
        for runner in ("manage.py", "pytest")
        for way in ("option", "env", "ini")
    }
    # ...runs both stacks, and each stack alone (the TEST_RUNNER's --parity-mode).
    assert all(run.counts for run in done.runs)
    modes = {run.modes for run in done.runs}
    assert modes == {("sync", "async"), ("sync",), ("async",)}
    assert ("manage.py", ("sync",)) in {(run.runner, run.modes) for run in done.runs}


def block(language: str, code: str) -> Block:
    return Block("getting-started.md", 1, language, "", code)


def test_a_diff_that_does_not_match_the_file_stops_the_walk(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("os.environ.setdefault('A', 'b')\n")
    diff = block("diff", "--- manage.py\n+++ manage.py\n-setdefault('A', 'c')\n+x\n")
    with pytest.raises(page.PageError, match="occur 0 times"):
        page.apply(diff, tmp_path / "manage.py")


def test_a_diff_replaces_its_old_lines(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("a\nb\nc\n")
    diff = block("diff", "--- manage.py\n+++ manage.py\n b\n-c\n+C\n")
    page.apply(diff, tmp_path / "manage.py")
    assert (tmp_path / "manage.py").read_text() == "a\nb\nC\n"


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("restflow-parity summary:\n  sync: 2 ran (1 failed, 1 passed)\n", "sync"),
        (
            "restflow-parity summary:\n"
            "  sync: 2 ran (2 passed); 2 requests through WSGI, 0 through ASGI\n",
            "async",
        ),
        (
            "restflow-parity summary:\n"
            "  sync: 2 ran (2 passed); 2 requests through WSGI, 0 through ASGI\n"
            "  async: 2 ran (2 passed); 1 request through ASGI, 1 through WSGI\n",
            "async",
        ),
        ("Ran 4 tests\nOK\n", "no parity summary"),
    ],
)
def test_a_run_that_misses_a_stack_or_fails_stops_the_walk(
    output: str, problem: str
) -> None:
    both = ("sync", "async")
    run = page.Run("python manage.py test", "manage.py", "ini", both, output, 0)
    with pytest.raises(page.PageError, match=problem):
        page.check_run(run)


def test_pytest_must_say_it_used_the_test_settings() -> None:
    output = "settings: mysite.settings (from ini)\nrestflow-parity summary:\n"
    run = page.Run("pytest", "pytest", "ini", ("sync",), output, 0)
    with pytest.raises(page.PageError, match="from ini"):
        page.check_run(run)


def test_every_code_block_that_is_not_a_command_names_its_file() -> None:
    named = [b for b in page.blocks() if page.target(b)]
    assert {b.language for b in named} == {"python", "ini", "diff"}
    assert all(
        page.target(b) for b in page.blocks() if b.language in ("python", "ini", "diff")
    )
