"""Request bodies and query strings, encoded as DRF's and Django's test tools do.

Bodies go through the renderers in DRF's ``TEST_REQUEST_RENDERER_CLASSES``,
read at call time so ``override_settings`` applies. Both stacks' clients and
factories use these functions, so a body is byte-identical on each.

Where DRF's ``_encode_data`` crashes or loses what the test wrote, Django's
own client rules are followed instead: a charset in ``content_type=`` encodes
a ``str`` body, a mapping sent as ``multipart/form-data`` is encoded as
multipart, and a ``str``/``bytes`` body that the multipart renderer cannot
take is sent as it is, as ``application/octet-stream``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.test.client import (
    BOUNDARY,
    CONTENT_TYPE_RE,
    JSON_CONTENT_TYPE_RE,
    encode_multipart,
)
from django.utils.encoding import force_bytes
from django.utils.http import urlencode
from rest_framework.renderers import BaseRenderer

__all__ = ["OCTET_STREAM", "encode_body", "encode_json", "join_query", "query_of"]

OCTET_STREAM = "application/octet-stream"
_RAW = (bytes, bytearray, memoryview)


def encode_json(data: Any, content_type: str, encoder: type[json.JSONEncoder]) -> Any:
    """JSON text for a dict, list or tuple sent as JSON; ``data`` otherwise."""
    if JSON_CONTENT_TYPE_RE.match(content_type) and isinstance(
        data, (dict, list, tuple)
    ):
        return json.dumps(data, cls=encoder)
    return data


def encode_body(
    data: Any,
    format: str | None,
    content_type: str | None,
    *,
    renderers: Mapping[str, type[BaseRenderer]],
    default_format: str,
    json_encoder: type[json.JSONEncoder],
) -> tuple[bytes, str | None]:
    """Return ``(body, content_type)`` for ``data``.

    ``content_type=`` sends ``data`` as given (dicts and lists still become
    JSON under a JSON content type, as in Django); ``format=`` renders it with
    the named DRF renderer, defaulting to ``default_format``.
    """
    if data is None:
        return b"", content_type
    assert format is None or content_type is None, (
        "Pass format= or content_type=, not both: format= renders data with a "
        "DRF renderer, content_type= sends data as it is."
    )
    if content_type is not None:
        return _as_given(data, content_type, json_encoder), content_type
    if isinstance(data, _RAW):
        # Already encoded: a renderer would only fail on it.
        renderer_class = renderers.get(format or "")
        media = renderer_class.media_type if renderer_class else None
        return bytes(data), media or OCTET_STREAM

    format = format or default_format
    assert format in renderers, (
        f"Invalid format {format!r}. Available formats are "
        f"{', '.join(repr(name) for name in renderers)}. Add a renderer to "
        "REST_FRAMEWORK['TEST_REQUEST_RENDERER_CLASSES'] to enable another "
        "format, or pass content_type= with an already encoded body."
    )
    renderer = renderers[format]()
    media_type = str(renderer.media_type)
    if isinstance(data, str) and media_type.startswith("multipart/"):
        # Django's client sends such a body raw (put(path, "a=b")); DRF's
        # multipart renderer would crash on it.
        return _as_given(data, OCTET_STREAM, json_encoder), OCTET_STREAM
    try:
        body = renderer.render(data)
    except (TypeError, ValueError, AttributeError) as error:
        raise TypeError(
            f"data= could not be rendered as {format!r}: {error}. Pass data the "
            f"{format!r} renderer accepts (for JSON: dicts, lists, str, numbers, "
            "bools, None; for multipart: a dict), or encode it yourself and "
            "pass content_type=."
        ) from error
    if renderer.charset:
        media_type = f"{media_type}; charset={renderer.charset}"
    if isinstance(body, str):
        body = body.encode(renderer.charset or "utf-8")
    return body, media_type


def _as_given(
    data: Any, content_type: str, json_encoder: type[json.JSONEncoder]
) -> bytes:
    match = CONTENT_TYPE_RE.match(content_type)
    charset = match[1] if match else settings.DEFAULT_CHARSET
    try:
        if content_type.startswith("multipart/form-data") and isinstance(data, Mapping):
            # DRF would send str(dict); Django encodes a mapping as multipart.
            _, _, boundary = content_type.partition("boundary=")
            boundary = boundary.split(";")[0].strip() or BOUNDARY
            return encode_multipart(boundary, dict(data))
        data = encode_json(data, content_type, json_encoder)
        if isinstance(data, _RAW):
            # Bytes are sent as given; Django would re-encode them to a
            # charset named in content_type (a compression codec, even).
            return bytes(data)
        return force_bytes(data, encoding=charset)
    except (UnicodeEncodeError, LookupError) as error:
        named = (
            f"the charset content_type={content_type!r} names"
            if match
            else "the default charset"
        )
        raise ValueError(
            f"data= could not be encoded as {charset!r}, {named}: {error}. Name "
            "a charset that holds every character of the body (charset=utf-8), "
            "or pass bytes you encoded yourself."
        ) from None


def query_of(data: Any) -> str:
    """The query string for a GET's or HEAD's ``data=`` (or ``query_params=``)."""
    if data is None or data == "" or data == {}:
        return ""
    if isinstance(data, (str, bytes)):
        raise TypeError(
            "GET and HEAD requests carry no body: data= becomes the query string "
            "and must be a dict or a list of pairs. Put a raw query in the URL "
            "('/path/?a=1'), or send a body with post()/put()/patch()."
        )
    # Django's urlencode keeps every value of a QueryDict or list value.
    try:
        return urlencode(data, doseq=True)
    except UnicodeEncodeError as error:
        raise ValueError(surrogate_message("The query data", error)) from None


def surrogate_message(what: str, error: UnicodeEncodeError) -> str:
    """Why text with a lone surrogate cannot be sent, and what to pass instead."""
    char = error.object[error.start]
    return (
        f"{what} holds {char!r}, a lone surrogate, which UTF-8 cannot encode, "
        "so no request can carry it. It usually comes from decoding bytes with "
        "errors='surrogateescape'; pass the text it stands for, or bytes."
    )


def join_query(*parts: str) -> str:
    """Join query strings, keeping every non-empty one in order."""
    return "&".join(part for part in parts if part)
