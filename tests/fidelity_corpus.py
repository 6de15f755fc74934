"""Requests sent identically to uvicorn and to the in-process test stacks.

Each case is written as a client puts it on the wire: a percent-encoded path
and query string, header pairs in order (repeats allowed) and a byte body.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    id: str
    method: str = "GET"
    path: str = "/scope/"
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None
    root_path: str = ""
    https: bool = False
    environ: dict[str, str] = field(default_factory=dict)


CORPUS = [
    Case("plain"),
    Case("repeated-query-keys", query="a=1&a=2&b=x"),
    Case("utf8-query", query="name=%C3%A9t%C3%A9&check=%E2%9C%93"),
    Case("plus-and-space-query", query="q=a+b&r=c%20d"),
    Case("non-ascii-path", path="/scope/caf%C3%A9/"),
    Case("cjk-path", path="/scope/%E6%97%A5%E6%9C%AC/x"),
    Case("percent-encoded-space-path", path="/scope/a%20b/~user"),
    Case(
        "raw-uri-keeps-encoded-slash",
        path="/scope/a%2Fb",
        environ={"RAW_URI": "/scope/a%2Fb"},
    ),
    Case("custom-header", headers=(("X-Custom", "hello"),)),
    Case("repeated-header", headers=(("X-Multi", "a"), ("X-Multi", "b"))),
    Case("auth-header", headers=(("Authorization", "Token abc123"),)),
    Case("cookie-header", headers=(("Cookie", "a=1; b=2"),)),
    Case(
        "json-post",
        method="POST",
        body=b'{"name": "Phone"}',
        content_type="application/json",
    ),
    Case(
        "json-put-with-charset",
        method="PUT",
        body=b'{"name": "Ph\xc3\xb6ne"}',
        content_type="application/json; charset=utf-8",
    ),
    Case(
        "form-patch",
        method="PATCH",
        body=b"a=1&b=2",
        content_type="application/x-www-form-urlencoded",
    ),
    Case("delete", method="DELETE"),
    Case("head", method="HEAD"),
    Case("options", method="OPTIONS"),
    Case("script-name", path="/scope/mounted/", root_path="/mount"),
    Case("https", https=True),
]
