"""The one request path every client and factory shares, on either stack.

A verb call becomes a ``RequestSpec`` (method, path, encoded body, per-request
environ keys), and a spec becomes a WSGI environ. The sync stack hands that
environ to Django's WSGI handler; the async stack turns it into a scope with
``build_scope``. Encoding, header precedence, cookies and credentials are
therefore decided once, here, for both stacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from http import HTTPStatus
from http.cookies import SimpleCookie
from io import BytesIO
from typing import Any, Generic, Protocol, TypeVar, overload
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

from django.http.request import HttpHeaders
from django.test.client import FakePayload, RedirectCycleError
from django.utils.encoding import iri_to_uri

from restflow_parity.encoding import encode_body, merge_query

__all__ = ["RequestBuilder", "RequestSpec", "Verb", "VerbCall"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# What clients send that a WSGI environ names without an HTTP_ prefix.
_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")
_PATH_SAFE = "/:@!$&'()*+,;=%"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_KEEP_METHOD = frozenset({HTTPStatus.TEMPORARY_REDIRECT, HTTPStatus.PERMANENT_REDIRECT})


@dataclasses.dataclass(frozen=True)
class RequestSpec:
    """Everything a verb call decided, before client state is layered on."""

    method: str
    path: str
    query: str
    body: bytes
    content_type: str | None
    secure: bool
    extra: Mapping[str, Any]


class VerbCall(Protocol[T_co]):
    """The signature shared by every verb of every client and factory."""

    def __call__(
        self,
        path: str,
        data: Any = None,
        format: str | None = None,
        content_type: str | None = None,
        follow: bool = False,
        secure: bool = False,
        *,
        headers: Mapping[str, str] | None = None,
        query_params: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> T_co: ...


class Verb:
    """A verb method: builds the spec, then hands it to the owner's _dispatch."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __set_name__(self, owner: type, name: str) -> None:
        self.__doc__ = f"Send a {self.method} request."

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Verb: ...
    @overload
    def __get__(
        self, obj: RequestBuilder[T], objtype: type | None = None
    ) -> VerbCall[T]: ...
    def __get__(
        self, obj: RequestBuilder[T] | None, objtype: type | None = None
    ) -> Verb | VerbCall[T]:
        if obj is None:
            return self
        method = self.method

        def call(
            path: str,
            data: Any = None,
            format: str | None = None,
            content_type: str | None = None,
            follow: bool = False,
            secure: bool = False,
            *,
            headers: Mapping[str, str] | None = None,
            query_params: Mapping[str, Any] | None = None,
            **extra: Any,
        ) -> T:
            spec = obj._spec(
                method,
                path,
                data,
                format,
                content_type,
                secure,
                headers,
                query_params,
                extra,
            )
            return obj._dispatch(spec, follow)

        call.__name__ = call.__qualname__ = method.lower()
        return call


