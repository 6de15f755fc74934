"""pytest plugin for restflow-parity, loaded through the ``pytest11`` entry point.

Django is imported lazily so the plugin loads in projects without settings.
"""

from __future__ import annotations
