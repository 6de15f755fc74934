"""``run_both_modes``: one test body, run on the sync and the async stack.

On a ``SimpleTestCase`` method (or a whole class) it replaces ``test_x`` with
``test_x_sync`` and ``test_x_async``. Each variant gives the test
``self.mode``, ``self.client`` and ``self.factory`` for its stack before
``setUp()`` runs, and runs with its stack active, its caches rolled back,
Django's and DRF's clients following it and its stack ledger counting. On a
pytest function or plain class it marks the test for the plugin, which
parametrizes ``parity_mode`` instead (``restflow_parity.plugin``).
"""

from __future__ import annotations

import functools
import os
import types
import unittest
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction
from django.test import SimpleTestCase

from restflow_parity.request._ledger import allowed_stack, current, recording
from restflow_parity.request._stock import following
from restflow_parity.variants._assertions import install_assertions
from restflow_parity.variants._caches import variant_state
from restflow_parity.variants._mode import (
    ENV_VAR,
    MODE_ATTR,
    MODES,
    Mode,
    activated,
    mode_of,
    selected_modes,
)
from restflow_parity.variants._policy import variant_client_classes, variant_factory

__all__ = ["mark_pytest_function", "run_both_modes", "split_test"]

_HOOKED_ATTR = "_restflow_parity_hooked"
_SPLIT_ATTR = "_restflow_parity_split"  # the test names split on a class

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


@overload
def run_both_modes(target: C) -> C: ...
@overload
def run_both_modes(target: F) -> F: ...
def run_both_modes(target: Any) -> Any:
    """Run a test on both stacks. Decorate a test method, a class or a function.

    A Django test case (``APITestCase``, ``TestCase``, the ``AsyncAPI*``
    bases...) or one of its methods is split into ``test_x_sync`` and
    ``test_x_async``. A pytest function, a plain pytest class or one of its
    methods is parametrized ``[sync]``/``[async]``.
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
    return mark_pytest_function(target)


class _BothModesMethod:
    """Stands in a class body until the class exists, then splits into two."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __set_name__(self, owner: type, name: str) -> None:
        if not _is_test_case(owner, f"@run_both_modes on {owner.__qualname__}.{name}"):
            # A plain pytest class: its method is parametrized as a function.
            setattr(owner, name, mark_pytest_function(self.function))
            return
        setattr(owner, name, self.function)
        split_test(owner, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self.function.__qualname__} is decorated with @run_both_modes "
            "outside a class body; decorate a method of a SimpleTestCase subclass."
        )


def split_test(owner: type, name: str) -> None:
    """Replace the test ``owner.name`` (its own or inherited) by its variants."""
    variant_client_classes(owner)  # refuse a one-stack client_class now
    _refuse_collisions(owner, [name])
    function = getattr(owner, name)
    # Hide the original from the loader; inherited methods can't be deleted.
    if name in owner.__dict__:
        delattr(owner, name)
    else:
        setattr(owner, name, None)
    _add_variants(owner, name, function)


def _is_test_case(owner: type, what: str) -> bool:
    """True for Django test cases; False for plain (pytest) classes."""
    if issubclass(owner, SimpleTestCase):
        return True
    if issubclass(owner, unittest.TestCase):
        raise TypeError(
            f"{what}: {owner.__qualname__} is a unittest.TestCase but not a "
            "django.test.SimpleTestCase, whose machinery runs async def tests "
            "and the per-test set-up the variants need. Subclass "
            "SimpleTestCase/TestCase/APITestCase (or an AsyncAPI*TestCase base)."
        )
    return False


def _split_class(cls: C) -> C:
    if not _is_test_case(cls, "@run_both_modes"):
        # A plain pytest class: each test method is parametrized by mode.
        return mark_pytest_function(cls)
    variant_client_classes(cls)  # refuse a one-stack client_class now
    names = [
        name
        for name in dir(cls)
        if name.startswith("test")
        and callable(getattr(cls, name))
        and mode_of(getattr(cls, name)) is None
    ]
    _refuse_collisions(cls, names)
    for name in names:
        function = getattr(cls, name)
        # Hide the original from the loader; inherited methods can't be deleted.
        if name in cls.__dict__:
            delattr(cls, name)
        else:
            setattr(cls, name, None)
        _add_variants(cls, name, function)
    return cls


def _refuse_collisions(owner: type, names: list[str]) -> None:
    """A variant must not take the name of a test the user wrote: that test
    would be overwritten and never run."""
    for name in names:
        for mode in MODES:
            taken = f"{name}_{mode}"
            existing = getattr(owner, taken, None)
            if taken in names or (existing is not None and mode_of(existing) is None):
                raise TypeError(
                    f"@run_both_modes on {owner.__qualname__}: {name} would "
                    f"become {name}_sync and {name}_async, but "
                    f"{owner.__qualname__} already has a test named {taken}, "
                    "which the variant would overwrite, so it would never run. "
                    f"Rename one of the two (say {name}_both_stacks or "
                    f"{taken}_job), or decorate only the methods that should "
                    "run on both stacks."
                )


def _add_variants(owner: type, name: str, function: Callable[..., Any]) -> None:
    for mode in MODES:
        variant = _variant(function, mode)
        variant.__name__ = f"{name}_{mode}"
        # Where pickle finds it again: Django's --parallel pickles the tests.
        variant.__qualname__ = f"{owner.__qualname__}.{variant.__name__}"
        variant.__module__ = owner.__module__
        setattr(owner, variant.__name__, variant)
    split: frozenset[str] = getattr(owner, _SPLIT_ATTR, frozenset())
    setattr(owner, _SPLIT_ATTR, split | {name})
    _hook_runs(owner)


