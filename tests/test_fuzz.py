"""The request fuzzer in CI: a seeded sample, every bug it found, every difference.

- ``test_generated_requests_agree`` sends a seeded sample of generated requests
  through the five routes and fails, with a shrunk example, on any difference
  between the in-process stacks (or either of them and uvicorn) that no
  documented cause explains. ``tests/fuzz/run.py --n 10000`` is the full run.
- ``test_bug_*``: each bug the fuzzer found, as its shrunk request.
- ``test_documented_difference``: each explained difference happens, and is
  explained by its cause, on a request that shows it.
- ``test_bad_input_*``: what real servers refuse, the kit refuses, saying why.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz.causes import CAUSES, explain
from fuzz.compare import GATED, PAIRS, differences
from fuzz.dimensions import DIMENSIONS, dimensions
from fuzz.model import Body, FuzzRequest, Upload
from fuzz.routes import SERVERS, Outcome, Routes
from fuzz.session import describe, fuzz
from fuzz.strategies import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from products.fuzz_views import RECORDS

from restflow_parity.request._client import SyncAPIClient

#: The CI sample: small enough for about ten seconds, seeded so it is the
#: same sample on every run.
CI_SAMPLE = 60
CI_SEED = 15
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def routes(tls_files: tuple[Any, str, str]) -> Iterator[Routes]:
    """The five routes; the servers start when first needed."""
    with Routes(tls_files) as started:
        yield started


def send(routes: Routes, request: FuzzRequest) -> dict[str, Outcome]:
    """Send ``request`` everywhere; fail on an unexplained gated difference."""
    outcomes = routes.send_all(request)
    unexplained = [
        diff
        for pair in GATED
        for diff in differences(request, outcomes, pair)
        if explain(diff) is None
    ]
    assert not unexplained, describe(unexplained)
    return outcomes


def read(outcomes: dict[str, Outcome], field: str) -> dict[str, Any]:
    """``field`` of the echo view's record, per route that reached it."""
    return {
        route: outcome.record[field]
        for route, outcome in outcomes.items()
        if outcome.record is not None
    }


def same(values: dict[str, Any], *routes: str) -> Any:
    """The one value ``routes`` agree on (all five by default)."""
    chosen = [values[route] for route in routes or values]
    assert all(value == chosen[0] for value in chosen), values
    return chosen[0]


# --- the generated sample -----------------------------------------------------


def test_generated_requests_agree(routes: Routes) -> None:
    tally = fuzz(routes, CI_SAMPLE, CI_SEED, fail_fast=True)
    assert tally.requests >= CI_SAMPLE
    # The sample really compares: most requests reach the view everywhere.
    assert tally.outcomes[("async", "200")] > CI_SAMPLE // 2


def generated(count: int) -> list[FuzzRequest]:
    """The first ``count`` requests the seeded generator draws."""
    drawn: list[FuzzRequest] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @seed(CI_SEED)
    @given(requests())
    def collect(request: FuzzRequest) -> None:
        drawn.append(request)

    collect()
    return drawn


def test_generator_covers_every_dimension() -> None:
    seen: set[str] = set()
    for request in generated(400):
        seen.update(dimensions(request))
    assert set(DIMENSIONS) - seen == set()


def test_generator_is_reproducible() -> None:
    assert generated(20) == generated(20)


# --- bugs the fuzzer found, each as the request hypothesis shrank it to ---------
# Each was the first unexplained difference of a run on the code before its
# fix (tests/fuzz/run.py --shrink), in the order found; the comment says what
# happened then.


def test_bug_no_cookies_means_no_cookie_header(routes: Routes) -> None:
    # The sync stack's request.headers held "Cookie: ''", which no server
    # sends; the async stack had none.
    outcomes = send(routes, FuzzRequest("GET", "/fuzz/"))
    assert "Cookie" not in same(read(outcomes, "headers"))
    assert "HTTP_COOKIE" not in read(outcomes, "META")["sync"]


def test_bug_cookie_outside_latin1_no_longer_crashes_wsgi(routes: Routes) -> None:
    # UnicodeEncodeError inside Django's WSGIRequest.COOKIES on the sync stack;
    # the async stack and the servers answered 200.
    outcomes = send(routes, FuzzRequest("GET", "/fuzz/", cookies=(("a", "Ā"),)))
    assert {outcome.status for outcome in outcomes.values()} == {200}
    # What each stack then reads is Django's own difference (wsgi-cookie-bytes).
    assert read(outcomes, "COOKIES")["sync"] == {"a": "Ā"}


def test_bug_bodyless_post_sends_content_length_zero(routes: Routes) -> None:
    # RFC 9110 8.6: httpx and browsers send it, so every server saw it.
    outcomes = send(routes, FuzzRequest("POST", "/fuzz/"))
    assert same(read(outcomes, "headers"))["Content-Length"] == "0"


