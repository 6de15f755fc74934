"""Why two routes may differ: every explained difference, with its reason.

Each ``Cause`` explains differences on some fields, for some kinds of pair
(``stacks``: the two in-process stacks; ``server``: an in-process stack
against a real server; ``servers``: two real servers), when its condition
holds for the request. Each one is documented at ``anchor`` and shown by a
test in tests/test_fuzz.py; a difference no cause explains is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from fuzz.compare import Difference
from fuzz.model import FuzzRequest

MIGRATING = "guides/migrating.md"
SCOPE = "guides/scope.md"


@dataclass(frozen=True)
class Cause:
    name: str
    #: One line for the report.
    summary: str
    #: The docs section that explains it (relative to docs/).
    anchor: str
    kinds: frozenset[str]
    fields: Callable[[str], bool]
    when: Callable[[Difference], bool] = lambda diff: True

    def explains(self, diff: Difference) -> bool:
        return diff.kind in self.kinds and self.fields(diff.field) and self.when(diff)


def _named(*names: str, prefixes: tuple[str, ...] = ()) -> Callable[[str], bool]:
    wanted = frozenset(names)
    return lambda field: field in wanted or field.startswith(prefixes)


def _only_dropped_input(diff: Difference) -> bool:
    differ = set(diff.left or ()) ^ set(diff.right or ())
    return bool(differ) and all(w.startswith("DroppedInputWarning") for w in differ)


def _with_sync(diff: Difference) -> bool:
    return "sync" in diff.pair


def _record(diff: Difference, route: str) -> dict:  # type: ignore[type-arg]
    return diff.outcomes[route].record or {}


def _any_record(diff: Difference, key: str) -> object:
    for route in diff.pair:
        value = _record(diff, route).get(key)
        if value is not None:
            return value
    return None


_PATH_FIELDS = _named(
    "path", "path_info", "rest", "scope.path", "scope.raw_path", "META.PATH_INFO"
)
#: META keys one stack has and the other does not, by design.
WSGI_ONLY_META = frozenset(
    {
        "RAW_URI",
        "SERVER_PROTOCOL",
        "wsgi.multithread",
        "wsgi.run_once",
        "wsgi.url_scheme",
    }
)
ASGI_ONLY_META = frozenset({"REMOTE_HOST", "REMOTE_PORT"})
LOOPBACK_META = frozenset(
    {"SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST"}
)
_NOT_CARRIED = ("REMOTE_USER",)


def _invalid_utf8_path(diff: Difference) -> bool:
    for route in diff.pair:
        scope = _record(diff, route).get("scope")
        if isinstance(scope, dict):
            try:
                unquote_to_bytes(bytes(scope["raw_path"]).decode("latin-1")).decode(
                    "utf-8"
                )
            except UnicodeDecodeError:
                return True
    return False


def _body_charset(diff: Difference) -> bool:
    params = _any_record(diff, "content_params")
    charset = params.get("charset", "utf-8") if isinstance(params, dict) else "utf-8"
    return charset.lower().replace("_", "-") not in ("utf-8", "utf8")


def _non_ascii_cookie(diff: Difference) -> bool:
    for route in diff.pair:
        scope = _record(diff, route).get("scope")
        if isinstance(scope, dict):
            for name, value in scope["headers"]:
                if bytes(name) == b"cookie" and not bytes(value).isascii():
                    return True
    return False


def _extra_keys(request: FuzzRequest) -> set[str]:
    return {key for key, _ in request.extra}


_DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)")


def _dot_segments(diff: Difference) -> bool:
    path = diff.request.path.partition("?")[0]
    return bool(_DOT_SEGMENT.search(path))


def _root_path(diff: Difference) -> bool:
    return bool(diff.request.script_name) and any(
        route in ("hypercorn", "daphne") for route in diff.pair
    )


def _has_daphne(diff: Difference) -> bool:
    return "daphne" in diff.pair


_SPLITLINES = re.compile(rb"[\x1c\x1d\x1e\x85]")


def _splitlines_byte(diff: Difference) -> bool:
    from fuzz.wire import Refused, to_wire

    try:
        wire = to_wire(diff.request)
    except (Refused, Exception):
        return False
    return "daphne" in diff.pair and any(
        _SPLITLINES.search(value) for _, value in wire.headers
    )


def _lower_method(diff: Difference) -> bool:
    return diff.request.method != diff.request.method.upper()


def _joined_repeats(diff: Difference) -> bool:
    left, right = diff.left, diff.right
    if not (isinstance(left, tuple) and isinstance(right, tuple)):
        return False
    return b",".join(left) == b",".join(right)


def _daphne_multipart(diff: Difference) -> bool:
    daphne = diff.outcomes.get("daphne")
    if "daphne" not in diff.pair or daphne is None or daphne.status != 400:
        return False
    from fuzz.wire import Refused, to_wire

    try:
        wire = to_wire(diff.request)
    except (Refused, Exception):
        return False
    types = [value for name, value in wire.headers if name == b"content-type"]
    return (
        wire.method == "POST"
        and bool(wire.body)
        and bool(types)
        and types[0].lower().startswith(b"multipart/form-data")
    )


STACKS = frozenset({"stacks", "server"})
SERVER = frozenset({"server", "servers"})
SERVERS = frozenset({"servers"})

CAUSES: tuple[Cause, ...] = (
    Cause(
        "request-class",
        "WSGIRequest on the sync stack, ASGIRequest on the async stack and behind "
        "servers",
        f"{MIGRATING}#difference-stack-request",
        STACKS,
        _named("request_class"),
        _with_sync,
    ),
    Cause(
        "wsgi-meta",
        "META keys only WSGI sets (wsgi.*, SERVER_PROTOCOL, RAW_URI) or only ASGI "
        "sets (REMOTE_HOST, REMOTE_PORT)",
        f"{MIGRATING}#difference-stack-meta",
        STACKS,
        lambda field: (
            field.startswith("META.")
            and (
                field[5:] in WSGI_ONLY_META | ASGI_ONLY_META
                or field.startswith("META.wsgi.")
            )
        ),
        _with_sync,
    ),
    Cause(
        "scope-loss",
        "REMOTE_USER and other CGI-only keys: in META on WSGI; the async stack warns "
        "(ScopeLossWarning)",
        f"{MIGRATING}#difference-remote-user",
        STACKS,
        _named("warnings", *(f"META.{key}" for key in _NOT_CARRIED)),
        lambda diff: bool(_extra_keys(diff.request) & set(_NOT_CARRIED)),
    ),
    Cause(
        "wsgi-query-charset",
        "WSGIRequest decodes the query string with the body's charset; ASGIRequest "
        "with UTF-8",
        f"{MIGRATING}#difference-stack-charset",
        STACKS,
        _named("GET", "query_params"),
        lambda diff: _with_sync(diff) and _body_charset(diff),
    ),
    Cause(
        "wsgi-cookie-bytes",
        "a Cookie header with non-ASCII bytes: WSGIRequest decodes it as UTF-8, "
        "ASGIRequest as latin-1",
        f"{MIGRATING}#difference-stack-cookies",
        STACKS,
        _named("COOKIES"),
        lambda diff: _with_sync(diff) and _non_ascii_cookie(diff),
    ),
    Cause(
        "wsgi-invalid-path",
        "invalid UTF-8 in the path: WSGIRequest re-percent-encodes it (%FF), ASGI "
        "servers decode it to U+FFFD",
        f"{MIGRATING}#difference-stack-path",
        STACKS,
        _PATH_FIELDS,
        lambda diff: _with_sync(diff) and _invalid_utf8_path(diff),
    ),
    Cause(
        "dropped-input",
        "the drop-ins warn (DroppedInputWarning) where Django's and DRF's clients "
        "drop what the test wrote; a server is sent what the client sends",
        f"{MIGRATING}#deliberate-differences",
        SERVER,
        _named("warnings"),
        lambda diff: _only_dropped_input(diff),
    ),
    Cause(
        "loopback",
        "the socket's addresses: a server sees 127.0.0.1 and real ports, a test its "
        "SERVER_NAME and REMOTE_ADDR",
        f"{MIGRATING}#difference-stack-loopback",
        SERVER,
        lambda field: (
            field in ("scope.client", "scope.server")
            or (field.startswith("META.") and field[5:] in LOOPBACK_META)
        ),
    ),
    Cause(
        "dot-segments",
        "httpx (like browsers) removes . and .. path segments; the test clients send "
        "the path as written",
        f"{MIGRATING}#difference-dot-segments",
        frozenset({"server"}),
        lambda field: _PATH_FIELDS(field) or field == "outcome",
        _dot_segments,
    ),
    Cause(
        "server-scope-keys",
        "keys each server adds: asgi.spec_version (uvicorn 2.3, hypercorn 2.1, "
        "daphne none), state, extensions",
        f"{SCOPE}#what-real-servers-send",
        SERVER,
        _named("scope.asgi", "scope.state", "scope.extensions"),
    ),
    Cause(
        "root-path-prefix",
        "hypercorn and daphne leave root_path out of scope['path'] (uvicorn and the "
        "spec put it in)",
        f"{SCOPE}#what-real-servers-send",
        SERVERS,
        _named("path", "scope.path", "scope.raw_path"),
        _root_path,
    ),
    Cause(
        "daphne-splitlines",
        "daphne answers 400 to a header value holding \\x1c, \\x1d, \\x1e or \\x85",
        f"{SCOPE}#what-real-servers-send",
        SERVERS,
        lambda field: True,
        _splitlines_byte,
    ),
    Cause(
        "repeated-headers",
        "a header sent twice is one joined value in a WSGI environ, so in the scope "
        "built from it",
        f"{SCOPE}#what-a-wsgi-environ-cannot-say",
        SERVER,
        lambda field: field.startswith("scope.headers."),
        _joined_repeats,
    ),
    Cause(
        "daphne-multipart",
        "daphne (Twisted) answers 400 to a POST whose multipart/form-data body it "
        "cannot parse",
        f"{SCOPE}#what-real-servers-send",
        SERVERS,
        _named("outcome"),
        _daphne_multipart,
    ),
    Cause(
        "daphne-lists",
        "daphne sends client and server as lists, not tuples",
        f"{SCOPE}#what-real-servers-send",
        SERVERS,
        _named("scope.types"),
        _has_daphne,
    ),
    Cause(
        "method-case",
        "a lower-case method: WSGI's META and uvicorn's and daphne's scopes keep it "
        "as sent; "
        "ASGIRequest's META, the kit's scopes and hypercorn upper-case it (as the "
        "spec says)",
        f"{SCOPE}#what-real-servers-send",
        frozenset({"stacks", "server", "servers"}),
        _named("scope.method", "META.REQUEST_METHOD"),
        _lower_method,
    ),
)


def explain(diff: Difference) -> Cause | None:
    """The first cause that explains ``diff``, or None."""
    for cause in CAUSES:
        if cause.explains(diff):
            return cause
    return None
