# restflow-parity: sync (WSGI) stack test settings.
# Paste at the end of your test settings module, after the base settings are
# imported (for example below `from .settings import *` in mysite/test_settings.py).

INSTALLED_APPS = [*INSTALLED_APPS, "restflow_parity"]

# First, so every later middleware and the view can read request.scope.
MIDDLEWARE = [
    "restflow_parity.middleware.EnsureScopeMiddleware",
    *[m for m in MIDDLEWARE if m != "restflow_parity.middleware.EnsureScopeMiddleware"],
]
