from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import trustme
from servers import RunningServer, uvicorn_thread


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, str, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return ca, str(cert_path), str(key_path)


@pytest.fixture(scope="session")
def uvicorn_server(
    tls_files: tuple[trustme.CA, str, str],
) -> Iterator[Callable[..., RunningServer]]:
    """Start the test project under uvicorn on demand, one server per config."""
    from django.core.asgi import get_asgi_application

    app = get_asgi_application()
    servers: dict[tuple[str, bool], RunningServer] = {}
    with ExitStack() as stack:

        def get(root_path: str = "", tls: bool = False) -> RunningServer:
            key = (root_path, tls)
            if key not in servers:
                servers[key] = stack.enter_context(
                    uvicorn_thread(
                        app, root_path=root_path, tls=tls_files if tls else None
                    )
                )
            return servers[key]

        yield get


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """The product list is cached in LocMemCache; never let it cross tests."""
    from django.core.cache import cache

    cache.clear()


#: For the pytest runs a test starts: none of them uses hypothesis, and its
#: plugin's terminal summary imports all of it (6.168 to 6.170 import
#: ``hypothesis.internal.observability``), about a second of each run's three.
NO_HYPOTHESIS = "-p no:hypothesispytest"


def _skip_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    addopts = f"{os.environ.get('PYTEST_ADDOPTS', '')} {NO_HYPOTHESIS}"
    monkeypatch.setenv("PYTEST_ADDOPTS", addopts.strip())


@pytest.fixture(autouse=True)
def _no_hypothesis_in_child_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocesses started by a test skip hypothesis's plugin. This process
    keeps it: it was loaded before any fixture ran."""
    _skip_hypothesis(monkeypatch)


@pytest.fixture
def pytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """pytester, whose runs skip hypothesis's plugin too (pytester itself
    clears ``PYTEST_ADDOPTS``, so this comes after it)."""
    _skip_hypothesis(monkeypatch)
    return pytester
