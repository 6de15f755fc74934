"""The merged verdict for CI: Markdown for ``$GITHUB_STEP_SUMMARY``, and JUnit XML.

The JUnit file has a ``parity`` suite with one test case per test body (a
failure for a mismatch or a test that failed on both stacks, an error when a
stack's variant is missing, a skip for an uneven pair unless ``--strict``
makes it a failure) plus one error per expected stack that is in no report,
and one suite per stack with each variant's own outcome, so CI pages that
read JUnit show the verdict next to the variants.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable

from restflow_parity.variants._mode import MODES
from restflow_parity.verdict._report import Report
from restflow_parity.verdict._summary import (
    OUTCOMES,
    STACKS,
    ParityTally,
    Variant,
    Verdict,
    absent_stack,
)

__all__ = ["junit_xml", "markdown"]


def markdown(
    report: Report, tally: ParityTally, *, expected: Iterable[str] = ()
) -> str:
    """The verdict as a Markdown section."""
    expected = [mode for mode in expected if mode not in tally.stacks()]
    verdicts = tally.verdicts()
    labels = report.labels()
    lines = [f"## restflow-parity: {_title(verdicts, expected)}", ""]
    ledger = [f"requests through {STACKS[m]}" for m in MODES] + [
        "variants that sent none"
    ]
    columns = ["stack", "ran", *OUTCOMES, *ledger]
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for mode in MODES:
        counts = tally.counts(mode)
        if counts:
            cells = [str(sum(counts.values()))]
            cells += [str(counts.get(outcome, 0)) for outcome in OUTCOMES]
            cells += _ledger_cells(tally, mode)
        else:
            absent = absent_stack(mode) if mode in expected else "not selected"
            cells = [absent] + [""] * (len(columns) - 2)
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    kinds = {kind: [v for v in verdicts if v.kind == kind] for kind in _SECTIONS}
    if kinds["mismatch"]:
        lines += ["", "### Passed on one stack, failed on the other", ""]
        lines += ["| test | sync | async | order | rerun alone |"]
        lines += ["| --- | --- | --- | --- | --- |"]
        for verdict in kinds["mismatch"]:
            cells = [_cell(verdict.variants[m], labels) for m in MODES]
            order = verdict.first() or "-"
            lines.append(
                f"| `{_escape(verdict.test)}` | {' | '.join(cells)} | {order} | "
                f"{verdict.triage() or '-'} |"
            )
    for kind in ("failed", "uneven"):
        if kinds[kind]:
            lines += ["", f"### {_SECTIONS[kind]}", ""]
            lines += ["| test | sync | async |", "| --- | --- | --- |"]
            for verdict in kinds[kind]:
                cells = [_cell(verdict.variants[m], labels) for m in MODES]
                lines.append(f"| `{_escape(verdict.test)}` | {' | '.join(cells)} |")
    if kinds["missing"]:
        lines += ["", f"### {_SECTIONS['missing']}", ""]
        lines += ["| test | ran | missing |", "| --- | --- | --- |"]
        for verdict in kinds["missing"]:
            absent = ", ".join(m for m in MODES if m not in verdict.variants)
            lines.append(
                f"| `{_escape(verdict.test)}` | {verdict.outcomes()} | {absent} |"
            )
    runs = ", ".join(sorted(run.label for run in report.runs))
    lines += ["", f"Merged from {len(report.runs)} run(s): {runs}.", ""]
    return "\n".join(lines)


_SECTIONS = {
    "mismatch": "Passed on one stack, failed on the other",
    "failed": "Failed on both stacks (or failed on one, skipped on the other)",
    "uneven": "Ran on both stacks but not alike (passed on one, skipped on the other)",
    "missing": "Ran on one stack only: the other variant is in no report",
}


def _title(verdicts: list[Verdict], absent: list[str]) -> str:
    parts = [f"no {mode} variant in any report" for mode in absent]
    count = Counter(v.kind for v in verdicts)
    lone_failures = sum(1 for v in verdicts if v.kind == "one stack" and v.broken())
    for number, text in [
        (count["mismatch"], "passed on one stack and failed on the other"),
        (count["failed"], "failed on both stacks (or on one, skipped on the other)"),
        (lone_failures, "failed on the only stack that ran"),
        (count["missing"], "ran on one stack only"),
        (count["uneven"], "ran on both stacks but not alike"),
    ]:
        if number:
            parts.append(f"{number} test(s) {text}")
    return "; ".join(parts) or "no test passed on one stack and failed on the other"


def _ledger_cells(tally: ParityTally, mode: str) -> list[str]:
    ledger = tally.ledger(mode)
    if ledger is None:
        return ["-", "-", "-"]
    own, other = f"{ledger.own:,}", f"{ledger.other:,}"
    if ledger.by_design:
        other += f" ({ledger.by_design:,} by design, one_stack)"
    silent = f"{ledger.silent:,}"
    if ledger.without:
        silent += f" ({ledger.without:,} without a ledger)"
    return [own, other, silent] if mode == "sync" else [other, own, silent]


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


def junit_xml(
    tally: ParityTally, *, expected: Iterable[str] = (), strict: bool = False
) -> bytes:
    """The verdict and every variant, as JUnit XML."""
    root = ET.Element("testsuites", name="restflow-parity")
    parity = ET.SubElement(root, "testsuite", name="parity")
    counts: Counter[str] = Counter()
    for mode in expected:
        if mode not in tally.stacks():
            case = ET.SubElement(parity, "testcase", classname="parity", name=mode)
            counts["tests"] += 1
            counts["errors"] += 1
            ET.SubElement(case, "error", message=f"{mode}: {absent_stack(mode)}")
    for verdict in tally.verdicts():
        _verdict_case(parity, verdict, counts, strict)
    _set_counts(parity, counts)
    for mode in MODES:
        suite = ET.SubElement(root, "testsuite", name=mode)
        counts = Counter()
        for variant in tally.judged(mode):
            _variant_case(suite, variant, counts)
        _set_counts(suite, counts)
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def _verdict_case(
    suite: ET.Element, verdict: Verdict, counts: Counter[str], strict: bool
) -> None:
    time = sum(v.duration for v in verdict.variants.values())
    case = ET.SubElement(
        suite, "testcase", classname="parity", name=verdict.test, time=f"{time:.3f}"
    )
    counts["tests"] += 1
    if verdict.kind in ("mismatch", "failed"):
        counts["failures"] += 1
        parts = [verdict.first(), verdict.note(), verdict.triage()]
        failure = ET.SubElement(case, "failure", message=verdict.outcomes())
        failure.text = "; ".join(filter(None, parts)) or verdict.outcomes()
    elif verdict.kind == "uneven":
        message = f"ran on both stacks but not alike: {verdict.unlike()}"
        if strict:
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=message)
        else:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=message)
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
