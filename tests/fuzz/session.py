"""Run N generated requests through the five routes: the shared driver.

Used by the command (tests/fuzz/run.py) and by tests/test_fuzz.py. The
requests come from hypothesis, seeded, so a seed and N name the same
requests on every machine with the same hypothesis version.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from fuzz.compare import GATED, Difference
from fuzz.model import FuzzRequest
from fuzz.routes import Routes
from fuzz.strategies import requests
from fuzz.tally import Tally


def describe(diffs: list[Difference]) -> str:
    """Unexplained differences, with the test lines that reproduce them."""
    lines = []
    for diff in diffs:
        lines.append(
            f"{diff.pair[0]} vs {diff.pair[1]}, {diff.field}: {diff.left!r} != "
            f"{diff.right!r}"
        )
    request = diffs[0].request
    outcomes = {route: (o.status, o.error) for route, o in diffs[0].outcomes.items()}
    return "\n".join(
        [*lines, "Reproduce with:", request.as_code(), f"Outcomes: {outcomes}"]
    )


def fuzz(
    routes: Routes,
    n: int,
    seed_value: int,
    tally: Tally | None = None,
    *,
    fail_fast: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    """Send ``n`` generated requests; with ``fail_fast``, stop (and shrink)
    at the first unexplained difference between gated routes."""
    tally = tally if tally is not None else Tally()
    phases = [Phase.generate, Phase.shrink] if fail_fast else [Phase.generate]

    @settings(
        max_examples=n,
        database=None,
        phases=phases,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @seed(seed_value)
    @given(requests())
    def one(request: FuzzRequest) -> None:
        found = tally.add(request, routes.send_all(request))
        if progress is not None:
            progress(tally.requests)
        gated = [diff for diff in found if diff.pair in GATED]
        if fail_fast and gated:
            raise AssertionError(describe(gated))

    one()
    return tally


@contextmanager
def tls_files() -> Iterator[tuple[Any, str, str]]:
    """A throwaway CA and a certificate for 127.0.0.1, as files."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert.cert_chain_pems[0].write_to_path(str(cert_path))
        cert.private_key_pem.write_to_path(str(key_path))
        yield ca, os.fspath(cert_path), os.fspath(key_path)
