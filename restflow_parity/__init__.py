"""restflow-parity: run one DRF test body on both the WSGI and ASGI stacks."""

from __future__ import annotations

from restflow_parity.request._ledger import WrongStackError, one_stack
from restflow_parity.variants._modes import run_both_modes

__all__ = ["WrongStackError", "__version__", "one_stack", "run_both_modes"]
__version__ = "0.1.0"
