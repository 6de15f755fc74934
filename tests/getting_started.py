"""Follow docs/getting-started.md to the letter and run the project it builds.

The page is walked top to bottom in an empty folder, the way a reader would:

* ```bash fences: every command runs (a ``cd`` moves the walk), except
  ``pip install``: the interpreter running this walk already has the package,
  and ``nox -s smoke`` installs the wheel with the extras that line names.
* A fence whose first line names a file changes that file: ```python (marked
  ``<!-- test: project -->``, ``settings`` or a test module) and ```ini blocks
  (``# path``) are written whole; a ```diff block (``--- path``) has its ``-``
  lines replaced by its ``+`` lines, which must match the file exactly once.
* Every test run (``manage.py test`` or ``pytest``) must pass, must have used
  the test settings (the way its command selects them: option, environment
  or the project's default) and must end with a parity summary in which every
  selected stack ran the same number of tests, all passed.

After the walk the system-check section is checked: with the middleware
taken out of the test settings, each runner prints the page's warning lines.

Standard library only: ``nox -s smoke`` runs this in a venv that has only the
wheel. From a shell: ``python tests/getting_started.py [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from doc_fences import DOCS, Block, parse_page

PAGE = DOCS / "getting-started.md"
SETTINGS = "mysite.test_settings"
STACK = {"sync": "WSGI", "async": "ASGI"}
OTHER = {"sync": "async", "async": "sync"}
# What the outer run exported must not choose for the walk's commands.
SCRUBBED_PREFIXES = ("DJANGO_", "RESTFLOW_PARITY_", "PYTEST_", "PYTHONPATH")
# The runners whose system-check output is compared with the page's. pytest
# joins when the plugin runs the checks at session start.
CHECK_RUNNERS: tuple[str, ...] = ("manage.py", "pytest")
CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


class PageError(AssertionError):
    """The page cannot be followed, or what it builds does not pass."""


@dataclass
class Run:
    """One test command of the page and what it printed."""

    command: str
    runner: str  # "manage.py" or "pytest"
    selected_by: str  # "option", "env" or "ini"
    modes: tuple[str, ...]
    output: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)  # mode -> tests passed


@dataclass
class Walk:
    """What following the page did."""

    root: Path  # the folder the page's first command ran in
    project: Path = Path()  # where `cd` led: manage.py's folder
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    pip_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def blocks() -> list[Block]:
    return parse_page(PAGE)


def target(block: Block) -> str | None:
    """The file a block changes, from its first line; None for other blocks."""
    first = block.code.splitlines()[0] if block.code.strip() else ""
    if block.language in ("python", "ini"):
        match = re.fullmatch(r"#\s*([\w./-]+\.(?:py|ini|cfg|toml))\s*", first)
    elif block.language == "diff":
        match = re.fullmatch(r"---\s+([\w./-]+)\s*", first)
    else:
        return None
    return match[1] if match else None


def environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(SCRUBBED_PREFIXES)
    }
    # `python`, `pytest` and `django-admin` are this interpreter's venv's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return env


def walk(root: Path) -> Walk:
    """Follow the page in ``root`` (an empty folder); raise PageError on a fault."""
    for folder in root.resolve().parents:
        found = [folder / n for n in CONFIG_FILES if (folder / n).exists()]
        if found:
            # pytest would take its rootdir and options from there.
            raise PageError(
                f"walk in a folder outside any project, not under {found[0]}"
            )
    started = time.perf_counter()
    done = Walk(root=root, project=root)
    cwd = root
    env = environment()
    for block in blocks():
        path = target(block)
        if block.language == "bash":
            for command in lines(block):
                words = shlex.split(command)
                if words[:1] == ["cd"]:
                    cwd = (cwd / words[1]).resolve()
                    done.project = cwd
                elif "pip" in words and "install" in words:
                    done.pip_lines.append(command)
                else:
                    done.commands.append(command)
                    run = execute(command, cwd, env)
                    if run is not None:
                        done.runs.append(run)
        elif path is not None:
            apply(block, cwd / path)
            done.files.append(path)
        elif block.language in ("python", "ini", "diff"):
            raise PageError(
                f"{block.id}: a {block.language} block must name its file on its "
                "first line (# path, or --- path for a diff), so this walk can "
                "apply it"
            )
    done.seconds = time.perf_counter() - started
    return done


def lines(block: Block) -> list[str]:
    text = re.sub(r"\\\n", " ", block.code)
    return [row.strip() for row in text.splitlines() if row.strip()]


def apply(block: Block, file: Path) -> None:
    if block.language != "diff":
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(block.code)
        return
    body = block.code.splitlines()[2:]  # after the --- and +++ lines
    before = "".join(row[1:] + "\n" for row in body if row[:1] in (" ", "-"))
    after = "".join(row[1:] + "\n" for row in body if row[:1] in (" ", "+"))
    text = file.read_text()
    if text.count(before) != 1:
        raise PageError(
            f"{block.id}: the diff's old lines occur {text.count(before)} times in "
            f"{file.name}, not once:\n{before}\n--- {file.name} is:\n{text}"
        )
    file.write_text(text.replace(before, after))


def execute(command: str, cwd: Path, env: dict[str, str]) -> Run | None:
    """Run one command of the page; a test run's output is checked."""
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise PageError(f"`{command}` exited {done.returncode}:\n{output}")
    words = shlex.split(command)
    if "pytest" in words:
        runner = "pytest"
    elif "manage.py" in words and "test" in words:
        runner = "manage.py"
    else:
        return None
    mode = re.search(r"--parity-mode[= ](\w+)", command)
    modes = ("sync", "async") if mode is None or mode[1] == "both" else (mode[1],)
    if "--settings=" in command or "--ds=" in command:
        selected_by = "option"
    elif "DJANGO_SETTINGS_MODULE=" in command:
        selected_by = "env"
    else:
        selected_by = "ini"
    run = Run(command, runner, selected_by, modes, output, seconds)
    check_run(run)
    return run


