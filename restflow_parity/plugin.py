"""restflow-parity's pytest plugin, loaded through the ``pytest11`` entry point.

This module is what pytest registers (as ``restflow_parity``: ``-p
no:restflow_parity`` turns it off); the hooks and fixtures live in
``restflow_parity.pytest_plugin``. Django is imported lazily, so the plugin
loads in projects without settings.

- Variants: ``@run_both_modes`` tests and, under ``--parity-both-modes``,
  every selected test are parametrized (or split) by stack; every variant
  carries a ``parity_sync`` or ``parity_async`` marker, and the stacks
  ``--parity-mode`` leaves out are deselected (``_collection.py``).
- Each test runs with its stack ledger, a variant with its caches rolled back
  and Django's and DRF's clients following its stack (``_running.py``).
- Async database isolation: an ``async def`` test that uses the database, and
  its function-scoped async fixtures, run the way Django's runner runs one,
  on a per-test loop whose thread-sensitive calls the main thread serves
  (``_testloop.py``), so rows roll back and sync fixtures' data is visible.
  Tests another plugin owns (anyio, pytest-trio) are left to it
  (``_coexist.py``).
- The summary and the ``--parity-report`` file (``_reporter.py``), and the
  kit's system checks at session start (``_options.py``).
"""

from __future__ import annotations

from restflow_parity.pytest_plugin._coexist import AsyncIsolationWarning
from restflow_parity.pytest_plugin._collection import (
    pytest_collection_modifyitems,
    pytest_generate_tests,
    pytest_pycollect_makeitem,
)
from restflow_parity.pytest_plugin._fixtures import (
    _async_live_server_session,
    async_api_client,
    async_api_rf,
    async_assert_max_num_queries,
    async_assert_num_queries,
    async_live_server,
    parity_client,
    parity_mode,
    parity_rf,
)
from restflow_parity.pytest_plugin._options import (
    ISOLATION_INI,
    pytest_addoption,
    pytest_configure,
    pytest_sessionstart,
    pytest_unconfigure,
)
from restflow_parity.pytest_plugin._running import (
    pytest_fixture_setup,
    pytest_pyfunc_call,
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_runtest_teardown,
)

__all__ = [
    "ISOLATION_INI",
    "AsyncIsolationWarning",
    "_async_live_server_session",
    "async_api_client",
    "async_api_rf",
    "async_assert_max_num_queries",
    "async_assert_num_queries",
    "async_live_server",
    "parity_client",
    "parity_mode",
    "parity_rf",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_fixture_setup",
    "pytest_generate_tests",
    "pytest_pycollect_makeitem",
    "pytest_pyfunc_call",
    "pytest_runtest_call",
    "pytest_runtest_setup",
    "pytest_runtest_teardown",
    "pytest_sessionstart",
    "pytest_unconfigure",
]
