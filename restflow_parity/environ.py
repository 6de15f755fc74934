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
from typing import Any

from django.http.request import HttpHeaders

__all__ = [
    "CGI_KEYS",
    "ScopeLossWarning",
    "header_environ",
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

# What build_scope() turns into scope fields; any other non-header key is lost
# on the way to an ASGIRequest.
_CARRIED = frozenset(
    {
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "PATH_INFO",
        "QUERY_STRING",
        "RAW_URI",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "SCRIPT_NAME",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "wsgi.errors",
        "wsgi.input",
        "wsgi.multiprocess",
        "wsgi.multithread",
        "wsgi.run_once",
        "wsgi.url_scheme",
        "wsgi.version",
    }
)


class ScopeLossWarning(UserWarning):
    """An environ key was given that an ASGI scope cannot carry.

    Django's ``ASGIRequest`` builds ``META`` from the scope alone, so a view
    behind a real ASGI server never sees such a key (``REMOTE_USER``, say).
    """


def header_environ(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """``headers={...}`` as environ names; names with ``_`` are dropped.

    Servers drop header names with underscores (Django's ASGIRequest since
    CVE-2026-3902, runserver and gunicorn before the environ): ``X_User``
    would otherwise arrive as ``X-User`` and could spoof it, on either stack.
    """
    if not headers:
        return {}
    kept = {name: str(value) for name, value in headers.items() if "_" not in name}
    return dict(HttpHeaders.to_wsgi_names(kept))


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
