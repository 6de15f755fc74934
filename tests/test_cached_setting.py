"""The kit's settings read on the request path (RESTFLOW_PARITY_SHARE_CORE,
RESTFLOW_PARITY_REQUEST_TIMEOUT) are cached, and follow every change."""

from __future__ import annotations

import threading

from django.test import override_settings

from restflow_parity._settings import CachedSetting


def test_a_change_during_a_read_in_another_thread_is_not_lost() -> None:
    # A request thread reads the setting while the test's override ends: the
    # value it read from before the end must not stay cached after it.
    reading, read = threading.Event(), threading.Event()

    def slow(raw: object) -> object:
        if threading.current_thread() is not threading.main_thread():
            reading.set()
            assert read.wait(10)
        return raw

    # One instance per setting, as in the kit (the receiver is keyed by name).
    cached = CachedSetting("RESTFLOW_PARITY_PROBE_RACE", "default", slow)
    seen = []
    with override_settings(RESTFLOW_PARITY_PROBE_RACE="overridden"):
        reader = threading.Thread(target=lambda: seen.append(cached.get()))
        reader.start()
        assert reading.wait(10)
    read.set()  # the override has ended: the reader finishes its read
    reader.join()
    assert seen == ["overridden"]
    assert cached.get() == "default"


def test_each_override_is_followed() -> None:
    cached = CachedSetting("RESTFLOW_PARITY_PROBE_EACH", "default", str)
    assert cached.get() == "default"
    with override_settings(RESTFLOW_PARITY_PROBE_EACH="on"):
        assert cached.get() == "on"
    assert cached.get() == "default"
