"""``python -m restflow_parity merge``: one verdict from the reports of many jobs.

Each CI job (a stack, a shard of a stack) writes a report with
``--parity-report``; the last job downloads them all and merges them::

    python -m restflow_parity merge reports/ --junit parity.xml

It prints the summary, appends Markdown to ``$GITHUB_STEP_SUMMARY`` (or
``--markdown PATH``), and exits with:

| code | when |
| --- | --- |
| 0 | every expected stack reported, nothing failed, every pair complete |
| 1 | a variant failed or errored (on one stack: a mismatch; or on both) |
| 2 | the command was misused, or a file is not a report |
| 3 | a pair is incomplete: a shard's report is missing |
| 4 | an expected stack has no variant in any report |
| 5 | `--strict`, and a test ran on both stacks but not alike |

- 0 allows uneven pairs (passed on one stack, skipped or an expected failure
  on the other) unless `--strict` is given; they are listed either way.
- 3: a test ran on one stack only while the other stack ran other tests, so
  parity is unknown. `--allow-missing` accepts that.
- 4: `--expect-stacks` (both, sync or async; default both) names the stacks
  the reports must cover. A stack in no report was not tested: pass its jobs'
  reports, or `--expect-stacks sync` if the matrix runs one stack.

When several apply, the first of 2, 4, 1, 3, 5 is the exit code; the
summary lists them all.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from restflow_parity.variants._mode import CHOICES, parse_mode
from restflow_parity.verdict._render import junit_xml, markdown
from restflow_parity.verdict._report import Report, ReportError
from restflow_parity.verdict._summary import ParityTally

__all__ = [
    "EXIT_FAILED",
    "EXIT_MISMATCH",
    "EXIT_MISSING",
    "EXIT_NO_STACK",
    "EXIT_UNEVEN",
    "EXIT_USAGE",
    "add_arguments",
    "exit_codes",
    "run",
]

EXIT_FAILED, EXIT_USAGE, EXIT_MISSING, EXIT_NO_STACK, EXIT_UNEVEN = 1, 2, 3, 4, 5
EXIT_MISMATCH = EXIT_FAILED  # its name before failures on both stacks counted
SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"

EPILOG = """\
exit codes:
  0  every expected stack reported, no variant failed, every pair complete
     (uneven pairs allowed, unless --strict)
  1  a variant failed or errored (on one stack: a mismatch; or on both)
  2  usage error, or a file that is not a report
  3  a test ran on one stack only, its other variant in no report
     (--allow-missing accepts it)
  4  an expected stack (--expect-stacks) has no variant in any report
  5  --strict, and a test ran on both stacks but not alike
     (passed on one, skipped or xfail on the other)
When several apply, the first of 2, 4, 1, 3, 5 is the exit code.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT",
        help="report files, or folders to search for *.json reports",
    )
    parser.add_argument(
        "--markdown",
        metavar="PATH",
        help=f"append the verdict as Markdown here (default: ${SUMMARY_VARIABLE}, "
        "when it is set)",
    )
    parser.add_argument("--junit", metavar="PATH", help="write JUnit XML here")
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="write the merged report here (it merges again)",
    )
    parser.add_argument(
        "--expect-stacks",
        choices=CHOICES,
        default="both",
        help="the stacks the reports must cover; exit 4 when one has no variant "
        "in any report (default: both)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0, not 3, when a test ran on one stack only",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 5 when a test ran on both stacks but not alike (passed on "
        "one, skipped or xfail on the other)",
    )


def run(options: argparse.Namespace) -> int:
    try:
        paths = _report_files(options.reports)
        report = Report.merged(Report.read(path) for path in paths)
    except ReportError as error:
        print(f"restflow-parity merge: {error}", file=sys.stderr)
        return EXIT_USAGE
    tally = report.tally()
    if not tally.variants:
        print(
            f"restflow-parity merge: no parity variants in {len(paths)} report(s). "
            "Were they written by runs of @run_both_modes tests?",
            file=sys.stderr,
        )
        return EXIT_USAGE
    expected = parse_mode(options.expect_stacks, "--expect-stacks")
    for line in tally.lines(expected=expected):
        print(line)
    print(f"  merged from {len(report.runs)} run(s) in {len(paths)} file(s)")
    markdown_path = options.markdown or os.environ.get(SUMMARY_VARIABLE)
    if markdown_path:
        with open(markdown_path, "a", encoding="utf-8") as file:
            file.write(markdown(report, tally, expected=expected))
    if options.junit:
        Path(options.junit).write_bytes(
            junit_xml(tally, expected=expected, strict=options.strict)
        )
    if options.output:
        report.write(options.output)
    codes = exit_codes(
        tally, expected, strict=options.strict, allow_missing=options.allow_missing
    )
    print(_exit_line(codes, tally, options))
    return codes[0][0] if codes else 0


def exit_codes(
    tally: ParityTally,
    expected: Sequence[str],
    *,
    strict: bool = False,
    allow_missing: bool = False,
) -> list[tuple[int, str]]:
    """Every exit code the verdict earns, with why, the one to exit with first."""
    codes = []
    absent = [mode for mode in expected if mode not in tally.stacks()]
    if absent:
        codes.append((EXIT_NO_STACK, f"no {' or '.join(absent)} variant in any report"))
    failures = tally.failures()
    if failures:
        mismatched = sum(1 for v in failures if v.kind == "mismatch")
        text = f"{len(failures)} test(s) failed or errored"
        if mismatched:
            text += f", {mismatched} of them on one stack only"
        codes.append((EXIT_FAILED, text))
    missing = tally.missing()
    if missing and not allow_missing:
        codes.append((EXIT_MISSING, f"{len(missing)} test(s) ran on one stack only"))
    uneven = tally.of_kind("uneven")
    if uneven and strict:
        codes.append(
            (EXIT_UNEVEN, f"{len(uneven)} test(s) ran on both stacks but not alike")
        )
    return codes


def _exit_line(
    codes: list[tuple[int, str]], tally: ParityTally, options: argparse.Namespace
) -> str:
    if codes:
        (code, why), *others = codes
        also = "".join(f"; also {other}: {text}" for other, text in others)
        return f"  exit code {code}: {why}{also}"
    allowed = []
    if tally.of_kind("uneven"):
        allowed.append("uneven tests allowed (--strict fails on them)")
    if tally.missing():
        allowed.append("tests on one stack only allowed (--allow-missing)")
    return "  exit code 0" + (f": {'; '.join(allowed)}" if allowed else "")


def _report_files(arguments: Sequence[str]) -> list[Path]:
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(path.rglob("*.json"))
            if not found:
                raise ReportError(f"{path}: a folder with no *.json report in it.")
            paths.extend(found)
        else:
            paths.append(path)
    return paths
