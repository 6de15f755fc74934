"""Test settings: the base settings plus restflow-parity, as its README says."""

from __future__ import annotations

import atexit
import shutil
import tempfile

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [*INSTALLED_APPS, "restflow_parity"]
MIDDLEWARE = ["restflow_parity.middleware.EnsureScopeMiddleware", *MIDDLEWARE]
TEST_RUNNER = "restflow_parity.runner.ParityDiscoverRunner"  # adds --parity-mode

# Uploaded datasheets go to a directory of this process's own, removed at exit.
MEDIA_ROOT = tempfile.mkdtemp(prefix="shop-media-")
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)

# The suite logs users in many times; the default hasher would dominate it.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
