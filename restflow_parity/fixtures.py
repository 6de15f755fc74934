"""User-visible pytest fixtures. Each has a one-line docstring for ``pytest --fixtures``."""

from __future__ import annotations

__all__: list[str] = []
