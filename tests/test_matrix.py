"""The CI matrix of settings_snippets/github-actions.yml, simulated on one machine.

Two stacks times two pytest-split shards run as four concurrent pytest
processes, each with the command line the workflow gives its job; then the
workflow's merge step runs over their reports. The merged verdict must equal
the verdict of one process running the same suite, a planted mismatch
included, although each test's two variants ran in different jobs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_plugin import project

from restflow_parity.verdict._report import Report

pytestmark = pytest.mark.tooling

pytest_plugins = ["pytester"]
__all__ = ["project"]  # the fixture, imported for the tests here

WORKFLOW = (
    Path(__file__).resolve().parent.parent / "settings_snippets" / "github-actions.yml"
)

SUITE = """
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APITestCase

from restflow_parity import run_both_modes


@run_both_modes
@pytest.mark.django_db
@pytest.mark.parametrize("name", ["ada", "bob", "cy"])
def test_create(parity_client, name):
    response = parity_client.post("/users/", {"username": name}, format="json")
    assert response.data == {"count": 1, "has_scope": True}


@run_both_modes
@pytest.mark.django_db
async def test_async_body(parity_client):
    response = await parity_client.post("/users/", {"username": "x"}, format="json")
    assert response.data["count"] == 1


@run_both_modes
def test_only_sync_works(parity_mode):  # the planted mismatch
    assert parity_mode == "sync"


@run_both_modes
@pytest.mark.skip(reason="skipped on both stacks")
def test_skipped(parity_mode):
    pass


def test_not_a_parity_test():
    pass


@run_both_modes
class Users(APITestCase):
    def test_list(self):
        assert self.client.get("/users/").data["count"] == 0

    async def test_async_list(self):
        assert (await self.client.get("/users/")).data["count"] == 0
"""


def workflow_jobs() -> tuple[list[dict[str, str]], str, list[str]]:
    """The matrix's cells, the tests job's pytest arguments, the merge command."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    tests, parity = workflow["jobs"]["tests"], workflow["jobs"]["parity"]
    matrix = tests["strategy"]["matrix"]
    cells = [
        {"stack": stack, "group": str(group)}
        for stack in matrix["stack"]
        for group in matrix["group"]
    ]
    (nox_run,) = [s["run"] for s in tests["steps"] if "nox -s" in s.get("run", "")]
    posargs = nox_run.partition(" -- ")[2]
    (merge_run,) = [s["run"] for s in parity["steps"] if "merge" in s.get("run", "")]
    return cells, posargs, shlex.split(merge_run)


def environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PYTEST_")
        and name
        not in ("DJANGO_SETTINGS_MODULE", "RESTFLOW_PARITY_MODE", "GITHUB_STEP_SUMMARY")
    }
    # Four jobs at once on one machine: each its own in-memory database.
    env.pop("DATABASE_URL", None)
    return env


def job_command(cell: dict[str, str], posargs: str) -> list[str]:
    """What nox -s "tests(stack)" -- ARGS runs (settings_snippets/noxfile.py)."""
    for name, value in cell.items():
        posargs = posargs.replace("${{ matrix." + name + " }}", value)
    assert "${{" not in posargs, posargs
    args = shlex.split(posargs)
    return [sys.executable, "-m", "pytest", "--parity-mode", cell["stack"], *args]


