"""The request time limit: ``RESTFLOW_PARITY_REQUEST_TIMEOUT`` and its checks."""

from __future__ import annotations

import enum
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = [
    "DEFAULT_TIMEOUT",
    "SETTING",
    "Unset",
    "resolve_timeout",
    "validate_timeout",
]

SETTING = "RESTFLOW_PARITY_REQUEST_TIMEOUT"
DEFAULT_TIMEOUT = 30.0


class Unset(enum.Enum):
    """The client's ``request_timeout=`` was not given: use the setting."""

    UNSET = enum.auto()


def validate_timeout(
    value: object, source: str, error: type[Exception] = ImproperlyConfigured
) -> float | None:
    """The limit ``value`` means, in seconds; None when the watchdog is off."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise error(
            f"{source}={value!r} is not a request timeout. Allowed values: a "
            f"number of seconds above 0 (default {DEFAULT_TIMEOUT:g}), or None "
            "or 0 to turn the deadlock watchdog off."
        )
    return float(value) or None


_configured: float | Unset | None = Unset.UNSET


def resolve_timeout(override: float | Unset | None = Unset.UNSET) -> float | None:
    """The limit for one request: the client's override, else the setting."""
    global _configured
    if override is not Unset.UNSET:
        return override
    if _configured is Unset.UNSET:
        # Read once and cached: a missing setting costs an exception per read.
        _configured = validate_timeout(
            getattr(settings, SETTING, DEFAULT_TIMEOUT), SETTING
        )
    return _configured


def _forget_configured(*, setting: str, **kwargs: Any) -> None:
    global _configured
    if setting == SETTING:
        _configured = Unset.UNSET


setting_changed.connect(_forget_configured, dispatch_uid=f"{__name__}.setting")
