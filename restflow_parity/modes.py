"""``run_both_modes``: one test body, run on the sync and the async stack.

On a ``SimpleTestCase`` method (or a whole class) it replaces ``test_x`` with
``test_x_sync`` and ``test_x_async``. Each variant gives the test
``self.mode``, ``self.client`` and ``self.factory`` for its stack before
``setUp()`` runs. On a pytest function it parametrizes the ``parity_mode``
fixture instead (see ``restflow_parity.plugin``).

``RESTFLOW_PARITY_MODE`` (``both``, ``sync`` or ``async``) picks the stacks;
the Django runner's and pytest's ``--parity-mode`` set it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Literal, TypeVar, overload

from asgiref.sync import iscoroutinefunction

__all__ = [
    "ENV_VAR",
    "MODES",
    "Mode",
    "ParityModeError",
    "make_client",
    "make_factory",
    "mode_of",
    "run_both_modes",
    "selected_modes",
]

Mode = Literal["sync", "async"]
MODES: tuple[Mode, Mode] = ("sync", "async")
ENV_VAR = "RESTFLOW_PARITY_MODE"
CHOICES = ("both", "sync", "async")
_MODE_ATTR = "_restflow_parity_mode"
_HOOKED_ATTR = "_restflow_parity_hooked"

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


class ParityModeError(ValueError):
    """``RESTFLOW_PARITY_MODE`` or ``--parity-mode`` holds an unknown value."""


def parse_mode(value: str | None, source: str = ENV_VAR) -> tuple[Mode, ...]:
    """The stacks ``value`` selects; None or empty means both."""
    choice = (value or "both").strip().lower()
    if choice not in CHOICES:
        raise ParityModeError(
            f"{source}={value!r} is not a parity mode. Valid values: "
            f"{', '.join(CHOICES)} (default both). Set {ENV_VAR} or pass "
            "--parity-mode to pick the stacks to run."
        )
    return MODES if choice == "both" else (choice,)  # type: ignore[return-value]


def selected_modes() -> tuple[Mode, ...]:
    """The stacks this run tests, from ``RESTFLOW_PARITY_MODE``."""
    return parse_mode(os.environ.get(ENV_VAR))


def mode_of(function: object) -> Mode | None:
    """The stack a generated variant runs on, or None for other tests."""
    return getattr(function, _MODE_ATTR, None)


def make_client(mode: Mode, awaitable: bool, **kwargs: Any) -> Any:
    """The client a ``mode`` test uses; ``awaitable`` for async def bodies."""
    if mode == "sync":
        from restflow_parity.sync_client import SyncAPIClient

        client: Any = SyncAPIClient(**kwargs)
    else:
        from restflow_parity.client import AsyncAPIClient

        client = AsyncAPIClient(**kwargs)
    client.awaitable = awaitable
    return client


def make_factory(mode: Mode, **kwargs: Any) -> Any:
    """The request factory of ``mode``'s stack."""
    if mode == "sync":
        from restflow_parity.sync_client import SyncAPIRequestFactory

        return SyncAPIRequestFactory(**kwargs)
    from restflow_parity.factory import AsyncAPIRequestFactory

    return AsyncAPIRequestFactory(**kwargs)


@overload
def run_both_modes(target: C) -> C: ...
@overload
def run_both_modes(target: F) -> F: ...
def run_both_modes(target: Any) -> Any:
    """Run a test on both stacks. Decorate a test method, a class or a function.

    Methods and classes must belong to a Django ``SimpleTestCase`` subclass
    (``APITestCase``, ``TestCase``, the ``AsyncAPI*TestCase`` bases...).
    A module-level pytest function is parametrized ``[sync]``/``[async]``.
    """
    selected_modes()  # an invalid RESTFLOW_PARITY_MODE fails at import
    if isinstance(target, type):
        return _split_class(target)
    if not callable(target) or not getattr(target, "__name__", "").startswith("test"):
        name = getattr(target, "__qualname__", repr(target))
        raise TypeError(
            f"@run_both_modes decorates tests, and {name} is not one: its name "
            "must start with 'test' (the name unittest and pytest collect)."
        )
    if "." in target.__qualname__.replace(".<locals>.", ":"):
        # Defined in a class body: the class is not built yet, so split the
        # method when it is bound to its class (__set_name__).
        return _BothModesMethod(target)
    return _mark_pytest_function(target)


