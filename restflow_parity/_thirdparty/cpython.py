"""CPython's underscore names the kit relies on."""

from __future__ import annotations

import subprocess
import sys

__all__ = ["current_frames", "getframe", "interpreter_flags"]

#: Documented in ``sys`` as CPython implementation details: the call sites of
#: warnings and the ledger, and the watchdog's report of every thread.
getframe = sys._getframe
current_frames = sys._current_frames


def interpreter_flags() -> list[str]:
    """The options this interpreter was started with (-W, -X, -b, -O...).

    Private but long-lived: multiprocessing and test.support start their
    children with it.
    """
    options: list[str] = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    return options
