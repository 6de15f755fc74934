"""What a generated request exercises, named after the issue's list.

The command prints how many requests touched each dimension, and
tests/test_fuzz.py checks that the CI sample touches all of them, so a
change to the strategies cannot quietly stop generating one.
"""

from __future__ import annotations

import re

from fuzz.model import QUERY_VERBS, FuzzRequest

_INVALID_UTF8 = re.compile(r"%(?:[89A-Fa-f][0-9A-Fa-f])")
_DOT = re.compile(r"(^|/)\.{1,2}(/|$)")

DIMENSIONS = (
    "method: HEAD",
    "method: OPTIONS",
    "method: generic()",
    "path: non-ASCII",
    "path: %2F",
    "path: invalid UTF-8 escape",
    "path: trailing slash",
    "path: dot segment",
    "path: SCRIPT_NAME",
    "query: in the URL",
    "query: repeated key",
    "query: blank key",
    "query: non-ASCII key",
    "headers: repeated name (by case)",
    "headers: odd case",
    "headers: empty value",
    "headers: non-ASCII bytes",
    "headers: invalid name",
    "cookies",
    "body: JSON",
    "body: form",
    "body: multipart with files",
    "body: raw bytes",
    "secure=True",
    "HTTP_HOST",
    "credentials()",
    "data=",
    "format=",
    "content_type=",
    "headers=",
    "query_params=",
    "environ keyword",
)


def _pairs_keys(pairs: object) -> list[str]:
    return [key for key, _ in pairs or ()]  # type: ignore[attr-defined]


def dimensions(request: FuzzRequest) -> set[str]:
    """The dimensions ``request`` exercises."""
    found: set[str] = set()
    method = request.method
    if method == "HEAD":
        found.add("method: HEAD")
    if method == "OPTIONS":
        found.add("method: OPTIONS")
    if request.generic:
        found.add("method: generic()")
    path, mark, url_query = request.path.partition("?")
    if not path.isascii():
        found.add("path: non-ASCII")
    if "%2f" in path.lower():
        found.add("path: %2F")
    if _INVALID_UTF8.search(path) and "%C3%A9" not in path:
        found.add("path: invalid UTF-8 escape")
    if path.endswith("/") and path != "/fuzz/":
        found.add("path: trailing slash")
    if _DOT.search(path):
        found.add("path: dot segment")
    if request.script_name:
        found.add("path: SCRIPT_NAME")
    if url_query:
        found.add("query: in the URL")
    keys = [item.partition("=")[0] for item in url_query.split("&") if mark]
    keys += _pairs_keys(request.query_params)
    if method in QUERY_VERBS and not request.generic:
        keys += _pairs_keys(request.query_data)
    if len(keys) != len(set(keys)):
        found.add("query: repeated key")
    if "" in keys:
        found.add("query: blank key")
    if any(not key.isascii() for key in keys):
        found.add("query: non-ASCII key")
    names = [name for name, _ in request.headers or ()]
    if len({name.lower() for name in names}) < len(names):
        found.add("headers: repeated name (by case)")
    if any(name not in (name.title(), name.upper()) for name in names):
        found.add("headers: odd case")
    values = [value for _, value in request.headers or ()] + [
        v for _, v in request.extra
    ]
    if any(value in ("", b"") for value in values):
        found.add("headers: empty value")
    if any(isinstance(value, bytes) and not value.isascii() for value in values):
        found.add("headers: non-ASCII bytes")
    if any(not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name) for name in names):
        found.add("headers: invalid name")
    if request.cookies:
        found.add("cookies")
    body = request.body
    if body is not None and method not in QUERY_VERBS:
        found.add("data=")
        if body.kind == "json":
            found.add("body: JSON")
        if body.kind == "raw":
            found.add("body: raw bytes")
        if body.kind == "text" and "form-urlencoded" in (request.content_type or ""):
            found.add("body: form")
        if body.kind == "multipart" and any(
            type(value).__name__ == "Upload" for _, value in body.value
        ):
            found.add("body: multipart with files")
    if request.query_data is not None:
        found.add("data=")
    if request.format is not None:
        found.add("format=")
    if request.content_type is not None:
        found.add("content_type=")
    if request.headers is not None:
        found.add("headers=")
    if request.query_params is not None:
        found.add("query_params=")
    if request.extra:
        found.add("environ keyword")
    if request.secure:
        found.add("secure=True")
    if any(key == "HTTP_HOST" for key, _ in request.extra) or "Host" in names:
        found.add("HTTP_HOST")
    if request.credentials:
        found.add("credentials()")
    return found
