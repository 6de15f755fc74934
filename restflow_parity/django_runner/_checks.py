"""System checks that catch a misplaced ``EnsureScopeMiddleware``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.utils.module_loading import import_string

from restflow_parity.middleware import EnsureScopeMiddleware

MIDDLEWARE_PATH = "restflow_parity.middleware.EnsureScopeMiddleware"


@register(Tags.compatibility)
def check_middleware(
    *,
    app_configs: Sequence[AppConfig] | None = None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """Warn when the middleware is missing from MIDDLEWARE or listed twice."""
    found = [entry for entry in settings.MIDDLEWARE if _is_ensure_scope(entry)]
    if not found:
        return [
            Warning(
                "EnsureScopeMiddleware is not in MIDDLEWARE, so requests made "
                "through the sync (WSGI) stack have no request.scope.",
                hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE in your test '
                "settings, or remove restflow_parity from INSTALLED_APPS.",
                id="restflow_parity.W001",
            )
        ]
    if len(found) > 1:
        return [
            Warning(
                f"EnsureScopeMiddleware is listed {len(found)} times in "
                f"MIDDLEWARE: {found}.",
                hint="Keep one entry; the second one does nothing but cost "
                "time on every request.",
                id="restflow_parity.W002",
            )
        ]
    return []


def _is_ensure_scope(entry: str) -> bool:
    if entry == MIDDLEWARE_PATH:
        return True
    try:
        cls = import_string(entry)
    except ImportError:
        # Django reports unimportable middleware itself; don't double up.
        return False
    return isinstance(cls, type) and issubclass(cls, EnsureScopeMiddleware)


def kit_messages() -> list[CheckMessage]:
    """The kit's check messages, as ``manage.py test`` would show them.

    For the pytest plugin: pytest-django runs no system checks. Empty when
    Django is not set up, or ``restflow_parity`` is not an installed app (the
    checks belong to the app); silenced ids are left out, as Django does.
    """
    from django.apps import apps

    if not settings.configured or not apps.ready:
        return []
    if not apps.is_installed("restflow_parity"):
        return []
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", ()))
    return [m for m in check_middleware() if m.id not in silenced]
