"""A setting read once per change, for values the request path reads often."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.signals import setting_changed

from restflow_parity._changes import install

__all__ = ["CachedSetting"]

T = TypeVar("T")
_UNREAD: Any = object()


class CachedSetting(Generic[T]):
    """``convert(settings.NAME)``, read on first use and again after a change.

    A missing setting costs an exception per ``getattr``: too much per
    request. The ``setting_changed`` receiver that forgets the value
    (``override_settings``) is connected on the first read and disconnected
    at the end of the session (``_changes.py``).
    """

    def __init__(self, name: str, default: Any, convert: Callable[[Any], T]) -> None:
        self.name = name
        self._default = default
        self._convert = convert
        self._value: T = _UNREAD
        self._change = f"setting_changed receiver ({name})"
        self._changes = 0
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is _UNREAD:
            install(self._change, self._connect, self._disconnect)
            seen = self._changes
            # Without settings (the request path's parts used alone), the default.
            configured = settings.configured
            raw = (
                getattr(settings, self.name, self._default)
                if configured
                else self._default
            )
            value = self._convert(raw)
            with self._lock:
                # Kept only if nothing changed while it was read: a change
                # (an override ending in another thread) would otherwise be
                # overwritten with the value from before it, for good.
                if self._changes == seen:
                    self._value = value
        return value

    def _forget(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self.name:
            self._reset()

    def _reset(self) -> None:
        with self._lock:
            self._changes += 1
            self._value = _UNREAD

    def _connect(self) -> None:
        # weak=False: the receiver is a bound method of a module-level object.
        setting_changed.connect(self._forget, weak=False, dispatch_uid=self._change)

    def _disconnect(self) -> None:
        setting_changed.disconnect(dispatch_uid=self._change)
        self._reset()
