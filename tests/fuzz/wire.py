"""What a real HTTP client sends for a ``FuzzRequest``: the contract, spelled out.

This module does not use the kit. It reads the documented rules of the
client API (docs/guides/async-client.md, docs/guides/migrating.md's
deliberate differences) and writes the request line, headers and body they
describe, using only DRF's renderers and Django's multipart encoder (the
references those rules name). httpx then percent-encodes the URL the way
browsers do and sends it. Where the kit and this module disagree, one of the
two is wrong, and the fuzzer says which field shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import httpx
from django.core.serializers.json import DjangoJSONEncoder
from django.test.client import (
    BOUNDARY,
    CONTENT_TYPE_RE,
    JSON_CONTENT_TYPE_RE,
    encode_multipart,
)
from django.utils.http import urlencode
from rest_framework.renderers import JSONRenderer, MultiPartRenderer

from fuzz.model import QUERY_VERBS, FuzzRequest

OCTET = "application/octet-stream"
#: DRF's TEST_REQUEST_RENDERER_CLASSES, by format (the test project's setting).
RENDERERS = {"json": JSONRenderer, "multipart": MultiPartRenderer}
DEFAULT_FORMAT = "json"
#: Environ names that are not headers (CGI variables).
_CGI = frozenset(
    {
        "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "HTTPS",
        "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "RAW_URI", "REMOTE_ADDR",
        "REMOTE_HOST", "REMOTE_IDENT", "REMOTE_PORT", "REMOTE_USER", "REQUEST_METHOD",
        "REQUEST_URI", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
    }
)  # fmt: skip
# WHATWG URL parsing drops these anywhere in the input, and the C0 controls
# and space at its ends; browsers and urllib.parse do the same.
_REMOVED = str.maketrans("", "", "\t\n\r")
_C0_OR_SPACE = "".join(chr(i) for i in range(0x21))


class Refused(Exception):
    """The contract refuses this call: the kit must raise too, saying why."""


@dataclass(frozen=True)
class Wire:
    """A request as sent: the target (without the root path), headers, body."""

    method: str
    #: The request target as sent (the path without the root path).
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    root_path: str
    tls: bool


def to_wire(request: FuzzRequest) -> Wire:
    """The request a real client sends for ``request``, or ``Refused``."""
    body, content_type = _body(request)
    environ: dict[str, Any] = {}
    cookie = _cookie_header(request.cookies)
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    environ.update(request.credentials)
    if body:
        environ["CONTENT_TYPE"] = content_type or OCTET
        environ["CONTENT_LENGTH"] = str(len(body))
    elif content_type and content_type != OCTET:
        environ["CONTENT_TYPE"] = content_type
    cgi: dict[str, Any] = {"SERVER_PORT": "443"} if request.secure else {}
    for key, value in request.extra:
        if key in _CGI:
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            cgi[key] = value
        elif key.startswith("HTTP_"):
            environ[key] = value
        else:  # a bare header name, as Django's AsyncClient reads it
            environ["HTTP_" + key.upper().replace("-", "_")] = value
    lines = _header_lines(environ, request.headers)
    if not any(name == b"host" for name, _ in lines):
        lines.insert(0, (b"host", _host(cgi, request.secure).encode()))
    return Wire(
        method=request.method,
        target=_target(request, cgi),
        headers=tuple(lines),
        body=body,
        root_path=request.script_name,
        tls=request.secure,
    )


def _header_lines(
    environ: dict[str, Any], headers: Iterable[tuple[str, Any]] | None
) -> list[tuple[bytes, bytes]]:
    """Header lines: environ entries, replaced by name by ``headers=``.

    ``headers=`` names that differ only in case are each a line; names with
    ``_`` are dropped, as servers drop them.
    """
    own: dict[str, list[Any]] = {}
    for name, value in dict(headers or ()).items():  # what a dict can say
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        own.setdefault(key, []).append(value)
    lines = []
    for key, value in environ.items():
        if key not in own:
            lines.extend(_lines(key, [value]))
    for key, values in own.items():
        lines.extend(_lines(key, values))
    return lines


def _lines(key: str, values: list[Any]) -> list[tuple[bytes, bytes]]:
    name = key.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
    lines = [(name, _value_bytes(value)) for value in values]
    if key in ("HTTP_COOKIE", "CONTENT_TYPE", "CONTENT_LENGTH"):
        # No cookies, no Cookie header; an empty Content-Type is none (CGI
        # cannot tell them apart).
        lines = [(name, value) for name, value in lines if value]
    return lines


def _value_bytes(value: Any) -> bytes:
    """Text as latin-1 where it can be, else UTF-8; stripped, as fetch() does."""
    if isinstance(value, bytes):
        return value.strip(b" \t")
    text = str(value)
    try:
        return text.encode("latin-1").strip(b" \t")
    except UnicodeEncodeError:
        return text.encode("utf-8").strip(b" \t")


def _cookie_header(cookies: Iterable[tuple[str, str]]) -> str:
    jar: SimpleCookie = SimpleCookie()
    for name, value in cookies:
        jar[name] = value
    return "; ".join(sorted(f"{m.key}={m.coded_value}" for m in jar.values()))


def _host(cgi: dict[str, Any], secure: bool) -> str:
    name = str(cgi.get("SERVER_NAME", "testserver"))
    port = str(cgi.get("SERVER_PORT", "80"))
    return name if port == ("443" if secure else "80") else f"{name}:{port}"


def _target(request: FuzzRequest, cgi: dict[str, Any]) -> bytes:
    """The request target, as bytes: httpx encodes what the test wrote."""
    written = request.path.translate(_REMOVED).strip(_C0_OR_SPACE)
    written = written.partition("#")[0]
    # C0 controls left inside: browsers percent-encode them, httpx refuses.
    written = "".join(
        f"%{ord(c):02X}" if ord(c) < 0x20 or c == "\x7f" else c for c in written
    )
    if cgi.get("QUERY_STRING"):
        # An explicit QUERY_STRING is the query's bytes: sent as written.
        explicit = str(cgi["QUERY_STRING"])
        if not (explicit.isascii() and explicit.isprintable()) or " " in explicit:
            raise Refused("an explicit QUERY_STRING that is not printable ASCII")
        path = httpx.URL("http://h" + written.partition("?")[0]).raw_path
        parts = [explicit.encode()]
    else:
        path, _, query = httpx.URL("http://h" + (written or "/")).raw_path.partition(
            b"?"
        )
        parts = [query] if query else []
    given = b""
    if request.method in QUERY_VERBS and not request.generic and request.query_data:
        if request.query_params:
            raise Refused("query_params and data are mutually exclusive")
        given = urlencode(list(request.query_data), doseq=True).encode()
    if request.query_params:
        given = urlencode(list(request.query_params), doseq=True).encode()
    if given:
        # Django's and DRF's rule, which the drop-ins keep (with a
        # DroppedInputWarning): data= or query_params= is the whole query.
        parts = [given]
    joined = b"&".join(part for part in parts if part)
    return path + b"?" + joined if joined else path


def _body(request: FuzzRequest) -> tuple[bytes, str | None]:
    """``(body, content type)`` by the encoding rules of the client API."""
    if request.generic:
        # generic() sends a str body as UTF-8, whatever the content type says.
        data = request.body.build() if request.body is not None else b""
        content_type = (
            request.content_type if request.content_type is not None else OCTET
        )
        return _encoded(data, "utf-8"), content_type
    if request.method in QUERY_VERBS:
        if isinstance(request.query_data, (str, bytes)):
            raise Refused("GET data= must be a mapping")
        return b"", request.content_type
    data = None if request.body is None else request.body.build()
    if data is None:  # data=None is no data, even when it was JSON's null
        return b"", request.content_type
    if request.format is not None and request.content_type is not None:
        raise Refused("format= and content_type= together")
    if request.content_type is not None:
        return _as_given(data, request.content_type), request.content_type
    renderer_class = RENDERERS.get(request.format or DEFAULT_FORMAT)
    if isinstance(data, bytes):
        return (
            data,
            renderer_class.media_type if request.format and renderer_class else OCTET,
        )
    if renderer_class is None:
        raise Refused(f"unknown format {request.format!r}")
    renderer = renderer_class()
    media_type = renderer.media_type
    if isinstance(data, str) and media_type.startswith("multipart/"):
        return data.encode(), OCTET
    rendered = renderer.render(data)
    if renderer.charset:
        media_type = f"{media_type}; charset={renderer.charset}"
    if isinstance(rendered, str):
        rendered = rendered.encode(renderer.charset or "utf-8")
    return rendered, media_type


def _as_given(data: Any, content_type: str) -> bytes:
    if content_type.startswith("multipart/form-data") and isinstance(data, dict):
        boundary = content_type.partition("boundary=")[2].split(";")[0].strip()
        return encode_multipart(boundary or BOUNDARY, data)
    if JSON_CONTENT_TYPE_RE.match(content_type) and isinstance(data, (dict, list)):
        data = json.dumps(data, cls=DjangoJSONEncoder)
    return _encoded(data, _charset(content_type))


def _encoded(data: Any, charset: str) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return str(data).encode(charset)
    except (UnicodeEncodeError, LookupError) as error:
        raise Refused(f"a str body the charset cannot encode: {error}") from error


def _charset(content_type: str) -> str:
    match = CONTENT_TYPE_RE.match(content_type)
    return match[1] if match else "utf-8"
