"""Django's undocumented names and private attributes the kit relies on."""

from __future__ import annotations

from functools import partial
from typing import Any

# Undocumented helpers of Django's test client: the kit's clients log in,
# record templates and strip HEAD bodies exactly as Django's do by calling
# Django's own code. LimitedStream bounds reads of a request body as
# Django's handlers do.
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest
from django.test.client import (  # type: ignore[attr-defined]
    ClientMixin,
    conditional_content_removal,
    store_rendered_templates,
)

__all__ = [
    "ClientMixin",
    "LimitedStream",
    "conditional_content_removal",
    "json_method",
    "locmem_restore",
    "locmem_snapshot",
    "send_remote_event",
    "skip_csrf_checks",
    "store_rendered_templates",
]

LocMemEntries = tuple[dict[str, Any], dict[str, Any]]


def skip_csrf_checks(request: HttpRequest, skip: bool) -> None:
    """Mark ``request`` as Django's test handlers do; CsrfViewMiddleware
    skips its check when the mark is true."""
    request._dont_enforce_csrf_checks = skip  # type: ignore[attr-defined]


def json_method(client: Any, response: Any) -> Any:
    """``response.json`` as Django's clients set it: the client's
    ``_parse_json`` (an override point of ``ClientMixin``)."""
    return partial(client._parse_json, response)


# LocMemCache keeps its entries in module-level dicts shared by every
# instance with the same LOCATION (``_cache``, ``_expire_info``, guarded by
# ``_lock``): copied and restored in place, under that lock, so every
# instance sees the rollback.
def locmem_snapshot(cache: Any) -> LocMemEntries:
    with cache._lock:
        return dict(cache._cache), dict(cache._expire_info)


def locmem_restore(cache: Any, snapshot: LocMemEntries) -> None:
    entries, expiry = snapshot
    with cache._lock:
        cache._cache.clear()
        cache._cache.update(entries)
        cache._expire_info.clear()
        cache._expire_info.update(expiry)


def send_remote_event(result: Any, *event: Any) -> None:
    """Queue ``event`` on a parallel worker's ``RemoteTestResult``; the main
    process replays each as ``getattr(result, event[0])(*event[1:])``."""
    result.events.append(event)
