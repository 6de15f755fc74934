"""Hypothesis strategies for ``FuzzRequest``: every dimension of issue 15.

Methods (HEAD, OPTIONS and ones no verb has), paths (arbitrary Unicode,
percent-escapes including %2F and invalid UTF-8, trailing slashes, a
SCRIPT_NAME prefix), query strings (repeated, blank and non-ASCII keys, in the
URL, as data= and as query_params=), headers (repeated names by case, odd
case, empty values, non-ASCII text and bytes), cookies, bodies (JSON, form,
multipart with files, raw bytes with any content type), ``secure=``, hosts,
``credentials()`` and a mix of verb keywords.

Most values come from printable text; a smaller share is what real servers
and clients refuse (control characters, lone surrogates, invalid UTF-8), so
the bad-input rules are exercised without drowning the rest.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import strategies as st

from fuzz.model import (
    QUERY_VERBS,
    ROOT_PATHS,
    Body,
    FuzzRequest,
    Upload,
    json_object,
)

PRINTABLE = st.characters(exclude_categories=("Cs", "Cc"))
#: Anything at all, lone surrogates (which UTF-8 cannot encode) included.
ANY_CHAR = st.characters()


def _text(max_size: int = 6) -> st.SearchStrategy[str]:
    # Printable text four times in five; any character (controls too) else.
    printable = st.text(PRINTABLE, max_size=max_size)
    return st.one_of(
        printable, printable, printable, printable, st.text(ANY_CHAR, max_size=max_size)
    )


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """True once in ``n`` draws; False is what hypothesis shrinks toward."""
    return draw(st.integers(0, n - 1)) == n - 1


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
#: Methods only generic() sends: unknown to the view (405), or lower case.
GENERIC_ONLY = ("PURGE", "PROPFIND", "patch", "get")

ESCAPES = (
    "%2F", "%2f", "%FF", "%C3%A9", "%25", "%20", "%E2%9C", "%", "%zz", "%3F",
    "%23", "%00", "%2e", "+", ";a=b", "~user", "é", "日本", "\u2028",
)  # fmt: skip
QUERY_WORDS = (
    "a", "b", "", "ключ", "é", "a b", "a+b", "%FF", "%C3%A9", "k%26", "%2B",
    "=", "x=y", "✓", "%", "[]", "a[b]",
)  # fmt: skip
HEADER_NAMES = (
    "X-Custom", "x-custom", "X-CUSTOM", "Accept", "accept", "Accept-Language",
    "Authorization", "Cookie", "Content-Type", "X_Under", "X-Empty", "Host",
    "User-Agent", "X-Forwarded-Proto", "If-None-Match", "X-Api-Key",
)  # fmt: skip
HEADER_VALUES = (
    "", " padded ", "a, b", "application/json", "text/html;q=0.9, */*",
    "Token abc", "é", "ünïcödé ✓", "\t", "a\tb",
    # What servers refuse: a smuggled header, NUL, a lone surrogate.
    "a\r\nX-Injected: 1", "nul\x00", "\udcff",
)  # fmt: skip
ACCEPTS = (
    "application/json", "text/html", "*/*", "application/xml", "",
    "application/json; indent=4", "text/html;q=0.5, application/json",
)  # fmt: skip
HOSTS = (
    "testserver", "api.example.com", "testserver:8000", "evil.example",
    "API.EXAMPLE.COM", "localhost:1", "127.0.0.1",
)  # fmt: skip
CONTENT_TYPES = (
    None, "text/plain", "text/plain; charset=koi8-r", "text/plain; charset=latin-1",
    "application/octet-stream", "application/x-custom", "application/json",
    "application/x-www-form-urlencoded", "multipart/form-data", "",
    "application/json; charset=utf-8", "TEXT/PLAIN", "text/plain; charset=x-unknown",
)  # fmt: skip
UPLOAD_TYPES = (
    "application/octet-stream",
    "text/plain",
    "image/png",
    "text/csv; charset=utf-8",
)
COOKIE_NAMES = ("a", "b", "theme", "csrftoken", "lang")


def path_segment() -> st.SearchStrategy[str]:
    text = st.text(st.characters(exclude_characters="?#"), max_size=5)
    escape = st.sampled_from(ESCAPES)
    mixed = st.tuples(text, escape, text).map("".join)
    dots = st.sampled_from(("", ".", ".."))
    return st.one_of(text, text, escape, mixed, mixed, dots)


@st.composite
def paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(path_segment(), max_size=3))
    path = "/fuzz/" + "/".join(segments)
    if segments and draw(st.booleans()):
        path += "/"
    if _one_in(draw, 3):
        path += "?" + draw(url_queries())
    return path


@st.composite
def url_queries(draw: st.DrawFn) -> str:
    word = st.one_of(
        st.sampled_from(QUERY_WORDS), _text(4).filter(lambda s: "#" not in s)
    )
    items = draw(st.lists(st.tuples(word, st.booleans(), word), max_size=4))
    return "&".join(key + ("=" + value if eq else "") for key, eq, value in items)


def query_pairs() -> st.SearchStrategy[tuple[tuple[str, Any], ...]]:
    key = st.one_of(st.sampled_from(("a", "b", "", "ключ", "a b")), _text(4))
    value = st.one_of(_text(5), st.tuples(_text(3), _text(3)))
    return st.lists(st.tuples(key, value), max_size=4).map(tuple)


def header_value() -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        st.sampled_from(HEADER_VALUES),
        st.text(PRINTABLE, max_size=8),
        st.binary(max_size=6),
        st.text(ANY_CHAR, max_size=4),
    )


@st.composite
def headers(draw: st.DrawFn) -> tuple[tuple[str, str | bytes], ...] | None:
    if draw(st.integers(0, 2)) == 0:
        return None
    names = draw(st.lists(st.sampled_from(HEADER_NAMES), unique=True, max_size=4))
    if names and _one_in(draw, 6):
        # The same header again, spelled in another case: two lines. (A dict
        # cannot hold the same spelling twice.)
        again = draw(st.sampled_from(names)).swapcase()
        if again not in names:
            names.append(again)
    if _one_in(draw, 6):
        names.append(draw(st.sampled_from(("X Space", "X:Colon", "Ünï", "X-Ok\n"))))
    result = []
    for name in names:
        if name == "Host":
            value: str | bytes = draw(st.sampled_from(HOSTS))
        elif name.lower() == "accept":
            value = draw(st.sampled_from(ACCEPTS))
        else:
            value = draw(header_value())
        result.append((name, value))
    return tuple(result)


@st.composite
def extras(draw: st.DrawFn) -> tuple[tuple[str, Any], ...]:
    """Environ keywords, each with a value of its kind."""
    makers: dict[str, st.SearchStrategy[Any]] = {
        "HTTP_X_EXTRA": header_value(),
        "ACCEPT": st.sampled_from(ACCEPTS),
        "X_API_KEY": st.text(PRINTABLE, max_size=6),
        "HTTP_HOST": st.sampled_from(HOSTS),
        "SERVER_NAME": st.sampled_from(("api.example.com", "testserver", "localhost")),
        "SERVER_PORT": st.sampled_from(("8000", 8000, "80", "443")),
        "REMOTE_ADDR": st.sampled_from(("10.1.2.3", "::1")),
        "HTTP_AUTHORIZATION": st.sampled_from(("Token abc", "Basic a2hhbjpwdw==", "")),
        "QUERY_STRING": url_queries(),
        "REMOTE_USER": st.just("khan"),
        "CONTENT_TYPE": st.sampled_from(CONTENT_TYPES[1:]),
        "HTTP_COOKIE": st.sampled_from(("a=1; b=2", "", "x=é", "bad")),
        "HTTP_ACCEPT_LANGUAGE": st.sampled_from(("fr", "de-CH, en;q=0.5")),
    }
    keys = draw(st.lists(st.sampled_from(sorted(makers)), unique=True, max_size=3))
    return tuple((key, draw(makers[key])) for key in keys)


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53), 2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        _text(6),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(tuple),
            st.lists(st.tuples(_text(4), children), max_size=3).map(json_object),
        ),
        max_leaves=6,
    )


def uploads() -> st.SearchStrategy[Upload]:
    return st.builds(
        Upload,
        # Names Django's uploaded files accept (it refuses "", "." and "..").
        st.one_of(
            st.sampled_from(("a.txt", "photo.png", "data.csv", "名前.txt")),
            st.text(PRINTABLE, min_size=1, max_size=6).filter(_file_name),
        ),
        st.binary(max_size=24),
        st.sampled_from(UPLOAD_TYPES),
    )


def _file_name(name: str) -> bool:
    return os.path.basename(name) not in ("", ".", "..")


@st.composite
def multipart_pairs(draw: st.DrawFn) -> tuple[tuple[str, Any], ...]:
    name = st.one_of(
        st.sampled_from(("a", "file", "名前", "")), st.text(PRINTABLE, max_size=4)
    )
    names = draw(st.lists(name, min_size=1, max_size=3, unique=True))
    pairs = []
    for field_name in names:
        kind = draw(st.sampled_from(("text", "file", "list", "file")))
        if kind == "file":
            value: Any = draw(uploads())
        elif kind == "list":
            value = draw(st.tuples(_text(3), st.one_of(_text(3), uploads())))
        else:
            value = draw(_text(6))
        pairs.append((field_name, value))
    return tuple(pairs)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[Body | None, str | None, str | None]:
    """``(data=, format=, content_type=)`` for a body verb."""
    kind = draw(
        st.sampled_from(
            ("none", "json", "json", "multipart", "form", "text", "raw", "raw")
        )
    )
    if kind == "none":
        fmt = draw(st.sampled_from((None, None, "json", "multipart")))
        return (
            None,
            fmt,
            draw(st.sampled_from((None, None, "application/json", "text/plain"))),
        )
    if kind == "json":
        body = Body("json", draw(json_values()))
        how = draw(
            st.sampled_from(("default", "format", "json-type", "json-charset", "vnd"))
        )
        content_type = {
            "json-type": "application/json",
            "json-charset": "application/json; charset=utf-8",
            "vnd": "application/vnd.api+json",
        }.get(how)
        return body, ("json" if how == "format" else None), content_type
    if kind == "multipart":
        body = Body("multipart", draw(multipart_pairs()))
        how = draw(st.sampled_from(("format", "format", "boundary", "bare")))
        content_type = {
            "boundary": "multipart/form-data; boundary=BoUnDaRyStRiNg",
            "bare": "multipart/form-data",
        }.get(how)
        return body, ("multipart" if how == "format" else None), content_type
    if kind == "form":
        content_type = draw(
            st.sampled_from(
                (
                    "application/x-www-form-urlencoded",
                    "application/x-www-form-urlencoded; charset=utf-8",
                    "application/x-www-form-urlencoded; charset=latin-1",
                )
            )
        )
        return Body("text", draw(url_queries())), None, content_type
    if kind == "text":
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        fmt = None
        if content_type is None:
            fmt = draw(st.sampled_from((None, "json", "multipart", "yaml")))
        return Body("text", draw(_text(8))), fmt, content_type
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    fmt = draw(st.sampled_from((None, "json"))) if content_type is None else None
    return Body("raw", draw(st.binary(max_size=24))), fmt, content_type


@st.composite
def requests(draw: st.DrawFn) -> FuzzRequest:
    """One generated request and the client state it is sent with."""
    generic = _one_in(draw, 8)
    methods = METHODS + GENERIC_ONLY if generic else METHODS
    method = draw(st.sampled_from(methods))
    body = fmt = content_type = None
    query_data = None
    if method.upper() in QUERY_VERBS and not generic:
        if draw(st.booleans()):
            query_data = draw(query_pairs())
        if _one_in(draw, 6):
            content_type = draw(st.sampled_from(("application/json", "text/plain")))
        if _one_in(draw, 6):
            fmt = "json"  # ignored on a query verb, as in DRF
    elif generic:
        if draw(st.booleans()):
            body = draw(
                st.one_of(
                    st.binary(max_size=16).map(lambda b: Body("raw", b)),
                    _text(8).map(lambda s: Body("text", s)),
                )
            )
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    else:
        body, fmt, content_type = draw(bodies())
    query_params = None
    if _one_in(draw, 4) and not query_data:
        query_params = draw(query_pairs())
    credentials = draw(
        st.lists(
            st.sampled_from(
                (
                    ("HTTP_AUTHORIZATION", "Token abc123"),
                    ("HTTP_X_API_KEY", "k-1"),
                    ("HTTP_ACCEPT", "application/json"),
                )
            ),
            unique_by=lambda pair: pair[0],
            max_size=2,
        )
    )
    cookies = draw(
        st.lists(
            st.tuples(st.sampled_from(COOKIE_NAMES), st.text(PRINTABLE, max_size=6)),
            unique_by=lambda pair: pair[0],
            max_size=2,
        )
    )
    return FuzzRequest(
        method=method,
        path=draw(paths()),
        generic=generic,
        body=body,
        query_data=query_data,
        format=fmt,
        content_type=content_type,
        headers=draw(headers()),
        query_params=query_params,
        extra=draw(extras()),
        secure=_one_in(draw, 5),
        script_name=draw(st.sampled_from(ROOT_PATHS)),
        credentials=tuple(credentials),
        cookies=tuple(cookies),
    )
