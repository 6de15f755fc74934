"""The command's tables, in Markdown, from a ``Tally``."""

from __future__ import annotations

import platform
from collections import Counter
from importlib import metadata

from fuzz.causes import CAUSES
from fuzz.compare import GATED, PAIRS
from fuzz.routes import ROUTES
from fuzz.tally import Tally

PACKAGES = (
    "Django",
    "djangorestframework",
    "asgiref",
    "uvicorn",
    "hypercorn",
    "daphne",
    "httpx",
    "hypothesis",
)
#: Rows of the agreement table, in reading order; other groups follow.
ORDER = (
    "outcome", "method", "path", "path_info", "rest", "GET", "query_params", "body",
    "data", "POST", "FILES", "COOKIES", "headers", "content_type", "content_params",
    "drf_content_type", "encoding", "is_secure", "scheme", "get_host",
    "accepted_renderer", "request_class", "warnings", "META (headers)",
    "META (other keys)",
)  # fmt: skip


def _pair(pair: tuple[str, str]) -> str:
    return f"{pair[0]}~{pair[1]}"


def environment() -> str:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    return f"Python {platform.python_version()}; {versions}"


def agreement(tally: Tally) -> list[str]:
    """Per field group and route pair: % of compared requests with equal values."""
    groups = {group for _, group in tally.compared}
    rows = [g for g in ORDER if g in groups]
    rows += sorted(g for g in groups if g not in ORDER)
    pairs = list(PAIRS)
    lines = [
        "| field | " + " | ".join(_pair(p) for p in pairs) + " |",
        "| --- |" + " ---: |" * len(pairs),
    ]
    for group in rows:
        cells = []
        for pair in pairs:
            compared = tally.compared[(pair, group)]
            if not compared:
                cells.append("-")
                continue
            share = 100 * tally.agreed[(pair, group)] / compared
            cells.append(f"{share:.1f}" if share < 100 else "100")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def by_cause(tally: Tally) -> list[str]:
    """Disagreements grouped by cause: requests per pair, fields, docs."""
    pairs = list(PAIRS)
    lines = [
        "| cause | " + " | ".join(_pair(p) for p in pairs) + " | fields | why |",
        "| --- |" + " ---: |" * len(pairs) + " --- | --- |",
    ]
    for cause in CAUSES:
        counts = [tally.causes[(cause.name, pair)] for pair in pairs]
        if not any(counts):
            continue
        fields = ", ".join(sorted(tally.cause_fields[cause.name]))
        cells = " | ".join(str(count) if count else "" for count in counts)
        lines.append(f"| {cause.name} | {cells} | {fields} | {cause.summary} |")
    unexplained = [tally.unexplained_count[pair] for pair in pairs]
    cells = " | ".join(str(count) for count in unexplained)
    lines.append(f"| **unexplained** | {cells} | | |")
    return lines


def speed(tally: Tally) -> list[str]:
    lines = ["| route | requests/s | ms/request |", "| --- | ---: | ---: |"]
    for route in ROUTES:
        seconds = tally.seconds[route]
        if seconds:
            rate, each = tally.requests / seconds, 1000 * seconds / tally.requests
            lines.append(f"| {route} | {rate:.0f} | {each:.2f} |")
    return lines


def outcomes(tally: Tally) -> list[str]:
    kinds = sorted(
        {kind for _, kind in tally.outcomes}, key=lambda k: (not k.isdigit(), k)
    )
    lines = [
        "| outcome | " + " | ".join(ROUTES) + " |",
        "| --- |" + " ---: |" * len(ROUTES),
    ]
    for kind in kinds:
        cells = " | ".join(str(tally.outcomes[(route, kind)]) for route in ROUTES)
        lines.append(f"| {kind} | {cells} |")
    return lines


def coverage(counts: Counter[str], total: int) -> list[str]:
    from fuzz.dimensions import DIMENSIONS

    lines = ["| dimension | requests | share |", "| --- | ---: | ---: |"]
    for name in DIMENSIONS:
        lines.append(
            f"| {name} | {counts[name]} | {100 * counts[name] / max(total, 1):.1f}% |"
        )
    return lines


def unexplained(tally: Tally, limit: int = 5) -> list[str]:
    lines: list[str] = []
    groups = sorted(tally.unexplained.items())
    for (pair, field), diffs in groups[:limit]:
        gated = " (gated)" if pair in GATED else ""
        diff = diffs[0]
        lines += [
            f"- {_pair(pair)}{gated}, {field}: {diff.left!r} != {diff.right!r}",
            "  ```python",
            *("  " + line for line in diff.request.as_code().splitlines()),
            "  ```",
        ]
    if len(groups) > limit:
        lines.append(f"... and {len(groups) - limit} more (pair, field) groups")
    return lines
