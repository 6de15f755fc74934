"""Interleaved rounds: the only way two timings on a busy machine compare.

Each round runs every side once, in a fresh random order, so load that comes
and goes hits every side alike. A ratio is the median of the per-round ratios
(the rounds pair up the sides), not the ratio of two medians.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Mapping


def interleave(
    sides: Mapping[str, Callable[[], float]], rounds: int, seed: int = 0
) -> dict[str, list[float]]:
    """Each side's result per round; every side is warmed up once first."""
    for side in sides.values():
        side()
    results: dict[str, list[float]] = {name: [] for name in sides}
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(sides)
        rng.shuffle(order)
        for name in order:
            results[name].append(sides[name]())
    return results


def paired(results: Mapping[str, list[float]], ours: str, baseline: str) -> float:
    """The median of the per-round ratios ``ours / baseline``."""
    return statistics.median(
        mine / theirs
        for mine, theirs in zip(results[ours], results[baseline], strict=True)
    )


def median(results: Mapping[str, list[float]], name: str) -> float:
    return statistics.median(results[name])
