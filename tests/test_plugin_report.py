"""The pytest plugin's parity verdict: the report file, errors, markers, reruns, checks.

Run the way users run it: a throwaway project (test_plugin.py's) in a
subprocess.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from test_plugin import BOTH_MODES_TESTS, UNITTEST_CLASSES, project, run

pytest_plugins = ["pytester"]
__all__ = ["project"]  # the fixture, imported for the tests here


def variants(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {v["id"]: v for v in data["variants"]}


def test_report_records_every_variant_with_where_and_when(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS, test_classes=UNITTEST_CLASSES)
    result = run(project, "--parity-report", "out/parity.json", "-p", "no:randomly")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*report written to out/parity.json*"])
    report = json.loads((project.path / "out" / "parity.json").read_text())
    (run_info,) = report["runs"]
    assert run_info["runner"] == "pytest"
    assert run_info["label"] == "parity"
    assert run_info["selected"] == ["sync", "async"]
    found = variants(project.path / "out" / "parity.json")
    assert sorted(found) == sorted(
        [
            "test_both.py::test_sync_body[sync]",
            "test_both.py::test_sync_body[async]",
            "test_both.py::test_async_body[sync]",
            "test_both.py::test_async_body[async]",
            "test_classes.py::Users::test_post_sync",
            "test_classes.py::Users::test_post_async",
            "test_classes.py::Users::test_async_sync",
            "test_classes.py::Users::test_async_async",
        ]
    )
    assert {v["outcome"] for v in found.values()} == {"passed"}
    assert {v["worker"] for v in found.values()} == {"main"}
    assert all(v["duration"] > 0 for v in found.values())
    # Positions follow the run order (no random order here), one per test.
    by_position = sorted(found.values(), key=lambda v: v["position"])
    assert [v["id"] for v in by_position][:2] == [
        "test_both.py::test_sync_body[sync]",
        "test_both.py::test_sync_body[async]",
    ]
    assert found["test_both.py::test_sync_body[sync]"]["test"] == (
        "test_both.py::test_sync_body[*]"
    )
    assert found["test_classes.py::Users::test_post_async"]["test"] == (
        "test_classes.py::Users::test_post"
    )


def test_xdist_workers_report_into_the_one_file(project: pytest.Pytester) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS, test_classes=UNITTEST_CLASSES)
    result = run(project, "-n", "2", "--parity-report", "parity.json")
    result.assert_outcomes(passed=8)
    found = variants(project.path / "parity.json")
    assert len(found) == 8
    workers = {v["worker"] for v in found.values()}
    assert workers <= {"gw0", "gw1"}
    assert len(workers) >= 1
    for worker in workers:
        positions = [v["position"] for v in found.values() if v["worker"] == worker]
        assert len(positions) == len(set(positions))


ERRORS = """
import pytest
from restflow_parity import run_both_modes


@pytest.fixture
def stack_fixture(parity_mode):
    if parity_mode == "async":
        raise RuntimeError("async set-up broke")


@run_both_modes
def test_setup_breaks_on_async(stack_fixture):
    pass


@pytest.fixture
def bad_teardown(parity_mode):
    yield
    if parity_mode == "sync":
        raise RuntimeError("sync tear-down broke")


@run_both_modes
def test_teardown_breaks_on_sync(bad_teardown):
    pass
