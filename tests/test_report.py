"""The parity verdict, the JSON report and ``python -m restflow_parity merge``.

Reports are built here by hand, variant by variant, so each rule of the
verdict (mismatch, failed, uneven, missing shard, stack not selected or
absent, worse outcome wins, which variant ran first, the rerun labels, the
stack ledger) and each exit code of ``merge`` is checked on its own. The tests
that produce reports from real runs are in test_plugin_report.py,
test_runner.py and test_matrix.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from restflow_parity.__main__ import main
from restflow_parity.verdict._report import Report, ReportError, Run
from restflow_parity.verdict._summary import ParityTally, Variant


def run(label: str, *selected: str) -> Run:
    return Run.start("pytest", label, selected or ("sync", "async"))


def variant(
    test: str, mode: str, outcome: str, where: Run, position: int = 1, **extra: Any
) -> Variant:
    return Variant(
        test=f"t.py::{test}[*]",
        mode=mode,
        outcome=outcome,
        id=f"t.py::{test}[{mode}]",
        run=where.id,
        position=position,
        **extra,
    )


def tally_of(*variants: Variant) -> ParityTally:
    tally = ParityTally()
    tally.extend(variants)
    return tally


def write(tmp_path: Path, name: str, where: Run, *variants: Variant) -> Path:
    path = tmp_path / name
    Report([where], list(variants)).write(path)
    return path


# --- the verdict ---------------------------------------------------------------


def test_passed_on_one_stack_and_failed_on_the_other_is_a_mismatch() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one, 1),
        variant("a", "async", "failed", one, 2),
        variant("b", "sync", "passed", one, 3),
        variant("b", "async", "passed", one, 4),
        variant("c", "sync", "failed", one, 5),
        variant("c", "async", "failed", one, 6),
    )
    assert [v.test for v in tally.mismatches()] == ["t.py::a[*]"]
    assert tally.lines() == [
        "restflow-parity summary:",
        "  sync: 3 ran (1 failed, 2 passed)",
        "  async: 3 ran (2 failed, 1 passed)",
        "  passed in one mode but failed in the other:",
        "    t.py::a[*]: sync passed, async failed "
        "(sync ran first, in the same process)",
        "  failed on both stacks (or failed on one, skipped on the other):",
        "    t.py::c[*]: sync failed, async failed",
    ]


def test_an_error_is_reported_as_an_error_with_its_phase() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one, 2),
        variant("a", "async", "error", one, 1, phase="setup", message="boom"),
    )
    assert tally.lines()[1:4] == [
        "  sync: 1 ran (1 passed)",
        "  async: 1 ran (1 error)",
        "  passed in one mode but failed in the other:",
    ]
    assert tally.lines()[4] == (
        "    t.py::a[*]: sync passed, async error "
        "(async ran first, in the same process; async errored in setup)"
    )


@pytest.mark.parametrize(
    ("sync", "async_", "kind"),
    [
        ("passed", "passed", "parity"),
        ("skipped", "skipped", "parity"),
        ("failed", "error", "failed"),
        ("passed", "failed", "mismatch"),
        ("error", "passed", "mismatch"),
        ("failed", "failed", "failed"),
        ("skipped", "failed", "failed"),
        ("error", "skipped", "failed"),
        ("passed", "skipped", "uneven"),
        ("skipped", "passed", "uneven"),
    ],
)
def test_the_kind_of_each_pair_of_outcomes(sync: str, async_: str, kind: str) -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", sync, one), variant("a", "async", async_, one)
    )
    assert [v.kind for v in tally.verdicts()] == [kind]


def test_failed_on_both_stacks_or_skipped_and_failed_are_listed() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "failed", one, 1),
        variant("a", "async", "error", one, 2, phase="teardown"),
        variant("b", "sync", "skipped", one, 3, message="needs postgres"),
        variant("b", "async", "failed", one, 4),
    )
    assert tally.lines()[3:] == [
        "  no test passed in one mode and failed in the other",
        "  failed on both stacks (or failed on one, skipped on the other):",
        "    t.py::a[*]: sync failed, async error (async errored in teardown)",
        "    t.py::b[*]: sync skipped, async failed",
    ]


def test_passed_against_skipped_is_uneven_not_parity() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one),
        variant("a", "async", "skipped", one, message="not on ASGI yet"),
        variant("b", "sync", "skipped", one, message="expected failure"),
        variant("b", "async", "passed", one),
    )
    assert tally.mismatches() == []
    assert tally.lines()[3:] == [
        "  no test passed in one mode and failed in the other",
        "  ran on both stacks but not alike:",
        "    t.py::a[*]: passed on sync, skipped on async: not on ASGI yet",
        "    t.py::b[*]: skipped on sync, passed on async: expected failure",
    ]


def test_a_stack_with_no_variant_is_not_selected_never_ran() -> None:
    one = run("one", "sync")
    tally = tally_of(variant("a", "sync", "passed", one))
    assert tally.lines(not_selected={"async": "--parity-mode sync"}) == [
        "restflow-parity summary:",
        "  sync: 1 ran (1 passed)",
        "  async: not selected (--parity-mode sync)",
        "  no test passed in one mode and failed in the other",
    ]
    assert tally.missing() == []


def test_a_variant_missing_while_its_stack_ran_elsewhere_is_not_parity() -> None:
    sync, async_ = run("sync-1", "sync"), run("async-1", "async")
    tally = tally_of(
        variant("a", "sync", "passed", sync),
        variant("a", "async", "passed", async_),
        variant("b", "sync", "passed", sync),  # its async shard is missing
    )
    assert [v.test for v in tally.missing()] == ["t.py::b[*]"]
    assert tally.lines()[-2:] == [
        "  ran on one stack only, so parity is unknown (the other variant did "
        "not run, or its report is missing):",
        "    t.py::b[*]: sync passed; async missing",
    ]


def test_where_the_variants_ran_decides_what_first_means() -> None:
    one, two = run("one"), run("two")
    same = tally_of(
        variant("a", "sync", "failed", one, 7, worker="gw0"),
        variant("a", "async", "passed", one, 3, worker="gw0"),
    )
    assert same.mismatches()[0].first() == "async ran first, in the same process"
    workers = tally_of(
        variant("a", "sync", "failed", one, 1, worker="gw0"),
        variant("a", "async", "passed", one, 2, worker="gw1"),
    )
    assert workers.mismatches()[0].first() == "ran in different processes"
    runs = tally_of(
        variant("a", "sync", "failed", one), variant("a", "async", "passed", two)
    )
    assert runs.mismatches()[0].first() == "ran in different runs"


def test_the_worse_outcome_of_a_variant_recorded_twice_stands() -> None:
    one, two = run("one"), run("two")
    tally = tally_of(
        variant("a", "sync", "passed", one),
        variant("a", "sync", "failed", two),
        variant("a", "sync", "passed", one),
        variant("a", "async", "passed", one),
    )
    assert tally.variants[("t.py::a[*]", "sync")].outcome == "failed"
    assert tally.repeats[("t.py::a[*]", "sync")] == 2


@pytest.mark.parametrize(
    ("failing_alone", "passing_alone", "label"),
    [
        ("passed", "passed", "order-dependent"),
        ("failed", "passed", "stack difference"),
        ("error", "passed", "stack difference"),
        ("failed", "failed", "order-dependent"),
        ("skipped", "passed", "inconclusive"),
    ],
)
def test_rerun_labels(failing_alone: str, passing_alone: str, label: str) -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one, 1, alone=passing_alone),
        variant("a", "async", "failed", one, 2, alone=failing_alone),
    )
    (verdict,) = tally.mismatches()
    assert verdict.triage() == label
    assert tally.lines()[-1] == (
        f"      rerun alone: sync {passing_alone}, async {failing_alone} -> {label}"
    )


# --- the stack ledger ----------------------------------------------------------


def test_the_summary_shows_each_stacks_requests() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one, wsgi=5, asgi=0, by_design=0),
        variant("b", "sync", "passed", one, wsgi=0, asgi=0, by_design=0),
        variant("a", "async", "passed", one, wsgi=0, asgi=1200, by_design=0),
        variant("b", "async", "skipped", one, wsgi=0, asgi=0, by_design=0),
        variant("c", "async", "passed", one, wsgi=10, asgi=3, by_design=10),
        variant("c", "sync", "passed", one, wsgi=1, asgi=0, by_design=0),
    )
    assert tally.lines()[1:3] == [
        "  sync: 3 ran (3 passed); 6 requests through WSGI, 0 through ASGI; "
        "1 variant sent none",
        "  async: 3 ran (2 passed, 1 skipped); 1,203 requests through ASGI, "
        "10 through WSGI (10 by design, one_stack); 1 variant sent none",
    ]


def test_variants_without_a_ledger_show_no_request_counts() -> None:
    one = run("one")
    old = tally_of(variant("a", "sync", "passed", one))
    assert old.lines()[1] == "  sync: 1 ran (1 passed)"
    mixed = tally_of(
        variant("a", "sync", "passed", one),
        variant("b", "sync", "passed", one, wsgi=2, asgi=0, by_design=0),
    )
    assert mixed.lines()[1] == (
        "  sync: 2 ran (2 passed); 2 requests through WSGI, 0 through ASGI; "
        "0 variants sent none; 1 variant without a ledger"
    )


@pytest.mark.parametrize(
    ("mode", "counts", "message"),
    [
        (
            "async",
            {"wsgi": 3, "asgi": 1, "by_design": 0},
            "sent 3 requests through WSGI in the async variant",
        ),
        (
            "async",
            {"wsgi": 5, "asgi": 0, "by_design": 4},
            "sent 1 request through WSGI in the async variant "
            "(beyond the 4 that one_stack() allowed)",
        ),
        (
            "sync",
            {"wsgi": 2, "asgi": 2, "by_design": 0},
            "sent 2 requests through ASGI in the sync variant",
        ),
    ],
)
def test_a_pass_with_requests_on_the_other_stack_counts_as_failed(
    mode: str, counts: dict[str, int], message: str
) -> None:
    one = run("one")
    other = "sync" if mode == "async" else "async"
    tally = tally_of(
        variant("a", other, "passed", one, 1),
        variant("a", mode, "passed", one, 2, **counts),
    )
    (verdict,) = tally.mismatches()
    assert verdict.variants[mode].message == message
    assert "1 failed" in tally.lines()[1 if mode == "sync" else 2]
    assert tally.lines()[-1] == (
        f"    t.py::a[*]: {verdict.outcomes()} "
        f"({other} ran first, in the same process; {message})"
    )


def test_requests_on_the_other_stack_by_design_still_pass() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one),
        variant("a", "async", "passed", one, wsgi=2, asgi=1, by_design=2),
    )
    assert [v.kind for v in tally.verdicts()] == ["parity"]


# --- the report file -----------------------------------------------------------


def test_report_round_trips_and_merged_reports_merge_again(tmp_path: Path) -> None:
    one, two = run("one", "sync"), run("two", "async")
    first = write(tmp_path, "one.json", one, variant("a", "sync", "passed", one))
    second = write(tmp_path, "two.json", two, variant("a", "async", "failed", two))
    merged = Report.merged([Report.read(first), Report.read(second)])
    merged.write(tmp_path / "merged.json")
    again = Report.merged(
        [Report.read(tmp_path / "merged.json"), Report.read(first)]  # one twice
    )
    assert [r.label for r in again.runs] == ["one", "two"]
    assert len(again.variants) == 2
    assert [v.test for v in again.tally().mismatches()] == ["t.py::a[*]"]
    data = json.loads(first.read_text())
    assert data["format"] == "restflow-parity-report"
    assert data["version"] == 1
    assert data["variants"][0]["outcome"] == "passed"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ('{"a": 1}', "not a restflow-parity report"),
        ('{"format": "restflow-parity-report", "version": 99}', "version 99"),
        ('{"format": "restflow-parity-report", "version": 1}', "damaged report"),
        (
            '{"format": "restflow-parity-report", "version": 1, "runs": [], '
            '"variants": [{"test": "t", "mode": "sync", "outcome": "bad"}]}',
            "unknown outcome 'bad'",
        ),
        (
            '{"format": "restflow-parity-report", "version": 1, "runs": [], '
            '"variants": [{"test": "t", "mode": "sync", "outcome": "passed", '
            '"wsgi": -1}]}',
            "has wsgi=-1, not a count of requests",
        ),
        (
            '{"format": "restflow-parity-report", "version": 1, "runs": [], '
            '"variants": [{"test": "t", "mode": "sync", "outcome": "passed", '
            '"asgi": "3"}]}',
            "has asgi='3', not a count of requests",
        ),
    ],
)
def test_a_file_that_is_not_a_report_is_refused_by_name(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=message) as caught:
        Report.read(path)
    assert str(path) in str(caught.value)


# --- merge ---------------------------------------------------------------------


def matrix_reports(tmp_path: Path, *, drop: str = "") -> Path:
    """Four shard reports: a passes everywhere, b only on sync, c is in shard 2."""
    folder = tmp_path / "reports"
    shards = {
        ("sync", 1): [("a", "passed"), ("b", "passed")],
        ("sync", 2): [("c", "passed")],
        ("async", 1): [("a", "passed"), ("b", "failed")],
        ("async", 2): [("c", "passed")],
    }
    for (mode, group), tests in shards.items():
        name = f"{mode}-{group}"
        if name == drop:
            continue
        where = run(name, mode)
        variants = [
            variant(test, mode, outcome, where, index)
            for index, (test, outcome) in enumerate(tests, 1)
        ]
        write(folder, f"{name}.json", where, *variants)
    return folder


def test_merge_prints_writes_markdown_and_junit_and_fails_on_a_mismatch(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = matrix_reports(tmp_path)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "parity.xml"
    code = main(["merge", str(folder), "--junit", str(junit)])
    assert code == 1
    out = capsys.readouterr().out
    assert "  sync: 3 ran (3 passed)" in out
    assert "  async: 3 ran (1 failed, 2 passed)" in out
    assert "    t.py::b[*]: sync passed, async failed (ran in different runs)" in out
    assert "  merged from 4 run(s) in 4 file(s)" in out
    assert out.endswith(
        "  exit code 1: 1 test(s) failed or errored, 1 of them on one stack only\n"
    )
    markdown = summary.read_text()
    assert markdown.startswith("earlier step\n## restflow-parity: 1 test(s) passed")
    assert "| sync | 3 | 3 | 0 | 0 | 0 | - | - | - |" in markdown
    assert "| `t.py::b[*]` | passed (sync-1) | failed (async-1) |" in markdown
    root = ET.parse(junit).getroot()
    parity = root.find("testsuite[@name='parity']")
    assert parity is not None
    assert (parity.get("tests"), parity.get("failures")) == ("3", "1")
    failure = parity.find("testcase[@name='t.py::b[*]']/failure")
    assert failure is not None
    assert failure.get("message") == "sync passed, async failed"
    async_suite = root.find("testsuite[@name='async']")
    assert async_suite is not None
    assert async_suite.get("failures") == "1"
    assert {case.get("name") for case in async_suite} == {
        "a[async]",
        "b[async]",
        "c[async]",
    }


def test_merge_of_a_matrix_with_a_missing_shard_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = matrix_reports(tmp_path, drop="async-2")
    assert main(["merge", str(folder), "--markdown", str(tmp_path / "m.md")]) == 1
    # Without the mismatch, only the missing shard is left to report.
    (folder / "async-1.json").unlink()
    one = run("async-1", "async")
    write(folder, "async-1.json", one, variant("a", "async", "passed", one))
    capsys.readouterr()
    assert main(["merge", str(folder)]) == 3
    out = capsys.readouterr().out
    assert "    t.py::b[*]: sync passed; async missing" in out
    assert "    t.py::c[*]: sync passed; async missing" in out
    assert main(["merge", str(folder), "--allow-missing"]) == 0


def test_merge_without_any_async_report_exits_4_and_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = matrix_reports(tmp_path)
    for name in ("async-1", "async-2"):
        (folder / f"{name}.json").unlink()
    junit, summary = tmp_path / "parity.xml", tmp_path / "summary.md"
    args = ["merge", str(folder), "--junit", str(junit), "--markdown", str(summary)]
    assert main(args) == 4
    out = capsys.readouterr().out
    assert (
        "  async: expected, but no report has an async variant: pass the async "
        "jobs' reports, or --expect-stacks sync if the matrix runs one stack\n"
    ) in out
    assert out.endswith("  exit code 4: no async variant in any report\n")
    markdown = summary.read_text()
    assert markdown.startswith("## restflow-parity: no async variant in any report")
    assert "| async | expected, but no report has an async variant: " in markdown
    error = (
        ET.parse(junit)
        .getroot()
        .find("testsuite[@name='parity']/testcase[@name='async']/error")
    )
    assert error is not None
    assert error.get("message", "").startswith("async: expected, but no report")
    # A matrix that runs one stack says so.
    assert main(["merge", str(folder), "--expect-stacks", "sync"]) == 0
    out = capsys.readouterr().out
    assert "  async: not selected\n" in out
    assert out.endswith("  exit code 0\n")


def outcome_reports(tmp_path: Path, *pairs: tuple[str, str, str]) -> Path:
    """A sync and an async report: one (test, sync outcome, async outcome) each."""
    folder = tmp_path / "reports"
    for mode in ("sync", "async"):
        where = run(mode, mode)
        variants = [
            variant(test, mode, outcomes[mode == "async"], where, index)
            for index, (test, *outcomes) in enumerate(pairs, 1)
            if outcomes[mode == "async"]
        ]
        write(folder, f"{mode}.json", where, *variants)
    return folder


@pytest.mark.parametrize(
    ("sync", "async_", "line"),
    [
        ("failed", "failed", "    t.py::a[*]: sync failed, async failed"),
        ("skipped", "failed", "    t.py::a[*]: sync skipped, async failed"),
        (
            "error",
            "skipped",
            "    t.py::a[*]: sync error, async skipped (sync errored in call)",
        ),
    ],
)
def test_merge_exits_1_when_a_test_failed_and_passed_on_neither_stack(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sync: str,
    async_: str,
    line: str,
) -> None:
    folder = outcome_reports(tmp_path, ("a", sync, async_), ("b", "passed", "passed"))
    junit = tmp_path / "parity.xml"
    assert main(["merge", str(folder), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert (
        f"  failed on both stacks (or failed on one, skipped on the other):\n{line}\n"
    ) in out
    assert "  exit code 1: 1 test(s) failed or errored\n" in out
    parity = ET.parse(junit).getroot().find("testsuite[@name='parity']")
    assert parity is not None
    assert parity.get("failures") == "1"
    failure = parity.find("testcase[@name='t.py::a[*]']/failure")
    assert failure is not None
    assert failure.get("message") == f"sync {sync}, async {async_}"


def test_merge_lists_passed_against_skipped_and_fails_on_it_only_when_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reports"
    sync, async_ = run("sync", "sync"), run("async", "async")
    write(folder, "sync.json", sync, variant("a", "sync", "passed", sync))
    skipped = variant("a", "async", "skipped", async_, message="expected failure")
    write(folder, "async.json", async_, skipped)
    junit, summary = tmp_path / "parity.xml", tmp_path / "summary.md"
    args = ["merge", str(folder), "--junit", str(junit), "--markdown", str(summary)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "  ran on both stacks but not alike:\n"
        "    t.py::a[*]: passed on sync, skipped on async: expected failure\n"
    ) in out
    assert out.endswith(
        "  exit code 0: uneven tests allowed (--strict fails on them)\n"
    )
    markdown = summary.read_text()
    assert markdown.startswith(
        "## restflow-parity: 1 test(s) ran on both stacks but not alike"
    )
    assert (
        "| `t.py::a[*]` | passed (sync) | skipped: expected failure (async) |"
    ) in markdown
    parity = ET.parse(junit).getroot().find("testsuite[@name='parity']")
    assert parity is not None
    skip = parity.find("testcase[@name='t.py::a[*]']/skipped")
    assert skip is not None
    assert skip.get("message") == (
        "ran on both stacks but not alike: passed on sync, skipped on async: "
        "expected failure"
    )
    assert main([*args, "--strict"]) == 5
    assert capsys.readouterr().out.endswith(
        "  exit code 5: 1 test(s) ran on both stacks but not alike\n"
    )
    parity = ET.parse(junit).getroot().find("testsuite[@name='parity']")
    assert parity is not None
    assert parity.find("testcase[@name='t.py::a[*]']/failure") is not None


@pytest.mark.parametrize(
    ("case", "args", "code"),
    [
        ("sync only, one failed", [], 4),
        ("sync only, one failed", ["--expect-stacks", "sync"], 1),
        ("a failure and a lost shard", [], 1),
        ("a failure and a lost shard", ["--allow-missing"], 1),
        ("a lost shard and an uneven pair", ["--strict"], 3),
        ("a lost shard and an uneven pair", ["--strict", "--allow-missing"], 5),
        ("a lost shard and an uneven pair", ["--allow-missing"], 0),
        ("a file that is not a report", ["--strict"], 2),
    ],
)
def test_merge_exit_codes_take_precedence_2_4_1_3_5(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    args: list[str],
    code: int,
) -> None:
    pairs = {
        "sync only, one failed": [("a", "failed", ""), ("b", "passed", "")],
        "a failure and a lost shard": [("a", "failed", "failed"), ("b", "passed", "")],
        "a lost shard and an uneven pair": [
            ("a", "passed", "skipped"),
            ("b", "passed", ""),
        ],
        "a file that is not a report": [("a", "failed", "failed"), ("b", "", "passed")],
    }[case]
    folder = outcome_reports(tmp_path, *pairs)
    if case == "sync only, one failed":
        (folder / "async.json").unlink()
    if case == "a file that is not a report":
        (folder / "junk.json").write_text("[]")
    assert main(["merge", str(folder), *args]) == code
    out = capsys.readouterr().out
    if case == "sync only, one failed" and code == 4:
        assert out.endswith(
            "  exit code 4: no async variant in any report; "
            "also 1: 1 test(s) failed or errored\n"
        )
    if case == "a failure and a lost shard" and not args:
        assert out.endswith(
            "  exit code 1: 1 test(s) failed or errored; "
            "also 3: 1 test(s) ran on one stack only\n"
        )


def test_merge_fails_a_pass_whose_ledger_shows_the_other_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reports"
    sync, async_ = run("sync", "sync"), run("async", "async")
    write(
        folder,
        "sync.json",
        sync,
        variant("a", "sync", "passed", sync, wsgi=4, asgi=0, by_design=0),
    )
    wrong = variant("a", "async", "passed", async_, wsgi=3, asgi=0, by_design=0)
    write(folder, "async.json", async_, wrong)
    junit = tmp_path / "parity.xml"
    assert main(["merge", str(folder), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert (
        "  async: 1 ran (1 failed); 0 requests through ASGI, 3 through WSGI; "
        "0 variants sent none\n"
    ) in out
    assert (
        "    t.py::a[*]: sync passed, async failed (ran in different runs; "
        "sent 3 requests through WSGI in the async variant)\n"
    ) in out
    failure = (
        ET.parse(junit)
        .getroot()
        .find("testsuite[@name='async']/testcase[@name='a[async]']/failure")
    )
    assert failure is not None
    assert failure.get("message") == "sent 3 requests through WSGI in the async variant"
    # The report keeps what the runner recorded; only the verdict judges it.
    assert Report.read(folder / "async.json").variants[0].outcome == "passed"


def test_merge_shows_the_ledger_in_markdown_and_reads_reports_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reports"
    sync, async_ = run("sync", "sync"), run("async", "async")
    write(folder, "sync.json", sync, variant("a", "sync", "passed", sync))
    new = [
        variant("a", "async", "passed", async_, wsgi=10, asgi=1203, by_design=10),
        variant("b", "async", "passed", async_, wsgi=0, asgi=0, by_design=0),
    ]
    write(folder, "async.json", async_, *new)
    # A report written before the ledger: its variants have no counts at all.
    data = json.loads((folder / "sync.json").read_text())
    assert "wsgi" not in data["variants"][0]
    data["variants"].append(
        {"test": "t.py::b[*]", "mode": "sync", "outcome": "passed", "run": sync.id}
    )
    (folder / "sync.json").write_text(json.dumps(data))
    summary = tmp_path / "summary.md"
    assert main(["merge", str(folder), "--markdown", str(summary)]) == 0
    out = capsys.readouterr().out
    assert "  sync: 2 ran (2 passed)\n" in out
    assert (
        "  async: 2 ran (2 passed); 1,203 requests through ASGI, 10 through WSGI "
        "(10 by design, one_stack); 1 variant sent none\n"
    ) in out
    markdown = summary.read_text()
    assert (
        "| stack | ran | passed | skipped | failed | error | requests through WSGI "
        "| requests through ASGI | variants that sent none |"
    ) in markdown
    assert "| sync | 2 | 2 | 0 | 0 | 0 | - | - | - |" in markdown
    assert (
        "| async | 2 | 2 | 0 | 0 | 0 | 10 (10 by design, one_stack) | 1,203 | 1 |"
    ) in markdown


def test_merge_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["merge", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--expect-stacks {both,sync,async}" in out
    assert "--strict" in out
    assert "exit codes:\n  0  every expected stack reported" in out
    assert "When several apply, the first of 2, 4, 1, 3, 5 is the exit code." in out


def test_merge_refuses_what_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junk.json").write_text("[]")
    assert main(["merge", str(tmp_path / "junk.json")]) == 2
    assert "not a restflow-parity report" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["merge", str(empty)]) == 2
    assert "no *.json report" in capsys.readouterr().err
    where = run("none")
    write(tmp_path, "none.json", where)
    assert main(["merge", str(tmp_path / "none.json")]) == 2
    assert "no parity variants" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "restflow_parity"],
        [str(Path(sys.executable).parent / "restflow-parity")],
    ],
    ids=["python-m", "console-script"],
)
def test_the_command_line_entry_points(tmp_path: Path, command: list[str]) -> None:
    folder = matrix_reports(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    done = subprocess.run(
        [*command, "merge", str(folder)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1, done.stderr
    assert "t.py::b[*]: sync passed, async failed" in done.stdout


def test_junit_and_markdown_name_missing_variants_and_errors() -> None:
    from restflow_parity.verdict._render import junit_xml, markdown

    sync, async_ = run("sync-1", "sync"), run("async-1", "async")
    report = Report(
        [sync, async_],
        [
            variant("a", "sync", "passed", sync),
            variant("a", "async", "passed", async_),
            variant("b", "sync", "error", sync, phase="setup", message="x|y"),
            variant("c", "sync", "skipped", sync, message="later"),
            variant("c", "async", "skipped", async_, message="later"),
        ],
    )
    tally = report.tally()
    text = markdown(report, tally)
    assert text.startswith("## restflow-parity: 1 test(s) ran on one stack only")
    assert "| `t.py::b[*]` | sync error | async |" in text
    assert "Merged from 2 run(s): async-1, sync-1." in text
    root = ET.fromstring(junit_xml(tally))
    parity = root.find("testsuite[@name='parity']")
    assert parity is not None
    assert (parity.get("errors"), parity.get("failures")) == ("1", "0")
    error = parity.find("testcase[@name='t.py::b[*]']/error")
    assert error is not None
    assert error.get("message") == "sync error; async missing: parity unknown"
    sync_suite = root.find("testsuite[@name='sync']")
    assert sync_suite is not None
    assert (sync_suite.get("errors"), sync_suite.get("skipped")) == ("1", "1")
    variant_error = sync_suite.find("testcase[@name='b[sync]']/error")
    assert variant_error is not None
    assert variant_error.get("message") == "setup: x|y"


def test_junit_of_a_one_stack_run_skips_the_verdicts() -> None:
    from restflow_parity.verdict._render import junit_xml, markdown

    sync = run("sync-only", "sync")
    report = Report([sync], [variant("a", "sync", "failed", sync, message="no")])
    root = ET.fromstring(junit_xml(report.tally()))
    parity = root.find("testsuite[@name='parity']")
    assert parity is not None
    assert parity.get("skipped") == "1"
    text = markdown(report, report.tally())
    assert text.startswith(
        "## restflow-parity: 1 test(s) failed on the only stack that ran"
    )
    assert "| async | not selected |" in text
    assert "failed: no (sync-only)" not in text  # only mismatches get cells
