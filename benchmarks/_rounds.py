"""Interleaved rounds: the only way two timings on a busy machine compare.

Each round runs every side once, in a fresh random order, so load that comes
and goes hits every side alike. A ratio is the median of the per-round ratios
(the rounds pair up the sides), not the ratio of two medians.

On a machine shared with other work, ``Others`` tells how much CPU other
processes took during a round, and ``interleave(..., others=...)`` runs a
round again when they took more than a given share: the figures then
describe the machine state the benchmark set up, not whatever else ran.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Callable, Mapping, Sequence


class Others:
    """The share of the machine's CPU other processes use (Linux).

    Busy time of every core (``/proc/stat``) less this process's own and
    less ``mine``: processes this benchmark started on purpose (its busy
    loops). Without ``/proc`` it always reads 0.
    """

    def __init__(self, mine: Sequence[int] = ()) -> None:
        self.mine = list(mine)
        self._start = self._read()

    def start(self) -> None:
        self._start = self._read()

    def share(self) -> float:
        """Since ``start()``: 0.0 (nothing else ran) to 1.0 (every core)."""
        busy, total, own = (
            now - then for now, then in zip(self._read(), self._start, strict=True)
        )
        return max(busy - own, 0) / total if total > 0 else 0.0

    def _read(self) -> tuple[int, int, int]:
        try:
            with open("/proc/stat") as stat:
                fields = [int(value) for value in stat.readline().split()[1:8]]
            own = sum(_ticks(pid) for pid in (os.getpid(), *self.mine))
        except (OSError, ValueError):
            return 0, 0, 0
        idle = fields[3] + fields[4]  # idle, iowait
        return sum(fields) - idle, sum(fields), own


def _ticks(pid: int) -> int:
    """A process's CPU time so far, in clock ticks (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def interleave(
    sides: Mapping[str, Callable[[], float]],
    rounds: int,
    seed: int = 0,
    *,
    others: Others | None = None,
    limit: float = 0.05,
    discarded: list[float] | None = None,
) -> dict[str, list[float]]:
    """Each side's result per round; every side is warmed up once first.

    With ``others``, a round during which other processes used more than
    ``limit`` of the machine is thrown away and run again (at most ``rounds``
    times in all); the shares of the thrown-away rounds go to ``discarded``.
    """
    for side in sides.values():
        side()
    results: dict[str, list[float]] = {name: [] for name in sides}
    rng = random.Random(seed)
    retries = rounds
    done = 0
    while done < rounds:
        order = list(sides)
        rng.shuffle(order)
        if others is not None:
            others.start()
        timings = {name: sides[name]() for name in order}
        if others is not None and retries > 0:
            share = others.share()
            if share > limit:
                retries -= 1
                if discarded is not None:
                    discarded.append(share)
                continue
        for name, value in timings.items():
            results[name].append(value)
        done += 1
    return results


def paired(results: Mapping[str, list[float]], ours: str, baseline: str) -> float:
    """The median of the per-round ratios ``ours / baseline``."""
    return statistics.median(
        mine / theirs
        for mine, theirs in zip(results[ours], results[baseline], strict=True)
    )


def median(results: Mapping[str, list[float]], name: str) -> float:
    return statistics.median(results[name])
