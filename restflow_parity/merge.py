"""``python -m restflow_parity merge``: one verdict from the reports of many jobs.

Each CI job (a stack, a shard of a stack) writes a report with
``--parity-report``; the last job downloads them all and merges them::

    python -m restflow_parity merge reports/ --junit parity.xml

It prints the summary, appends Markdown to ``$GITHUB_STEP_SUMMARY`` (or
``--markdown PATH``), and exits with:

- 0: no test passed on one stack and failed on the other;
- 1: at least one did;
- 2: the command was misused, or a file is not a report;
- 3: no mismatch, but a test ran on one stack only while the other stack ran
  elsewhere (a shard's report is missing), so parity is unknown. Pass
  ``--allow-missing`` to accept that.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from restflow_parity.render import junit_xml, markdown
from restflow_parity.report import Report, ReportError

__all__ = ["EXIT_MISMATCH", "EXIT_MISSING", "EXIT_USAGE", "add_arguments", "run"]

EXIT_MISMATCH, EXIT_USAGE, EXIT_MISSING = 1, 2, 3
SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
        "--allow-missing",
        action="store_true",
        help="exit 0, not 3, when a test ran on one stack only",
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
    for line in tally.lines():
        print(line)
    print(f"  merged from {len(report.runs)} run(s) in {len(paths)} file(s)")
    markdown_path = options.markdown or os.environ.get(SUMMARY_VARIABLE)
    if markdown_path:
        with open(markdown_path, "a", encoding="utf-8") as file:
            file.write(markdown(report, tally))
    if options.junit:
        Path(options.junit).write_bytes(junit_xml(tally))
    if options.output:
        report.write(options.output)
    if tally.mismatches():
        return EXIT_MISMATCH
    if tally.missing() and not options.allow_missing:
        return EXIT_MISSING
    return 0


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
