"""Field-by-field comparison of two routes' outcomes, and why they differ.

An outcome is flattened into fields: the view's reads (``path``, ``GET``,
``data``, ...), one field per ``META`` key, per ``request.headers`` name and
per scope key (``scope.headers`` per header name). Two routes agree on a
field when the values are equal. Where they differ, the first ``Cause``
(tests/fuzz/causes.py) that explains the difference names it; a difference no
cause explains is *unexplained*, and between the in-process stacks, or an
in-process stack and uvicorn, that is a failure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fuzz.model import FuzzRequest
from fuzz.routes import Outcome

#: Route pairs compared, and the kind of comparison each one is.
PAIRS: dict[tuple[str, str], str] = {
    ("sync", "async"): "stacks",
    ("sync", "uvicorn"): "server",
    ("async", "uvicorn"): "server",
    ("uvicorn", "hypercorn"): "servers",
    ("uvicorn", "daphne"): "servers",
    ("hypercorn", "daphne"): "servers",
}
#: Pairs whose unexplained differences fail the run (the issue's target).
GATED = frozenset(pair for pair, kind in PAIRS.items() if kind != "servers")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def outcome_field(outcome: Outcome) -> Any:
    """How the request ended, as one comparable value."""
    if outcome.refused_by == "crash":
        return f"crash: {(outcome.error or '').partition(':')[0]}"
    if outcome.refused_by is not None:
        # The kit's error, httpx's refusal or the contract's: the same answer.
        return "refused"
    if outcome.error is not None:
        return "no answer"
    return (
        outcome.status
        if outcome.record is not None
        else f"{outcome.status}, view not reached"
    )


def flatten(outcome: Outcome) -> dict[str, Any]:
    """The fields of ``outcome``; only ``outcome`` when the view was not reached."""
    fields: dict[str, Any] = {"outcome": outcome_field(outcome)}
    if outcome.record is None:
        return fields
    fields["warnings"] = outcome.warnings
    for key, value in outcome.record.items():
        if key == "META" and isinstance(value, dict):
            fields.update((f"META.{name}", item) for name, item in value.items())
        elif key == "headers" and isinstance(value, dict):
            fields.update(
                (f"headers.{name.lower()}", item) for name, item in value.items()
            )
        elif key == "scope" and isinstance(value, dict):
            fields["scope.types"] = tuple(
                (name, type(item).__name__)
                for name, item in sorted(value.items())
                if name in ("client", "server", "headers")
            )
            for name, item in value.items():
                if name == "headers":
                    grouped: dict[bytes, list[bytes]] = defaultdict(list)
                    for header, header_value in item:
                        grouped[bytes(header)].append(bytes(header_value))
                    fields.update(
                        (f"scope.headers.{header.decode('latin-1')}", tuple(values))
                        for header, values in grouped.items()
                    )
                else:
                    fields[f"scope.{name}"] = _tuples(item)
        else:
            fields[key] = value
    return fields


def _tuples(value: Any) -> Any:
    # daphne sends lists where the spec and other servers send tuples; the
    # shape is recorded separately (scope.<key> type), the value here.
    return tuple(value) if isinstance(value, list) else value


def group_of(field: str) -> str:
    """The row of the report a field belongs to."""
    if field.startswith("META."):
        key = field[5:]
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return "META (headers)"
        return "META (other keys)"
    for prefix in ("headers.", "scope.headers."):
        if field.startswith(prefix):
            return prefix[:-1]
    return field


@dataclass(frozen=True)
class Difference:
    """One field on which two routes' outcomes differ."""

    pair: tuple[str, str]
    field: str
    left: Any
    right: Any
    request: FuzzRequest
    outcomes: dict[str, Outcome]

    @property
    def kind(self) -> str:
        return PAIRS[self.pair]

    def routes(self) -> tuple[Outcome, Outcome]:
        return self.outcomes[self.pair[0]], self.outcomes[self.pair[1]]


def differences(
    request: FuzzRequest, outcomes: dict[str, Outcome], pair: tuple[str, str]
) -> Iterator[Difference]:
    """Every field on which the pair's two outcomes differ."""
    left, right = (flatten(outcomes[route]) for route in pair)
    if "warnings" not in left or "warnings" not in right:
        # One side never reached the view: only how it ended compares.
        left, right = {"outcome": left["outcome"]}, {"outcome": right["outcome"]}
    for name in sorted(left.keys() | right.keys()):
        a, b = left.get(name, MISSING), right.get(name, MISSING)
        if a != b or type(a) is not type(b):
            yield Difference(pair, name, a, b, request, outcomes)


def compared_fields(outcomes: dict[str, Outcome], pair: tuple[str, str]) -> set[str]:
    """The groups compared for this pair (for agreement percentages)."""
    left, right = (flatten(outcomes[route]) for route in pair)
    if "warnings" not in left or "warnings" not in right:
        return {"outcome"}
    return {group_of(name) for name in left.keys() | right.keys()}
