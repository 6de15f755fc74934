"""Run Django's, DRF's and adrf's own test suites with restflow-parity swapped in.

    python conformance/run.py [--suite django|drf|adrf|all] [--json out.json]

Exit status: 0 when every new failure is a listed difference, 1 when one is
not (or a run crashed, or with --strict-stale an entry is stale), 2 when the
harness cannot start (no sdist, a malformed differences.toml). See
docs/guides/conformance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sources
import suites
import verdict

TIMEOUT = 900  # seconds per run; the slowest takes about 20


@dataclass
class Job:
    suite: suites.Suite
    run: suites.Run
    out: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0
    crashed: str = ""

    def start(self, argv: list[str], cwd: Path) -> None:
        self.out.unlink(missing_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=suites.environment(self.run),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started = time.monotonic()

    def wait(self) -> None:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
            self.crashed = f"killed after {TIMEOUT} s"
        self.seconds = time.monotonic() - self.started
        if not self.crashed and (not self.out.exists() or not self.tests()):
            tail = self.log.read_text(errors="replace").splitlines()[-25:]
            self.crashed = f"exit {code}, no outcomes recorded:\n" + "\n".join(tail)

    def record(self) -> dict[str, Any]:
        if not self.out.exists():
            return {}
        loaded: dict[str, Any] = json.loads(self.out.read_text())
        return loaded

    def tests(self) -> dict[str, dict[str, Any]]:
        tests: dict[str, dict[str, Any]] = self.record().get("tests", {})
        return tests


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="conformance/run.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=[*suites.SUITES, "all"],
        help="a suite to run (repeatable; default all)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="RUN",
        help="only these swapped runs (the unchanged ones always run), e.g. dropin",
    )
    parser.add_argument("--json", type=Path, help="write the verdict here as JSON")
    parser.add_argument(
        "--strict-stale", action="store_true", help="fail on stale differences too"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="pytest-xdist workers per pytest run (0: none; default 2)",
    )
    parser.add_argument("--cache", type=Path, default=sources.DEFAULT_CACHE)
    parser.add_argument("--results", type=Path, help="folder for records and logs")
    parser.add_argument("--differences", type=Path, default=verdict.DIFFERENCES)
    parser.add_argument(
        "--adrf-checkout",
        type=Path,
        help="a checkout of adrf's repository: its sdist ships no tests",
    )
    for name in suites.SUITES:
        parser.add_argument(
            f"--{name}-tests",
            nargs="+",
            default=(),
            metavar="LABEL",
            help=f"run only these of {name}'s tests (labels or pytest node ids)",
        )
    return parser.parse_args(argv)


def selected(args: argparse.Namespace) -> list[suites.Suite]:
    names = args.suite or ["all"]
    return [s for s in suites.SUITES.values() if "all" in names or s.name in names]


def main(argv: list[str]) -> int:
    args = parse(argv)
    swapped_runs = {
        s.name: tuple(r.name for r in s.runs[1:]) for s in suites.SUITES.values()
    }
    lacking = {s.name: suites.missing(s) for s in selected(args)}
    if any(lacking.values()):
        for name, modules in lacking.items():
            if modules:
                print(
                    f"conformance: {name} needs {', '.join(modules)}", file=sys.stderr
                )
        print(
            "conformance: pip install -r conformance/requirements.txt", file=sys.stderr
        )
        return 2
    try:
        differences = verdict.load_differences(args.differences, swapped_runs)
        trees = {s.name: prepare(s, args.cache, args) for s in selected(args)}
    except (sources.SourceError, verdict.DifferencesError) as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2
    results = args.results or args.cache / "results" / _environment_name()
    results.mkdir(parents=True, exist_ok=True)
    workers = args.workers
    jobs = []
    for suite in selected(args):
        tree = trees[suite.name]
        if tree is None:
            continue
        for run in suite.runs:
            if run is not suite.baseline and args.only and run.name not in args.only:
                continue
            slug = f"{suite.name}-{run.name}"
            job = Job(suite, run, results / f"{slug}.json", results / f"{slug}.log")
            jobs.append((job, getattr(args, f"{suite.name}_tests")))
    started = time.monotonic()
    execute(jobs, trees, workers)
    report = summarise([job for job, _ in jobs], differences, trees, args.strict_stale)
    report["seconds"] = round(time.monotonic() - started, 1)
    print(f"\nresults and logs: {results}  ({report['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(report["closing"])
    return 0 if report["ok"] else 1


def _environment_name() -> str:
    versions = [f"py{sys.version_info[0]}.{sys.version_info[1]}"]
    for suite in suites.SUITES.values():
        version = sources.installed_version(suite.distribution)
        versions.append(f"{suite.name}{version or '-'}")
    return "-".join(versions)


def prepare(suite: suites.Suite, cache: Path, args: argparse.Namespace) -> Path | None:
    """The suite's unpacked sdist, or None (with a note) when it has no tests."""
    version = sources.installed_version(suite.distribution)
    if version is None and suite.name == "adrf":
        print("adrf: not installed; its runs are left out (pip install adrf)")
        return None
    if suite.name == "adrf" and args.adrf_checkout:
        return sources.checkout_tree(args.adrf_checkout, "adrf", cache)
    tree = sources.source_tree(suite.distribution, cache)
    if suite.runner != "django" and not (tree / "tests").is_dir():
        hint = " (pass --adrf-checkout PATH)" if suite.name == "adrf" else ""
        print(
            f"{suite.name}: the sdist of {suite.distribution.name} {version} ships "
            f"no tests/ folder, so there is no suite of its own to run{hint}"
        )
        return None
    return tree


