"""The parity options for ``manage.py test``, on Django's runner or the project's.

    TEST_RUNNER = "restflow_parity.runner.ParityDiscoverRunner"

or, keeping a runner of the project's (an XML runner, a ``DiscoverRunner``
subclass), with settings alone::

    TEST_RUNNER = "restflow_parity.runner.ParityRunner"
    RESTFLOW_PARITY_TEST_RUNNER = "xmlrunner.extra.djangotestrunner.XMLTestRunner"

or in code: ``class TestRunner(ParityRunnerMixin, XMLTestRunner): pass``.
They add ``--parity-mode``, ``--parity-both-modes``, ``--parity-report`` and
``--parity-rerun``, and end the run with a per-mode summary.
"""

from __future__ import annotations

from typing import Any

from restflow_parity.django_runner._runner import (
    BOTH_MODES_SETTING,
    ParityDiscoverRunner,
    ParityRunnerMixin,
    parity_runner,
)

#: Declared for readers and type checkers; built on first use (below).
ParityRunner: type[ParityDiscoverRunner]

__all__ = [
    "BOTH_MODES_SETTING",
    "ParityDiscoverRunner",
    "ParityRunner",
    "ParityRunnerMixin",
]


def __getattr__(name: str) -> Any:
    """``ParityRunner``, built when Django looks it up: the settings name the
    runner it builds on (``RESTFLOW_PARITY_TEST_RUNNER``)."""
    if name == "ParityRunner":
        return parity_runner()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