"""


def test_setup_and_teardown_errors_are_reported_as_errors(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_errors=ERRORS)
    result = run(project, "--parity-report", "parity.json")
    result.stdout.fnmatch_lines(
        [
            "*sync: 2 ran (1 error, 1 passed)*",
            "*async: 2 ran (1 error, 1 passed)*",
            "*passed in one mode but failed in the other:*",
            "*test_setup_breaks_on_async[[]*[]]: sync passed, async error "
            "(sync ran first, in the same process; async errored in setup)*",
            "*test_teardown_breaks_on_sync[[]*[]]: sync error, async passed "
            "(sync ran first, in the same process; sync errored in teardown)*",
        ]
    )
    found = variants(project.path / "parity.json")
    setup = found["test_errors.py::test_setup_breaks_on_async[async]"]
    assert (setup["outcome"], setup["phase"]) == ("error", "setup")
    assert setup["message"] == "RuntimeError: async set-up broke"


def test_select_a_stack_by_marker_not_by_k(project: pytest.Pytester) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS, test_classes=UNITTEST_CLASSES)
    result = run(project, "-v", "-m", "parity_async")
    result.assert_outcomes(passed=4, deselected=4)
    for name in ("test_sync_body?async?", "test_async_body?async?"):
        result.stdout.fnmatch_lines([f"*{name} PASSED*"])
    result.stdout.fnmatch_lines(["*Users::test_post_async PASSED*"])
    assert "[sync]" not in result.stdout.str()
    assert "_sync PASSED" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*sync: not selected (deselected)*", "*async: 4 ran (4 passed)*"]
    )
    result = run(project, "-m", "parity_sync and restflow_parity")
    result.assert_outcomes(passed=4, deselected=4)
    # The trap the marker avoids: "async" contains "sync", so -k sync keeps all.
    result = run(project, "-k", "sync")
    result.assert_outcomes(passed=8)


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_stack_left_out_is_not_selected_never_ran(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS)
    if how == "option":
        result = run(project, "--parity-mode", "async")
        why = "--parity-mode async"
    else:
        monkeypatch.setenv("RESTFLOW_PARITY_MODE", "async")
        result = run(project)
        why = "RESTFLOW_PARITY_MODE=async"
    result.stdout.fnmatch_lines([f"*sync: not selected ({why})*"])
    assert "sync: 0 ran" not in result.stdout.str()
    assert " ran (" not in result.stdout.str().split("async:")[0].split("summary")[-1]


ORDER_DEPENDENT = """
from restflow_parity import run_both_modes

tokens = iter(["the only token"])


@run_both_modes
def test_takes_a_module_level_token(parity_mode):
    # The first variant to run uses the token up.
    assert next(tokens, None) == "the only token"


@run_both_modes
def test_only_sync_works(parity_mode):
    assert parity_mode == "sync"
"""


def test_rerun_labels_order_dependence_and_stack_differences(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_triage=ORDER_DEPENDENT)
    result = run(project, "--parity-rerun", "--parity-report", "parity.json")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*passed in one mode but failed in the other:*",
            "*test_only_sync_works[[]*[]]: sync passed, async failed "
            "(sync ran first, in the same process)*",
            "*rerun alone: sync passed, async failed -> stack difference*",
            "*test_takes_a_module_level_token[[]*[]]: sync passed, async failed "
            "(sync ran first, in the same process)*",
            "*rerun alone: sync passed, async passed -> order-dependent*",
        ]
    )
    found = variants(project.path / "parity.json")
    token = found["test_triage.py::test_takes_a_module_level_token[async]"]
    assert (token["outcome"], token["alone"]) == ("failed", "passed")


def test_rerun_keeps_the_run_options_but_not_the_selection(
    project: pytest.Pytester,
) -> None:
    # -o and -p reach the rerun (the planted test needs the -o value);
    # -k, -n and --parity-report of the first run do not.
    project.makepyfile(
        test_options="""
        from restflow_parity import run_both_modes

        @run_both_modes
        def test_needs_the_override(parity_mode, pytestconfig):
            assert pytestconfig.getini("python_functions") == ["test_*", "check_*"]
            assert parity_mode == "sync"
        """
    )
    result = run(
        project,
        "-o",
        "python_functions=test_* check_*",
        "-k",
        "override",
        "-n",
        "1",
        "--parity-report",
        "first.json",
        "--parity-rerun",
    )
    result.stdout.fnmatch_lines(
        ["*rerun alone: sync passed, async failed -> stack difference*"]
    )
    assert not (project.path / "parity.json").exists()


SETTINGS_WITHOUT_MIDDLEWARE = """
from proj_settings import *