def check_run(run: Run) -> None:
    if run.runner == "pytest":
        # pytest-django's header says where it found the settings.
        header = f"settings: {SETTINGS} (from {run.selected_by})"
        if header not in run.output:
            raise PageError(f"`{run.command}`: no '{header}' line:\n{run.output}")
    # The summary comes from the test settings' runner (manage.py) or the plugin.
    if "restflow-parity summary:" not in run.output:
        raise PageError(f"`{run.command}`: no parity summary:\n{run.output}")
    for mode in run.modes:
        # Then the stack ledger: "; 4 requests through WSGI, 0 through ASGI".
        found = re.search(
            rf"^  {mode}: (\d+) ran \((\d+) passed\); [\d,]+ requests? through "
            rf"{STACK[mode]}, 0 through {STACK[OTHER[mode]]}(?:;|$)",
            run.output,
            re.M,
        )
        if found is None or found[1] != found[2] or found[1] == "0":
            raise PageError(
                f"`{run.command}`: the {mode} stack did not run and pass every "
                f"test:\n{run.output}"
            )
        run.counts[mode] = int(found[1])
    if len(set(run.counts.values())) > 1:
        raise PageError(f"`{run.command}`: the stacks ran unlike tests: {run.counts}")


def check_summary(done: Walk) -> None:
    """The page's summary is what a plain ``pytest`` prints for its tests."""
    (block,) = [
        b for b in blocks() if b.language == "text" and "parity summary:" in b.code
    ]
    (run,) = [r for r in done.runs if r.command == "pytest"]
    printed = run.output[run.output.index("restflow-parity summary:") :].splitlines()
    shown = block.code.splitlines()
    if printed[: len(shown)] != shown:
        raise PageError(f"{block.id}: the page shows {shown}, pytest printed {printed}")


def check_system_checks(
    done: Walk, runners: tuple[str, ...] = CHECK_RUNNERS
) -> list[Run]:
    """The page's warning lines, printed by each runner when the middleware is out."""
    (block,) = [
        b for b in blocks() if b.language == "text" and "restflow_parity.W001" in b.code
    ]
    wanted = [row.strip() for row in block.code.splitlines() if "W001" in row]
    wanted += [row.strip() for row in block.code.splitlines() if "HINT" in row]
    module = "mysite.test_settings_without_middleware"
    (done.project / "mysite" / "test_settings_without_middleware.py").write_text(
        "from .test_settings import *  # noqa: F403\n"
        "from .test_settings import MIDDLEWARE\n\n"
        "MIDDLEWARE = [m for m in MIDDLEWARE if 'EnsureScope' not in m]\n"
    )
    commands = {
        "manage.py": f"python manage.py test --settings={module}",
        "pytest": f"pytest --ds={module}",
    }
    runs = []
    for runner in runners:
        command = commands[runner]
        started = time.perf_counter()
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=done.project,
            env=environment(),
            capture_output=True,
            text=True,
        )
        output = result.stdout + result.stderr
        missing = [row for row in wanted if row not in output]
        if missing:
            raise PageError(f"`{command}` did not print {missing}:\n{output}")
        runs.append(
            Run(command, runner, "option", (), output, time.perf_counter() - started)
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the project here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        try:
            done = walk(root)
            check_summary(done)
            checks = check_system_checks(done, CHECK_RUNNERS)
        except PageError as error:
            sys.exit(f"{PAGE.name} does not hold: {error}")
    import django

    import restflow_parity

    print(
        f"{PAGE.name} holds: Python {sys.version.split()[0]}, "
        f"Django {django.__version__}, restflow_parity from "
        f"{Path(restflow_parity.__file__).parent}"
    )
    print(f"  files written or changed: {', '.join(done.files)}")
    for run in [*done.runs, *checks]:
        counts = ", ".join(f"{m} {n} passed" for m, n in run.counts.items())
        print(f"  {run.seconds:5.1f} s  {run.command}  [{counts or 'checks'}]")
    print(f"  walk: {done.seconds:.1f} s")


if __name__ == "__main__":
    main()