def test_bug_empty_content_type_is_no_content_type_on_both_stacks(
    routes: Routes,
) -> None:
    # request.headers held "Content-Type: ''" on the sync stack only.
    request = FuzzRequest(
        "GET", "/fuzz/", extra=(("ACCEPT", "application/json"), ("CONTENT_TYPE", ""))
    )
    outcomes = send(routes, request)
    assert "Content-Type" not in same(read(outcomes, "headers"))


def test_bug_bytes_header_values_are_sent_as_bytes(routes: Routes) -> None:
    # HTTP_X_EXTRA=b"" arrived as the text "b''" on both stacks.
    request = FuzzRequest(
        "GET", "/fuzz/", extra=(("ACCEPT", "application/json"), ("HTTP_X_EXTRA", b""))
    )
    outcomes = send(routes, request)
    assert same(read(outcomes, "headers"))["X-Extra"] == ""
    request = FuzzRequest(
        "GET", "/fuzz/", headers=(("Content-Type", b"text/plain; x=\xe9"),)
    )
    assert same(read(send(routes, request), "content_params")) == {"x": "é"}


def test_bug_header_names_differing_in_case_are_both_sent(routes: Routes) -> None:
    # The second replaced the first; servers receive both lines, and Django
    # joins them with ",".
    request = FuzzRequest("GET", "/fuzz/", headers=(("X-Custom", ""), ("x-custom", "")))
    assert same(read(send(routes, request), "headers"))["X-Custom"] == ","
    request = FuzzRequest("GET", "/fuzz/", headers=(("X-Dup", "1"), ("x-dup", "2")))
    assert same(read(send(routes, request), "headers"))["X-Dup"] == "1,2"


def test_bug_an_empty_content_type_line_is_no_line_when_joined(routes: Routes) -> None:
    # Hand-shrunk from headers={"Content-Type": b"", "cONTENT-tYPE": "8_Û"}:
    # the empty line was joined in (",8_Û"); it is no line, as when alone.
    request = FuzzRequest(
        "GET", "/fuzz/", headers=(("Content-Type", ""), ("content-type", "text/plain"))
    )
    assert same(read(send(routes, request), "content_type")) == "text/plain"


def test_bug_url_query_is_encoded_as_clients_encode_it(routes: Routes) -> None:
    # The query was sent as a=%7B; httpx and browsers send a={.
    outcomes = send(routes, FuzzRequest("GET", "/fuzz/?a={"))
    query = {
        route: scope["query_string"] for route, scope in read(outcomes, "scope").items()
    }
    assert same(query) == b"a={"


def test_bug_header_values_lose_surrounding_spaces_as_servers_strip_them(
    routes: Routes,
) -> None:
    request = FuzzRequest(
        "GET",
        "/fuzz/",
        extra=(("ACCEPT", "application/json"), ("HTTP_X_EXTRA", " padded ")),
    )
    assert same(read(send(routes, request), "headers"))["X-Extra"] == "padded"


def test_bug_trailing_control_characters_are_dropped_as_browsers_drop_them(
    routes: Routes,
) -> None:
    # The path was /fuzz/%08 in-process and /fuzz/ from a browser or httpx.
    outcomes = send(routes, FuzzRequest("GET", "/fuzz/\x08"))
    assert same(read(outcomes, "path"), "sync", "async", "uvicorn") == "/fuzz/"


def test_bug_raw_path_is_encoded_as_clients_encode_it(routes: Routes) -> None:
    # raw_path was /fuzz/%5B; httpx and browsers send [ (and | ^ \) as is.
    outcomes = send(routes, FuzzRequest("GET", "/fuzz/["))
    raw = {route: scope["raw_path"] for route, scope in read(outcomes, "scope").items()}
    assert same(raw, "sync", "async", "uvicorn") == b"/fuzz/["


