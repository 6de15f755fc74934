"""Django app config: listing ``restflow_parity`` turns on its system checks."""

from __future__ import annotations

from django.apps import AppConfig


class RestflowParityConfig(AppConfig):
    name = "restflow_parity"
    verbose_name = "restflow-parity"

    def ready(self) -> None:
        # Importing registers the checks with Django's check framework.
        from restflow_parity.django_runner import _checks  # noqa: F401
