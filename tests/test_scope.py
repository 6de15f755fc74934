"""Unit tests for ``build_scope``: shapes, decoding and bad input."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory

from restflow_parity.scope import ASGI_SPEC_VERSION, build_scope


def environ(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "REQUEST_METHOD": "get",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
    }
    base.update(overrides)
    return base


def test_build_scope_has_every_spec_key_with_spec_types() -> None:
    scope = build_scope(environ())
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": ASGI_SPEC_VERSION},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("testserver", 80),
    }


def test_build_scope_path_is_utf8_and_raw_path_percent_encoded() -> None:
    request = RequestFactory().get("/caf%C3%A9/")
    scope = build_scope(request)
    assert scope["path"] == "/café/"
    assert scope["raw_path"] == b"/caf%C3%A9/"


def test_build_scope_accepts_unquoted_unicode_from_test_client() -> None:
    scope = build_scope(RequestFactory().get("/日本/"))
    assert scope["path"] == "/日本/"
    assert scope["raw_path"] == b"/%E6%97%A5%E6%9C%AC/"


def test_build_scope_keeps_reserved_characters_unescaped_like_clients() -> None:
    scope = build_scope(environ(PATH_INFO="/a b/x:y@z;p=1,2~"))
    assert scope["raw_path"] == b"/a%20b/x:y@z;p=1,2~"


def test_build_scope_prefers_server_raw_uri() -> None:
    scope = build_scope(environ(PATH_INFO="/a/b", RAW_URI="/a%2Fb?x=1"))
    assert scope["path"] == "/a/b"
    assert scope["raw_path"] == b"/a%2Fb"


def test_build_scope_reads_uwsgi_request_uri() -> None:
    scope = build_scope(environ(PATH_INFO="/a/b", REQUEST_URI="/a%2Fb"))
    assert scope["raw_path"] == b"/a%2Fb"


def test_build_scope_script_name_is_root_path_and_prefixes_path() -> None:
    scope = build_scope(environ(SCRIPT_NAME="/mount", PATH_INFO="/api/"))
    assert scope["root_path"] == "/mount"
    assert scope["path"] == "/mount/api/"
    assert scope["raw_path"] == b"/mount/api/"


def test_build_scope_query_string_is_bytes_and_keeps_repeats() -> None:
    request = RequestFactory().get("/", {"a": ["1", "2"], "b": "é"})
    assert build_scope(request)["query_string"] == b"a=1&a=2&b=%C3%A9"


def test_build_scope_raw_utf8_query_survives_latin1_roundtrip() -> None:
    # Django's factory stores a raw "é" as the latin-1 str of its UTF-8 bytes.
    request = RequestFactory().get("/?q=é")
    assert build_scope(request)["query_string"] == "q=é".encode()


def test_build_scope_headers_are_lowercase_byte_pairs() -> None:
    request = RequestFactory().post(
        "/",
        data=b'{"a": 1}',
        content_type="application/json",
        headers={"Authorization": "Token abc", "X-Custom-Thing": "v"},
    )
    headers = build_scope(request)["headers"]
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)
    assert sorted(headers) == [
        (b"authorization", b"Token abc"),
        (b"content-length", b"8"),
        (b"content-type", b"application/json"),
        (b"x-custom-thing", b"v"),
    ]


def test_build_scope_skips_empty_content_headers_and_empty_cookie() -> None:
    scope = build_scope(environ(CONTENT_TYPE="", CONTENT_LENGTH="", HTTP_COOKIE=""))
    assert scope["headers"] == []


def test_build_scope_keeps_empty_custom_header() -> None:
    assert build_scope(environ(HTTP_X_EMPTY=""))["headers"] == [(b"x-empty", b"")]


def test_build_scope_header_names_never_carry_underscores() -> None:
    # WSGI servers fold "X-Foo" and "X_Foo" into HTTP_X_FOO; the scope names it
    # with hyphens, so Django's CVE-2026-3902 filter keeps it on both stacks.
    scope = build_scope(environ(HTTP_X_FORWARDED_FOR="1.2.3.4"))
    assert scope["headers"] == [(b"x-forwarded-for", b"1.2.3.4")]


def test_build_scope_non_latin1_header_value_is_utf8() -> None:
    scope = build_scope(environ(HTTP_X_NAME="日本"))
    assert scope["headers"] == [(b"x-name", "日本".encode())]


def test_build_scope_https_and_http_versions() -> None:
    request = RequestFactory().get("/", secure=True)
    scope = build_scope(request)
    assert scope["scheme"] == "https"
    assert scope["server"] == ("testserver", 443)
    assert build_scope(environ(SERVER_PROTOCOL="HTTP/1.0"))["http_version"] == "1.0"
    assert build_scope(environ(SERVER_PROTOCOL="HTTP/2.0"))["http_version"] == "2"
    assert build_scope(environ(SERVER_PROTOCOL="HTTP/2"))["http_version"] == "2"


def test_build_scope_client_port_is_int() -> None:
    scope = build_scope(environ(REMOTE_ADDR="10.0.0.1", REMOTE_PORT="5123"))
    assert scope["client"] == ("10.0.0.1", 5123)


def test_build_scope_missing_optional_keys_still_valid() -> None:
    scope = build_scope({"REQUEST_METHOD": "POST", "PATH_INFO": "/x"})
    assert scope["client"] is None
    assert scope["server"] is None
    assert scope["scheme"] == "http"
    assert scope["http_version"] == "1.1"
    assert scope["query_string"] == b""
    scope = build_scope(environ(SERVER_PORT=None))
    assert scope["server"] == ("testserver", None)
    scope = build_scope(environ(SERVER_PORT="not-a-port"))
    assert scope["server"] == ("testserver", None)


def test_build_scope_non_utf8_path_is_replaced_not_raised() -> None:
    scope = build_scope(environ(PATH_INFO=b"/\xff/".decode("latin-1")))
    assert scope["path"] == "/\ufffd/"
    assert scope["raw_path"] == b"/%FF/"


def test_build_scope_non_utf8_query_kept_as_bytes() -> None:
    scope = build_scope(environ(QUERY_STRING=b"q=\xff".decode("latin-1")))
    assert scope["query_string"] == b"q=\xff"


def test_build_scope_from_request_and_environ_agree() -> None:
    request = RequestFactory().get("/x/", {"a": "1"}, headers={"X-A": "b"})
    assert build_scope(request) == build_scope(request.META)
