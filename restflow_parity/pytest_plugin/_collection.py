"""Which tests are variants: the both-modes switch, the mode parameter, pairing."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from restflow_parity.pytest_plugin._options import BOTH_MODES_INI, MARKERS
from restflow_parity.pytest_plugin._reporter import (
    VARIANT_PROPERTY,
)
from restflow_parity.variants._mode import mode_of, selected_modes


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Under ``--parity-both-modes``, split or mark each selected test before
    pytest collects it; collection itself is left to pytest."""
    if not isinstance(collector, pytest.Module) or not _splits(collector, obj):
        return
    # Here, not at the top: the decorator's request path imports DRF, which
    # reads Django settings, and the plugin loads before pytest-django has
    # configured them.
    from restflow_parity.variants._decorator import mark_pytest_function, run_both_modes

    if isinstance(obj, type):
        import unittest

        if issubclass(obj, unittest.TestCase):
            if _own(collector, obj) and _is_django_case(obj):
                run_both_modes(obj)
        elif collector.istestclass(obj, name):
            mark_pytest_function(obj)  # its methods inherit the marks
    elif collector.istestfunction(obj, name) and _own(collector, obj):
        mark_pytest_function(obj)


def _splits(collector: pytest.Module, obj: Any) -> bool:
    """Whether the both-modes switch selects ``obj``, not yet split."""
    config = collector.config
    option = config.getoption("parity_both_modes")
    if not (option if option is not None else bool(config.getini(BOTH_MODES_INI))):
        return False
    marks = getattr(obj, "pytestmark", [])
    if any(mark.name == "restflow_parity" for mark in marks):
        return False  # decorated already
    paths = config.getini(f"{BOTH_MODES_INI}_paths")
    where = collector.path.relative_to(config.rootpath).as_posix()
    if paths and not any(fnmatch.fnmatch(where, glob) for glob in paths):
        return False
    excluded = config.getini(f"{BOTH_MODES_INI}_exclude")
    if any(fnmatch.fnmatch(where, glob) for glob in excluded):
        return False
    markers = set(config.getini(f"{BOTH_MODES_INI}_markers"))
    if markers:
        names = {m.name for m in collector.iter_markers()}
        names |= {m.name for m in marks}
        return not markers.isdisjoint(names)
    return True


def _own(collector: pytest.Module, obj: Any) -> bool:
    """Defined in this module, not imported into it (a base class, a helper)."""
    return bool(getattr(obj, "__module__", None) == collector.obj.__name__)


def _is_django_case(cls: type) -> bool:
    from django.test import SimpleTestCase

    return issubclass(cls, SimpleTestCase)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # First, so the mode leads every variant's id (test_x[sync-...]): a
    # parameter whose value is "sync" cannot be taken for it (_base_id).
    if metafunc.definition.get_closest_marker("restflow_parity") is None:
        return
    params = [
        pytest.param(mode, marks=getattr(pytest.mark, MARKERS[mode]), id=mode)
        for mode in selected_modes()
    ]
    metafunc.parametrize("parity_mode", params, indirect=True)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    selected = selected_modes()
    kept, deselected = [], []
    for item in items:
        mode = item_mode(item)
        if mode is None:
            kept.append(item)
            continue
        if mode not in selected:
            deselected.append(item)
            continue
        if item.get_closest_marker(MARKERS[mode]) is None:  # a unittest variant
            item.add_marker(MARKERS[mode])
            item.add_marker("restflow_parity")
        # user_properties travel with reports, also from xdist workers.
        item.user_properties.append(
            (VARIANT_PROPERTY, f"{_base_id(item, mode)}|{mode}")
        )
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def item_mode(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "parity_mode" in callspec.params:
        return str(callspec.params["parity_mode"])
    return mode_of(getattr(item, "obj", None))


def _base_id(item: pytest.Item, mode: str) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.nodeid.removesuffix(f"_{mode}")
    # test_x[sync] or test_x[sync-other]: name the pair test_x[*...].
    ident = str(callspec.id)
    stem = item.nodeid[: -len(ident) - 2]
    if ident == mode or ident.startswith(f"{mode}-"):
        return f"{stem}[*{ident[len(mode) :]}]"
    # Another plugin parametrized first: pair by the other parameters.
    others = {k: v for k, v in callspec.indices.items() if k != "parity_mode"}
    return f"{stem}[*{sorted(others.items())}]"


def is_unittest(item: pytest.Item) -> bool:
    import unittest

    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and issubclass(cls, unittest.TestCase)


def is_variant(item: pytest.Item) -> bool:
    return any(name == VARIANT_PROPERTY for name, _ in item.user_properties)
