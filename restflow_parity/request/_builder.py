"""The one request path every client and factory shares, on either stack.

It keeps Django's override points: a verb encodes its data and calls
``generic()``, which builds the WSGI environ keys of the request and calls
``request(**environ)``. Subclasses decide what ``request()`` does: build a
``WSGIRequest`` or an ``ASGIRequest``, or send it through either stack's
handler. A subclass that overrides ``generic()`` or ``request()`` (to add a
tenant header, say) therefore works on both stacks, and encoding, header
precedence, cookies and credentials are decided once, here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.cookies import SimpleCookie
from io import BytesIO
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeAlias, TypeVar
from urllib.parse import SplitResult, quote, unquote_to_bytes, urljoin, urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.test.client import MULTIPART_CONTENT, FakePayload, RedirectCycleError
from django.utils.encoding import force_bytes
from django.utils.functional import Promise
from rest_framework.renderers import BaseRenderer
from rest_framework.settings import api_settings

from restflow_parity.request._encoding import (
    OCTET_STREAM,
    encode_body,
    encode_json,
    query_of,
    surrogate_message,
)
from restflow_parity.request._environ import (
    EMPTY_MEANS_NONE,
    HEADER_CGI_KEYS,
    header_environ,
    header_text,
    keyword_environ,
)
from restflow_parity.request._sites import warn_at
from restflow_parity.scope import PATH_SAFE, QUERY_SAFE

if TYPE_CHECKING:
    from restflow_parity.variants._mode import Mode

__all__ = ["DroppedInputWarning", "RequestBuilder", "refuse_follow"]

_C0_OR_SPACE = "".join(map(chr, range(0x21)))
#: Methods whose content has a meaning: a client sends Content-Length: 0
#: for them even without a body (RFC 9110, 8.6), as httpx and browsers do.
_CONTENT_METHODS = frozenset({"POST", "PUT", "PATCH"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_KEEP_METHOD = frozenset({HTTPStatus.TEMPORARY_REDIRECT, HTTPStatus.PERMANENT_REDIRECT})
#: Verbs whose data= is the query string, as in Django and DRF.
_QUERY_VERBS = frozenset({"GET", "HEAD", "TRACE"})
_CONTENT_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")


class Hop(NamedTuple):
    """The request a redirect leads to, as ``generic()`` arguments."""

    method: str
    path: str
    body: bytes
    content_type: str | None
    secure: bool
    extra: dict[str, Any]
    #: The query data= gave (a 307/308 on a GET sends it again, as Django does).
    query: str = ""


R = TypeVar("R", covariant=True)
#: What a test names a URL with: a str, or a lazy ``reverse_lazy()`` result.
URL: TypeAlias = str | Promise
#: A GET's ``data=`` and any verb's ``query_params=``.
QueryData: TypeAlias = Mapping[str, Any] | Iterable[tuple[str, Any]] | None
Headers: TypeAlias = Mapping[str, str] | None


class RequestBuilder(Generic[R]):
    """Client and factory state plus the verb → ``generic()`` → ``request()`` path.

    ``R`` is what a verb returns: a request for a factory, a response (or an
    awaitable one) for a client.

    ``defaults`` (the constructor's keywords), credentials and cookies are
    environ entries added to every request; a request's own entries win.
    """

    #: Which stack ``request()`` builds for: ``"sync"``, ``"async"``, or None
    #: to follow the running ``@run_both_modes`` variant (sync outside one).
    stack: Mode | None = None
    #: Django's rules when neither ``format=`` nor ``content_type=`` is given
    #: (multipart POSTs, raw bodies otherwise) instead of DRF's renderers.
    django_encoding = False
    #: DRF's override points; None reads ``TEST_REQUEST_RENDERER_CLASSES`` and
    #: ``TEST_REQUEST_DEFAULT_FORMAT`` per request, so override_settings works.
    renderer_classes_list: list[type[BaseRenderer]] | None = None
    default_format: str | None = None

    def __init__(
        self,
        enforce_csrf_checks: bool = False,
        *,
        json_encoder: type[json.JSONEncoder] = DjangoJSONEncoder,
        headers: Mapping[str, str] | None = None,
        query_params: Any = None,
        **defaults: Any,
    ) -> None:
        self.enforce_csrf_checks = enforce_csrf_checks
        self.json_encoder = json_encoder
        self.defaults: dict[str, Any] = {
            **keyword_environ(defaults),
            **header_environ(headers),
        }
        if query_params:
            self.defaults["QUERY_STRING"] = query_of(query_params)
            _warn_dropped(
                f"{type(self).__name__}(query_params=...) reaches only requests "
                "made with request() directly: Django's clients and factories "
                "(and these) drop it from every get(), post() or generic() "
                "request, whose own query replaces it. Pass query_params= to "
                "each request instead."
            )
        self.cookies: SimpleCookie = SimpleCookie()
        self.errors = BytesIO()
        self._credentials: dict[str, Any] = {}

    # The verbs, one per method, written out so that editors and type
    # checkers see their arguments: all of them go through _verb(). GET, HEAD
    # and TRACE keep Django's and DRF's positional order (path, data,
    # follow, secure): their data= is the query string; the others take
    # (path, data, format, content_type, follow, secure).

    def get(
        self,
        path: URL,
        data: QueryData = None,
        follow: bool = False,
        secure: bool = False,
        *,
        format: str | None = None,
        content_type: str | None = None,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a GET request; ``data=`` is the query string. ``format=`` is
        ignored and ``content_type=`` only sets the header, as in DRF."""
        return self._verb(  # type: ignore[no-any-return]
            "GET", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def head(
        self,
        path: URL,
        data: QueryData = None,
        follow: bool = False,
        secure: bool = False,
        *,
        format: str | None = None,
        content_type: str | None = None,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a HEAD request; ``data=`` is the query string."""
        return self._verb(  # type: ignore[no-any-return]
            "HEAD", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def trace(
        self,
        path: URL,
        data: QueryData = None,
        follow: bool = False,
        secure: bool = False,
        *,
        format: str | None = None,
        content_type: str | None = None,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a TRACE request; ``data=`` is the query string."""
        return self._verb(  # type: ignore[no-any-return]
            "TRACE", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def post(
        self,
        path: URL,
        data: Any = None,
        format: str | None = None,
        content_type: str | None = None,
        follow: bool = False,
        secure: bool = False,
        *,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a POST request. ``format=`` renders ``data`` with a DRF
        renderer; ``content_type=`` sends it as given."""
        return self._verb(  # type: ignore[no-any-return]
            "POST", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def put(
        self,
        path: URL,
        data: Any = None,
        format: str | None = None,
        content_type: str | None = None,
        follow: bool = False,
        secure: bool = False,
        *,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a PUT request, ``data`` encoded as for ``post()``."""
        return self._verb(  # type: ignore[no-any-return]
            "PUT", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def patch(
        self,
        path: URL,
        data: Any = None,
        format: str | None = None,
        content_type: str | None = None,
        follow: bool = False,
        secure: bool = False,
        *,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a PATCH request, ``data`` encoded as for ``post()``."""
        return self._verb(  # type: ignore[no-any-return]
            "PATCH", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def delete(
        self,
        path: URL,
        data: Any = None,
        format: str | None = None,
        content_type: str | None = None,
        follow: bool = False,
        secure: bool = False,
        *,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send a DELETE request, ``data`` encoded as for ``post()``."""
        return self._verb(  # type: ignore[no-any-return]
            "DELETE", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    def options(
        self,
        path: URL,
        data: Any = None,
        format: str | None = None,
        content_type: str | None = None,
        follow: bool = False,
        secure: bool = False,
        *,
        headers: Headers = None,
        query_params: QueryData = None,
        **extra: Any,
    ) -> R:
        """Send an OPTIONS request, ``data`` encoded as for ``post()``."""
        return self._verb(  # type: ignore[no-any-return]
            "OPTIONS", path, data, format, content_type, follow, secure, headers,
            query_params, extra,
        )  # fmt: skip

    @property
    def renderer_classes(self) -> dict[str, type[BaseRenderer]]:
        """DRF's format → renderer class map."""
        classes = self.renderer_classes_list
        if classes is None:
            # DRF imports the setting's dotted paths into classes on access.
            classes = list(api_settings.TEST_REQUEST_RENDERER_CLASSES)  # type: ignore[arg-type]
        return {renderer.format: renderer for renderer in classes}

    def credentials(self, **kwargs: Any) -> None:
        """Replace the headers sent with every later request; none resets them.

        Keys are WSGI environ names, e.g. ``HTTP_AUTHORIZATION="Token abc"``.
        """
        for key in kwargs:
            if not key.startswith(("HTTP_", "CONTENT_")):
                name = key.upper().replace("-", "_").removeprefix("HTTP_")
                raise ValueError(
                    f"credentials() takes WSGI environ names that start with "
                    f"HTTP_ or CONTENT_ (such as HTTP_AUTHORIZATION); got {key!r}. "
                    f"Did you mean HTTP_{name}=...? For per-request headers, "
                    "pass headers={...} to the verb instead."
                )
        self._credentials = dict(kwargs)

    # --- the request path -----------------------------------------------------

    def _verb(
        self,
        method: str,
        path: URL,
        data: Any,
        format: str | None,
        content_type: str | None,
        follow: bool,
        secure: bool,
        headers: Mapping[str, str] | None,
        query_params: Any,
        extra: dict[str, Any],
    ) -> Any:
        if format is not None and "/" in format and content_type is None:
            # Django's third positional argument is content_type; a DRF
            # format name never holds a slash.
            format, content_type = None, format
        if method in _QUERY_VERBS:
            if data and query_params:
                raise ValueError(
                    "query_params and data arguments are mutually exclusive."
                )
            if isinstance(data, (str, bytes)):
                query_of(data)  # a non-empty body is refused, with the fix
            body, body_type = b"", content_type  # DRF ignores format= here
            query_params = data or query_params
        else:
            if self.django_encoding and format is None and content_type is None:
                content_type = MULTIPART_CONTENT if method == "POST" else OCTET_STREAM
                if data is None and method == "POST":
                    data = {}
            body, body_type = self._encode_data(data, format, content_type)
        self._remember(extra, headers)
        response = self.generic(
            method, path, body, body_type, secure,
            headers=headers, query_params=query_params, **extra,
        )  # fmt: skip
        if follow:
            hop = first_hop(body, body_type, extra, query_of(query_params))
            return self._follow(response, hop, headers)
        return response

    def _encode_data(
        self, data: Any, format: str | None = None, content_type: str | None = None
    ) -> tuple[bytes, str | None]:
        """DRF's hook: ``(body, content_type)`` for a verb's ``data``."""
        return encode_body(
            data,
            format,
            content_type,
            renderers=self.renderer_classes,
            default_format=self.default_format
            or api_settings.TEST_REQUEST_DEFAULT_FORMAT,
            json_encoder=self.json_encoder,
        )

    def _encode_json(self, data: Any, content_type: str) -> Any:
        """Django's hook: JSON text for a dict/list/tuple sent as JSON."""
        return encode_json(data, content_type, self.json_encoder)

    def _get_path(self, parsed: SplitResult) -> str:
        """Django's hook: ``PATH_INFO`` for a URL, as WSGI's latin-1 text."""
        return unquote_to_bytes(parsed.path or "/").decode("latin-1")

    def generic(
        self,
        method: str,
        path: URL,
        data: Any = b"",
        content_type: str | None = OCTET_STREAM,
        secure: bool = False,
        *,
        headers: Mapping[str, str] | None = None,
        query_params: Any = None,
        **extra: Any,
    ) -> Any:
        """Build any request: ``data`` is the body, sent as it is."""
        url = _split(path)
        try:
            body = force_bytes(data, settings.DEFAULT_CHARSET)
        except UnicodeEncodeError as error:
            raise ValueError(surrogate_message("data=", error)) from None
        environ: dict[str, Any] = {
            "PATH_INFO": self._get_path(url),
            "REQUEST_METHOD": method,
        }
        if secure:
            # Only when asked: Django's "80" here would override a client's
            # SERVER_PORT default on every request.
            environ["SERVER_PORT"] = "443"
            environ["wsgi.url_scheme"] = "https"
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = content_type or OCTET_STREAM
            environ["wsgi.input"] = FakePayload(body)
        else:
            if method.upper() in _CONTENT_METHODS:
                environ["CONTENT_LENGTH"] = "0"
            if content_type and content_type != OCTET_STREAM:
                # DRF sends the type even with no body (GET with content_type=).
                environ["CONTENT_TYPE"] = str(content_type)
        environ.update(keyword_environ(extra))
        environ.update(header_environ(headers))
        # Django's rule: data= (or query_params=) is the query, in place of an
        # explicit QUERY_STRING, which replaces the URL's query. WSGI carries
        # the query as latin-1 text of its bytes (PEP 3333); an explicit
        # QUERY_STRING is such text already.
        explicit = environ.get("QUERY_STRING")
        if explicit:
            _check_raw_query(explicit)
        given = query_of(query_params)
        if given:
            dropped = explicit or url.query
            if dropped:
                _warn_dropped(
                    f"{method} {url.path}: the query {dropped!r} is dropped, because "
                    f"data= (or query_params=) gives the query {given!r}, as Django's "
                    "and DRF's clients drop it. Put every parameter in data= (or "
                    "all of them in the URL) to send them all."
                )
            environ["QUERY_STRING"] = given
        elif not explicit:
            environ["QUERY_STRING"] = quote(url.query, safe=QUERY_SAFE)
        if "RAW_URI" not in environ:
            # What gunicorn records: the target as sent, so the scope's
            # raw_path keeps encodings like %2F that PATH_INFO has decoded.
            script = environ.get("SCRIPT_NAME", self.defaults.get("SCRIPT_NAME", ""))
            environ["RAW_URI"] = quote(script + (url.path or "/"), safe=PATH_SAFE)
        return self.request(**environ)

    def request(self, **request: Any) -> Any:
        """Build (factories) or send (clients) the request for these environ keys."""
        raise NotImplementedError

    def _base_environ(self, **request: Any) -> dict[str, Any]:
        """The full environ: defaults < credentials < the request's own keys."""
        cookie = "; ".join(
            sorted(f"{m.key}={m.coded_value}" for m in self.cookies.values())
        )
        environ: dict[str, Any] = {
            "PATH_INFO": "/",
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": FakePayload(b""),
            "wsgi.errors": self.errors,
            "wsgi.multiprocess": True,
            "wsgi.multithread": False,
            "wsgi.run_once": False,
        }
        if cookie:
            # Django's clients send an empty Cookie header without cookies;
            # no real client does, and views would see it in request.headers.
            environ["HTTP_COOKIE"] = header_text("HTTP_COOKIE", cookie)
        for layer in (self.defaults, self._credentials, request):
            for key, value in layer.items():
                if key.startswith("HTTP_") or key in HEADER_CGI_KEYS:
                    value = header_text(key, value)
                elif not (isinstance(value, str) or "." in key):
                    # A real WSGI environ holds str values; users pass ports
                    # as ints.
                    value = str(value)
                environ[key] = value
        for key in EMPTY_MEANS_NONE:
            # CGI cannot tell an empty Content-Type from none, nor can the
            # scope built from it: send none on both stacks.
            if environ.get(key) == "":
                del environ[key]
        if "HTTP_HOST" not in environ:
            # HTTP/1.1 requires Host, and every real server's scope carries it;
            # Django's test clients send none, so views see a header list no
            # server would produce. Derived from SERVER_NAME/PORT as in PEP 3333.
            environ["HTTP_HOST"] = _host(environ)
        raw_uri = environ.get("RAW_URI")
        if raw_uri is None:
            # SCRIPT_NAME and PATH_INFO are latin-1 text of the path's bytes.
            path = environ["SCRIPT_NAME"] + environ["PATH_INFO"]
            raw_uri = environ["RAW_URI"] = quote(_latin1_bytes(path), safe=PATH_SAFE)
        if "?" not in raw_uri and environ.get("QUERY_STRING"):
            environ["RAW_URI"] = f"{raw_uri}?{environ['QUERY_STRING']}"
        return environ

    # --- hooks for clients ----------------------------------------------------

    def _remember(
        self, extra: dict[str, Any], headers: Mapping[str, str] | None
    ) -> None:
        """Clients record a request's keywords (Django's ``assertRedirects``
        repeats them); factories keep nothing."""

    def _follow(
        self, response: Any, hop: Hop, headers: Mapping[str, str] | None
    ) -> Any:
        refuse_follow(True)

    def _next_hop(
        self,
        response: Any,
        hop: Hop,
        chain: list[tuple[str, int]],
    ) -> Hop | None:
        """The request that follows ``response``, or None when it is final."""
        if response.status_code not in _REDIRECTS:
            return None
        chain.append((response.url, response.status_code))
        response.redirect_chain = chain
        if chain[-1] in chain[:-1]:
            raise RedirectCycleError("Redirect loop detected.", last_response=response)
        if len(chain) > 20:
            raise RedirectCycleError("Too many redirects.", last_response=response)
        return redirect_hop(hop, response)


def refuse_follow(follow: bool) -> None:
    """Factories build requests without sending them, so nothing can follow."""
    if follow:
        raise TypeError(
            "A request factory sends nothing, so it cannot follow redirects: "
            "use a client, as in `await AsyncAPIClient().get(..., follow=True)`."
        )


def first_hop(
    body: bytes, content_type: str | None, extra: dict[str, Any], query: str
) -> Hop:
    """What a followed chain repeats of its first request (307/308 repeat all)."""
    return Hop("", "", body, content_type, False, keyword_environ(extra), query)


def redirect_hop(hop: Hop, response: Any) -> Hop:
    """Where a redirect leads, with the method and body RFC 9110 prescribes.

    307 and 308 repeat the request, body included; 301, 302 and 303 turn it
    into a bodiless GET (HEAD stays HEAD), as browsers and Django do.
    """
    sent = response.request
    here = f"{sent['wsgi.url_scheme']}://{sent['HTTP_HOST']}{sent['RAW_URI']}"
    target = urlsplit(urljoin(here, response["Location"]))
    extra = {k: v for k, v in hop.extra.items() if k != "QUERY_STRING"}
    if target.hostname:
        extra["HTTP_HOST"] = target.netloc
        extra["SERVER_NAME"] = target.hostname
        extra["SERVER_PORT"] = str(
            target.port or (443 if target.scheme == "https" else 80)
        )
    keep = response.status_code in _KEEP_METHOD
    method = str(sent["REQUEST_METHOD"])
    query = target.query
    if not keep:
        method = "HEAD" if method == "HEAD" else "GET"
        for key in _CONTENT_KEYS:
            extra.pop(key, None)
    elif method in ("GET", "HEAD"):
        # Django's client repeats a GET's data= as the query, and drops the
        # one Location names.
        if query and query != hop.query:
            _warn_dropped(
                f"The {response.status_code} redirect to {response['Location']!r}: "
                f"its query {query!r} is dropped, and the first request's data= "
                f"query {hop.query!r} sent again, as Django's client does after "
                "a 307 or 308 on a GET. Redirect with a 302 or 303 to have the "
                "Location's query followed."
            )
        query = hop.query
        if query:
            extra["QUERY_STRING"] = query
    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
    return Hop(
        method,
        path,
        hop.body if keep else b"",
        hop.content_type if keep else None,
        target.scheme == "https",
        extra,
        query,
    )


class DroppedInputWarning(UserWarning):
    """Something a test wrote is not sent, because Django's clients drop it.

    The drop-ins do what Django's and DRF's clients do, so that a result
    never changes; the warning says what was lost, and how to send it.
    """


def _warn_dropped(message: str) -> None:
    warn_at(message, DroppedInputWarning)


def _split(path: Any) -> SplitResult:
    """The URL a test wrote, split as browsers and httpx read it."""
    # str(): paths may be lazy reverse() results. urlsplit() drops tabs,
    # line breaks and leading controls and spaces; trailing ones go too, as
    # in the WHATWG URL parser.
    text = str(path).rstrip(_C0_OR_SPACE)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(surrogate_message("The path", error)) from None
    return urlsplit(text)


def _latin1_bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # text a test wrote, not an environ's bytes
        return text.encode("utf-8")


def _check_raw_query(query: str) -> None:
    """Refuse an explicit QUERY_STRING that no client can send as it is."""
    if query.isascii() and query.isprintable() and " " not in query:
        return
    raise ValueError(
        f"QUERY_STRING={query!r} holds characters a request line cannot: an "
        "explicit QUERY_STRING is the query's bytes as sent (PEP 3333 "
        "latin-1 text), and servers answer 400 to a request whose target has "
        "spaces, control characters or raw non-ASCII bytes. Percent-encode "
        "them (QUERY_STRING='q=%FF'), or put the query in the path "
        "('/x/?q=é'), where it is encoded for you."
    )


def _host(environ: Mapping[str, Any]) -> str:
    """The Host header a client would send for this environ's server."""
    name, port = environ["SERVER_NAME"], str(environ["SERVER_PORT"])
    default = "443" if environ["wsgi.url_scheme"] == "https" else "80"
    return name if port == default else f"{name}:{port}"
