# restflow-parity: one nox session per stack, for a CI matrix to call, and
# one that runs both stacks apart and merges their reports, as CI does.
# Copy into your project's noxfile.py. `nox -s "tests(sync)"` and
# `nox -s "tests(async)"` each run the whole suite, @run_both_modes tests on
# that stack only; arguments after `--` go to pytest (CI passes
# `--splits 2 --group 1 --splitting-algorithm least_duration
# --parity-report reports/sync-1.json`).
import nox

PACKAGES = ("-r", "requirements.txt", "restflow-parity[pytest]", "pytest-split")


@nox.session
@nox.parametrize(
    "stack", [nox.param("sync", id="sync"), nox.param("async", id="async")]
)
def tests(session: nox.Session, stack: str) -> None:
    session.install(*PACKAGES)
    session.run("python", "-m", "pytest", "--parity-mode", stack, *session.posargs)


@nox.session
def parity(session: nox.Session) -> None:
    """Each stack in its own run, then one verdict: the CI matrix, locally."""
    session.install(*PACKAGES)
    reports = []
    for stack in ("sync", "async"):
        reports.append(f"reports/{stack}.json")
        session.run(
            "python",
            "-m",
            "pytest",
            "--parity-mode",
            stack,
            "--parity-report",
            reports[-1],
            *session.posargs,
            success_codes=[0, 1],  # failing tests still get a verdict
        )
    session.run("python", "-m", "restflow_parity", "merge", *reports)