def execute(
    jobs: list[tuple[Job, tuple[str, ...]]],
    trees: dict[str, Path | None],
    workers: int,
) -> None:
    # Django's runs mostly wait (its ASGI tests sleep), so they run side by
    # side, with the one-process Django-runner suites; the pytest runs take
    # both cores each (xdist) and go one by one.
    def start(job: Job, labels: tuple[str, ...]) -> None:
        tree = trees[job.suite.name]
        assert tree is not None
        argv, cwd = suites.command(job.suite, job.run, tree, job.out, labels, workers)
        print(f"running {job.run.key}", flush=True)
        job.start(argv, cwd)

    waiting = []
    for job, labels in jobs:
        if job.suite.runner != "pytest":
            start(job, labels)
            # A thread per run, so each one's time is its own.
            waiting.append(threading.Thread(target=job.wait))
            waiting[-1].start()
    for job, labels in jobs:
        if job.suite.runner == "pytest":
            start(job, labels)
            job.wait()
    for thread in waiting:
        thread.join()


def summarise(
    jobs: list[Job],
    differences: list[verdict.Difference],
    trees: dict[str, Path | None],
    strict_stale: bool,
) -> dict[str, Any]:
    rows: list[list[Any]] = []
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    ok = True
    baselines = {j.suite.name: j for j in jobs if j.run is j.suite.baseline}
    for job in jobs:
        base = baselines[job.suite.name]
        entry: dict[str, Any] = {
            "suite": job.suite.name,
            "run": job.run.name,
            "seconds": round(job.seconds, 1),
            "classes": job.record().get("classes", {}),
            "versions": job.record().get("versions", {}),
        }
        if job.crashed or base.crashed:
            ok = False
            entry["crashed"] = (
                job.crashed or f"the unchanged run crashed: {base.crashed}"
            )
            notes.append(f"{job.run.key} CRASHED: {entry['crashed']}")
            rows.append([job.suite.name, job.run.name, "crashed"])
            runs.append(entry)
            continue
        tests = job.tests()
        judged = verdict.judge(
            job.suite.name, job.run.name, base.tests(), tests, differences
        )
        baseline_run = job is base
        entry.update(
            counts=judged.counts,
            new_failures=[] if baseline_run else [asdict(f) for f in judged.new],
            unlisted=[] if baseline_run else [asdict(f) for f in judged.unlisted],
            stale=[asdict(d) for d in judged.stale],
            asgi_tests=sum(1 for t in tests.values() if t.get("asgi")),
        )
        entry.update(_variants(tests))
        entry.update(_ledger(suites.ledger_path(job.out)))
        c = judged.counts
        rows.append(
            [
                job.suite.name,
                job.run.name,
                c["tests"],
                c["passed"],
                c["failed"],
                c["error"],
                c["skipped"],
                "-" if baseline_run else len(judged.new),
                "-" if baseline_run else len(judged.listed),
                entry["asgi_tests"],
                f"{job.seconds:.0f}s",
            ]
        )
        if not baseline_run:
            ok = ok and judged.ok and not (strict_stale and judged.stale)
            # A variant that passed on the other stack is a false green.
            ok = ok and not entry.get("ledger", {}).get("passed_on_the_other_stack")
            notes += _notes(job, judged, entry)
        runs.append(entry)
    _print_table(rows)
    for line in notes:
        print(line)
    unlisted = sum(len(r.get("unlisted", [])) for r in runs)
    stale = sum(len(r.get("stale", [])) for r in runs)
    crashed = sum(1 for r in runs if "crashed" in r)
    closing = (
        f"conformance: {'OK' if ok else 'FAILED'}: {unlisted} new failures not in "
        f"differences.toml, {stale} stale entries, {crashed} crashed runs"
    )
    return {"ok": ok, "runs": runs, "closing": closing}


