"""The kit's process-wide changes: made when first needed, undone at the end.

A signal handler or a signal receiver outlives the test that needed it, so
each is made through ``install()`` on the path that needs it (never at
import) and recorded; the end of the test session (the pytest plugin's
``pytest_unconfigure``, the Django runner's ``teardown_test_environment``)
undoes them, newest first. A change needed again after that is made again.
docs/stability.md lists every change and when it is undone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["install", "installed", "undo_all"]

_lock = threading.Lock()
_undo: dict[str, Callable[[], None]] = {}


def install(name: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
    """Run ``do()`` unless ``name`` is installed; ``undo_all()`` runs ``undo()``."""
    if name in _undo:  # the common case, on the request path: no lock
        return
    with _lock:
        if name in _undo:
            return
        do()
        _undo[name] = undo


def installed() -> tuple[str, ...]:
    """The names of the changes in place now, oldest first."""
    return tuple(_undo)


def undo_all() -> None:
    """Undo every change in place, newest first."""
    with _lock:
        changes = list(_undo.values())
        _undo.clear()
    for undo in reversed(changes):
        undo()
