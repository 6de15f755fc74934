"""User-visible pytest fixtures, each with a one-line docstring for ``--fixtures``."""

from __future__ import annotations

__all__: list[str] = []
