"""The parity verdict, the JSON report and ``python -m restflow_parity merge``.

Reports are built here by hand, variant by variant, so each rule of the
verdict (mismatch, missing shard, stack not selected, worse outcome wins,
which variant ran first, the rerun labels) is checked on its own. The tests
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
from restflow_parity.report import Report, ReportError, Run
from restflow_parity.summary import ParityTally, Variant


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


def test_skipped_against_passed_is_not_a_mismatch() -> None:
    one = run("one")
    tally = tally_of(
        variant("a", "sync", "passed", one), variant("a", "async", "skipped", one)
    )
    assert tally.mismatches() == []
    assert tally.lines()[-1] == "  no test passed in one mode and failed in the other"


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
    markdown = summary.read_text()
    assert markdown.startswith("earlier step\n## restflow-parity: 1 test(s) passed")
    assert "| sync | 3 | 3 | 0 | 0 | 0 |" in markdown
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


def test_merge_of_one_stack_only_says_the_other_was_not_selected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = matrix_reports(tmp_path)
    for name in ("async-1", "async-2"):
        (folder / f"{name}.json").unlink()
    assert main(["merge", str(folder)]) == 0
    assert "  async: not selected" in capsys.readouterr().out


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
    from restflow_parity.render import junit_xml, markdown

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
    from restflow_parity.render import junit_xml, markdown

    sync = run("sync-only", "sync")
    report = Report([sync], [variant("a", "sync", "failed", sync, message="no")])
    root = ET.fromstring(junit_xml(report.tally()))
    parity = root.find("testsuite[@name='parity']")
    assert parity is not None
    assert parity.get("skipped") == "1"
    text = markdown(report, report.tally())
    assert "no test passed on one stack and failed on the other" in text
    assert "| async | not selected |" in text
    assert "failed: no (sync-only)" not in text  # only mismatches get cells
