"""The one machine-readable line every benchmark prints per measurement.

``run_all.py`` runs each ``bench_*.py`` in its own process and collects these
lines into the results table; the human-readable lines around them stay as
they are.
"""

from __future__ import annotations

import json

MARKER = "BENCH-RESULT "


def report(
    measure: str,
    ours: float,
    baseline: float | None = None,
    *,
    unit: str,
    baseline_name: str = "",
    target: str = "",
    ratio: float | None = None,
    cell: dict[str, str] | None = None,
) -> None:
    """Print one result; ``ratio`` defaults to ours/baseline.

    Pass ``ratio`` when the script computes a sturdier one than the ratio of
    medians (for example the median of per-round ratios). A ``cell`` (keys
    ``shape``, ``state``, ``process``, ``client``) is one figure of the
    request matrix, which the page shows as a table of its own.
    """
    if ratio is None and baseline:
        ratio = ours / baseline
    row = {
        "measure": measure,
        "ours": ours,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "unit": unit,
        "ratio": ratio,
        "target": target,
    }
    if cell is not None:
        row["cell"] = cell
    print(MARKER + json.dumps(row), flush=True)
