"""The parity verdict: each test's variants, compared across the two stacks.

One model serves every place the verdict is given: the summary at the end of
a pytest or ``manage.py test`` run, the JSON report (``report.py``) and the
merge of many reports (``merge.py``). A variant is one run of one body on one
stack; a verdict compares a test's two variants.

A variant may carry its stack ledger: how many requests went through WSGI and
through ASGI while it ran. A variant that passed having sent requests through
the other stack (beyond what ``one_stack()`` allowed) tested the wrong stack,
and the verdict counts it as failed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

from restflow_parity.variants._mode import MODES, STACKS, other

__all__ = [
    "KINDS",
    "OUTCOMES",
    "STACKS",
    "LedgerTotals",
    "ParityTally",
    "Variant",
    "Verdict",
    "absent_stack",
    "first_line",
    "worse",
]

Outcome = Literal["passed", "skipped", "failed", "error"]
#: Worst last: when one variant is recorded twice, the worse outcome stands.
OUTCOMES: tuple[Outcome, ...] = ("passed", "skipped", "failed", "error")
_RANK: dict[str, int] = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
_BROKEN = frozenset({"failed", "error"})
#: The stack each mode's variants run on.
#: How a test's variants compare; see ``Verdict.kind``.
KINDS = ("parity", "mismatch", "failed", "uneven", "missing", "one stack")


def worse(outcome: str, than: str) -> bool:
    """Whether ``outcome`` ranks below ``than`` (``error`` is the worst)."""
    return _RANK[outcome] > _RANK[than]


def first_line(text: str) -> str:
    """A failure's message as a summary shows it: its first line, trimmed."""
    text = text.strip()
    return text.splitlines()[0][:300] if text else ""


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def absent_stack(mode: str) -> str:
    """What the merged verdict says of an expected stack that is in no report."""
    article = "an" if mode == "async" else "a"
    return (
        f"expected, but no report has {article} {mode} variant: pass the {mode} "
        f"jobs' reports, or --expect-stacks {other(mode)} if the matrix runs "
        "one stack"
    )


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
    # The stack ledger (None in reports written before it was kept): the
    # requests served or built through WSGI and through ASGI while it ran,
    # and of those, the requests on the other stack that the test allowed
    # with restflow_parity.one_stack().
    wsgi: int | None = None
    asgi: int | None = None
    by_design: int | None = None

    def process(self) -> tuple[str, str]:
        """Variants with equal ``process()`` ran in one process, in order."""
        return (self.run, self.worker)

    def requests(self, mode: str) -> int | None:
        """Requests through ``mode``'s stack while it ran; None without a ledger."""
        return self.wsgi if mode == "sync" else self.asgi

    def has_ledger(self) -> bool:
        return self.wsgi is not None or self.asgi is not None

    def wrong_stack(self) -> str:
        """Its requests through the other stack that ``one_stack()`` did not
        allow, as the verdict names them; "" when there are none."""
        elsewhere = self.requests(other(self.mode)) or 0
        stray = elsewhere - (self.by_design or 0)
        if stray <= 0:
            return ""
        text = (
            f"sent {_count(stray, 'request')} through {STACKS[other(self.mode)]} "
            f"in the {self.mode} variant"
        )
        if self.by_design:
            text += f" (beyond the {self.by_design:,} that one_stack() allowed)"
        return text

    def judged(self) -> Variant:
        """The variant as the verdict counts it.

        A pass that sent requests through the other stack tested that stack:
        it counts as failed. (The kit fails such a test itself; a report
        that says it passed must not pass the verdict.)
        """
        wrong = self.wrong_stack()
        if self.outcome != "passed" or not wrong:
            return self
        return dataclasses.replace(self, outcome="failed", message=wrong)

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
    variants: dict[str, Variant]  # by mode, as judged (``Variant.judged()``)
    #: "parity" (the same outcome on both stacks, not a failure), "mismatch"
    #: (passed on one stack, failed or errored on the other), "failed" (failed
    #: or errored with no passing partner: on both stacks, or skipped on the
    #: other), "uneven" (nothing failed, but the outcomes differ: passed on
    #: one stack, skipped or an expected failure on the other), "missing" (a
    #: stack that ran other tests has no variant of this one), or "one stack"
    #: (the other stack ran no test at all).
    kind: str

    def outcomes(self) -> str:
        """``sync passed, async failed``."""
        shown = [f"{m} {self.variants[m].outcome}" for m in MODES if m in self.variants]
        return ", ".join(shown)

    def broken(self) -> bool:
        """Whether any of its variants failed or errored."""
        return any(v.outcome in _BROKEN for v in self.variants.values())

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

    def note(self) -> str:
        """What the outcomes do not say: where a variant errored, and the
        requests a variant sent through the other stack."""
        notes = []
        for mode in MODES:
            variant = self.variants.get(mode)
            if variant is None:
                continue
            if variant.outcome == "error":
                where = f" in {variant.phase}" if variant.phase else ""
                notes.append(f"{mode} errored{where}")
            if variant.wrong_stack():
                notes.append(variant.wrong_stack())
        return "; ".join(notes)

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

    def unlike(self) -> str:
        """How an uneven pair differs: ``passed on sync, skipped on async: why``."""
        shown = ", ".join(f"{self.variants[m].outcome} on {m}" for m in MODES)
        reasons = [
            self.variants[m].message
            for m in MODES
            if self.variants[m].outcome != "passed" and self.variants[m].message
        ]
        return shown + (f": {'; '.join(reasons)}" if reasons else "")


