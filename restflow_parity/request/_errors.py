"""The failures the request path gives a test: where a pass would be false."""

from __future__ import annotations

__all__ = ["MissingAwaitError", "WrongStackError"]


class MissingAwaitError(TypeError):
    """A response was used, or left, before its request was awaited."""


class WrongStackError(AssertionError):
    """A variant's request went through the other stack: it tested that one."""
