"""Settings for restflow-parity's own test project.

SQLite by default. Set ``DATABASE_URL`` to run the same suite elsewhere:
``postgres://user@host:port/name`` (PostgreSQL), ``mysql://root@host:port/name``
(MariaDB, through PyMySQL) or ``sqlite:////abs/path`` (a file database).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "restflow-parity-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", "api.example.com"]
USE_TZ = True
ROOT_URLCONF = "testproject.urls"
WSGI_APPLICATION = "testproject.wsgi.application"
ASGI_APPLICATION = "testproject.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "restflow_parity",
    "products",
]

MIDDLEWARE = [
    "restflow_parity.middleware.EnsureScopeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

STATIC_URL = "/static/"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# The test suite hashes many passwords; the default hasher would dominate it.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Server databases by URL scheme: (engine, default name, default user).
SERVER_ENGINES = {
    "postgres": ("django.db.backends.postgresql", "postgres", ""),
    "postgresql": ("django.db.backends.postgresql", "postgres", ""),
    "mysql": ("django.db.backends.mysql", "test", "root"),
    "mariadb": ("django.db.backends.mysql", "test", "root"),
}


def database_from_url(url: str) -> dict[str, object]:
    """Turn ``DATABASE_URL`` into a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme in SERVER_ENGINES:
        engine, name, user = SERVER_ENGINES[parts.scheme]
        if engine.endswith("mysql"):
            # PyMySQL stands in for mysqlclient, which needs a C toolchain and
            # client headers; Django checks the mysqlclient version it claims.
            import pymysql

            pymysql.version_info = (2, 2, 1, "final", 0)
            pymysql.install_as_MySQLdb()
        return {
            "ENGINE": engine,
            "NAME": unquote(parts.path.lstrip("/")) or name,
            "USER": unquote(parts.username or user),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    if parts.scheme == "sqlite":
        # sqlite:////abs/path (or sqlite:///relative) tests on a file database
        # at path + ".test"; sqlite:// on Django's in-memory test database.
        name = parts.path[1:] or ":memory:"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "TEST": {"NAME": f"{name}.test"} if parts.path else {},
        }
    raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported here")


DATABASES = {
    "default": database_from_url(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
}