@dataclasses.dataclass
class LedgerTotals:
    """One stack's requests, summed over its variants that carry a ledger."""

    mode: str
    own: int = 0  # requests through the variants' own stack
    other: int = 0  # through the other stack
    by_design: int = 0  # of ``other``, allowed by one_stack()
    silent: int = 0  # variants that sent no request at all
    without: int = 0  # variants with no ledger (reports written before it)

    def text(self) -> str:
        """``1,203 requests through ASGI, 0 through WSGI; 37 variants sent none``."""
        own, wrong = STACKS[self.mode], STACKS[other(self.mode)]
        design = f" ({self.by_design:,} by design, one_stack)" if self.by_design else ""
        text = (
            f"{_count(self.own, 'request')} through {own}, {self.other:,} through "
            f"{wrong}{design}; {_count(self.silent, 'variant')} sent none"
        )
        if self.without:
            text += f"; {_count(self.without, 'variant')} without a ledger"
        return text


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
            if not worse(variant.judged().outcome, previous.judged().outcome):
                return
        self.variants[key] = variant

    def extend(self, variants: Iterable[Variant]) -> None:
        for variant in variants:
            self.add(variant)

    def stacks(self) -> list[str]:
        """The stacks that ran at least one variant."""
        ran = {mode for _, mode in self.variants}
        return [mode for mode in MODES if mode in ran]

    def judged(self, mode: str) -> list[Variant]:
        """``mode``'s variants as the verdict counts them, by test."""
        return [v.judged() for (_, m), v in sorted(self.variants.items()) if m == mode]

    def verdicts(self) -> list[Verdict]:
        grouped: dict[str, dict[str, Variant]] = {}
        for (test, mode), variant in sorted(self.variants.items()):
            grouped.setdefault(test, {})[mode] = variant.judged()
        ran = self.stacks()
        return [
            Verdict(test, variants, _kind(variants, len(ran)))
            for test, variants in grouped.items()
        ]

    def of_kind(self, kind: str) -> list[Verdict]:
        return [v for v in self.verdicts() if v.kind == kind]

    def mismatches(self) -> list[Verdict]:
        return self.of_kind("mismatch")

    def missing(self) -> list[Verdict]:
        return self.of_kind("missing")

    def failures(self) -> list[Verdict]:
        """Tests with a failed or errored variant, whatever their kind."""
        return [v for v in self.verdicts() if v.broken()]

    def counts(self, mode: str) -> Counter[str]:
        return Counter(v.outcome for v in self.judged(mode))

    def ledger(self, mode: str) -> LedgerTotals | None:
        """``mode``'s requests by stack; None when no variant of it has a ledger."""
        variants = [v for (_, m), v in self.variants.items() if m == mode]
        kept = [v for v in variants if v.has_ledger()]
        if not kept:
            return None
        return LedgerTotals(
            mode,
            own=sum(v.requests(mode) or 0 for v in kept),
            other=sum(v.requests(other(mode)) or 0 for v in kept),
            by_design=sum(v.by_design or 0 for v in kept),
            silent=sum(1 for v in kept if not (v.wsgi or v.asgi)),
            without=len(variants) - len(kept),
        )

    def lines(
        self,
        *,
        not_selected: dict[str, str] | None = None,
        expected: Iterable[str] = (),
    ) -> list[str]:
        """The summary, or nothing when no parity test ran.

        ``not_selected`` maps a stack this run left out to why, for example
        ``{"async": "RESTFLOW_PARITY_MODE=sync"}``. A stack in ``expected``
        that ran nothing is named as absent (the merged verdict's
        ``--expect-stacks``).
        """
        if not self.variants:
            return []
        expected = set(expected)
        lines = ["restflow-parity summary:"]
        for mode in MODES:
            counts = self.counts(mode)
            if counts:
                detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
                line = f"  {mode}: {sum(counts.values())} ran ({detail})"
                ledger = self.ledger(mode)
                lines.append(line + (f"; {ledger.text()}" if ledger else ""))
            elif mode in expected:
                lines.append(f"  {mode}: {absent_stack(mode)}")
            else:
                why = (not_selected or {}).get(mode)
                lines.append(f"  {mode}: not selected" + (f" ({why})" if why else ""))
        verdicts = self.verdicts()
        by_kind = {kind: [v for v in verdicts if v.kind == kind] for kind in KINDS}
        if by_kind["mismatch"]:
            lines.append("  passed in one mode but failed in the other:")
            for verdict in by_kind["mismatch"]:
                lines.extend(_mismatch_lines(verdict))
        else:
            lines.append("  no test passed in one mode and failed in the other")
        if by_kind["failed"]:
            lines.append(
                "  failed on both stacks (or failed on one, skipped on the other):"
            )
            for verdict in by_kind["failed"]:
                note = verdict.note()
                lines.append(
                    f"    {verdict.test}: {verdict.outcomes()}"
                    + (f" ({note})" if note else "")
                )
        if by_kind["uneven"]:
            lines.append("  ran on both stacks but not alike:")
            lines.extend(f"    {v.test}: {v.unlike()}" for v in by_kind["uneven"])
        if by_kind["missing"]:
            lines.append(
                "  ran on one stack only, so parity is unknown (the other "
                "variant did not run, or its report is missing):"
            )
            for verdict in by_kind["missing"]:
                absent = [m for m in MODES if m not in verdict.variants]
                lines.append(
                    f"    {verdict.test}: {verdict.outcomes()}; "
                    f"{', '.join(absent)} missing"
                )
        return lines


def _kind(variants: dict[str, Variant], stacks_ran: int) -> str:
    outcomes = {v.outcome for v in variants.values()}
    if len(variants) < stacks_ran:
        return "missing"
    if len(variants) == 1:
        return "one stack"
    if outcomes & _BROKEN:
        return "mismatch" if "passed" in outcomes else "failed"
    return "uneven" if len(outcomes) > 1 else "parity"


def _mismatch_lines(verdict: Verdict) -> list[str]:
    note = "; ".join(filter(None, [verdict.first(), verdict.note()]))
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
