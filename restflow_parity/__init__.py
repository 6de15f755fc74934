"""restflow-parity: run one DRF test body on both the WSGI and ASGI stacks."""

from __future__ import annotations

__version__ = "0.1.0"
