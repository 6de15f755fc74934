"""Each parity variant starts from the state the body would have seen alone.

The two variants of one body run back to back, the same body touching the
same keys: the most state-hostile order a suite can have. The database rolls
back after each variant; process-local caches do not. A throttle's counters
in ``LocMemCache`` (DRF's throttles keep them in the default cache) then
carry over, and the second variant is refused with 429 where the first was
not: a failure that reads like a stack difference.

``variant_state()`` rolls back what a variant wrote to ``LocMemCache``
caches, the way the test's transaction rolls back its rows. Caches that live
outside the process (Redis, Memcached, files, the database cache) are left
alone: they may be shared with other workers, and the database cache already
rolls back with the transaction. Other state a body can leave behind (a class
attribute, a module-level iterator) cannot be found from outside; see the
"one body, both stacks" guide for running one stack per process.

``RESTFLOW_PARITY_ROLLBACK_CACHES = False`` in the settings turns it off.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from restflow_parity._thirdparty.django import locmem_restore, locmem_snapshot

__all__ = ["SETTING", "variant_state"]

SETTING = "RESTFLOW_PARITY_ROLLBACK_CACHES"
_active = threading.local()


@contextmanager
def variant_state() -> Iterator[None]:
    """Roll back, on exit, what the block wrote to process-local caches.

    Re-entrant: an inner block (the runner's and the decorator's both
    wrapping one variant) does nothing.
    """
    if getattr(_active, "depth", 0) or not _enabled():
        yield
        return
    saved = [(cache, locmem_snapshot(cache)) for cache in _local_caches()]
    _active.depth = 1
    try:
        yield
    finally:
        _active.depth = 0
        for cache, snapshot in saved:
            locmem_restore(cache, snapshot)


def _enabled() -> bool:
    from django.conf import settings

    return settings.configured and bool(getattr(settings, SETTING, True))


def _local_caches() -> list[Any]:
    from django.conf import settings
    from django.core.cache import caches

    configured = settings.CACHES
    if _aliases_of.get("for") is not configured:  # a new CACHES, or override
        _aliases_of["for"] = configured
        _aliases_of["aliases"] = _locmem_aliases(configured)
    return [caches[alias] for alias in _aliases_of["aliases"]]


_aliases_of: dict[str, Any] = {}


def _locmem_aliases(configured: dict[str, Any]) -> list[str]:
    from django.core.cache.backends.locmem import LocMemCache
    from django.utils.module_loading import import_string

    found = []
    for alias, options in configured.items():
        try:
            backend = import_string(options["BACKEND"])
        except (ImportError, KeyError):
            continue  # Django reports a broken CACHES entry when it is used
        # Checked on the class: making another backend's client here could
        # open a connection no test asked for.
        if isinstance(backend, type) and issubclass(backend, LocMemCache):
            found.append(alias)
    return found
