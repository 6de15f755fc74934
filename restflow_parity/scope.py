"""Build an ASGI 3.0 HTTP connection scope from a WSGI environ.

This is the one translation between the two stacks. ``EnsureScopeMiddleware``
uses it to give WSGI requests a ``.scope``, and the async client uses it to turn
the environ its request builder made into the scope it hands to Django's ASGI
handler, so both stacks agree by construction.

The shapes follow the asgiref HTTP spec and what uvicorn sends on the wire:
``path`` is a UTF-8 decoded ``str`` that includes ``root_path``, ``raw_path`` and
``query_string`` are percent-encoded ``bytes``, ``headers`` is a list of
lower-case ``(bytes, bytes)`` pairs, and ports are ``int``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict
from urllib.parse import quote

from django.http import HttpRequest

__all__ = [
    "ASGI_SPEC_VERSION",
    "SCOPE_KEYS",
    "HTTPScope",
    "build_scope",
    "overlay_scope",
]

#: The HTTP sub-spec version we claim; uvicorn sends the same.
ASGI_SPEC_VERSION = "2.3"


def _printable_ascii_but(excluded: str) -> str:
    return "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in excluded)


# What browsers and httpx leave as they are when they percent-encode a URL
# (the WHATWG percent-encode sets): in a path every printable ASCII character
# but " # < > ? ` { }, in a query every one but " # < >. Spaces, controls and
# non-ASCII text (as UTF-8) are percent-encoded. "%" stays, so escapes a test
# wrote are sent as written; a decoded path (``_DECODED_PATH_SAFE``, for
# ``raw_path``) escapes it too, as it is a character there.
PATH_SAFE = _printable_ascii_but('"#<>?`{}')
QUERY_SAFE = _printable_ascii_but('"#<>')
_DECODED_PATH_SAFE = PATH_SAFE.replace("%", "")


class HTTPScope(TypedDict, total=False):
    """The keys of an ASGI HTTP connection scope that ``build_scope`` sets."""

    type: str
    asgi: dict[str, str]
    http_version: str
    method: str
    scheme: str
    path: str
    raw_path: bytes
    root_path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None


def build_scope(source: Mapping[str, Any] | HttpRequest) -> HTTPScope:
    """Return the ASGI HTTP scope a real server would send for ``source``.

    ``source`` is a WSGI environ, or a request built from one (its ``META``
    is the environ). Optional environ keys may be missing: the scope is still
    valid, with ``client=None`` or a ``server`` port of ``None``.
    """
    if isinstance(source, HttpRequest):
        # WSGIRequest rewrites META's SCRIPT_NAME and PATH_INFO to decoded
        # text; a raw environ still holds PEP 3333's latin-1 strings.
        environ: Mapping[str, Any] = source.META
        to_bytes = _text_bytes
    else:
        environ = source
        to_bytes = _wsgi_bytes
    script_name = to_bytes(environ.get("SCRIPT_NAME", ""))
    path = script_name + to_bytes(environ.get("PATH_INFO", ""))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": ASGI_SPEC_VERSION},
        "http_version": _http_version(environ.get("SERVER_PROTOCOL")),
        "method": str(environ.get("REQUEST_METHOD", "GET")).upper(),
        "scheme": str(environ.get("wsgi.url_scheme") or "http"),
        # Servers decode with replacement, never fail: Django, not the scope
        # builder, decides what a broken path means.
        "path": path.decode("utf-8", "replace"),
        "raw_path": _raw_path(environ, path),
        "root_path": script_name.decode("utf-8", "replace"),
        "query_string": _wsgi_bytes(environ.get("QUERY_STRING", "")),
        "headers": _headers(environ),
        "client": _client(environ),
        "server": _server(environ),
    }


def _wsgi_bytes(value: str | bytes) -> bytes:
    # PEP 3333 carries raw bytes as latin-1 ``str``; anything outside latin-1
    # can only have come from a test that wrote text, so keep it as UTF-8.
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _text_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _http_version(protocol: str | None) -> str:
    if not protocol:
        return "1.1"
    version = protocol.rpartition("/")[2]
    # ASGI spells HTTP/2 as "2", not "2.0".
    return "2" if version in ("2", "2.0") else version


def _raw_path(environ: Mapping[str, Any], path: bytes) -> bytes:
    # gunicorn sets RAW_URI and uWSGI REQUEST_URI: the request target exactly
    # as received. Without one, re-encode the decoded path the way clients do.
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri:
        return _wsgi_bytes(raw_uri).partition(b"?")[0]
    return _encoded_path(path)


def _encoded_path(path: str | bytes) -> bytes:
    """A decoded path percent-encoded the way clients put it on the wire."""
    return quote(path, safe=_DECODED_PATH_SAFE).encode("ascii")


def _headers(environ: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            # Django's test client always sets HTTP_COOKIE, even to "" when it
            # holds no cookies; a real client sends no header at all then.
            if key == "HTTP_COOKIE" and not value:
                continue
            name = key[5:].lower().replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.lower().replace("_", "-")
        else:
            continue
        headers.append((name.encode("latin-1"), _wsgi_bytes(str(value))))
    return headers


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _client(environ: Mapping[str, Any]) -> tuple[str, int] | None:
    host = environ.get("REMOTE_ADDR")
    if not host:
        return None
    return (str(host), _port(environ.get("REMOTE_PORT")) or 0)


def _server(environ: Mapping[str, Any]) -> tuple[str, int | None] | None:
    name = environ.get("SERVER_NAME")
    if not name:
        return None
    return (str(name), _port(environ.get("SERVER_PORT")))


#: Keys of an ASGI HTTP scope, plus Django's private ``_body_file``: what
#: ``AsyncRequestFactory.request()`` takes, as opposed to environ names.
SCOPE_KEYS = frozenset(
    {
        "type",
        "asgi",
        "http_version",
        "method",
        "scheme",
        "path",
        "raw_path",
        "root_path",
        "query_string",
        "headers",
        "client",
        "server",
        "extensions",
        "state",
        "_body_file",
    }
)


def overlay_scope(scope: HTTPScope, overrides: Mapping[str, Any]) -> HTTPScope:
    """Apply scope keys given as they are (``_base_scope(path=...)``) to ``scope``.

    Headers given are kept as given, followed by the built ones they do not
    name; a ``path`` without a ``raw_path`` gets one, and a str query string
    becomes bytes, so the result stays spec-shaped.
    """
    result: dict[str, Any] = {**scope}
    for key, value in overrides.items():
        if key == "headers":
            given = [tuple(pair) for pair in value]
            names = {bytes(name).lower() for name, _ in given}
            built = [pair for pair in scope["headers"] if pair[0] not in names]
            result["headers"] = given + built
        elif key == "query_string" and isinstance(value, str):
            result[key] = _wsgi_bytes(value)
        elif key != "_body_file":
            result[key] = value
    if "path" in overrides and "raw_path" not in overrides:
        result["raw_path"] = _encoded_path(str(result["path"]))
    return result  # type: ignore[return-value]
