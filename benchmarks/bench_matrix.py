"""The simulated CI matrix of tests/test_matrix.py, timed.

Run: python benchmarks/bench_matrix.py

Four pytest processes at once (2 stacks x 2 pytest-split shards, the
command lines of settings_snippets/github-actions.yml), then the merge step,
against one pytest process running the same suite. On one machine the four
jobs share its cores, so this shows the fixed cost a job adds and the merge's
cost; on CI each job has a machine of its own.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from _report import report

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_matrix import SUITE, simulate  # noqa: E402
from test_plugin import SETTINGS, URLS  # noqa: E402

ROUNDS = 5
INI = """[pytest]
DJANGO_SETTINGS_MODULE = proj_settings
addopts = -p no:randomly -p no:cacheprovider
filterwarnings =
    error
asyncio_default_fixture_loop_scope = function
"""


def project(folder: Path) -> None:
    (folder / "proj_settings.py").write_text(
        SETTINGS.replace("{inner_name}", "rp_bench_matrix")
    )
    (folder / "proj_urls.py").write_text(URLS)
    (folder / "pytest.ini").write_text(INI)
    (folder / "test_suite.py").write_text(SUITE)


def main() -> None:
    times: dict[str, list[float]] = {}
    longest: list[float] = []
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as name:
            project(Path(name))
            # One job after another: each one's time, as on a machine of its own.
            longest.append(max(simulate(Path(name), at_once=False)["alone"]))
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            project(folder)
            done = simulate(folder)
            assert done["merged"].returncode == 1, done["merged"].stdout
            for step, seconds in done["seconds"].items():
                times.setdefault(step, []).append(seconds)
    jobs = statistics.median(times["4 jobs"])
    merge = statistics.median(times["merge"])
    single = statistics.median(times["one process"])
    alone = statistics.median(longest)
    print(f"4 jobs at once (2 stacks x 2 shards): {jobs:.2f} s")
    print(f"the longest job, run alone:          {alone:.2f} s")
    print(f"merge of their 4 reports:            {merge:.2f} s")
    print(f"one process, the same suite:         {single:.2f} s")
    print(f"matrix + merge against one process: {(jobs + merge) / single:.2f}x")
    print(f"longest job + merge against one process: {(alone + merge) / single:.2f}x")
    report(
        "simulated CI matrix: 4 jobs at once + merge (one machine)",
        jobs + merge,
        single,
        unit="s",
        baseline_name="one pytest process, the same suite",
    )
    report(
        "simulated CI matrix: longest job alone + merge (a machine per job)",
        alone + merge,
        single,
        unit="s",
        baseline_name="one pytest process, the same suite",
    )
    report("merge of 4 parity reports", merge, unit="s")


if __name__ == "__main__":
    main()
