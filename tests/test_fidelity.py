"""The scopes our stacks build agree with the one uvicorn sends.

Every corpus request goes over a socket to the test project served by uvicorn
(``--no-proxy-headers``) and through the in-process sync stack, where
EnsureScopeMiddleware builds the scope. The ``scope_echo`` view records both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from clients import make_client
from django.test import Client
from fidelity_corpus import CORPUS, Case
from products.views import RECORDED_SCOPES
from servers import RunningServer

# Headers a real HTTP client adds on its own, which an in-process request only
# has when the test sets them. X-Probe is our recording key.
TRANSPORT_HEADERS = {
    b"host",
    b"user-agent",
    b"accept",
    b"accept-encoding",
    b"connection",
}
COMPARED_KEYS = (
    "type",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "root_path",
    "query_string",
)


def header_multiset(scope: dict[str, Any]) -> dict[bytes, list[bytes]]:
    """Headers by name; WSGI folds repeats with ",", so fold them here too."""
    grouped: dict[bytes, list[bytes]] = defaultdict(list)
    for name, value in scope["headers"]:
        if name not in TRANSPORT_HEADERS and name != b"x-probe":
            grouped[bytes(name)].append(bytes(value))
    return {name: [b",".join(values)] for name, values in grouped.items()}


def over_uvicorn(case: Case, server: RunningServer) -> dict[str, Any]:
    probe = f"uvicorn-{case.id}"
    url = f"{server.url}{case.path}" + (f"?{case.query}" if case.query else "")
    headers = [("X-Probe", probe), *case.headers]
    if case.content_type:
        headers.append(("Content-Type", case.content_type))
    with httpx.Client(verify=server.verify) as http:
        # Passing the URL as a str keeps httpx from re-encoding the path.
        response = http.request(case.method, url, headers=headers, content=case.body)
    assert response.status_code == 200, response.text
    return RECORDED_SCOPES.pop(probe)


def through_test_client(case: Case, client: Any) -> dict[str, Any]:
    probe = f"client-{case.id}"
    headers: dict[str, str] = {"X-Probe": probe}
    for name, value in case.headers:
        # A WSGI environ holds one value per header: repeats arrive joined.
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    extra: dict[str, Any] = dict(case.environ)
    if case.root_path:
        extra["SCRIPT_NAME"] = case.root_path
    response = client.generic(
        case.method,
        case.path + (f"?{case.query}" if case.query else ""),
        data=case.body,
        content_type=case.content_type or "application/octet-stream",
        secure=case.https,
        headers=headers,
        **extra,
    )
    assert response.status_code == 200
    return RECORDED_SCOPES.pop(probe)


def through_parity_client(case: Case, mode: str) -> dict[str, Any]:
    """Send ``case`` with the mode's client, as @run_both_modes would."""
    probe = f"{mode}-client-{case.id}"
    headers: dict[str, str] = {"X-Probe": probe}
    for name, value in case.headers:
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    extra: dict[str, Any] = {}
    if case.root_path:
        extra["SCRIPT_NAME"] = case.root_path
    if case.body or case.content_type:
        extra.update(data=case.body, content_type=case.content_type)
    # A def body's client: the async stack's runs its own loop per request.
    client = make_client(mode, awaitable=False)  # type: ignore[arg-type]
    verb = getattr(client, case.method.lower())
    path = case.path + (f"?{case.query}" if case.query else "")
    response = verb(path, secure=case.https, headers=headers, **extra)
    assert response.status_code == 200
    # The clients build their own RAW_URI; they need no hint from the corpus.
    return RECORDED_SCOPES.pop(probe)


def assert_scopes_agree(ours: dict[str, Any], real: dict[str, Any]) -> None:
    for key in COMPARED_KEYS:
        assert ours[key] == real[key], (
            f"{key}: ours={ours[key]!r} uvicorn={real[key]!r}"
        )
    assert header_multiset(ours) == header_multiset(real)
    assert type(ours["server"][1]) is type(real["server"][1]) is int
    assert type(ours["client"][1]) is type(real["client"][1]) is int
    assert isinstance(ours["headers"], list)


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_sync_stack_scope_matches_uvicorn(
    case: Case, uvicorn_server: Callable[..., RunningServer]
) -> None:
    server = uvicorn_server(root_path=case.root_path, tls=case.https)
    real = over_uvicorn(case, server)
    ours = through_test_client(case, Client())
    assert_scopes_agree(ours, real)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_parity_clients_scope_matches_uvicorn(
    case: Case, mode: str, uvicorn_server: Callable[..., RunningServer]
) -> None:
    server = uvicorn_server(root_path=case.root_path, tls=case.https)
    real = over_uvicorn(case, server)
    ours = through_parity_client(case, mode)
    assert_scopes_agree(ours, real)
    # Tuples where uvicorn sends tuples, and the spec version it claims.
    assert ours["asgi"] == {
        "version": "3.0",
        "spec_version": real["asgi"]["spec_version"],
    }
    # Exactly one Host, as a real server always receives: the value differs
    # (127.0.0.1:port there, testserver here), the shape must not.
    ours_hosts = [v for k, v in ours["headers"] if k == b"host"]
    real_hosts = [v for k, v in real["headers"] if k == b"host"]
    assert len(real_hosts) == 1
    assert ours_hosts == [b"testserver"]


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15
