"""The verdict: new failures of the swapped runs against the list of differences.

A *new failure* is a test that fails or errors in a swapped run and did not
fail in the suite's unchanged run (it passed or was skipped there, or has no
counterpart; a test that the unchanged run passed and the swapped run never
reported counts as ``missing``). A ``run_both_modes`` variant is compared with
the test it came from (``base`` in its record).

Every new failure must be listed in ``differences.toml``, the deliberate
differences, each with a reason and a link to the section of
docs/guides/migrating.md that tells users. An entry whose test no longer
fails is *stale*.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest brings tomli on 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
DIFFERENCES = HERE / "differences.toml"
DOCS_PAGE = "guides/migrating.md"
FAILING = ("failed", "error")


class DifferencesError(ValueError):
    """differences.toml is malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class Difference:
    suite: str
    run: str
    test: str
    reason: str
    docs: str


@dataclass(frozen=True)
class NewFailure:
    test: str
    outcome: str  # failed, error or missing
    baseline: str  # the unchanged run's outcome, or "absent"
    detail: str = ""


@dataclass
class Verdict:
    suite: str
    run: str
    counts: dict[str, int] = field(default_factory=dict)
    new: list[NewFailure] = field(default_factory=list)
    listed: list[NewFailure] = field(default_factory=list)
    unlisted: list[NewFailure] = field(default_factory=list)
    stale: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unlisted


def counts(tests: dict[str, dict[str, Any]]) -> dict[str, int]:
    found = {"tests": len(tests), "passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for test in tests.values():
        found[test["outcome"]] += 1
    return found


def new_failures(
    baseline: dict[str, dict[str, Any]], swapped: dict[str, dict[str, Any]]
) -> list[NewFailure]:
    """The tests that fail in ``swapped`` and did not fail in ``baseline``."""
    found, seen = [], set()
    for test_id, test in sorted(swapped.items()):
        base = test.get("base") or test_id
        seen.add(base)
        if test["outcome"] not in FAILING:
            continue
        before = baseline.get(base, {}).get("outcome", "absent")
        if before not in FAILING:
            found.append(
                NewFailure(test_id, test["outcome"], before, test.get("detail", ""))
            )
    for base, test in sorted(baseline.items()):
        if test["outcome"] == "passed" and base not in seen:
            found.append(NewFailure(base, "missing", "passed", "not run"))
    return found


def judge(
    suite: str,
    run: str,
    baseline: dict[str, dict[str, Any]],
    swapped: dict[str, dict[str, Any]],
    differences: list[Difference],
) -> Verdict:
    """Compare one swapped run with its suite's unchanged run."""
    verdict = Verdict(suite, run, counts(swapped))
    verdict.new = new_failures(baseline, swapped)
    listed = {d.test: d for d in differences if (d.suite, d.run) == (suite, run)}
    for failure in verdict.new:
        (verdict.listed if failure.test in listed else verdict.unlisted).append(failure)
    failing = {f.test for f in verdict.new}
    verdict.stale = [d for test, d in sorted(listed.items()) if test not in failing]
    return verdict


# --- differences.toml ----------------------------------------------------------


def load_differences(
    path: Path = DIFFERENCES,
    runs: dict[str, tuple[str, ...]] | None = None,
    docs: Path = DOCS,
) -> list[Difference]:
    """The entries of ``path``, checked: known suite and run, a reason, a docs link.

    ``runs`` maps each suite to its swapped runs' names.
    """
    data = tomllib.loads(path.read_text())
    found = []
    anchors = page_anchors(docs / DOCS_PAGE) if (docs / DOCS_PAGE).exists() else set()
    for suite, by_run in data.items():
        for run, by_test in _table(by_run, suite).items():
            where = f"[{suite}.{run}]"
            if runs is not None and run not in runs.get(suite, ()):
                known = {s: list(r) for s, r in runs.items()}
                raise DifferencesError(
                    f"{path.name}: {where} is no swapped run; the runs are {known}"
                )
            for test, entry in _table(by_test, where).items():
                found.append(_difference(path, suite, run, test, entry, anchors))
    return found


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DifferencesError(f"{where} must be a table of tables, keyed by test id")
    return value


def _difference(
    path: Path, suite: str, run: str, test: str, entry: Any, anchors: set[str]
) -> Difference:
    where = f'{path.name}: [{suite}.{run}."{test}"]'
    if not isinstance(entry, dict) or set(entry) != {"reason", "docs"}:
        raise DifferencesError(f"{where} needs exactly two keys: reason and docs")
    reason, docs = entry["reason"], entry["docs"]
    if not isinstance(reason, str) or not reason.strip():
        raise DifferencesError(f"{where}: reason must say why the difference is kept")
    page, _, anchor = str(docs).partition("#")
    if page != DOCS_PAGE or not anchor:
        raise DifferencesError(
            f'{where}: docs = "{docs}" must link a section of the migrating '
            f'guide, as "{DOCS_PAGE}#section-anchor"'
        )
    if anchor not in anchors:
        raise DifferencesError(
            f"{where}: docs/{DOCS_PAGE} has no section #{anchor}; its sections "
            f"are {sorted(anchors)}"
        )
    return Difference(suite, run, test, reason.strip(), str(docs))


def slugify(text: str) -> str:
    """A heading's anchor as Python-Markdown's toc extension makes it."""
    text = re.sub(r"`([^`]*)`", r"\1", text)  # inline code keeps its text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # so does a link
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def page_anchors(page: Path) -> set[str]:
    """The section anchors of a Markdown page (fenced code is not headings)."""
    anchors: set[str] = set()
    fenced = False
    for line in page.read_text().splitlines():
        if re.match(r"^\s*(```|~~~)", line):
            fenced = not fenced
        heading = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading is None:
            continue
        text = heading[1]
        explicit = re.search(r"\{[^}]*#([\w-]+)[^}]*\}\s*$", text)
        if explicit:
            anchors.add(explicit[1])
            continue
        slug, number = slugify(text), 1
        unique = slug
        while unique in anchors:  # repeats get _1, _2, ... as in toc
            unique, number = f"{slug}_{number}", number + 1
        anchors.add(unique)
    return anchors
