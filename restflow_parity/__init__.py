"""restflow-parity: run one DRF test body on both the WSGI and ASGI stacks."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from restflow_parity.request._errors import WrongStackError
    from restflow_parity.request._ledger import one_stack
    from restflow_parity.variants._decorator import run_both_modes
    from restflow_parity.variants._mode import ParityModeError

__all__ = [
    "ParityModeError",
    "WrongStackError",
    "__version__",
    "one_stack",
    "run_both_modes",
]
__version__ = "0.1.0"

# Loaded on first use (PEP 562): the decorator's request path imports DRF,
# which reads Django settings, and ``import restflow_parity`` (the pytest
# plugin's entry point, a settings module naming the middleware) must work
# before settings are configured.
_LAZY = {
    "WrongStackError": "restflow_parity.request._errors",
    "one_stack": "restflow_parity.request._ledger",
    "ParityModeError": "restflow_parity.variants._mode",
    "run_both_modes": "restflow_parity.variants._decorator",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'restflow_parity' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
