"""The request time limit: ``RESTFLOW_PARITY_REQUEST_TIMEOUT`` and its checks."""

from __future__ import annotations

import enum
import math

from django.core.exceptions import ImproperlyConfigured

from restflow_parity._settings import CachedSetting

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


_configured = CachedSetting(
    SETTING, DEFAULT_TIMEOUT, lambda value: validate_timeout(value, SETTING)
)


def resolve_timeout(override: float | Unset | None = Unset.UNSET) -> float | None:
    """The limit for one request: the client's override, else the setting."""
    if override is not Unset.UNSET:
        return override
    return _configured.get()
