"""Run a real package's suite with Django's runner and the suite's own TEST_RUNNER.

Usage (the harness calls it)::

    python parity_django.py SWAP OUT.json FOLDER SETTINGS PACKAGE LABEL

The suite runs as its authors run it (their runtests.py puts the package's
folder on ``sys.path`` and runs ``manage.py test``-style), on a settings module
that imports theirs and changes settings only:

- every run: a fast password hasher (their suite hashes many passwords) and
  the XML runner's output folder in FOLDER;
- ``both``: ``TEST_RUNNER = "restflow_parity.runner.ParityRunner"`` around
  their own runner (``RESTFLOW_PARITY_TEST_RUNNER``), and
  ``RESTFLOW_PARITY_BOTH_MODES = True``; ``RESTFLOW_PARITY_MODE`` picks the
  stack of the process.

Outcomes come from their runner's own JUnit XML reports; a both-modes run's
variants, and their stack ledger, from the product's parity report.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from xml.etree import ElementTree

from parity_swap import Outcomes

FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"


def settings_module(folder: Path, run: str, swap: str, settings: str, xml: Path) -> str:
    # One module per run: the runs of a suite go side by side.
    name = "conformance_settings_" + run.replace("-", "_")
    lines = [
        f"from {settings} import *  # noqa: F403",
        "",
        f"PASSWORD_HASHERS = [{FAST_HASHER!r}]",
        f"TEST_OUTPUT_DIR = {str(xml)!r}",
    ]
    if swap == "both":
        lines += [
            "RESTFLOW_PARITY_TEST_RUNNER = TEST_RUNNER  # noqa: F405 - their own",
            'TEST_RUNNER = "restflow_parity.runner.ParityRunner"',
            "RESTFLOW_PARITY_BOTH_MODES = True",
        ]
    (folder / f"{name}.py").write_text("\n".join(lines) + "\n")
    return name


def record_xml(xml: Path, outcomes: Outcomes) -> None:
    for report in sorted(xml.glob("*.xml")):
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            test_id = f"{case.get('classname')}.{case.get('name')}"
            outcome, detail = "passed", ""
            for kind, name in (
                ("failure", "failed"),
                ("error", "error"),
                ("skipped", "skipped"),
            ):
                found = case.find(kind)
                if found is not None:
                    outcome = name
                    detail = (found.get("message") or found.text or "").strip()[:400]
                    break
            outcomes.add(test_id, outcome, detail)


def record_ledger(path: Path, outcomes: Outcomes) -> None:
    for variant in json.loads(path.read_text())["variants"]:
        entry = outcomes.tests.get(variant["id"])
        if entry is not None:
            entry.update(
                mode=variant["mode"],
                base=variant["test"],
                asgi=variant.get("asgi", 0),
                wsgi=variant.get("wsgi", 0),
            )


def main(argv: list[str]) -> None:
    swap, out, folder_name, settings, package, label = argv
    folder = Path(folder_name).resolve()
    outcomes = Outcomes(Path(out).stem, swap)
    xml = folder / f"xml-{swap}-{Path(out).stem}"
    shutil.rmtree(xml, ignore_errors=True)
    parity = Path(out).with_suffix(".parity.json")  # where run.py reads it
    parity.unlink(missing_ok=True)
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{package} is not installed")
    # As the suite's own runtests.py does: its package's folder on sys.path.
    sys.path[:0] = [str(Path(spec.origin).parent), str(folder)]
    module = settings_module(folder, Path(out).stem, swap, settings, xml)
    args = ["manage.py", "test", label, "--noinput", "--settings", module]
    if swap == "both":
        args += ["--parity-report", str(parity)]
        outcomes.classes = {
            "TEST_RUNNER": "restflow_parity.runner.ParityRunner (around their own)"
        }
    else:
        outcomes.classes = {"": "(unchanged)"}
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(args)
    except SystemExit as exit_:
        if exit_.code not in (0, 1, False, True, None):
            raise
    finally:
        record_xml(xml, outcomes)
        if parity.exists():
            record_ledger(parity, outcomes)
        outcomes.write(Path(out))


if __name__ == "__main__":
    main(sys.argv[1:])
