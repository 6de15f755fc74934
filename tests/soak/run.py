"""The leak and flake soak: generate the suite, run it many times, report.

    python tests/soak/run.py [--runs 10] [--backends sqlite-memory,postgres]
    python tests/soak/run.py --control    # isolation off: leaks must show

Backends: sqlite-memory, sqlite-file, postgres, mariadb (default: all four).

Each run uses a fresh random order: pytest under pytest-randomly
(``-p randomly --randomly-seed=N``) and the unittest classes again under
``manage.py test --shuffle N`` with ``ParityDiscoverRunner``. A test whose
row-count invariant breaks fails with ``LEAK:``; a test that fails in some runs
and passes in others is a flake; a run that outlives ``--timeout`` is a hang.
The exit status is 1 if any of those (or any other failure) happened; with
``--control`` it is 1 if the invariants caught *no* leak.

Server databases come from ``SOAK_POSTGRES_URL`` and ``SOAK_MARIADB_URL``
(defaults below); each run creates and destroys ``test_<name>``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate

SERVER_URLS = {
    "postgres": os.environ.get(
        "SOAK_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/rp_soak"
    ),
    "mariadb": os.environ.get(
        "SOAK_MARIADB_URL", "mysql://root@127.0.0.1:3306/rp_soak"
    ),
}
BACKENDS = ("sqlite-memory", "sqlite-file", "postgres", "mariadb")
CONTROL_BACKENDS = ("sqlite-memory", "postgres")
ISOLATION_OFF = "restflow_parity_async_isolation=false"
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Warning|Group)\b")
PACKAGES = (
    "Django",
    "djangorestframework",
    "asgiref",
    "pytest",
    "pytest-django",
    "pytest-asyncio",
    "pytest-randomly",
    "psycopg",
    "PyMySQL",
)


@dataclass
class Run:
    """One subprocess: a whole pytest or manage.py test run."""

    seed: int
    wall: float
    exit_code: int | None  # None: killed after the timeout
    outcomes: dict[str, str] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # test id -> message
    causes: Counter[str] = field(default_factory=Counter)  # "LEAK" or the error
    run_error: str = ""


@dataclass
class Summary:
    """One backend and runner, over all its runs."""

    backend: str
    part: str
    expected: int
    runs: list[Run] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(
            1
            for run in self.runs
            for value in run.outcomes.values()
            if value == outcome
        )

    @property
    def leaks(self) -> int:
        return sum(len(run.leaks) for run in self.runs)

    @property
    def hangs(self) -> int:
        return sum(1 for run in self.runs if run.exit_code is None)

    @property
    def run_errors(self) -> int:
        return sum(
            1 for run in self.runs if run.run_error and run.exit_code is not None
        )

    @property
    def flakes(self) -> list[str]:
        seen: dict[str, set[bool]] = defaultdict(set)
        for run in self.runs:
            for test, outcome in run.outcomes.items():
                seen[test].add(outcome in ("passed", "skipped"))
        return sorted(test for test, kinds in seen.items() if len(kinds) == 2)

    @property
    def tests_per_run(self) -> str:
        counts = sorted({len(run.outcomes) for run in self.runs})
        return "/".join(str(count) for count in counts) or "0"

    @property
    def wall(self) -> float:
        return sum(run.wall for run in self.runs)

    @property
    def clean(self) -> bool:
        return not (
            self.count("failed")
            or self.count("error")
            or self.leaks
            or self.hangs
            or self.run_errors
            or self.flakes
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "part": self.part,
            "runs": len(self.runs),
            "expected_tests_per_run": self.expected,
            "tests_per_run": self.tests_per_run,
            "passed": self.count("passed"),
            "failed": self.count("failed"),
            "errors": self.count("error"),
            "leaks": self.leaks,
            "flakes": self.flakes,
            "hangs": self.hangs,
            "run_errors": self.run_errors,
            "wall_seconds": round(self.wall, 1),
            "seeds": [run.seed for run in self.runs],
            "causes": dict(self.causes.most_common()),
            "details": [_run_details(run) for run in self.runs],
        }

    @property
    def causes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for run in self.runs:
            total.update(run.causes)
        return total


def _run_details(run: Run) -> dict[str, Any]:
    data = asdict(run)
    data["wall"] = round(run.wall, 1)
    data.pop("outcomes")
    data["leaks"] = run.leaks[:50]
    data["problems"] = dict(list(run.problems.items())[:50])
    data["causes"] = dict(run.causes.most_common())
    return data


# --- running ------------------------------------------------------------------


def database_url(backend: str, workdir: Path, control: bool) -> str:
    """The DATABASE_URL the test project reads, per backend."""
    if backend == "sqlite-memory":
        return "sqlite://"
    if backend == "sqlite-file":
        return f"sqlite:///{workdir / 'soak.sqlite3'}"
    url = SERVER_URLS[backend]
    if control:
        # Its own name: a failed test database teardown stays out of the soak's.
        parts = urlsplit(url)
        url = parts._replace(path=parts.path.rstrip("/") + "_control").geturl()
    return url


def _environment(url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("PYTEST")
    }
    env.pop("RESTFLOW_PARITY_MODE", None)
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="testproject.settings",
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )
    return env


def _execute(
    command: list[str], workdir: Path, env: dict[str, str], timeout: float
) -> tuple[int | None, float, str]:
    """Run in its own process group; on timeout kill that group (a hang)."""
    started = time.monotonic()
    with subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
            code: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            code = None
    return code, time.monotonic() - started, output


def run_pytest(
    workdir: Path, url: str, seed: int, timeout: float, control: bool
) -> Run:
    junit = workdir / f"junit-{seed}.xml"
    junit.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "randomly",
        f"--randomly-seed={seed}",
        f"--junitxml={junit}",
        *(["-o", ISOLATION_OFF] if control else []),
    ]
    code, wall, output = _execute(command, workdir, _environment(url), timeout)
    run = Run(seed, wall, code)
    if junit.exists():
        _read_junit(junit, run)
    if code is None:
        run.run_error = f"hang: killed after {timeout:.0f}s\n{output[-1500:]}"
    elif code not in (0, 1) or (code == 1 and not run.problems):
        run.run_error = f"exit {code}\n{output[-3000:]}"
    return run


def _read_junit(path: Path, run: Run) -> None:
    for case in ET.parse(path).getroot().iter("testcase"):
        test = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        texts = []
        for child in case:
            if child.tag in ("failure", "error"):
                # A failed call beats an error in teardown for the outcome.
                if outcome != "failed":
                    outcome = "failed" if child.tag == "failure" else "error"
                texts.append(f"{child.get('message', '')}\n{child.text or ''}")
            elif child.tag == "skipped":
                outcome = "skipped"
        _record(run, test, outcome, "\n".join(texts))


def _record(run: Run, test: str, outcome: str, message: str) -> None:
    run.outcomes[test] = outcome
    if outcome not in ("failed", "error"):
        return
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    leak = next((line for line in lines if "LEAK:" in line), None)
    # The exception line: junit's message comes first, a traceback's last.
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    headline = leak or (raised[0] if raised else lines[0] if lines else outcome)
    run.problems[test] = headline[:400]
    if leak:
        run.leaks.append(test)
        run.causes["LEAK"] += 1
    else:
        run.causes[headline[:90]] += 1


def run_django(workdir: Path, url: str, seed: int, timeout: float) -> Run:
    results = workdir / f"django-{seed}.json"
    results.unlink(missing_ok=True)
    command = [
        sys.executable,
        "manage.py",
        "test",
        "--noinput",
        "--testrunner",
        "soak_runner.SoakRunner",
        "--shuffle",
        str(seed),
        "-p",
        "test_ut_*.py",
    ]
    env = _environment(url, SOAK_RESULTS=str(results))
    code, wall, output = _execute(command, workdir, env, timeout)
    run = Run(seed, wall, code)
    if results.exists():
        for test, result in json.loads(results.read_text())["outcomes"].items():
            _record(run, test, result["outcome"], result["message"])
    if code is None:
        run.run_error = f"hang: killed after {timeout:.0f}s\n{output[-1500:]}"
    elif code not in (0, 1) or (code == 1 and not run.problems) or not run.outcomes:
        run.run_error = f"exit {code}\n{output[-3000:]}"
    return run


# --- reporting ----------------------------------------------------------------


def versions() -> dict[str, str]:
    """Package, database and machine versions for the report."""
    found = {name: metadata.version(name) for name in PACKAGES}
    found["Python"] = platform.python_version()
    found["SQLite"] = sqlite3.sqlite_version
    for backend, url in SERVER_URLS.items():
        try:
            found[backend] = _server_version(url)
        except Exception as error:  # a missing server is reported, not fatal
            found[backend] = f"unavailable ({type(error).__name__})"
    found["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}"
    )
    return found


def _server_version(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        import psycopg

        with psycopg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username,
            dbname="postgres",
            connect_timeout=5,
        ) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL"
    import pymysql

    connection = pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        connect_timeout=5,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
            return str(row[0]) if row else "MySQL"
    finally:
        connection.close()


def table(summaries: list[Summary]) -> str:
    """The results as a Markdown table."""
    header = (
        "| backend | runner | runs | tests/run | passed | failed | errors | leaks "
        "| flakes | hangs | run errors | wall total | wall/run |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |\n"
    )
    rows = []
    for item in summaries:
        cells = [
            item.backend,
            item.part,
            len(item.runs),
            item.tests_per_run,
            item.count("passed"),
            item.count("failed"),
            item.count("error"),
            item.leaks,
            len(item.flakes),
            item.hangs,
            item.run_errors,
            _duration(item.wall),
            f"{item.wall / (len(item.runs) or 1):.1f} s",
        ]
        rows.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return header + "\n".join(rows)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _explain(summaries: list[Summary], limit: int = 15) -> list[str]:
    lines = []
    for item in summaries:
        for run in item.runs:
            if run.run_error:
                lines.append(
                    f"{item.backend}/{item.part} seed {run.seed}: {run.run_error}"
                )
            for test, message in list(run.problems.items())[:limit]:
                lines.append(
                    f"{item.backend}/{item.part} seed {run.seed}: {test}: {message}"
                )
        for test in item.flakes[:limit]:
            lines.append(f"{item.backend}/{item.part}: FLAKE {test}")
        for cause, count in item.causes.most_common(limit):
            lines.append(f"{item.backend}/{item.part}: {count} x {cause}")
    return lines


# --- main ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Leak and flake soak for restflow-parity."
    )
    parser.add_argument(
        "--runs", type=int, help="runs per backend (default 10; 1 with --control)"
    )
    parser.add_argument(
        "--backends", help=f"comma-separated, from {', '.join(BACKENDS)}"
    )
    parser.add_argument("--seed", type=int, help="base seed for the run seeds")
    parser.add_argument(
        "--control",
        action="store_true",
        help="pytest only, async isolation off: the invariants must catch leaks",
    )
    parser.add_argument(
        "--parts", default="pytest,django", help="pytest, django or both (default)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before a run is a hang"
    )
    parser.add_argument("--json", type=Path, help="write the full results here")
    parser.add_argument("--workdir", type=Path, help="generate here and keep it")
    parser.add_argument(
        "--with-async-fixtures",
        action="store_true",
        help="add tests whose async def fixtures write rows (a known leak)",
    )
    options = parser.parse_args(argv)

    chosen = (
        (options.backends or "").split(",")
        if options.backends
        else list(CONTROL_BACKENDS if options.control else BACKENDS)
    )
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}; choose from {BACKENDS}")
    parts = ["pytest"] if options.control else options.parts.split(",")
    base_seed = (
        options.seed
        if options.seed is not None
        else random.SystemRandom().randrange(10**6)
    )
    runs = options.runs or (1 if options.control else 10)
    seeds = random.Random(base_seed).sample(range(1, 10**6), runs)

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="rp-soak-"))
    plan = generate(workdir, with_async_fixtures=options.with_async_fixtures)
    expected = {"pytest": plan.pytest_items, "django": plan.django_items}
    print(
        f"soak: {plan.pytest_items} pytest items ({plan.async_items} async), "
        f"{plan.django_items} manage.py test items, in {workdir}; base seed "
        f"{base_seed}, seeds {seeds}"
        + (" [CONTROL: isolation off]" if options.control else ""),
        flush=True,
    )

    started = time.monotonic()
    summaries = []
    for backend in chosen:
        url = database_url(backend, workdir, options.control)
        for part in parts:
            summary = Summary(backend, part, expected[part])
            summaries.append(summary)
            for number, seed in enumerate(seeds, 1):
                if part == "pytest":
                    run = run_pytest(
                        workdir, url, seed, options.timeout, options.control
                    )
                else:
                    run = run_django(workdir, url, seed, options.timeout)
                if len(run.outcomes) != expected[part] and not run.run_error:
                    run.run_error = (
                        f"{len(run.outcomes)} results, expected {expected[part]}"
                    )
                summary.runs.append(run)
                failed = sum(1 for v in run.outcomes.values() if v != "passed")
                print(
                    f"[{backend} {part} {number}/{len(seeds)}] seed {seed}: "
                    f"{len(run.outcomes)} tests, {failed} not passed, "
                    f"{len(run.leaks)} leaks, exit {run.exit_code}, {run.wall:.1f} s",
                    flush=True,
                )
    total = time.monotonic() - started

    found = versions()
    title = "Control (async isolation off)" if options.control else "Soak"
    today = datetime.now(timezone.utc).date()
    print(f"\n## {title}: {today}, total {_duration(total)}\n")
    print(table(summaries))
    print("\n" + ", ".join(f"{name} {value}" for name, value in found.items()))
    for line in _explain(summaries):
        print(line)

    if options.json:
        options.json.write_text(
            json.dumps(
                {
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "control": options.control,
                    "base_seed": base_seed,
                    "seeds": seeds,
                    "manifest": json.loads((workdir / "manifest.json").read_text()),
                    "versions": found,
                    "total_seconds": round(total, 1),
                    "results": [summary.as_dict() for summary in summaries],
                },
                indent=2,
            )
        )
    clean = all(summary.clean for summary in summaries)
    if options.workdir is None and (clean or options.control):
        shutil.rmtree(workdir, ignore_errors=True)
    elif not clean:
        print(f"\nkept {workdir}: rerun a failing order with the seeds above")

    if options.control:
        caught = all(summary.leaks for summary in summaries)
        print(
            "\ncontrol: the invariants caught the leaks"
            if caught
            else "\ncontrol: NO LEAK CAUGHT - the invariants are vacuous"
        )
        return 0 if caught else 1
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
