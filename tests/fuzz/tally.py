"""Counting agreement, per field and route pair, over many requests."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from fuzz.causes import Cause, explain
from fuzz.compare import PAIRS, Difference, compared_fields, differences, group_of
from fuzz.dimensions import dimensions
from fuzz.model import FuzzRequest
from fuzz.routes import ROUTES, Outcome


@dataclass
class Tally:
    """Agreement counts, explained causes and unexplained examples."""

    requests: int = 0
    #: (pair, group) -> requests on which the group was compared / agreed.
    compared: Counter[tuple[tuple[str, str], str]] = field(default_factory=Counter)
    agreed: Counter[tuple[tuple[str, str], str]] = field(default_factory=Counter)
    #: (cause name, pair) -> requests it explained a difference of.
    causes: Counter[tuple[str, tuple[str, str]]] = field(default_factory=Counter)
    cause_fields: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: (pair, field) -> unexplained differences (the first few kept).
    unexplained: dict[tuple[tuple[str, str], str], list[Difference]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unexplained_count: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Dimension name -> requests that exercised it.
    covered: Counter[str] = field(default_factory=Counter)

    def add(
        self, request: FuzzRequest, outcomes: dict[str, Outcome]
    ) -> list[Difference]:
        """Count one request; return its unexplained differences."""
        self.requests += 1
        self.covered.update(dimensions(request))
        for route in ROUTES:
            self.seconds[route] += outcomes[route].seconds
            self.outcomes[(route, _kind(outcomes[route]))] += 1
        found = []
        for pair in PAIRS:
            differing: set[str] = set()
            causes: set[str] = set()
            for diff in differences(request, outcomes, pair):
                differing.add(group_of(diff.field))
                cause = explain(diff)
                if cause is None:
                    found.append(diff)
                    self.unexplained_count[pair] += 1
                    examples = self.unexplained[(pair, diff.field)]
                    if len(examples) < 3:
                        examples.append(diff)
                else:
                    causes.add(cause.name)
                    self.cause_fields[cause.name].add(group_of(diff.field))
            for name in causes:
                self.causes[(name, pair)] += 1
            for group in compared_fields(outcomes, pair):
                self.compared[(pair, group)] += 1
                if group not in differing:
                    self.agreed[(pair, group)] += 1
        return found


def _kind(outcome: Outcome) -> str:
    if outcome.refused_by is not None:
        return f"refused ({outcome.refused_by})"
    if outcome.record is None:
        return f"{outcome.status} before the view" if outcome.status else "no answer"
    return str(outcome.status)


__all__ = ["Cause", "Tally"]
