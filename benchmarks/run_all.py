"""Run every benchmark and write the results page.

Run: python benchmarks/run_all.py [--output docs/benchmarks.md] [--only scope,live]

Each ``bench_*.py`` runs in its own process (they configure Django
differently) with this interpreter and environment, so ``DATABASE_URL``
chooses the database for all of them. Their ``BENCH-RESULT`` lines become one
Markdown table of ratios against the baseline measured in the same run, headed
by the machine and the versions it ran on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from _report import MARKER

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGES = (
    "restflow-parity",
    "Django",
    "djangorestframework",
    "asgiref",
    "pytest",
    "pytest-django",
    "pytest-xdist",
    "uvicorn",
    "channels",
)
#: What follows this line on the page is kept as it is: the analysis.
NOTES_MARKER = "<!-- Written by hand below: run_all.py keeps it. -->"
#: bench_tax's per-thread rows, drawn as one pie per client.
BREAKDOWN = ("AsyncAPIClient", "Django AsyncClient")
INTRO = """\
# Benchmarks

Every number here was measured in one run of `python benchmarks/run_all.py`
(or `nox -s bench`), which rewrites this page. Each benchmark measures our
side and a baseline in the same process, interleaving their rounds so that
machine noise hits both alike; the **ratio** (ours / baseline, lower is
faster) is the number to compare across machines, not the absolute times.
Run one benchmark alone with `python benchmarks/bench_<name>.py`.
"""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def environment() -> list[str]:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    database = os.environ.get("DATABASE_URL", "").split(":", 1)[0] or "sqlite"
    return [
        f"- Date: {datetime.date.today().isoformat()}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()}",
        f"- Python {platform.python_version()}; {', '.join(versions)}",
        f"- Database: {database} (from `DATABASE_URL`)",
    ]


def run(script: Path) -> tuple[list[dict[str, Any]], int]:
    print(f"\n=== {script.name} ===", flush=True)
    rows = []
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(MARKER):
                result = json.loads(line[len(MARKER) :])
                rows.append({"benchmark": script.stem, **result})
            else:
                print(line, end="", flush=True)
    return rows, process.returncode


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| benchmark | measure | ours | baseline | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "cell" in row:
            continue  # drawn by matrix()
        baseline = number(row["baseline"], row["unit"])
        if row["baseline_name"]:
            baseline = f"{baseline} ({row['baseline_name']})"
        lines.append(
            f"| {row['benchmark']} | {row['measure']} | "
            f"{number(row['ours'], row['unit'])} | {baseline} | "
            f"{number(row['ratio'])} | {row['target'] or '-'} |"
        )
    return lines


def matrix(rows: list[dict[str, Any]]) -> list[str]:
    """One request per client, machine state and process: a table per shape.

    The cells are medians in µs per request; the two ratio columns divide
    those medians (the paired ratios, sturdier, are in the table below).
    """
    cells = [row for row in rows if "cell" in row]
    if not cells:
        return []
    clients = list(dict.fromkeys(row["cell"]["client"] for row in cells))
    lines = ["", "## One request, in each machine state", ""]
    for shape in dict.fromkeys(row["cell"]["shape"] for row in cells):
        found: dict[tuple[str, str, str], float] = {}
        for row in cells:
            cell = row["cell"]
            if cell["shape"] == shape:
                found[cell["state"], cell["process"], cell["client"]] = row["ours"]
        lines += [
            f"Request: {shape} (µs per request, median)",
            "",
            "| machine | process | "
            + " | ".join(clients)
            + " | ours / Django, async | async / sync, ours |",
            "|---|---|" + "---|" * (len(clients) + 2),
        ]
        for state, process in dict.fromkeys(key[:2] for key in found):
            value = {client: found.get((state, process, client)) for client in clients}
            lines.append(
                f"| {state} | {process} | "
                + " | ".join(number(value[client]) for client in clients)
                + f" | {_divide(value.get(OURS), value.get(DJANGO))}"
                + f" | {_divide(value.get(OURS), value.get(SYNC))} |"
            )
        lines.append("")
    return lines


#: The matrix's ratio columns: these clients' cells.
OURS, DJANGO, SYNC = "AsyncAPIClient", "Django AsyncClient", "DRF APIClient"


def _divide(ours: float | None, baseline: float | None) -> str:
    return number(ours / baseline) if ours and baseline else "-"


def chart(rows: list[dict[str, Any]]) -> list[str]:
    """Where one request's time goes, per client, as mermaid pies."""
    lines: list[str] = []
    for client in BREAKDOWN:
        parts = [
            (row["measure"].removeprefix(f"{client}: "), row["ours"])
            for row in rows
            if row["measure"].startswith(f"{client}: ")
        ]
        if not parts:
            continue
        total = sum(value for _, value in parts)
        if not lines:
            lines += ["", "## Where the time of one async request goes", ""]
        lines += [
            "```mermaid",
            f"pie title {client}, GET of a DRF list view: {total:.0f} µs",
            *(f'    "{part}" : {value:.0f}' for part, value in parts),
            "```",
            "",
        ]
    return lines


def notes(output: Path) -> list[str]:
    """The hand-written part of the page, which a run keeps."""
    if not output.exists():
        return []
    _, marker, kept = output.read_text().partition(NOTES_MARKER)
    return ["", NOTES_MARKER + kept.rstrip("\n")] if marker else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument(
        "--only", default="", help="comma-separated names, e.g. scope,client"
    )
    args = parser.parse_args()
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    scripts = sorted(HERE.glob("bench_*.py"))
    if wanted:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
        if not scripts:
            parser.error(f"no benchmark matches --only {args.only!r}")
    rows: list[dict[str, Any]] = []
    failed = []
    for script in scripts:
        found, returncode = run(script)
        rows.extend(found)
        if returncode or not found:
            failed.append(script.name)
    lines = [INTRO, *environment(), *matrix(rows), "", *table(rows), *chart(rows)]
    if failed:
        lines += ["", f"Failed or reported nothing: {', '.join(failed)}."]
    lines += notes(args.output)
    page = "\n".join(lines) + "\n"
    args.output.write_text(page)
    print(f"\n{page}\nwritten to {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