def _variants(tests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """For the both-modes runs: how many variants ran, and on which side."""
    variants = [t for t in tests.values() if t.get("mode")]
    if not variants:
        return {}
    ran = [t for t in variants if t["outcome"] != "skipped"]
    return {
        "variants": len(variants),
        "variants_ran": len(ran),
        "variants_asgi": sum(1 for t in ran if t.get("asgi")),
        "variants_wsgi_only": sum(
            1 for t in ran if t.get("wsgi") and not t.get("asgi")
        ),
        "variants_no_request": sum(
            1 for t in ran if not t.get("wsgi") and not t.get("asgi")
        ),
    }


def _ledger(path: Path) -> dict[str, Any]:
    """The product's stack ledger of a both-modes run, from its parity report."""
    if not path.exists():
        return {}
    variants = json.loads(path.read_text())["variants"]
    counted = [v for v in variants if v.get("wsgi") is not None]
    ran = [v for v in counted if v["outcome"] != "skipped"]
    other = {"sync": "asgi", "async": "wsgi"}
    return {
        "ledger": {
            "variants": len(counted),
            "wsgi": sum(v["wsgi"] for v in counted),
            "asgi": sum(v["asgi"] for v in counted),
            "by_design": sum(v.get("by_design", 0) for v in counted),
            "sent_none": sum(1 for v in ran if not (v["wsgi"] or v["asgi"])),
            # The promise: no variant passed having sent on the other stack.
            "passed_on_the_other_stack": sum(
                1
                for v in ran
                if v["outcome"] == "passed"
                and v[other[v["mode"]]] > v.get("by_design", 0)
            ),
        }
    }


def _notes(job: Job, judged: verdict.Verdict, entry: dict[str, Any]) -> list[str]:
    lines = [f"\n{job.run.key}: " + ", ".join(sorted(set(entry["classes"].values())))]
    if "variants" in entry:
        mode = job.run.env.get("RESTFLOW_PARITY_MODE", "?")
        lines.append(
            f"  {entry['variants']} {mode} variants, "
            f"{entry['variants_ran']} ran: {entry['variants_asgi']} built an "
            f"ASGIRequest, {entry['variants_wsgi_only']} only WSGIRequests, "
            f"{entry['variants_no_request']} no request"
        )
    ledger = entry.get("ledger")
    if ledger:
        lines.append(
            f"  stack ledger: {ledger['variants']} variants, {ledger['asgi']} "
            f"requests through ASGI, {ledger['wsgi']} through WSGI "
            f"({ledger['by_design']} by design); {ledger['sent_none']} sent "
            f"none; {ledger['passed_on_the_other_stack']} passed having sent "
            "on the other stack"
        )
    for failure in judged.unlisted:
        lines.append(
            f"  NEW {failure.outcome} (unchanged run: {failure.baseline}) "
            f"{failure.test}\n      {failure.detail}"
        )
    for stale in judged.stale:
        lines.append(f"  STALE (no longer fails) {stale.test}")
    return lines


HEADER = [
    "suite",
    "run",
    "tests",
    "passed",
    "failed",
    "errors",
    "skipped",
    "new",
    "listed",
    "ASGI",
    "time",
]


def _print_table(rows: list[list[Any]]) -> None:
    table = [HEADER, *[[str(cell) for cell in row] for row in rows]]
    widths = [
        max(len(row[i]) for row in table if i < len(row)) for i in range(len(HEADER))
    ]
    print()
    for row in table:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join(cells).rstrip())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
