# restflow-parity: one nox session per stack, for a CI matrix to call.
# Copy into your project's noxfile.py; `nox -s "tests(sync)"` and
# `nox -s "tests(async)"` each run the whole suite, @run_both_modes tests on
# that stack only.
import nox


@nox.session
@nox.parametrize(
    "stack", [nox.param("sync", id="sync"), nox.param("async", id="async")]
)
def tests(session: nox.Session, stack: str) -> None:
    session.install("-r", "requirements.txt", "restflow-parity[pytest]")
    session.run("python", "-m", "pytest", "--parity-mode", stack, *session.posargs)
