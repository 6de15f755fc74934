"""What the keywords of a request mean: headers, CGI variables, or neither.

Django's two factories read the same keyword differently. The WSGI one puts
``ACCEPT="..."`` into the environ under that name, where no view looks, while
the ASGI one sends it as an ``Accept`` header (and Django's docs tell
AsyncClient users to write it so). Here every keyword is classified once, for
both stacks: ``HTTP_*`` names and bare header names are headers, CGI and
``wsgi.*`` names keep their environ meaning, and the environ keys an ASGI scope
has no place for are reported, so the async stack can say what it cannot carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any

from django.http.request import HttpHeaders

from restflow_parity.request._encoding import surrogate_message

__all__ = [
    "CGI_KEYS",
    "EMPTY_MEANS_NONE",
    "HEADER_CGI_KEYS",
    "ScopeLossWarning",
    "environ_from_scope",
    "header_environ",
    "header_text",
    "keyword_environ",
    "lost_in_scope",
]

#: CGI variables (RFC 3875) and the extras servers add: environ names that are
#: not headers, so a keyword spelled like one keeps its environ meaning.
CGI_KEYS = frozenset(
    {
        "AUTH_TYPE",
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "GATEWAY_INTERFACE",
        "HTTPS",
        "PATH_INFO",
        "PATH_TRANSLATED",
        "QUERY_STRING",
        "RAW_URI",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "REMOTE_IDENT",
        "REMOTE_PORT",
        "REMOTE_USER",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "SCRIPT_NAME",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SOFTWARE",
    }
)

# The CGI variables build_scope() has no scope field for: lost on the way to
# an ASGIRequest. Everything else it carries, with the wsgi.* keys.
_LOST_CGI = frozenset(
    {
        "AUTH_TYPE",
        "GATEWAY_INTERFACE",
        "HTTPS",
        "PATH_TRANSLATED",
        "REMOTE_HOST",
        "REMOTE_IDENT",
        "REMOTE_USER",
        "SERVER_SOFTWARE",
    }
)
_CARRIED = (CGI_KEYS - _LOST_CGI) | {
    "wsgi.errors",
    "wsgi.input",
    "wsgi.multiprocess",
    "wsgi.multithread",
    "wsgi.run_once",
    "wsgi.url_scheme",
    "wsgi.version",
}


#: The CGI names that carry a header (RFC 3875 puts these two outside HTTP_*).
HEADER_CGI_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
#: Headers whose empty value is no header: CGI cannot tell an empty
#: Content-Type from none, and a client without cookies sends no Cookie.
EMPTY_MEANS_NONE = ("HTTP_COOKIE", "CONTENT_TYPE", "CONTENT_LENGTH")
# RFC 9110 "token": what a header name may be made of (``_`` stands for
# ``-`` in an environ name).
_TOKEN = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_valid_keys: set[str] = set()
# What HTTP clients refuse to send in a header value and servers refuse to
# receive (RFC 9110 5.5; h11, under uvicorn and hypercorn, also refuses VT
# and FF). Other control characters pass through every server measured.
_NEVER_IN_VALUES = frozenset("\x00\n\r\x0b\x0c")


class ScopeLossWarning(UserWarning):
    """An environ key was given that an ASGI scope cannot carry.

    Django's ``ASGIRequest`` builds ``META`` from the scope alone, so a view
    behind a real ASGI server never sees such a key (``REMOTE_USER``, say).
    """


def header_environ(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """``headers={...}`` as environ names; names with ``_`` are dropped.

    Servers drop header names with underscores (Django's ASGIRequest since
    CVE-2026-3902, runserver and gunicorn before the environ): ``X_User``
    would otherwise arrive as ``X-User`` and could spoof it, on either stack.
    """
    if not headers:
        return {}
    environ: dict[str, Any] = {}
    for name, value in headers.items():
        if "_" in name:
            continue
        key = HttpHeaders.to_wsgi_name(name)
        if key == "HTTP_HOST" and key in environ:
            raise ValueError(
                f"headers= names Host twice ({', '.join(map(repr, headers))}): "
                "a request has one Host, and servers answer 400 to two "
                "(RFC 9112, 3.2). Keep one."
            )
        if key in environ:
            # Names that differ only in case are two header lines; a server
            # joins their values with ",", as Django does on ASGI.
            parts = [header_text(key, environ[key]), header_text(key, value)]
            if key in EMPTY_MEANS_NONE:
                parts = [part for part in parts if part]
            value = ",".join(parts)
        environ[key] = value
    return environ


def header_text(key: str, value: Any) -> str:
    """A header's environ value as a WSGI server gives it to Django.

    PEP 3333 carries header bytes as latin-1 text: bytes are decoded so, and
    text that latin-1 cannot hold is sent as its UTF-8 bytes, as the ASGI
    scope sends it, so both stacks read the same value. Surrounding spaces
    and tabs are dropped, as servers drop them. A value or name that HTTP
    clients will not send and servers refuse (line breaks, NUL; a name that
    is not an RFC 9110 token) raises ``ValueError``, saying why.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("latin-1")
    else:
        text = value if isinstance(value, str) else str(value)
        if not text.isascii():
            try:
                text.encode("latin-1")
            except UnicodeEncodeError:
                text = _utf8(key, text).decode("latin-1")
    if not text.isprintable():
        bad = [char for char in text if char in _NEVER_IN_VALUES]
        if bad:
            raise ValueError(
                f"The {_header_name(key)} header's value {text!r} holds {bad[0]!r}: "
                "a line break, NUL, vertical tab or form feed cannot be sent in "
                "a header (it would end the header or smuggle another), and "
                "servers refuse a request that has one. Remove it, or encode "
                "the value (percent- or base64-encoding)."
            )
    if text[:1] in (" ", "\t") or text[-1:] in (" ", "\t"):
        text = text.strip(" \t")
    if key not in _valid_keys:
        name = key[5:] if key.startswith("HTTP_") else key
        if not name or not _TOKEN.issuperset(name):
            raise ValueError(
                f"{_header_name(key)!r} is not a header name: a name is made of "
                "letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110), and servers "
                "refuse a request with any other. Spell it like X-Request-Id."
            )
        _valid_keys.add(key)
    return text


