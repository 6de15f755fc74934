"""Run a block with a request's two threads sharing a core, or not.

``RESTFLOW_PARITY_SHARE_CORE`` turns the sharing on or off; on, the kit still
leaves cores alone while other processes keep some busy and none sleeps
(``affinity._Cores``). Tests that compare the two settings share whatever
the machine's load, so a loaded CI machine runs both paths too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from django.test import override_settings

from restflow_parity.request import _affinity as affinity

#: The two ways a request's threads can hop: on cores of their own, as
#: before, and sharing one while the request is in flight.
PATHS = ("own cores", "shared core")


class AlwaysShare:
    """The core policy, sharing the loop thread's core whatever the load."""

    def choose(self, here: int, ids: tuple[int, ...] = ()) -> int:
        return here


@contextmanager
def hopping(path: str) -> Iterator[None]:
    """Requests' threads on ``path`` (one of ``PATHS``) for the block."""
    with (
        override_settings(**{affinity.SETTING: path == "shared core"}),
        mock.patch.object(affinity, "_cores", AlwaysShare()),
    ):
        yield
