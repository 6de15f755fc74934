"""The two stacks, which of them a run tests, and which the running variant is on.

``RESTFLOW_PARITY_MODE`` (``both``, ``sync`` or ``async``) picks the stacks;
the Django runner's and pytest's ``--parity-mode`` set it. A variant makes its
stack the *active* one while it runs; mode-aware clients and factories read it
per request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

__all__ = [
    "CHOICES",
    "ENV_VAR",
    "MODES",
    "MODE_ATTR",
    "STACKS",
    "Mode",
    "ParityModeError",
    "activated",
    "active_mode",
    "export_mode",
    "mode_of",
    "other",
    "parse_mode",
    "selected_modes",
]

Mode = Literal["sync", "async"]
MODES: tuple[Mode, Mode] = ("sync", "async")
#: The stack each mode runs on, as the summary and messages name it.
STACKS: dict[str, str] = {"sync": "WSGI", "async": "ASGI"}
ENV_VAR = "RESTFLOW_PARITY_MODE"
CHOICES = ("both", "sync", "async")
#: The attribute that marks a generated variant with its mode.
MODE_ATTR = "_restflow_parity_mode"


def other(mode: str) -> Mode:
    """The other stack's mode."""
    return "async" if mode == "sync" else "sync"


class ParityModeError(ValueError):
    """``RESTFLOW_PARITY_MODE`` or ``--parity-mode`` holds an unknown value."""


def parse_mode(value: str | None, source: str = ENV_VAR) -> tuple[Mode, ...]:
    """The stacks ``value`` selects; None or empty means both."""
    choice = (value or "both").strip().lower()
    if choice not in CHOICES:
        raise ParityModeError(
            f"{source}={value!r} is not a parity mode. Valid values: "
            f"{', '.join(CHOICES)} (default both). Set {ENV_VAR} or pass "
            "--parity-mode to pick the stacks to run."
        )
    return MODES if choice == "both" else (choice,)  # type: ignore[return-value]


def selected_modes() -> tuple[Mode, ...]:
    """The stacks this run tests, from ``RESTFLOW_PARITY_MODE``."""
    return parse_mode(os.environ.get(ENV_VAR))


def export_mode(value: str) -> Callable[[], None]:
    """Set ``RESTFLOW_PARITY_MODE`` for this process and the workers it starts
    (unittest variants read it when they run); returns what undoes it."""
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = value

    def restore() -> None:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous

    return restore


def mode_of(function: object) -> Mode | None:
    """The stack a generated variant runs on, or None for other tests."""
    return getattr(function, MODE_ATTR, None)


# The stack of the variant running now. A process runs one test at a time
# (xdist and --parallel use processes), and the test's loop thread and the
# threads its thread-sensitive work hops to must all see it: a plain global.
_active: Mode | None = None


def active_mode() -> Mode | None:
    """The stack of the running ``@run_both_modes`` variant, or None."""
    return _active


@contextmanager
def activated(mode: Mode | None) -> Iterator[None]:
    """Make ``mode`` the running variant's stack for the block.

    Mode-aware clients and factories (``restflow_parity.test.APIClient``,
    ``APIRequestFactory``...) pick their stack per request from it.
    """
    global _active
    previous, _active = _active, mode
    try:
        yield
    finally:
        _active = previous
