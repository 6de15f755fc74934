"""Where code runs: the line of the test that made a call, and whether an event
loop runs here (an ``async def`` body)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from restflow_parity._thirdparty.cpython import getframe

__all__ = ["Site", "call_site", "in_event_loop", "warn_at"]

# Frames of these files are the kit's (or asgiref's, or unittest's), never the
# line a user wrote.
_INTERNAL = (
    # The package's folder: this file is in restflow_parity/request/.
    __file__.rpartition("/")[0].rpartition("/")[0] + "/",
    "/asgiref/",
    "/django/test/",
    "/django/http/",
    "/unittest/",
    "/contextlib.py",
    "/functools.py",
)


def _internal(filename: str) -> bool:
    return filename.startswith(_INTERNAL[0]) or any(
        part in filename for part in _INTERNAL[1:]
    )


def in_event_loop() -> bool:
    """Whether this thread is running an event loop (an async test body)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


Site = tuple[str, int, dict[str, Any]]


def call_site() -> Site:
    """The file, line and globals of the innermost frame outside the kit."""
    frame = getframe(1)
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals


def warn_at(message: str, category: type[Warning], site: Site | None = None) -> None:
    """Warn at ``site`` (a test's line), or at the innermost line outside the kit."""
    filename, lineno, module_globals = site or call_site()
    # Module globals let linecache find the source of a zipped or lazily
    # loaded module; for code with no file of its own (``python -c``, a
    # shell) its loader cannot be asked, and the file name is all there is.
    has_file = not filename.startswith("<")
    warnings.warn_explicit(
        message,
        category,
        filename,
        lineno,
        module=module_globals.get("__name__"),
        registry=module_globals.setdefault("__warningregistry__", {}),
        module_globals=module_globals if has_file else None,
    )