MIDDLEWARE = {middleware}
SILENCED_SYSTEM_CHECKS = {silenced}
"""


@pytest.mark.parametrize(
    ("middleware", "silenced", "expected"),
    [
        ("[]", "[]", "restflow_parity.W001"),
        ("[M, M]", "[]", "restflow_parity.W002"),
        ("[]", '["restflow_parity.W001"]', None),
        ("[M]", "[]", None),
    ],
    ids=["missing", "twice", "silenced", "fine"],
)
def test_system_checks_run_at_session_start(
    project: pytest.Pytester, middleware: str, silenced: str, expected: str | None
) -> None:
    project.makepyfile(
        checked_settings="M = 'restflow_parity.middleware.EnsureScopeMiddleware'\n"
        + SETTINGS_WITHOUT_MIDDLEWARE.format(middleware=middleware, silenced=silenced)
    )
    project.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = run(project, "--ds", "checked_settings")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    if expected is None:
        assert "System check identified" not in output
        return
    result.stdout.fnmatch_lines(
        [
            "restflow-parity: System check identified some issues:",
            f"?: ({expected}) EnsureScopeMiddleware *",
            "*HINT: *",
        ]
    )
    # Before the tests, as manage.py test prints them.
    assert output.index(expected) < output.index("test_nothing.py")


def test_kit_messages_follow_the_app_and_the_silenced_list() -> None:
    from django.conf import settings
    from django.test import override_settings

    from restflow_parity.django_runner._checks import kit_messages

    with override_settings(MIDDLEWARE=[]):
        assert [m.id for m in kit_messages()] == ["restflow_parity.W001"]
        with override_settings(SILENCED_SYSTEM_CHECKS=["restflow_parity.W001"]):
            assert kit_messages() == []
        others = [a for a in settings.INSTALLED_APPS if a != "restflow_parity"]
        with override_settings(INSTALLED_APPS=others):
            assert kit_messages() == []  # the checks belong to the app


KINDS = """
import pytest
from restflow_parity import run_both_modes


@run_both_modes
def test_fails_on_both(parity_mode):
    assert parity_mode == "neither"


@run_both_modes
def test_skips_on_async(parity_mode):
    if parity_mode == "async":
        pytest.skip("not on ASGI yet")


@run_both_modes
def test_xfails_on_sync(parity_mode):
    if parity_mode == "sync":
        pytest.xfail("a known WSGI bug")
"""


def test_the_summary_lists_failed_on_both_stacks_and_uneven_tests(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_kinds=KINDS)
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*sync: 3 ran (1 failed, 1 passed, 1 skipped)*",
            "*async: 3 ran (1 failed, 1 passed, 1 skipped)*",
            "  no test passed in one mode and failed in the other",
            "  failed on both stacks (or failed on one, skipped on the other):",
            "    test_kinds.py::test_fails_on_both[[]*[]]: sync failed, async failed",
            "  ran on both stacks but not alike:",
            "    test_kinds.py::test_skips_on_async[[]*[]]: passed on sync, "
            "skipped on async: *not on ASGI yet",
            "    test_kinds.py::test_xfails_on_sync[[]*[]]: skipped on sync, "
            "passed on async: *a known WSGI bug",
        ]
    )
    # Uneven tests are listed; pytest's own exit status stays its own.
    result = run(project, "-k", "skips_on_async or xfails_on_sync")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["  ran on both stacks but not alike:"])


WARNS_ON_ASYNC = """
import warnings

from restflow_parity import run_both_modes


@run_both_modes
def test_warns_on_async_only(parity_mode):
    # A stack difference that is a warning (as Django's for a sync iterator
    # streamed through ASGI): under -W error::UserWarning it fails the async
    # variant, after other tests or alone.
    if parity_mode == "async":
        warnings.warn("only the async stack says this", UserWarning)
"""


def test_rerun_runs_under_the_interpreters_warning_options(
    project: pytest.Pytester,
) -> None:
    # No filterwarnings in the ini: the interpreter's -W decides, as in a
    # project that runs python -W error::... -m pytest.
    project.makeini(
        "[pytest]\n"
        "DJANGO_SETTINGS_MODULE = proj_settings\n"
        "addopts = -p no:randomly -p no:cacheprovider\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    project.makepyfile(test_warns=WARNS_ON_ASYNC)
    result = project.run(
        sys.executable, "-W", "error::UserWarning", "-m", "pytest", "--parity-rerun"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_warns_on_async_only[[]*[]]: sync passed, async failed*",
            "*rerun alone: sync passed, async failed -> stack difference*",
        ]
    )