class RequestBuilder(Generic[T]):
    """Client state plus the verb-to-environ path; subclasses send specs."""

    def __init__(
        self,
        enforce_csrf_checks: bool = False,
        *,
        headers: Mapping[str, str] | None = None,
        query_params: Mapping[str, Any] | None = None,
        **defaults: Any,
    ) -> None:
        self.enforce_csrf_checks = enforce_csrf_checks
        self.defaults: dict[str, Any] = {
            **defaults,
            **_header_environ(headers),
        }
        self.default_query = merge_query("", query_params)
        self.cookies: SimpleCookie = SimpleCookie()
        self.errors = BytesIO()
        self._credentials: dict[str, Any] = {}

    get = Verb("GET")
    post = Verb("POST")
    put = Verb("PUT")
    patch = Verb("PATCH")
    delete = Verb("DELETE")
    options = Verb("OPTIONS")
    head = Verb("HEAD")
    trace = Verb("TRACE")

    def credentials(self, **kwargs: Any) -> None:
        """Replace the headers sent with every later request; none resets them.

        Keys are WSGI environ names, e.g. ``HTTP_AUTHORIZATION="Token abc"``.
        """
        for key in kwargs:
            if not key.startswith(("HTTP_", "CONTENT_")):
                suggestion = "HTTP_" + key.upper().replace("-", "_")
                raise ValueError(
                    f"credentials() takes WSGI environ names that start with "
                    f"HTTP_ or CONTENT_ (such as HTTP_AUTHORIZATION); got {key!r}. "
                    f"Did you mean {suggestion}=...? For per-request headers, "
                    "pass headers={...} to the verb instead."
                )
        self._credentials = dict(kwargs)

    def _dispatch(self, spec: RequestSpec, follow: bool) -> T:
        raise NotImplementedError

    def _spec(
        self,
        method: str,
        path: str,
        data: Any,
        format: str | None,
        content_type: str | None,
        secure: bool,
        headers: Mapping[str, str] | None,
        query_params: Mapping[str, Any] | None,
        extra: dict[str, Any],
    ) -> RequestSpec:
        url = urlsplit(str(path))  # str(): paths may be lazy reverse() results
        if method in ("GET", "HEAD"):
            if format is not None or content_type is not None:
                raise TypeError(
                    f"{method} requests carry no body, so format= and "
                    "content_type= mean nothing here: data= becomes the query "
                    "string. Drop them, or use post()/put()/patch() to send a body."
                )
            query = merge_query(url.query, data)
            body, body_type = b"", None
        else:
            query = url.query
            body, body_type = encode_body(data, format, content_type)
        query = merge_query(query, query_params)
        if self.default_query:
            query = f"{query}&{self.default_query}" if query else self.default_query
        return RequestSpec(
            method=method,
            path=url.path or "/",
            query=query,
            body=body,
            content_type=body_type,
            secure=secure,
            extra={**extra, **_header_environ(headers)},
        )

    def environ(self, spec: RequestSpec) -> dict[str, Any]:
        """The WSGI environ for ``spec``: defaults < credentials < the request."""
        environ: dict[str, Any] = {
            "PATH_INFO": unquote_to_bytes(spec.path).decode("latin-1"),
            "QUERY_STRING": iri_to_uri(spec.query).encode().decode("latin-1"),
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": spec.method,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "443" if spec.secure else "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if spec.secure else "http",
            "wsgi.input": FakePayload(spec.body),
            "wsgi.errors": self.errors,
            "wsgi.multiprocess": True,
            "wsgi.multithread": False,
            "wsgi.run_once": False,
        }
        cookie = "; ".join(
            sorted(f"{m.key}={m.coded_value}" for m in self.cookies.values())
        )
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        if spec.body or spec.content_type:
            environ["CONTENT_LENGTH"] = str(len(spec.body))
        if spec.content_type:
            environ["CONTENT_TYPE"] = spec.content_type
        # A real WSGI environ holds str values; users pass ports as ints.
        for key, value in (*self.defaults.items(), *self._credentials.items()):
            environ[key] = value if isinstance(value, str) or "." in key else str(value)
        for key, value in spec.extra.items():
            environ[key] = value if isinstance(value, str) or "." in key else str(value)
        if "HTTP_HOST" not in environ:
            # HTTP/1.1 requires Host, and every real server's scope carries it;
            # Django's test clients send none, so views see a header list no
            # server would produce. Derived from SERVER_NAME/PORT as in PEP 3333.
            environ["HTTP_HOST"] = _host(environ)
        if "RAW_URI" not in environ:
            # What gunicorn records: the request target as sent, so raw_path
            # keeps encodings like %2F that PATH_INFO has already decoded.
            target = quote(environ["SCRIPT_NAME"] + spec.path, safe=_PATH_SAFE)
            query = environ["QUERY_STRING"]
            environ["RAW_URI"] = f"{target}?{query}" if query else target
        return environ

    def _next_hop(
        self, spec: RequestSpec, response: Any, chain: list[tuple[str, int]]
    ) -> RequestSpec | None:
        """The request that follows ``response``, or None when it is final."""
        if response.status_code not in _REDIRECTS:
            return None
        chain.append((response.url, response.status_code))
        response.redirect_chain = chain
        if chain[-1] in chain[:-1]:
            raise RedirectCycleError("Redirect loop detected.", last_response=response)
        if len(chain) > 20:
            raise RedirectCycleError("Too many redirects.", last_response=response)
        return redirect_spec(spec, response)


def refuse_follow(follow: bool) -> None:
    """Factories build requests without sending them, so nothing can follow."""
    if follow:
        raise TypeError(
            "A request factory sends nothing, so it cannot follow redirects: "
            "use a client, as in `await AsyncAPIClient().get(..., follow=True)`."
        )


def _header_environ(headers: Mapping[str, str] | None) -> dict[str, str]:
    # Servers drop header names with underscores (Django's ASGIRequest since
    # CVE-2026-3902, runserver and gunicorn before the environ): "X_User"
    # would otherwise arrive as X-User and could spoof it, on either stack.
    kept = {name: value for name, value in (headers or {}).items() if "_" not in name}
    return dict(HttpHeaders.to_wsgi_names(kept))


def _current_url(spec: RequestSpec) -> str:
    host = spec.extra.get("HTTP_HOST") or spec.extra.get("SERVER_NAME", "testserver")
    scheme = "https" if spec.secure else "http"
    return f"{scheme}://{host}{spec.path}" + (f"?{spec.query}" if spec.query else "")


def redirect_spec(spec: RequestSpec, response: Any) -> RequestSpec:
    """Where a redirect leads, with the method and body RFC 9110 prescribes.

    307 and 308 repeat the request, body included; 301, 302 and 303 turn it
    into a bodiless GET (HEAD stays HEAD), as browsers and Django do.
    """
    target = urlsplit(urljoin(_current_url(spec), response["Location"]))
    extra = dict(spec.extra)
    if target.hostname:
        extra["HTTP_HOST"] = target.netloc
        extra["SERVER_NAME"] = target.hostname
        extra["SERVER_PORT"] = str(
            target.port or (443 if target.scheme == "https" else 80)
        )
    keep = response.status_code in _KEEP_METHOD
    method = spec.method if keep or spec.method == "HEAD" else "GET"
    if not keep:
        for key in _CONTENT_KEYS:
            extra.pop(key, None)
    return dataclasses.replace(
        spec,
        method=method,
        path=target.path or "/",
        query=target.query,
        body=spec.body if keep else b"",
        content_type=spec.content_type if keep else None,
        secure=target.scheme == "https",
        extra=extra,
    )


def _host(environ: dict[str, Any]) -> str:
    """The Host header a client would send for this environ's server."""
    name, port = environ["SERVER_NAME"], str(environ["SERVER_PORT"])
    default = "443" if environ["wsgi.url_scheme"] == "https" else "80"
    return name if port == default else f"{name}:{port}"
