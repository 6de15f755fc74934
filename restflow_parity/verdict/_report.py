"""The parity report: a JSON file with every variant's outcome, from one run or many.

``pytest --parity-report PATH`` and ``manage.py test --parity-report PATH``
write one per run, xdist workers and ``--parallel`` processes included.
``python -m restflow_parity merge`` reads any number of them (from CI jobs,
stacks and shards) and can write the merged one, which merges again::

    {
      "format": "restflow-parity-report",
      "version": 1,
      "runs": [{"id": "...", "runner": "pytest", "label": "async-2", ...}],
      "variants": [{"test": "tests/test_x.py::test_y[*]", "mode": "async",
                    "outcome": "failed", "run": "...", "worker": "gw1",
                    "position": 12, "duration": 0.04,
                    "wsgi": 0, "asgi": 3, "by_design": 0, ...}]
    }

``wsgi``, ``asgi`` and ``by_design`` are the variant's stack ledger (see
``summary.Variant``). Reports written before the ledger have none, and still
read and merge: the verdict then shows no request counts for them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from restflow_parity.verdict._summary import OUTCOMES, ParityTally, Variant

__all__ = ["FORMAT", "VERSION", "Report", "ReportError", "Run"]

FORMAT = "restflow-parity-report"
VERSION = 1
_LEDGER_FIELDS = ("wsgi", "asgi", "by_design")


class ReportError(ValueError):
    """A file that is not a readable parity report."""


@dataclasses.dataclass
class Run:
    """One pytest or ``manage.py test`` run: a CI job, a stack, a shard."""

    id: str
    runner: str  # "pytest" or "django"
    label: str  # for people: the report file's name, unless set
    selected: list[str]  # the stacks the run's parity mode selected
    host: str = ""
    pid: int = 0
    started: float = 0.0
    finished: float = 0.0

    @classmethod
    def start(cls, runner: str, label: str, selected: Iterable[str]) -> Run:
        return cls(
            id=uuid.uuid4().hex,
            runner=runner,
            label=label,
            selected=list(selected),
            host=socket.gethostname(),
            pid=os.getpid(),
            started=time.time(),
        )


@dataclasses.dataclass
class Report:
    """Runs and the variants they ran."""

    runs: list[Run] = dataclasses.field(default_factory=list)
    variants: list[Variant] = dataclasses.field(default_factory=list)

    def tally(self) -> ParityTally:
        tally = ParityTally()
        tally.extend(self.variants)
        return tally

    def labels(self) -> dict[str, str]:
        """Run id -> label, to name where a variant ran."""
        return {run.id: run.label for run in self.runs}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "runs": [dataclasses.asdict(run) for run in self.runs],
            "variants": [variant.to_json() for variant in self.variants],
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file whole or not at all: a CI job may be cut off."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(partial, target)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Report:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as error:
            raise ReportError(f"{path}: cannot read it ({error.strerror}).") from None
        except ValueError as error:
            raise ReportError(
                f"{path}: not JSON ({error}). Pass the files that "
                "--parity-report wrote."
            ) from None
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: Any, source: str = "report") -> Report:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReportError(
                f"{source}: not a restflow-parity report (no "
                f'"format": "{FORMAT}"). Pass the files that --parity-report wrote.'
            )
        if data.get("version") != VERSION:
            raise ReportError(
                f"{source}: report version {data.get('version')!r}, but this "
                f"restflow-parity reads version {VERSION}. Merge with the "
                "restflow-parity version that wrote it."
            )
        try:
            runs = [Run(**run) for run in data["runs"]]
            variants = [Variant.from_json(v) for v in data["variants"]]
        except (KeyError, TypeError) as error:
            raise ReportError(f"{source}: damaged report ({error!r}).") from None
        for variant in variants:
            if variant.outcome not in OUTCOMES:
                raise ReportError(
                    f"{source}: {variant.id or variant.test} has the unknown "
                    f"outcome {variant.outcome!r}."
                )
            for name in _LEDGER_FIELDS:
                count = getattr(variant, name)
                if count is not None and (type(count) is not int or count < 0):
                    raise ReportError(
                        f"{source}: {variant.id or variant.test} has {name}="
                        f"{count!r}, not a count of requests."
                    )
        return cls(runs, variants)

    @classmethod
    def merged(cls, reports: Iterable[Report]) -> Report:
        """All runs and variants; a run given twice counts once."""
        merged = cls()
        seen: set[str] = set()
        for report in reports:
            for run in report.runs:
                if run.id in seen:
                    continue
                seen.add(run.id)
                merged.runs.append(run)
                merged.variants.extend(v for v in report.variants if v.run == run.id)
        return merged


def default_label(path: str | os.PathLike[str]) -> str:
    """A run's label: the report's file name without ``.json``."""
    name = Path(path).name
    return name.removesuffix(".json") or name
