from __future__ import annotations

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
