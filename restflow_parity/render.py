"""The merged verdict for CI: Markdown for ``$GITHUB_STEP_SUMMARY``, and JUnit XML.

The JUnit file has a ``parity`` suite with one test case per test body (a
failure for a mismatch, an error when a stack's variant is missing) and one
suite per stack with each variant's own outcome, so CI pages that read JUnit
show the verdict next to the variants.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from restflow_parity.modes import MODES
from restflow_parity.report import Report
from restflow_parity.summary import OUTCOMES, ParityTally, Variant, Verdict

__all__ = ["junit_xml", "markdown"]


def markdown(report: Report, tally: ParityTally) -> str:
    """The verdict as a Markdown section."""
    mismatched, missing = tally.mismatches(), tally.missing()
    labels = report.labels()
    if mismatched:
        title = f"{len(mismatched)} test(s) passed on one stack and failed on the other"
    elif missing:
        title = f"{len(missing)} test(s) ran on one stack only"
    else:
        title = "no test passed on one stack and failed on the other"
    lines = [f"## restflow-parity: {title}", ""]
    lines += ["| stack | ran | " + " | ".join(OUTCOMES) + " |"]
    lines += ["| --- | --- |" + " --- |" * len(OUTCOMES)]
    for mode in MODES:
        counts = tally.counts(mode)
        if counts:
            cells = [str(counts.get(outcome, 0)) for outcome in OUTCOMES]
            lines.append(
                f"| {mode} | {sum(counts.values())} | " + " | ".join(cells) + " |"
            )
        else:
            lines.append(f"| {mode} | not selected |" + " |" * len(OUTCOMES))
    if mismatched:
        lines += ["", "### Passed on one stack, failed on the other", ""]
        lines += ["| test | sync | async | order | rerun alone |"]
        lines += ["| --- | --- | --- | --- | --- |"]
        for verdict in mismatched:
            cells = [_cell(verdict.variants[m], labels) for m in MODES]
            order = verdict.first() or "-"
            lines.append(
                f"| `{_escape(verdict.test)}` | {' | '.join(cells)} | {order} | "
                f"{verdict.triage() or '-'} |"
            )
    if missing:
        lines += [
            "",
            "### Ran on one stack only: the other variant is in no report",
            "",
        ]
        lines += ["| test | ran | missing |", "| --- | --- | --- |"]
        for verdict in missing:
            absent = ", ".join(m for m in MODES if m not in verdict.variants)
            lines.append(
                f"| `{_escape(verdict.test)}` | {verdict.outcomes()} | {absent} |"
            )
    runs = ", ".join(sorted(run.label for run in report.runs))
    lines += ["", f"Merged from {len(report.runs)} run(s): {runs}.", ""]
    return "\n".join(lines)


def _cell(variant: Variant, labels: dict[str, str]) -> str:
    where = labels.get(variant.run, "?")
    if variant.worker != "main":
        where += f", {variant.worker}"
    text = variant.outcome
    if variant.outcome == "error" and variant.phase:
        text += f" in {variant.phase}"
    if variant.message:
        text += f": {_escape(variant.message[:120])}"
    return f"{text} ({_escape(where)})"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def junit_xml(tally: ParityTally) -> bytes:
    """The verdict and every variant, as JUnit XML."""
    root = ET.Element("testsuites", name="restflow-parity")
    parity = ET.SubElement(root, "testsuite", name="parity")
    counts: Counter[str] = Counter()
    for verdict in tally.verdicts():
        _verdict_case(parity, verdict, counts)
    _set_counts(parity, counts)
    for mode in MODES:
        suite = ET.SubElement(root, "testsuite", name=mode)
        counts = Counter()
        for (_, variant_mode), variant in sorted(tally.variants.items()):
            if variant_mode == mode:
                _variant_case(suite, variant, counts)
        _set_counts(suite, counts)
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def _verdict_case(suite: ET.Element, verdict: Verdict, counts: Counter[str]) -> None:
    time = sum(v.duration for v in verdict.variants.values())
    case = ET.SubElement(
        suite, "testcase", classname="parity", name=verdict.test, time=f"{time:.3f}"
    )
    counts["tests"] += 1
    if verdict.kind == "mismatch":
        counts["failures"] += 1
        detail = "; ".join(filter(None, [verdict.first(), verdict.triage()]))
        failure = ET.SubElement(case, "failure", message=verdict.outcomes())
        failure.text = detail or verdict.outcomes()
    elif verdict.kind == "missing":
        counts["errors"] += 1
        absent = ", ".join(m for m in MODES if m not in verdict.variants)
        ET.SubElement(
            case,
            "error",
            message=f"{verdict.outcomes()}; {absent} missing: parity unknown",
        )
    elif verdict.kind == "one stack":
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=f"{verdict.outcomes()}; one stack run")


def _variant_case(suite: ET.Element, variant: Variant, counts: Counter[str]) -> None:
    name = variant.id or f"{variant.test}[{variant.mode}]"
    head, sep, tail = name.rpartition("::")
    if not sep:
        head, _, tail = name.rpartition(".")
    case = ET.SubElement(
        suite,
        "testcase",
        classname=head.replace("/", ".").removesuffix(".py"),
        name=tail,
        time=f"{variant.duration:.3f}",
    )
    counts["tests"] += 1
    if variant.outcome == "failed":
        counts["failures"] += 1
        ET.SubElement(case, "failure", message=variant.message)
    elif variant.outcome == "error":
        counts["errors"] += 1
        ET.SubElement(case, "error", message=f"{variant.phase}: {variant.message}")
    elif variant.outcome == "skipped":
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=variant.message)


def _set_counts(suite: ET.Element, counts: Counter[str]) -> None:
    for key in ("tests", "failures", "errors", "skipped"):
        suite.set(key, str(counts.get(key, 0)))
