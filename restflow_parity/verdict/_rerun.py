"""``--parity-rerun``: rerun each variant of a mismatch alone, in a fresh process.

A variant that failed after other tests but passes alone is order-dependent:
something run before it (often the other variant of the same body) left
state behind. One that fails alone too, while the other variant passes
alone, shows a real difference between the stacks. Both variants are rerun,
because the passing one may be the variant that depended on the order.

Each rerun is a new ``pytest`` (or ``manage.py test``) process that runs the
one variant, with ``--parity-report`` to a temporary file, which is where the
outcome is read from. The results land in ``Variant.alone``, and
``Verdict.triage()`` turns them into the label.

A rerun runs under the interpreter options of the first run (``-W``, ``-X``,
``-b``, ``-O``...) and in its environment: under ``python -W error ...`` a
warning that fails a variant must fail it alone too, or a stack difference
would read as order-dependent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restflow_parity._thirdparty.cpython import interpreter_flags
from restflow_parity.variants._mode import ENV_VAR, MODES
from restflow_parity.verdict._report import Report, ReportError
from restflow_parity.verdict._summary import ParityTally, Variant

__all__ = [
    "interpreter_options",
    "manage_py",
    "pytest_command",
    "rerun_django",
    "rerun_pytest",
]

TIMEOUT = 900  # seconds for one rerun: a whole test database set-up included

# Options of the first run that must not reach a rerun of one test: they
# would select other tests, shard, spread over workers or rerun again.
_DROP_WITH_VALUE = {
    "-k",
    "-m",
    "-n",
    "--numprocesses",
    "--dist",
    "--maxprocesses",
    "--splits",
    "--group",
    "--splitting-algorithm",
    "--durations-path",
    "--parity-report",
    "--parity-mode",
    "--deselect",
    "--junitxml",
    "--junit-xml",
}
_DROP_FLAGS = {
    "--parity-rerun",
    "--lf",
    "--last-failed",
    "--ff",
    "--failed-first",
    "--sw",
    "--stepwise",
    "-x",
    "--exitfirst",
    "--store-durations",
}


def interpreter_options() -> list[str]:
    """This interpreter's own options (``-W``, ``-X``, ``-b``, ``-O``, ``-E``...),
    for a child that must run as this process does."""
    return interpreter_flags()


def rerun_pytest(config: Any, tally: ParityTally) -> list[str]:
    """Rerun the variants of ``tally``'s mismatches alone; note what went wrong."""
    base = pytest_command(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    return _rerun(tally, base, env, str(config.rootpath))


def pytest_command(config: Any) -> list[str]:
    """``python -m pytest`` with the first run's options, less the selecting ones."""
    positional = set(config.option.file_or_dir or ())
    kept: list[str] = []
    args = list(config.invocation_params.args)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        name = arg.partition("=")[0]
        if arg in positional:
            continue
        if name in _DROP_FLAGS:
            continue
        if name in _DROP_WITH_VALUE:
            if "=" not in arg:
                index += 1  # its value is the next word
            continue
        if arg[:2] in {"-k", "-m", "-n"} and len(arg) > 2 and not arg.startswith("--"):
            continue  # -n2, -kexpr
        kept.append(arg)
    command = [sys.executable, *interpreter_options(), "-m", "pytest", *kept]
    command += ["-p", "no:cacheprovider"]
    if config.inipath is not None:
        command += ["-c", str(config.inipath)]
    command += ["--rootdir", str(config.rootpath)]
    if config.pluginmanager.hasplugin("xdist"):
        command += ["-n", "0"]  # an addopts "-n 2" would start workers for one test
    return command


def rerun_django(runner: Any, tally: ParityTally) -> list[str]:
    """Rerun the variants of ``tally``'s mismatches alone with ``manage.py test``."""
    options = runner.parity_options
    base = [*manage_py(), "test", "--noinput", "-v", "0"]
    base += ["--testrunner", f"{type(runner).__module__}.{type(runner).__qualname__}"]
    for name in ("settings", "pythonpath"):
        if options.get(name):
            base += [f"--{name}", str(options[name])]
    if getattr(runner, "keepdb", False):
        base.append("--keepdb")

    return _rerun(tally, base, dict(os.environ), os.getcwd())


def _rerun(
    tally: ParityTally, base: Sequence[str], env: dict[str, str], cwd: str
) -> list[str]:
    """Run each mismatching variant alone: ``base`` plus its id, mode and report.

    ``alone`` is set on the variant the tally recorded: a verdict holds the
    variants as judged, which may be copies.
    """
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="restflow-parity-rerun-") as folder:
        for number, verdict in enumerate(tally.mismatches()):
            for mode in MODES:
                variant = tally.variants[(verdict.test, mode)]
                report = str(Path(folder) / f"{number}-{mode}.json")
                done = subprocess.run(
                    [
                        *base,
                        variant.id,
                        "--parity-mode",
                        mode,
                        "--parity-report",
                        report,
                    ],
                    cwd=cwd,
                    env={**env, ENV_VAR: mode},
                    capture_output=True,
                    text=True,
                    timeout=TIMEOUT,
                )
                variant.alone = _outcome(report, variant)
                if variant.alone is None:
                    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
                    notes.append(
                        f"    could not rerun {variant.id} alone (exit code "
                        f"{done.returncode}): {' | '.join(tail)}"
                    )
    return notes


def _outcome(path: str, variant: Variant) -> str | None:
    try:
        report = Report.read(path)
    except ReportError:
        return None
    for found in report.variants:
        if found.test == variant.test and found.mode == variant.mode:
            return found.judged().outcome
    return None


def manage_py() -> list[str]:
    """How to start ``manage.py`` again, for reruns: with this interpreter's
    options (``-W error``...), so a rerun fails where this run did."""
    python = [sys.executable, *interpreter_options()]
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if script.endswith(".py") and os.path.isfile(script):
        return [*python, script]
    return [*python, "-m", "django"]
