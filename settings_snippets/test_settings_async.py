# restflow-parity: async (ASGI) stack test settings.
# Paste at the end of your test settings module, after the base settings are
# imported (for example below `from .settings import *` in mysite/test_settings.py).

INSTALLED_APPS = [*INSTALLED_APPS, "restflow_parity"]

# Harmless on ASGI (a real scope is never replaced) and keeps one MIDDLEWARE
# list valid for both stacks.
MIDDLEWARE = [
    "restflow_parity.middleware.EnsureScopeMiddleware",
    *[m for m in MIDDLEWARE if m != "restflow_parity.middleware.EnsureScopeMiddleware"],
]

# The application the async stack's live server serves; point it at yours.
ASGI_APPLICATION = "config.asgi.application"
