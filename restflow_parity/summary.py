"""The parity verdict: each test's variants, compared across the two stacks.

One model serves every place the verdict is given: the summary at the end of
a pytest or ``manage.py test`` run, the JSON report (``report.py``) and the
merge of many reports (``merge.py``). A variant is one run of one body on one
stack; a verdict compares a test's two variants.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from restflow_parity.modes import MODES

__all__ = ["OUTCOMES", "ParityTally", "Variant", "Verdict", "first_line", "worse"]

Outcome = Literal["passed", "skipped", "failed", "error"]
#: Worst last: when one variant is recorded twice, the worse outcome stands.
OUTCOMES: tuple[Outcome, ...] = ("passed", "skipped", "failed", "error")
_RANK: dict[str, int] = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
_BROKEN = frozenset({"failed", "error"})


def worse(outcome: str, than: str) -> bool:
    """Whether ``outcome`` ranks below ``than`` (``error`` is the worst)."""
    return _RANK[outcome] > _RANK[than]


def first_line(text: str) -> str:
    """A failure's message as a summary shows it: its first line, trimmed."""
    text = text.strip()
    return text.splitlines()[0][:300] if text else ""


@dataclasses.dataclass
class Variant:
    """One variant's outcome, and where and when it ran."""

    test: str  # the body's id, shared by both variants: ``test_x[*]``, ``T.test_x``
    mode: str  # "sync" or "async"
    outcome: str  # one of OUTCOMES
    id: str = ""  # the variant's own id: ``test_x[sync]``, ``T.test_x_sync``
    run: str = ""  # the run (one pytest or manage.py process tree) it ran in
    worker: str = "main"  # xdist worker ("gw0"), --parallel worker ("1"), or main
    position: int | None = None  # 1 for the first test its worker ran
    started: float | None = None  # time.time() when it started
    duration: float = 0.0  # seconds, set-up and tear-down included
    phase: str = "call"  # where a failure or error happened: setup, call, teardown
    message: str = ""  # the first line of the failure
    alone: str | None = None  # its outcome when rerun alone (--parity-rerun)

    def process(self) -> tuple[str, str]:
        """Variants with equal ``process()`` ran in one process, in order."""
        return (self.run, self.worker)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Variant:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass
class Verdict:
    """How one test's variants compare."""

    test: str
    variants: dict[str, Variant]  # by mode
    #: "parity" (same outcome), "mismatch" (passed on one stack, failed or
    #: errored on the other), "missing" (a stack that ran other tests has no
    #: variant of this one), or "one stack" (the other stack was not selected).
    kind: str

    def outcomes(self) -> str:
        """``sync passed, async failed``."""
        shown = [f"{m} {self.variants[m].outcome}" for m in MODES if m in self.variants]
        return ", ".join(shown)

    def first(self) -> str:
        """Which variant ran first, when both ran in one process."""
        sync, async_ = self.variants.get("sync"), self.variants.get("async")
        if sync is None or async_ is None:
            return ""
        if sync.run != async_.run:
            return "ran in different runs"
        if sync.process() != async_.process():
            return "ran in different processes"
        if sync.position is None or async_.position is None:
            return ""
        first = "sync" if sync.position < async_.position else "async"
        return f"{first} ran first, in the same process"

    def triage(self) -> str:
        """What rerunning each variant alone says, when it was done."""
        broken = [v for v in self.variants.values() if v.outcome in _BROKEN]
        passed = [v for v in self.variants.values() if v.outcome == "passed"]
        if self.kind != "mismatch" or any(v.alone is None for v in broken):
            return ""
        if any(v.alone == "passed" for v in broken):
            return "order-dependent"  # it fails only after other tests
        if any(v.alone in _BROKEN for v in passed):
            return "order-dependent"  # the other passes only after other tests
        if all(v.alone in _BROKEN for v in broken) and all(
            v.alone in (None, "passed") for v in passed
        ):
            return "stack difference"
        return "inconclusive"