def simulate(folder: Path, *, at_once: bool = True) -> dict[str, Any]:
    """Run the matrix and the merge, and one process; return what happened.

    The four jobs run at once, as on CI, unless ``at_once`` is false; then
    they run one after the other and each one's time is kept.
    """
    cells, posargs, merge = workflow_jobs()
    env = environment()
    started = time.perf_counter()
    jobs, outputs, alone = [], [], []
    for cell in cells:
        jobs.append(
            subprocess.Popen(
                job_command(cell, posargs),
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        if not at_once:
            outputs.append(jobs[-1].communicate(timeout=300)[0])
            alone.append(time.perf_counter() - started - sum(alone))
    if at_once:
        outputs = [job.communicate(timeout=300)[0] for job in jobs]
    jobs_done = time.perf_counter()
    assert merge[:3] == ["python", "-m", "restflow_parity"]
    merged = subprocess.run(
        [sys.executable, *merge[1:], "--output", "merged.json"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    merge_done = time.perf_counter()
    single = subprocess.run(
        [sys.executable, "-m", "pytest", "--parity-report", "single.json"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    single_done = time.perf_counter()
    return {
        "cells": cells,
        "jobs": jobs,
        "outputs": outputs,
        "merged": merged,
        "single": single,
        "alone": alone,
        "seconds": {
            "4 jobs": jobs_done - started,
            "merge": merge_done - jobs_done,
            "one process": single_done - merge_done,
        },
    }


def verdicts(report: Report) -> dict[str, tuple[str, str]]:
    return {v.test: (v.kind, v.outcomes()) for v in report.tally().verdicts()}


RANDOM_ORDER_INI = """[pytest]
DJANGO_SETTINGS_MODULE = proj_settings
addopts = -p no:cacheprovider
filterwarnings =
    error
asyncio_default_fixture_loop_scope = function
"""


def test_the_merged_matrix_gives_the_single_process_verdict(
    project: pytest.Pytester,
) -> None:
    # Every job orders its tests at random (pytest-randomly, a seed each), as
    # a suite with pytest-randomly does in CI: the shards must still split
    # each stack without a gap or an overlap.
    project.makeini(RANDOM_ORDER_INI)
    project.makepyfile(test_suite=SUITE)
    done = simulate(project.path)
    for job, output in zip(done["jobs"], done["outputs"], strict=True):
        # A job fails when a test fails: the planted mismatch's async variant.
        assert job.returncode in (0, 1), output
        assert "[100%]" in output, output
        assert "Using --randomly-seed=" in output, output
    reports = {
        f"{c['stack']}-{c['group']}": Report.read(
            project.path / "reports" / f"{c['stack']}-{c['group']}.json"
        )
        for c in done["cells"]
    }
    # The shards split each stack: every variant ran in exactly one job.
    ran = [v.id for report in reports.values() for v in report.variants]
    assert len(ran) == len(set(ran)) == 16
    for name, report in reports.items():
        assert {v.mode for v in report.variants} <= {name.split("-")[0]}
        assert report.variants, f"shard {name} ran no variant"

    merged = done["merged"]
    assert merged.returncode == 1, merged.stdout + merged.stderr
    assert (
        "    test_suite.py::test_only_sync_works[*]: sync passed, async failed "
        "(ran in different runs)"
    ) in merged.stdout
    assert "  merged from 4 run(s) in 4 file(s)" in merged.stdout
    assert (project.path / "parity.xml").exists()

    single = Report.read(project.path / "single.json")
    assert verdicts(Report.read(project.path / "merged.json")) == verdicts(single)
    assert verdicts(single)["test_suite.py::test_only_sync_works[*]"] == (
        "mismatch",
        "sync passed, async failed",
    )
    assert done["single"].returncode == 1
    single_lines = [
        line.strip()
        for line in done["single"].stdout.splitlines()
        if "test_only_sync_works[*]:" in line
    ]
    assert single_lines in (
        [
            "test_suite.py::test_only_sync_works[*]: sync passed, async failed "
            f"({first} ran first, in the same process)"
        ]
        for first in ("sync", "async")
    ), single_lines


def test_a_lost_shard_is_reported_never_taken_for_parity(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_suite=SUITE.replace('assert parity_mode == "sync"', "pass"))
    done = simulate(project.path)
    assert done["merged"].returncode == 0, done["merged"].stdout
    lost = project.path / "reports" / "async-2.json"
    missing = {v.test for v in Report.read(lost).variants}
    lost.unlink()
    merged = subprocess.run(
        [sys.executable, "-m", "restflow_parity", "merge", "reports"],
        cwd=project.path,
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert merged.returncode == 3, merged.stdout + merged.stderr
    assert "ran on one stack only, so parity is unknown" in merged.stdout
    for test in missing:
        assert f"    {test}: sync " in merged.stdout
