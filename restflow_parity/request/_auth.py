"""What the clients check about users: unknown logins and non-user arguments."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["UnknownUserWarning", "check_user", "user_exists", "warn_if_unknown"]


class UnknownUserWarning(UserWarning):
    """``login()``/``alogin()`` returned False because the user does not exist.

    Django's contract (return False) is kept; the warning is for the common
    mistake behind it: the user was never created, or was created where the
    client's requests cannot see it.
    """


def user_exists(credentials: dict[str, Any]) -> bool | None:
    """Whether the user ``credentials`` name exists; None when they name none."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    field = model.USERNAME_FIELD
    if field not in credentials:
        return None  # another backend's credentials: nothing to look up
    manager: Any = model._default_manager
    try:
        # The natural key honours a custom manager's lookup (case, say).
        manager.get_by_natural_key(credentials[field])
    except model.DoesNotExist:
        return False
    except (AttributeError, model.MultipleObjectsReturned):
        return bool(manager.filter(**{field: credentials[field]}).exists())
    return True


def warn_if_unknown(
    name: str, credentials: dict[str, Any], exists: bool | None
) -> None:
    """Warn, naming the fix, when a login failed because the user is missing."""
    if exists is not False:
        return  # a wrong password or an inactive user: the test may mean it
    from django.contrib.auth import get_user_model

    field = get_user_model().USERNAME_FIELD
    value = credentials[field]
    warnings.warn(
        f"{name}({field}={value!r}, ...) returned False: no user with "
        f"{field} {value!r} exists in the database the client's requests "
        "use. Create it first, in setUp()/asyncSetUp() or the test itself "
        "(`User.objects.create_user(...)` or `await "
        "User.objects.acreate_user(...)`). If the test means to check that "
        "the login fails, expect the warning: `with "
        "self.assertWarns(UnknownUserWarning):` or `with "
        "pytest.warns(UnknownUserWarning):`.",
        UnknownUserWarning,
        stacklevel=3,
    )


def check_user(user: Any) -> None:
    """Reject what cannot be a user before DRF fails on it mid-request."""
    if user is not None and not hasattr(user, "is_authenticated"):
        raise TypeError(
            f"force_authenticate(user=...) takes a user instance, got "
            f"{type(user).__name__} {user!r}. Fetch the user first, e.g. "
            "`user = await User.objects.aget(username=...)`."
        )