class ParityTally:
    """Variants of parity tests, grouped by the test they came from."""

    def __init__(self) -> None:
        self.variants: dict[tuple[str, str], Variant] = {}
        self.repeats: Counter[tuple[str, str]] = Counter()

    def add(self, variant: Variant) -> None:
        """Record ``variant``; recorded twice, the worse outcome stands."""
        key = (variant.test, variant.mode)
        previous = self.variants.get(key)
        if previous is not None:
            self.repeats[key] += 1
            if not worse(variant.outcome, previous.outcome):
                return
        self.variants[key] = variant

    def extend(self, variants: Iterable[Variant]) -> None:
        for variant in variants:
            self.add(variant)

    def stacks(self) -> list[str]:
        """The stacks that ran at least one variant."""
        ran = {mode for _, mode in self.variants}
        return [mode for mode in MODES if mode in ran]

    def verdicts(self) -> list[Verdict]:
        grouped: dict[str, dict[str, Variant]] = {}
        for (test, mode), variant in sorted(self.variants.items()):
            grouped.setdefault(test, {})[mode] = variant
        ran = self.stacks()
        found = []
        for test, variants in grouped.items():
            outcomes = {v.outcome for v in variants.values()}
            if len(variants) < len(ran):
                kind = "missing"
            elif len(variants) == 1:
                kind = "one stack"
            elif "passed" in outcomes and outcomes & _BROKEN:
                kind = "mismatch"
            else:
                kind = "parity"
            found.append(Verdict(test, variants, kind))
        return found

    def mismatches(self) -> list[Verdict]:
        return [v for v in self.verdicts() if v.kind == "mismatch"]

    def missing(self) -> list[Verdict]:
        return [v for v in self.verdicts() if v.kind == "missing"]

    def counts(self, mode: str) -> Counter[str]:
        return Counter(v.outcome for (_, m), v in self.variants.items() if m == mode)

    def lines(self, *, not_selected: dict[str, str] | None = None) -> list[str]:
        """The summary, or nothing when no parity test ran.

        ``not_selected`` maps a stack this run left out to why, for example
        ``{"async": "RESTFLOW_PARITY_MODE=sync"}``.
        """
        if not self.variants:
            return []
        lines = ["restflow-parity summary:"]
        for mode in MODES:
            counts = self.counts(mode)
            if counts:
                detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
                lines.append(f"  {mode}: {sum(counts.values())} ran ({detail})")
            else:
                why = (not_selected or {}).get(mode)
                lines.append(f"  {mode}: not selected" + (f" ({why})" if why else ""))
        mismatched = self.mismatches()
        if mismatched:
            lines.append("  passed in one mode but failed in the other:")
            for verdict in mismatched:
                lines.extend(_mismatch_lines(verdict))
        else:
            lines.append("  no test passed in one mode and failed in the other")
        missing = self.missing()
        if missing:
            lines.append(
                "  ran on one stack only, so parity is unknown (the other "
                "variant did not run, or its report is missing):"
            )
            for verdict in missing:
                absent = [m for m in MODES if m not in verdict.variants]
                lines.append(
                    f"    {verdict.test}: {verdict.outcomes()}; "
                    f"{', '.join(absent)} missing"
                )
        return lines


def _mismatch_lines(verdict: Verdict) -> list[str]:
    first = verdict.first()
    details = []
    for mode in MODES:
        variant = verdict.variants[mode]
        if variant.outcome == "error":
            where = f" in {variant.phase}" if variant.phase else ""
            details.append(f"{mode} errored{where}")
    note = "; ".join(filter(None, [first, *details]))
    lines = [
        f"    {verdict.test}: {verdict.outcomes()}" + (f" ({note})" if note else "")
    ]
    label = verdict.triage()
    if label:
        alone = ", ".join(
            f"{m} {verdict.variants[m].alone}"
            for m in MODES
            if verdict.variants[m].alone is not None
        )
        lines.append(f"      rerun alone: {alone} -> {label}")
    return lines
