"""Request bodies and query strings, encoded the way DRF's test tools do.

Bodies go through the renderers in DRF's ``TEST_REQUEST_RENDERER_CLASSES``,
read at call time so ``override_settings`` applies. Both stacks' clients and
factories use these functions, so a body is byte-identical on each.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.test.client import JSON_CONTENT_TYPE_RE
from django.utils.encoding import force_bytes
from django.utils.http import urlencode
from rest_framework.renderers import BaseRenderer
from rest_framework.settings import api_settings

__all__ = ["encode_body", "merge_query"]


def _renderers() -> dict[str, type[BaseRenderer]]:
    # DRF imports the setting's dotted paths into classes on access.
    classes: list[type[BaseRenderer]] = list(
        api_settings.TEST_REQUEST_RENDERER_CLASSES  # type: ignore[arg-type]
    )
    return {renderer.format: renderer for renderer in classes}


def encode_body(
    data: Any, format: str | None = None, content_type: str | None = None
) -> tuple[bytes, str | None]:
    """Return ``(body, content_type)`` for ``data``.

    ``content_type=`` sends ``data`` as given (dicts and lists still become
    JSON under a JSON content type, as in Django); ``format=`` renders it with
    the named DRF renderer, defaulting to ``TEST_REQUEST_DEFAULT_FORMAT``.
    """
    assert format is None or content_type is None, (
        "Pass format= or content_type=, not both: format= renders data with a "
        "DRF renderer, content_type= sends data as it is."
    )
    if data is None:
        return b"", content_type
    if content_type is not None:
        if JSON_CONTENT_TYPE_RE.match(content_type) and isinstance(
            data, (dict, list, tuple)
        ):
            data = json.dumps(data, cls=DjangoJSONEncoder)
        return force_bytes(data, settings.DEFAULT_CHARSET), content_type

    renderers = _renderers()
    format = format or api_settings.TEST_REQUEST_DEFAULT_FORMAT
    assert format in renderers, (
        f"Invalid format {format!r}. Available formats are "
        f"{', '.join(repr(name) for name in renderers)}. Add a renderer to "
        "REST_FRAMEWORK['TEST_REQUEST_RENDERER_CLASSES'] to enable another "
        "format, or pass content_type= with an already encoded body."
    )
    renderer = renderers[format]()
    try:
        body = renderer.render(data)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"data= could not be rendered as {format!r}: {error}. Pass data the "
            f"{format!r} renderer accepts (for JSON: dicts, lists, str, numbers, "
            "bools, None), or encode it yourself and pass content_type=."
        ) from error
    media_type = renderer.media_type
    if renderer.charset:
        media_type = f"{media_type}; charset={renderer.charset}"
    if isinstance(body, str):
        body = body.encode(renderer.charset or "utf-8")
    return body, media_type


def merge_query(url_query: str, data: Any) -> str:
    """The query string for a GET or HEAD: the URL's own, then ``data``.

    Django drops the URL's query when ``data`` is given; here neither is lost.
    """
    if data is None or data == {}:
        return url_query
    if isinstance(data, (str, bytes)):
        raise TypeError(
            "GET and HEAD requests carry no body: data= becomes the query string "
            "and must be a dict or a list of pairs. Put a raw query in the URL "
            "('/path/?a=1'), or send a body with post()/put()/patch()."
        )
    # Django's urlencode keeps every value of a QueryDict or list value.
    encoded = urlencode(data, doseq=True)
    return f"{url_query}&{encoded}" if url_query else encoded
