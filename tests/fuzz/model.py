"""One generated request, written the way a test writes it.

A ``FuzzRequest`` holds the arguments of a client call (the verb, ``data=``,
``format=``, ``content_type=``, ``headers=``, ``query_params=``, environ
keywords, ``secure=``) and the client state around it (``credentials()`` and
cookies). ``send()`` makes that call on any of the kit's clients;
tests/fuzz/wire.py turns the same fields into the request a real HTTP client
puts on the wire. Everything is immutable and rebuilt per route, so an upload
read by one route is fresh for the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

#: The SCRIPT_NAME prefixes generated; each real server runs once per prefix.
ROOT_PATHS = ("", "/mount")
#: Verbs whose data= is the query string (Django's and DRF's rule).
QUERY_VERBS = frozenset({"GET", "HEAD", "TRACE"})
#: Verbs the clients have a method for; others go through generic().
VERBS = frozenset({"GET", "HEAD", "TRACE", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Upload:
    """A file in a multipart body."""

    name: str
    content: bytes
    content_type: str = "application/octet-stream"

    def open(self) -> SimpleUploadedFile:
        return SimpleUploadedFile(self.name, self.content, self.content_type)

    def __repr__(self) -> str:
        return f"Upload({self.name!r}, {self.content!r}, {self.content_type!r})"


@dataclass(frozen=True)
class Body:
    """``data=`` for a body verb: how the test wrote it.

    ``kind`` is ``json`` (a JSON value), ``multipart`` (pairs of a field name
    and a str, a list of str, or an ``Upload``), ``text`` (a str) or ``raw``
    (bytes).
    """

    kind: str
    value: Any

    def build(self) -> Any:
        """The object passed as ``data=``, built fresh."""
        if self.kind == "multipart":
            return {name: _part(value) for name, value in self.value}
        return _thaw(self.value)

    def __repr__(self) -> str:
        return f"Body({self.kind!r}, {self.value!r})"


def _part(value: Any) -> Any:
    if isinstance(value, Upload):
        return value.open()
    if isinstance(value, tuple):
        return [_part(item) for item in value]
    return value


def _thaw(value: Any) -> Any:
    """JSON values are generated as tuples (hashable); tests write lists."""
    if isinstance(value, tuple) and value and value[0] == "__object__":
        return {key: _thaw(item) for key, item in value[1]}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


def json_object(pairs: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """A generated JSON object (frozen; ``Body.build`` makes it a dict)."""
    return ("__object__", tuple(pairs))


@dataclass(frozen=True)
class FuzzRequest:
    """A client call and the client state it is made with."""

    method: str
    path: str
    generic: bool = False
    body: Body | None = None
    #: data= of a GET/HEAD/TRACE: pairs of a key and a str or a tuple of str.
    query_data: tuple[tuple[str, Any], ...] | None = None
    format: str | None = None
    content_type: str | None = None
    #: headers=: a dict in the call, so names may repeat only by case.
    headers: tuple[tuple[str, str | bytes], ...] | None = None
    query_params: tuple[tuple[str, Any], ...] | None = None
    #: Environ keywords (**extra): HTTP_* names, bare header names, CGI names.
    extra: tuple[tuple[str, Any], ...] = ()
    secure: bool = False
    script_name: str = ""
    credentials: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()

    def send(self, client: Any) -> Any:
        """Make this call with ``client``; return what the verb returns."""
        for name, value in self.cookies:
            client.cookies[name] = value
        if self.credentials:
            client.credentials(**dict(self.credentials))
        return self.call(client)

    def call(self, client: Any) -> Any:
        """The verb (or ``generic()``) call alone."""
        kwargs = self.keywords()
        if self.generic:
            data = self.body.build() if self.body is not None else b""
            if self.content_type is not None:
                kwargs["content_type"] = self.content_type
            return client.generic(self.method, self.path, data, **kwargs)
        data = self.data()
        if data is not None:
            kwargs["data"] = data
        if self.format is not None:
            kwargs["format"] = self.format
        if self.content_type is not None:
            kwargs["content_type"] = self.content_type
        return getattr(client, self.method.lower())(self.path, **kwargs)

    def data(self) -> Any:
        if self.method in QUERY_VERBS:
            return None if self.query_data is None else list(self.query_data)
        return None if self.body is None else self.body.build()

    def keywords(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(self.extra)
        if self.script_name:
            kwargs["SCRIPT_NAME"] = self.script_name
        if self.headers is not None:
            kwargs["headers"] = dict(self.headers)
        if self.query_params is not None:
            kwargs["query_params"] = list(self.query_params)
        if self.secure:
            kwargs["secure"] = True
        return kwargs

    def as_code(self) -> str:
        """The test lines that make this request, for reports and regressions."""
        lines = [
            f"client.cookies[{name!r}] = {value!r}" for name, value in self.cookies
        ]
        if self.credentials:
            args = ", ".join(f"{key}={value!r}" for key, value in self.credentials)
            lines.append(f"client.credentials({args})")
        args = [repr(self.path)]
        if self.generic:
            args.insert(0, repr(self.method))
            args.append(repr(self.body.build() if self.body else b""))
        elif self.data() is not None:
            args.append(f"data={self.data()!r}")
        if self.format is not None:
            args.append(f"format={self.format!r}")
        if self.content_type is not None:
            args.append(f"content_type={self.content_type!r}")
        for key, value in self.keywords().items():
            args.append(
                f"{key}={value!r}"
                if key.isidentifier()
                else f"**{{{key!r}: {value!r}}}"
            )
        verb = "generic" if self.generic else self.method.lower()
        lines.append(f"client.{verb}({', '.join(args)})")
        return "\n".join(lines)
