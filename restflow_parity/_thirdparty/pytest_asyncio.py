"""pytest-asyncio's wrapper of an async test, recognised by its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["made_by_pytest_asyncio"]


def made_by_pytest_asyncio(obj: Any) -> bool:
    """Whether ``obj`` is the sync wrapper pytest-asyncio puts in place of an
    async test (its ``__wrapped__`` is the user's coroutine function).

    No API marks it; its code lives in the pytest_asyncio package.
    """
    code = getattr(obj, "__code__", None)
    return code is not None and "pytest_asyncio" in Path(code.co_filename).parts
