"""benchmarks/run_all.py: every benchmark's results reach the results page."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402
from _rounds import interleave  # noqa: E402


def write_bench(folder: Path, name: str, body: str) -> None:
    header = f"import sys\nsys.path.insert(0, {str(BENCHMARKS)!r})\n"
    header += "from _report import report\n"
    (folder / f"bench_{name}.py").write_text(header + textwrap.dedent(body))


@pytest.fixture
def bench_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    return tmp_path


def test_results_page_has_a_row_per_result_with_the_ratio(
    bench_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bench(
        bench_dir,
        "fast",
        """
        print("human line")
        report("GET", 105.0, 100.0, unit="µs", baseline_name="Django", target="≤ 1.05")
        report("scope", 4.5, unit="µs")
        report("paired", 2.0, 1.0, unit="ms", ratio=1.5)
        """,
    )
    output = bench_dir / "page.md"
    monkeypatch.setattr(sys, "argv", ["run_all", "--output", str(output)])
    assert run_all.main() == 0
    page = output.read_text()
    assert (
        "| bench_fast | GET | 105.0 µs | 100.0 µs (Django) | 1.050 | ≤ 1.05 |" in page
    )
    assert "| bench_fast | scope | 4.500 µs | - | - | - |" in page
    assert "| bench_fast | paired | 2.000 ms | 1.000 ms | 1.500 | - |" in page
    assert "cores" in page
    assert "Django " in page


def test_a_failing_benchmark_fails_the_run_and_is_named(
    bench_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bench(bench_dir, "ok", 'report("x", 1.0, unit="s")\n')
    write_bench(bench_dir, "broken", "raise SystemExit(3)\n")
    write_bench(bench_dir, "silent", "print('no result line')\n")
    output = bench_dir / "page.md"
    monkeypatch.setattr(sys, "argv", ["run_all", "--output", str(output)])
    assert run_all.main() == 1
    page = output.read_text()
    assert "Failed or reported nothing: bench_broken.py, bench_silent.py." in page
    assert "| bench_ok | x |" in page


def test_only_selects_benchmarks_and_rejects_unknown_names(
    bench_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bench(bench_dir, "one", 'report("one", 1.0, unit="s")\n')
    write_bench(bench_dir, "two", 'report("two", 1.0, unit="s")\n')
    output = bench_dir / "page.md"
    monkeypatch.setattr(
        sys, "argv", ["run_all", "--output", str(output), "--only", "two"]
    )
    assert run_all.main() == 0
    assert "| bench_two |" in output.read_text()
    assert "bench_one" not in output.read_text()
    monkeypatch.setattr(sys, "argv", ["run_all", "--only", "three"])
    with pytest.raises(SystemExit):
        run_all.main()


def test_the_page_keeps_its_notes_and_draws_the_breakdown(
    bench_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bench(
        bench_dir,
        "tax",
        """
        report("AsyncAPIClient: main thread", 1200.0, unit="µs/request")
        report("AsyncAPIClient: loop thread", 1100.0, unit="µs/request")
        """,
    )
    output = bench_dir / "page.md"
    output.write_text(
        "old results\n\n" + run_all.NOTES_MARKER + "\n\nThe analysis, by hand.\n"
    )
    monkeypatch.setattr(sys, "argv", ["run_all", "--output", str(output)])
    assert run_all.main() == 0
    page = output.read_text()
    assert "old results" not in page
    assert page.endswith(run_all.NOTES_MARKER + "\n\nThe analysis, by hand.\n")
    assert "pie title AsyncAPIClient, GET of a DRF list view: 2300 µs" in page
    assert '    "main thread" : 1200\n' in page


def test_the_request_matrix_is_a_table_per_shape_not_rows(
    bench_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bench(
        bench_dir,
        "tax",
        """
        for state, process, client, value in [
            ("idle", "unpinned", "DRF APIClient", 500.0),
            ("idle", "unpinned", "Django AsyncClient", 2000.0),
            ("idle", "unpinned", "AsyncAPIClient", 1500.0),
            ("loaded", "pinned", "AsyncAPIClient", 3000.0),
        ]:
            cell = {"shape": "list", "state": state, "process": process,
                    "client": client}
            report(f"list, {state}, {process}: {client}", value, unit="µs",
                   cell=cell)
        report("list, idle: AsyncAPIClient / Django AsyncClient", 1500.0, 2000.0,
               unit="µs", target="≤ 1.00")
        """,
    )
    output = bench_dir / "page.md"
    monkeypatch.setattr(sys, "argv", ["run_all", "--output", str(output)])
    assert run_all.main() == 0
    page = output.read_text()
    assert (
        "| machine | process | DRF APIClient | Django AsyncClient | AsyncAPIClient "
        "| ours / Django, async | async / sync, ours |" in page
    )
    assert "| idle | unpinned | 500.0 | 2000.0 | 1500.0 | 0.750 | 3.000 |" in page
    assert "| loaded | pinned | - | - | 3000.0 | - | - |" in page
    # The cells are not repeated as rows of the results table; ratios are.
    assert "| bench_tax | list, idle, unpinned" not in page
    assert "| bench_tax | list, idle: AsyncAPIClient / Django AsyncClient |" in page


def test_rounds_during_which_other_processes_ran_are_run_again() -> None:
    shares = iter([0.5, 0.0, 0.0])

    class Others:
        def start(self) -> None:
            pass

        def share(self) -> float:
            return next(shares)

    runs: list[int] = []

    def side() -> float:
        runs.append(1)
        return float(len(runs))

    discarded: list[float] = []
    results = interleave(
        {"a": side},
        2,
        others=Others(),
        limit=0.05,
        discarded=discarded,
    )
    # A warm-up, a thrown-away round, then two kept.
    assert results == {"a": [3.0, 4.0]}
    assert discarded == [0.5]


@pytest.mark.tooling
@pytest.mark.parametrize(
    "module", sorted(path.stem for path in BENCHMARKS.glob("bench_*.py"))
)
def test_every_benchmark_imports(module: str) -> None:
    """A benchmark that cannot even import fails here, not in the next bench run.

    Running them is too slow for the suite; importing runs their set-up code
    and resolves what they take from one another (bench_variant_state once
    imported a name that bench_modes no longer had).
    """
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