def test_bug_raw_uri_of_a_request_built_from_environ_keys() -> None:
    # Found reading the code the fuzzer pointed at: request(PATH_INFO=...)
    # encoded the latin-1 text of the path's bytes a second time.
    response = SyncAPIClient().request(
        PATH_INFO="/scope/café/".encode().decode("latin-1"), REQUEST_METHOD="GET"
    )
    assert response.wsgi_request.scope["raw_path"] == b"/scope/caf%C3%A9/"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        # Reached the view on both stacks; clients and servers refuse it.
        (
            FuzzRequest("GET", "/fuzz/", headers=(("X Space", ""),)),
            "is not a header name",
        ),
        # LookupError from deep in the encoder, on both stacks.
        (
            FuzzRequest(
                "POST", "/fuzz/", body=Body("text", ""),
                content_type="text/plain; charset=x-unknown",
            ),
            "could not be encoded as 'x-unknown'",
        ),
        # The sync stack crashed (UnicodeEncodeError), the async one sent it.
        (
            FuzzRequest(
                "GET", "/fuzz/",
                extra=(("ACCEPT", "application/json"), ("QUERY_STRING", "a=ключ")),
            ),
            "Percent-encode them",
        ),
        # Header injection reached the view on both stacks.
        (
            FuzzRequest("GET", "/fuzz/", headers=(("X-Custom", "a\r\nX-Injected: 1"),)),
            "a line break",
        ),
        # The sync stack answered 200, the async stack crashed.
        (
            FuzzRequest("GET", "/fuzz/", headers=(("X-Custom", "\udcff"),)),
            "a lone surrogate",
        ),
        # Both stacks answered 400 (DisallowedHost, the two values joined);
        # clients refuse to send two Host headers, servers answer 400.
        (
            FuzzRequest(
                "GET", "/fuzz/", headers=(("Host", "testserver"), ("hOST", ""))
            ),
            "names Host twice",
        ),
        # A UnicodeEncodeError from inside Django's urlencode, on both stacks
        # (hand-shrunk: found on request 9,000-odd of the 10,000).
        (
            FuzzRequest("GET", "/fuzz/", query_data=(("a", "\ud96f"),)),
            "a lone surrogate",
        ),
        # Found while fixing those: the same crash from a path or a charset.
        (FuzzRequest("GET", "/fuzz/\ud800"), "a lone surrogate"),
        (
            FuzzRequest(
                "POST", "/fuzz/", body=Body("text", "✓"),
                content_type="text/plain; charset=koi8-r",
            ),
            "could not be encoded as 'koi8-r'",
        ),
    ],
    ids=[
        "name", "unknown-charset", "raw-query", "crlf", "header-surrogate",
        "host-twice", "query-surrogate", "path-surrogate", "charset",
    ],
)  # fmt: skip
def test_bug_unsendable_requests_raise_an_error_that_says_why(
    routes: Routes, request_: FuzzRequest, message: str
) -> None:
    outcomes = send(routes, request_)
    for route in ("sync", "async"):
        assert outcomes[route].refused_by == "kit", outcomes[route]
        assert message in (outcomes[route].error or "")
    # What the client or the documented contract makes of it: no request.
    assert all(
        outcomes[route].refused_by in ("client", "contract") for route in SERVERS
    )


# --- documented differences: each happens, and its cause explains it ----------

EXAMPLES: dict[str, FuzzRequest] = {
    "request-class": FuzzRequest("GET", "/fuzz/"),
    "wsgi-meta": FuzzRequest("GET", "/fuzz/"),
    "scope-loss": FuzzRequest("GET", "/fuzz/", extra=(("REMOTE_USER", "khan"),)),
    "wsgi-query-charset": FuzzRequest(
        "POST",
        "/fuzz/?q=%C3%A9",
        body=Body("text", "x"),
        content_type="text/plain; charset=koi8-r",
    ),
    "wsgi-cookie-bytes": FuzzRequest("GET", "/fuzz/", cookies=(("a", "ę"),)),
    "wsgi-invalid-path": FuzzRequest("GET", "/fuzz/%FF"),
    "dropped-input": FuzzRequest("GET", "/fuzz/?a=1", query_params=(("b", "2"),)),
    "loopback": FuzzRequest("GET", "/fuzz/", extra=(("REMOTE_ADDR", "10.1.2.3"),)),
    "dot-segments": FuzzRequest("GET", "/fuzz/a/../b"),
    "server-scope-keys": FuzzRequest("GET", "/fuzz/"),
    "repeated-headers": FuzzRequest(
        "GET", "/fuzz/", headers=(("X-Dup", "1"), ("x-dup", "2"))
    ),
    "root-path-prefix": FuzzRequest("GET", "/fuzz/", script_name="/mount"),
    "daphne-splitlines": FuzzRequest("GET", "/fuzz/", headers=(("X-Custom", b"\x85"),)),
    "daphne-multipart": FuzzRequest(
        "POST", "/fuzz/", body=Body("text", "x"), content_type="multipart/form-data"
    ),
    "daphne-lists": FuzzRequest("GET", "/fuzz/"),
    "method-case": FuzzRequest("get", "/fuzz/", generic=True),
}


def test_every_cause_has_an_example() -> None:
    assert sorted(EXAMPLES) == sorted(cause.name for cause in CAUSES)


@pytest.mark.parametrize("cause", CAUSES, ids=[cause.name for cause in CAUSES])
def test_documented_difference(routes: Routes, cause: Any) -> None:
    request = EXAMPLES[cause.name]
    outcomes = send(routes, request)
    shown = [
        diff
        for pair in PAIRS
        for diff in differences(request, outcomes, pair)
        if explain(diff) is cause
    ]
    assert shown, f"{cause.name}: no difference on {request.as_code()}"


