"""pytest plugin for restflow-parity, loaded through the ``pytest11`` entry point.

Hooks live here; user-visible fixtures live in ``restflow_parity.fixtures`` and
are registered by importing them into this module's namespace. Django is
imported lazily so the plugin loads in projects without settings.
"""

from __future__ import annotations

from restflow_parity.fixtures import *  # noqa: F403
