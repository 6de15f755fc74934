from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        # Connects the signal receivers that bust the cached product lists.
        from catalog import cache_rules  # noqa: F401