def test_query_params_replace_the_urls_query_everywhere(routes: Routes) -> None:
    # Django's and DRF's rule, kept by the drop-ins and by the wire model.
    request = FuzzRequest("GET", "/fuzz/?a=1", query_params=(("b", "2"),))
    outcomes = send(routes, request)
    assert same(read(outcomes, "GET")) == [("b", ["2"])]


def test_multipart_files_agree_everywhere(routes: Routes) -> None:
    body = Body(
        "multipart",
        (("f", Upload("a b.txt", b"\x00\xff", "text/plain")), ("n", ("1", "2"))),
    )
    outcomes = send(
        routes, FuzzRequest("POST", "/fuzz/", body=body, format="multipart")
    )
    assert same(read(outcomes, "FILES")) == [("f", "a b.txt", 2, "text/plain")]
    assert same(read(outcomes, "POST")) == [("n", ["1", "2"])]


# --- bad input: what servers refuse, the kit refuses --------------------------


def _raw_exchange(routes: Routes, server: str, request: bytes) -> bytes:
    """Send bytes no HTTP client would send; return the status line."""
    running, _ = routes._server(server, "", False)
    port = int(running.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.partition(b"\r\n")[0]


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn", "daphne"])
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /fuzz/?q=\xe9 HTTP/1.1\r\nHost: testserver\r\n\r\n",
        b"GET /fuzz/ HTTP/1.1\r\nHost: testserver\r\nX A: 1\r\n\r\n",
        b"GET /fuzz/ HTTP/1.1\r\nHost: testserver\r\nX-A: 1\x00\r\n\r\n",
    ],
    ids=["raw-non-ascii-query", "bad-header-name", "nul-in-value"],
)
def test_bad_input_real_servers_refuse_what_the_kit_refuses(
    routes: Routes, server: str, request_bytes: bytes
) -> None:
    status = _raw_exchange(routes, server, request_bytes)
    assert status.split(b" ")[1:2] == [b"400"], status


def test_bad_input_never_crashes_the_kit(routes: Routes) -> None:
    # Generated requests may be refused, never crash (crash: an error that
    # says nothing, such as a UnicodeError or KeyError from inside).
    tally = fuzz(routes, 30, CI_SEED + 1)
    crashes = {key: count for key, count in tally.outcomes.items() if "crash" in key[1]}
    assert crashes == {}


def test_tls_server_is_really_tls(routes: Routes) -> None:
    running, _ = routes._server("uvicorn", "", True)
    assert running.url.startswith("https://")
    assert isinstance(running.verify, ssl.SSLContext)


@pytest.mark.parametrize("cause", CAUSES, ids=[cause.name for cause in CAUSES])
def test_every_cause_is_documented_where_it_says(cause: Any) -> None:
    page, _, anchor = cause.anchor.partition("#")
    text = (DOCS / page).read_text()
    heading = any(
        line.startswith("#") and _slug(line.lstrip("#")) == anchor
        for line in text.splitlines()
    )
    assert heading or f"{{ #{anchor} }}" in text, cause.anchor


def _slug(heading: str) -> str:
    """The anchor mkdocs gives a heading."""
    words = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[\s]+", "-", words)


def test_scope_without_raw_uri_encodes_the_path_as_clients_do(
    routes: Routes,
) -> None:
    # Django's own Client sets no RAW_URI: EnsureScopeMiddleware re-encodes
    # PATH_INFO, the way httpx and browsers encode it.
    from django.test import Client

    response = Client().get("/scope/a|b^[c]é x", headers={"X-Probe": "plain"})
    scope = response.wsgi_request.scope
    uvicorn = read(send(routes, FuzzRequest("GET", "/fuzz/a|b^[c]é x")), "scope")
    assert scope["raw_path"] == b"/scope/a|b^[c]%C3%A9%20x"
    assert uvicorn["uvicorn"]["raw_path"] == b"/fuzz/a|b^[c]%C3%A9%20x"


@pytest.mark.parametrize(
    ("server", "method"), [("uvicorn", "get"), ("hypercorn", "GET"), ("daphne", "get")]
)
def test_servers_pass_a_lower_case_method_as_docs_say(
    routes: Routes, server: str, method: str
) -> None:
    # httpx upper-cases methods, so the generated requests never show this:
    # a raw request line does (docs/guides/scope.md, what real servers send).
    probe = f"method-case-{server}"
    status = _raw_exchange(
        routes,
        server,
        f"get /fuzz/ HTTP/1.1\r\nHost: testserver\r\nX-Probe: {probe}\r\n\r\n".encode(),
    )
    assert status.split(b" ")[1] == b"200", status
    record = RECORDS.pop(probe)
    assert (record["scope"]["method"], record["method"]) == (method, "GET")
