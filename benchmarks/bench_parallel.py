"""Parallel runners: a suite's wall time serial and with N workers, and why.

Run: python benchmarks/bench_parallel.py [SUITE_DIR] [--rounds 5] [--workers 2]
     [--pytest-args 'ARGS'] [--no-manage]

SUITE_DIR defaults to examples/ (tests/, pytest only, when it does not
exist). Each round runs, in rotated order: the pytest suite serially and with
``-n N`` (pytest-xdist), an empty pytest run (no test selected) both ways,
and, when the directory has a ``manage.py``, ``manage.py test`` serially and
with ``--parallel N``. Medians over the rounds; the speed-up is serial /
parallel. The 1-minute load average is printed: other work on the machine
takes cores from the workers, so take numbers from a quiet machine.

Where the time goes. This module is also a pytest plugin (``-p
bench_parallel``, loaded only for the runs above): every pytest process, the
xdist workers included, records when it was ready, when it had collected,
how long the test database took to set up, and how long its tests ran. The
time that is not test work (start-up, collection, database set-up, exit) is
the part a second worker cannot shorten: Amdahl's law then bounds the
speed-up at ``T1 / (F + W / N)``, for F that part and W the test work. Under
xdist every worker pays its own start-up, collection and test database, so
the measured speed-up falls short of even that bound on a short suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _report import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROBE_ENV = "BENCH_PARALLEL_PROBE"
NOTHING = "bench_parallel_selects_no_test"
#: The speed-up asked of two workers on a two-core machine.
TARGET = 1.6

# --- the probe: a pytest plugin, active only when PROBE_ENV names a folder ---

_marks: dict[str, float] = {"loaded": time.time()}
_durations: dict[str, float] = defaultdict(float)
_controller: list[bool] = []


def pytest_configure(config: pytest.Config) -> None:
    # The xdist controller runs no test but sees every worker's reports.
    xdist = bool(config.getoption("numprocesses", None))
    _controller.append(xdist and not hasattr(config, "workerinput"))


def pytest_collection_finish(session: pytest.Session) -> None:
    _marks.setdefault("collected", time.time())


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[Any]:
    started = time.time()
    try:
        return (yield)
    finally:
        if fixturedef.argname == "django_db_setup":
            _durations["db_setup"] += time.time() - started


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _controller and _controller[0]:
        return
    _marks.setdefault("first_test", time.time() - report.duration)
    _marks["last_test"] = time.time()
    _durations["tests"] += report.duration  # set-up, call and tear-down


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = os.environ.get(PROBE_ENV)
    if not folder:
        return
    entry = {
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "marks": {
            name: at - float(os.environ["BENCH_T0"]) for name, at in _marks.items()
        },
        **_durations,
    }
    Path(folder, f"{os.getpid()}.json").write_text(json.dumps(entry))


# --- the benchmark ------------------------------------------------------------


def run(suite: Path, argv: list[str], probe: Path | None = None) -> dict[str, Any]:
    """Run one command in ``suite``; its wall time, output and probe records."""
    env = {**os.environ}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the suite's own settings
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HERE), env.get("PYTHONPATH")])
    )
    if probe is not None:
        probe.mkdir()
        env[PROBE_ENV] = str(probe)
    env["BENCH_T0"] = repr(time.time())
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=suite, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode not in (0, 5):  # 5: pytest selected no test
        raise SystemExit(f"{' '.join(argv)} failed in {suite}:\n{output[-3000:]}")
    processes = (
        [json.loads(p.read_text()) for p in sorted(probe.glob("*.json"))]
        if probe
        else []
    )
    return {"wall": wall, "output": output, "processes": processes}


def commands(
    suite: Path, workers: int, pytest_args: list[str], manage: bool
) -> dict[str, list[str]]:
    pytest_ = [
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"),
        *("-p", "bench_parallel", *pytest_args),
    ]
    found = {
        "pytest serial": pytest_,
        f"pytest -n {workers}": [*pytest_, "-n", str(workers)],
        "pytest empty serial": [*pytest_, "-k", NOTHING],
        f"pytest empty -n {workers}": [*pytest_, "-n", str(workers), "-k", NOTHING],
    }
    if manage and (suite / "manage.py").exists():
        test = [sys.executable, "manage.py", "test", "--noinput", "--timing"]
        found["manage.py test"] = test
        parallel = [*test, "--parallel", str(workers)]
        found[f"manage.py test --parallel {workers}"] = parallel
    return found


def measure(
    suite: Path, rounds: int, todo: dict[str, list[str]]
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench_parallel_") as folder:
        for argv in todo.values():  # warm-up: disk caches, .pyc files
            run(suite, argv)
        for number in range(rounds):
            names = list(todo)
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                probe = None
                if name.startswith("pytest"):
                    probe = Path(folder, f"{number}-{name.replace(' ', '_')}")
                results[name].append(run(suite, todo[name], probe))
            print(f"round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def work_of_pytest(result: dict[str, Any]) -> float:
    """Seconds of test work: the tests' durations without the database set-up."""
    return sum(
        p.get("tests", 0.0) - p.get("db_setup", 0.0) for p in result["processes"]
    )


def work_of_django(result: dict[str, Any]) -> float:
    found = re.search(r"Ran \d+ tests? in ([\d.]+)s", result["output"])
    return float(found[1]) if found else float("nan")