class _BothModesMethod:
    """Stands in a class body until the class exists, then splits into two."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __set_name__(self, owner: type, name: str) -> None:
        _require_test_case(owner, f"@run_both_modes on {owner.__qualname__}.{name}")
        delattr(owner, name)
        _add_variants(owner, name, self.function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self.function.__qualname__} is decorated with @run_both_modes "
            "outside a class body; decorate a method of a SimpleTestCase subclass."
        )


def _require_test_case(owner: type, what: str) -> None:
    from django.test import SimpleTestCase

    if not issubclass(owner, SimpleTestCase):
        raise TypeError(
            f"{what}: {owner.__qualname__} is not a django.test.SimpleTestCase "
            "subclass. Subclass SimpleTestCase/TestCase/APITestCase (or an "
            "AsyncAPI*TestCase base), or decorate module-level pytest test "
            "functions instead."
        )


def _split_class(cls: C) -> C:
    _require_test_case(cls, "@run_both_modes")
    names = [
        name
        for name in dir(cls)
        if name.startswith("test")
        and callable(getattr(cls, name))
        and mode_of(getattr(cls, name)) is None
    ]
    for name in names:
        function = getattr(cls, name)
        # Hide the original from the loader; inherited methods can't be deleted.
        if name in cls.__dict__:
            delattr(cls, name)
        else:
            setattr(cls, name, None)
        _add_variants(cls, name, function)
    return cls


def _add_variants(owner: type, name: str, function: Callable[..., Any]) -> None:
    for mode in MODES:
        variant = _variant(function, mode)
        variant.__name__ = f"{name}_{mode}"
        # Where pickle finds it again: Django's --parallel pickles the tests.
        variant.__qualname__ = f"{owner.__qualname__}.{variant.__name__}"
        variant.__module__ = owner.__module__
        setattr(owner, variant.__name__, variant)
    _hook_runs(owner)


def _variant(function: Callable[..., Any], mode: Mode) -> Callable[..., Any]:
    if iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_variant(self: Any) -> None:
            _skip_unless_selected(mode)
            await function(self)

        variant: Callable[..., Any] = async_variant
    else:

        @functools.wraps(function)
        def sync_variant(self: Any) -> None:
            _skip_unless_selected(mode)
            function(self)

        variant = sync_variant
    setattr(variant, _MODE_ATTR, mode)
    return variant


def _skip_unless_selected(mode: Mode) -> None:
    if mode not in selected_modes():
        import unittest

        raise unittest.SkipTest(
            f"{ENV_VAR}={os.environ.get(ENV_VAR)} runs only the "
            f"{' and '.join(selected_modes())} variant"
        )


def _hook_runs(owner: type) -> None:
    """Give each variant its mode's client and factory before setUp() runs.

    Done when the test starts (``__call__``/``debug``), not when it is built,
    so test instances stay picklable for Django's ``--parallel``.
    """
    if getattr(owner, _HOOKED_ATTR, False):
        return  # a hooked parent's entry points already serve subclasses
    for entry in ("__call__", "debug"):
        setattr(owner, entry, _arming(getattr(owner, entry)))
    setattr(owner, _HOOKED_ATTR, True)


def _arming(entry: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(entry)
    def armed(self: Any, *args: Any, **kwargs: Any) -> Any:
        method = getattr(type(self), self._testMethodName, None)
        mode = mode_of(method)
        if mode is not None:
            self.mode = mode
            kwargs_ = getattr(self, "parity_client_kwargs", {})
            # Instance attributes: Django's _pre_setup assigns the class-level
            # client, which these shadow for this one test.
            self.client = make_client(mode, iscoroutinefunction(method), **kwargs_)
            self.factory = make_factory(mode)
        return entry(self, *args, **kwargs)

    return armed


def _mark_pytest_function(function: F) -> F:
    try:
        import pytest
    except ImportError:  # pragma: no cover - pytest is optional
        raise TypeError(
            f"@run_both_modes on the function {function.__qualname__} needs "
            "pytest with restflow-parity's plugin (pip install "
            "'restflow-parity[pytest]'), or move it into a SimpleTestCase."
        ) from None
    marked: F = pytest.mark.usefixtures("parity_mode")(function)
    marked = pytest.mark.restflow_parity(marked)
    return marked