def _variant(function: Callable[..., Any], mode: Mode) -> Callable[..., Any]:
    # Closure cells: the code reads no globals (see _with_globals).
    skip, verify = _skip_unless_selected, _verify_ledger
    if iscoroutinefunction(function):

        async def async_variant(self: Any) -> None:
            skip(mode)
            await function(self)
            verify(self)

        template: Callable[..., Any] = async_variant
    else:

        def sync_variant(self: Any) -> None:
            skip(mode)
            function(self)
            verify(self)

        template = sync_variant
    variant = _with_globals(template, function)
    setattr(variant, MODE_ATTR, mode)
    return variant


def _with_globals(template: Any, function: Any) -> Callable[..., Any]:
    """``template``'s code, with ``function``'s module globals and metadata.

    pytest evaluates a string condition of a mark (``skipif("not pg")``) in
    the test function's ``__globals__``: a variant made here must carry the
    user's module, not this one.
    """
    globals_ = getattr(function, "__globals__", template.__globals__)
    rebuilt = types.FunctionType(
        template.__code__,
        globals_,
        template.__name__,
        template.__defaults__,
        template.__closure__,
    )
    functools.update_wrapper(rebuilt, function)
    return rebuilt


def _skip_unless_selected(mode: Mode) -> None:
    if mode not in selected_modes():
        raise unittest.SkipTest(
            f"{ENV_VAR}={os.environ.get(ENV_VAR)} runs only the "
            f"{' and '.join(selected_modes())} variant"
        )


def _verify_ledger(test: Any) -> None:
    """Fail the variant for a wrong-stack request or a forgotten ``await``
    (after the body passed), and again for any that ``tearDown()`` makes."""
    __tracebackhide__ = True
    ledger = current()
    if ledger is not None:
        ledger.verify()
        test.addCleanup(ledger.verify)


def _adopt_overrides(cls: type) -> None:
    """A subclass's own ``test_x`` replaces the body its parent split.

    Without this, ``Child.test_x_sync`` would run the parent's body while the
    child's ``test_x`` ran once, on one stack. ``test_x = None`` in the child
    turns the variants off, as it turns off any inherited test.
    """
    for name in getattr(cls, _SPLIT_ATTR, ()):
        if name not in cls.__dict__:
            continue
        override = cls.__dict__[name]
        if callable(override) and mode_of(override) is None:
            delattr(cls, name)
            _add_variants(cls, name, override)
        elif override is None:
            for mode in MODES:
                setattr(cls, f"{name}_{mode}", None)


def _hook_subclasses(owner: Any) -> None:
    previous = owner.__dict__.get("__init_subclass__")

    def __init_subclass__(cls: Any, /, **kwargs: Any) -> None:
        if previous is not None:
            previous.__func__(cls, **kwargs)
        else:
            super(owner, cls).__init_subclass__(**kwargs)
        _adopt_overrides(cls)

    hooked: Any = owner
    hooked.__init_subclass__ = classmethod(__init_subclass__)


def _hook_runs(owner: type) -> None:
    """Give each variant its mode's client and factory before setUp() runs.

    Done when the test starts (``__call__``/``debug``), not when it is built,
    so test instances stay picklable for Django's ``--parallel``. The class
    also gets the async database assertions (``acaptureOnCommitCallbacks``,
    ``aassertNumQueries``), and its sync ones refuse async bodies.
    """
    install_assertions(owner)
    if getattr(owner, _HOOKED_ATTR, False):
        return  # a hooked parent's entry points already serve subclasses
    for entry in ("__call__", "debug"):
        setattr(owner, entry, _arming(getattr(owner, entry)))
    _hook_subclasses(owner)
    setattr(owner, _HOOKED_ATTR, True)


def _arming(entry: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(entry)
    def armed(self: Any, *args: Any, **kwargs: Any) -> Any:
        method = getattr(type(self), self._testMethodName, None)
        mode = mode_of(method)
        if mode is None:
            return entry(self, *args, **kwargs)
        self.mode = mode
        client_class, async_client_class = variant_client_classes(type(self))
        options = getattr(self, "parity_client_kwargs", {})
        # Instance attributes: Django's _pre_setup assigns the class-level
        # clients, which these shadow for this one test. Both are
        # mode-aware: in this variant they send on its stack, blocking in a
        # def body and awaitable in an async def one.
        self.client = client_class(**options)
        self.async_client = async_client_class(**options)
        factory = variant_factory(getattr(type(self), "factory", None))
        if factory is not None:
            self.factory = factory
        allowed = allowed_stack(method, type(self))
        # The variant starts from the caches its body would see alone, stock
        # clients follow its stack, and the ledger counts which stack served
        # its requests.
        with activated(mode), variant_state(), recording(mode, allowed), following():
            return entry(self, *args, **kwargs)

    return armed


def mark_pytest_function(function: F) -> F:
    """Mark a pytest function or plain class for the plugin to parametrize."""
    try:
        import pytest  # optional: restflow-parity[pytest]
    except ImportError:  # pragma: no cover - pytest is optional
        raise TypeError(
            f"@run_both_modes on {function.__qualname__} needs pytest with "
            "restflow-parity's plugin (pip install 'restflow-parity[pytest]'), "
            "or a SimpleTestCase to belong to."
        ) from None
    marked: F = pytest.mark.usefixtures("parity_mode")(function)
    marked = pytest.mark.restflow_parity(marked)
    return marked