def amdahl(serial: float, work: float, workers: int) -> float:
    """The best speed-up when only the test work spreads over the workers."""
    return serial / (serial - work + work / workers)


def work_needed(fixed: float, fixed_n: float, workers: int) -> float:
    """Test work at which ``TARGET`` is reached, given both runs' fixed costs.

    (F + W) / (F_N + W / N) >= TARGET  <=>  W >= (TARGET F_N - F) / (1 - TARGET / N)
    """
    if workers <= TARGET:
        return float("inf")
    return max(0.0, (TARGET * fixed_n - fixed) / (1 - TARGET / workers))


def summary(
    results: dict[str, list[dict[str, Any]]], workers: int
) -> tuple[list[str], list[tuple[str, float, float, str]]]:
    """The Markdown table, and what to ``report`` for each runner."""
    lines = [
        f"| runner | serial | {workers} workers | speed-up | test work "
        f"| fixed cost: serial / {workers} workers | Amdahl bound "
        f"| test work needed for {TARGET}x |",
        "|---|---|---|---|---|---|---|---|",
    ]
    reported = []
    pairs = [
        ("pytest", "pytest serial", f"pytest -n {workers}", work_of_pytest),
        (
            "pytest, no test selected",
            "pytest empty serial",
            f"pytest empty -n {workers}",
            None,
        ),
        (
            "manage.py test",
            "manage.py test",
            f"manage.py test --parallel {workers}",
            work_of_django,
        ),
    ]
    for label, serial_name, parallel_name, work_of in pairs:
        if serial_name not in results:
            continue
        serial = median([r["wall"] for r in results[serial_name]])
        parallel = median([r["wall"] for r in results[parallel_name]])
        row = (
            f"| {label} | {serial:.2f} s | {parallel:.2f} s | {serial / parallel:.2f}x"
        )
        if work_of is None:
            lines.append(f"{row} | - | {serial:.2f} s / {parallel:.2f} s | - | - |")
            continue
        work = median([work_of(r) for r in results[serial_name]])
        # What the N-worker run spent beyond its share of the test work.
        fixed, fixed_n = serial - work, parallel - work / workers
        bound = f"{amdahl(serial, work, workers):.2f}x"
        lines.append(
            f"{row} | {work:.2f} s | {fixed:.2f} s / {fixed_n:.2f} s | {bound} "
            f"| {work_needed(fixed, fixed_n, workers):.1f} s |"
        )
        reported.append(
            (f"{label} wall time, {workers} workers", parallel, serial, bound)
        )
    return lines, reported


def timeline(results: dict[str, list[dict[str, Any]]], workers: int) -> list[str]:
    """Per pytest process, medians: when it was ready, collected, ran, finished."""
    lines = [
        "| run | process | ready at | collected at | DB set-up | test work "
        "| last test at | run ends |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("pytest serial", f"pytest -n {workers}"):
        walls = median([r["wall"] for r in results[name]])
        per_worker: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for result in results[name]:
            for process in result["processes"]:
                per_worker[process["worker"]].append(process)
        for worker, entries in sorted(per_worker.items()):

            def at(mark: str, entries: list[dict[str, Any]] = entries) -> str:
                values = [e["marks"][mark] for e in entries if mark in e["marks"]]
                return f"{median(values):.2f} s" if values else "-"

            db = median([e.get("db_setup", 0.0) for e in entries])
            work = median(
                [e.get("tests", 0.0) - e.get("db_setup", 0.0) for e in entries]
            )
            lines.append(
                f"| {name} | {worker} | {at('loaded')} | {at('collected')} "
                f"| {db:.2f} s | {work:.2f} s | {at('last_test')} | {walls:.2f} s |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", nargs="?", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pytest-args", default="", help="more pytest arguments, e.g. test paths"
    )
    parser.add_argument(
        "--no-manage", action="store_true", help="skip the manage.py test runs"
    )
    args = parser.parse_args()
    suite = args.suite or (
        ROOT / "examples" if (ROOT / "examples").is_dir() else ROOT / "tests"
    )
    suite = suite.resolve()
    # This project's own tests are written for pytest; Django's runner fails some.
    manage = not args.no_manage and suite != ROOT / "tests"
    todo = commands(suite, args.workers, shlex.split(args.pytest_args), manage)
    cores = (
        len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count()
    )
    print(
        f"suite: {suite}; {os.cpu_count()} cores ({cores} usable); "
        f"{args.workers} workers; median of {args.rounds} interleaved rounds"
    )
    load_before = os.getloadavg()[0]
    results = measure(suite, args.rounds, todo)
    # Other processes on the machine take cores from the workers: say so.
    load_after = os.getloadavg()[0]
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
    table, reported = summary(results, args.workers)
    print("\n" + "\n".join(table))
    print("\nWhere pytest's time goes (seconds after launch, medians):\n")
    print("\n".join(timeline(results, args.workers)))
    for measure_name, parallel, serial_time, bound in reported:
        report(
            f"{measure_name} ({suite.name}, {cores} cores; Amdahl bound {bound})",
            parallel,
            serial_time,
            unit="s",
            baseline_name="serial",
            target=f"≤ {1 / TARGET:.3f} ({TARGET}x)",
        )


if __name__ == "__main__":
    main()
