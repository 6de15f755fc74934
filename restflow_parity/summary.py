"""The parity summary: tests per mode, and tests whose outcome differs by mode.

Shared by the pytest plugin and the Django runner, so both report alike.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from restflow_parity.modes import MODES, mode_of

__all__ = ["ParityTally"]

_RANK = {"passed": 0, "skipped": 1, "failed": 2}


class ParityTally:
    """Outcomes of parity variants, grouped by the test they came from."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, str]] = defaultdict(dict)

    def add(self, base: str, mode: str, outcome: str) -> None:
        """Record ``outcome``; a worse outcome for the same variant wins."""
        previous = self.outcomes[base].get(mode)
        if previous is None or _RANK[outcome] > _RANK[previous]:
            self.outcomes[base][mode] = outcome

    def add_unittest(self, test: Any, outcome: str) -> None:
        method = getattr(type(test), getattr(test, "_testMethodName", ""), None)
        mode = mode_of(method)
        if mode is not None:
            base = test.id().removesuffix(f"_{mode}")
            self.add(base, mode, outcome)

    def lines(self) -> list[str]:
        """The summary, or nothing when no parity test ran."""
        if not self.outcomes:
            return []
        lines = ["restflow-parity summary:"]
        for mode in MODES:
            counts: dict[str, int] = defaultdict(int)
            for modes in self.outcomes.values():
                if mode in modes:
                    counts[modes[mode]] += 1
            if not counts:
                continue  # a stack this run did not select
            detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            lines.append(f"  {mode}: {sum(counts.values())} ran ({detail})")
        mismatched = [
            (base, modes)
            for base, modes in sorted(self.outcomes.items())
            if {"passed", "failed"} <= set(modes.values())
        ]
        if mismatched:
            lines.append("  passed in one mode but failed in the other:")
            for base, modes in mismatched:
                verdict = ", ".join(
                    f"{mode} {modes[mode]}" for mode in MODES if mode in modes
                )
                lines.append(f"    {base}: {verdict}")
        else:
            lines.append("  no test passed in one mode and failed in the other")
        return lines