def _utf8(key: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        what = f"The {_header_name(key)} header's value {text!r}"
        raise ValueError(surrogate_message(what, error)) from None


def _header_name(key: str) -> str:
    return key.removeprefix("HTTP_").replace("_", "-").title()


def keyword_environ(keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Environ entries for the ``**extra`` keywords of a request.

    ``HTTP_*``, CGI names and dotted (``wsgi.*``) keys stay as they are. Any
    other keyword is a header named as Django's AsyncClient names it
    (``ACCEPT`` and ``X_API_KEY`` become ``Accept`` and ``X-Api-Key``), on
    both stacks.
    """
    environ: dict[str, Any] = {}
    for key, value in keywords.items():
        if key.startswith("HTTP_") or key in CGI_KEYS or "." in key:
            environ[key] = value
        else:
            environ["HTTP_" + key.upper().replace("-", "_")] = value
    return environ


def lost_in_scope(environ: Mapping[str, Any]) -> list[str]:
    """The environ keys an ASGI scope built from ``environ`` would not carry."""
    # A set difference first: the common environ holds nothing else.
    return sorted(
        key for key in environ.keys() - _CARRIED if not key.startswith("HTTP_")
    )


def environ_from_scope(scope: Mapping[str, Any], body: Any = None) -> dict[str, Any]:
    """The WSGI environ of a scope that Django's ``AsyncRequestFactory`` built.

    For Django's async test client and factory in a ``_sync`` variant: the
    same request, as Django's WSGI side reads it. Header names are kept as
    Django's ``ASGIRequest`` keeps them (names with ``_`` dropped, repeated
    ones joined with ","), and a str query string is taken as the text Django
    put there.
    """
    from django.test.client import FakePayload

    server = scope.get("server") or ("testserver", "80")
    client = scope.get("client") or ("127.0.0.1", 0)
    query = scope.get("query_string", "")
    body = body if body is not None else FakePayload(b"")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(scope.get("method", "GET")).upper(),
        "SCRIPT_NAME": scope.get("root_path", ""),
        "PATH_INFO": scope.get("path", "/"),
        "QUERY_STRING": query.decode("latin-1") if isinstance(query, bytes) else query,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": BytesIO(),
        "wsgi.multiprocess": True,
        "wsgi.multithread": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper()
        if "_" in name:
            continue  # ASGIRequest drops these (CVE-2026-3902)
        key = name.replace("-", "_")
        if key not in HEADER_CGI_KEYS:
            key = f"HTTP_{key}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    for key in EMPTY_MEANS_NONE:
        if environ.get(key) == "":
            del environ[key]
    return environ
