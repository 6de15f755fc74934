"""System checks for the middleware's place in MIDDLEWARE."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from restflow_parity.django_runner._checks import MIDDLEWARE_PATH, check_middleware
from restflow_parity.middleware import EnsureScopeMiddleware

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"


class SubclassedMiddleware(EnsureScopeMiddleware):
    pass


def test_no_warning_when_listed_once() -> None:
    assert check_middleware() == []


@override_settings(MIDDLEWARE=[SESSION])
def test_missing_middleware_warns_and_names_the_fix() -> None:
    (warning,) = check_middleware()
    assert warning.id == "restflow_parity.W001"
    assert MIDDLEWARE_PATH in warning.hint


@override_settings(MIDDLEWARE=[MIDDLEWARE_PATH, SESSION, MIDDLEWARE_PATH])
def test_listed_twice_warns() -> None:
    (warning,) = check_middleware()
    assert warning.id == "restflow_parity.W002"
    assert "2 times" in warning.msg
    assert "Keep one entry" in warning.hint


@override_settings(MIDDLEWARE=[f"{__name__}.SubclassedMiddleware"])
def test_subclass_counts_as_the_middleware() -> None:
    assert check_middleware() == []


@override_settings(MIDDLEWARE=["not.a.real.Middleware"])
def test_unimportable_entry_is_not_ours() -> None:
    (warning,) = check_middleware()
    assert warning.id == "restflow_parity.W001"


@override_settings(MIDDLEWARE=[SESSION])
def test_manage_py_check_reports_it() -> None:
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "restflow_parity.W001" in out.getvalue()
    with pytest.raises(SystemCheckError, match=r"restflow_parity\.W001"):
        call_command("check", fail_level="WARNING", stdout=out, stderr=out)
