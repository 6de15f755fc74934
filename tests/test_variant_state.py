"""Each variant starts from the cache state the body would have seen alone.

The planted suite is a throttling test written the way DRF's own are (a
frozen clock, no ``cache.clear()`` in ``setUp``): its two variants share the
throttle's counters unless the kit rolls back what the first one wrote.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings
from test_plugin import project, run
from test_runner import TESTS_DIR, manage_test

from restflow_parity.variants._caches import variant_state

pytest_plugins = ["pytester"]
__all__ = ["project"]  # the fixture, imported for the tests here

TWO_CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "other": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "other",
    },
    "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
}


@override_settings(CACHES=TWO_CACHES)
def test_writes_inside_are_rolled_back_and_state_before_is_kept() -> None:
    default, other = caches["default"], caches["other"]
    default.set("warm", "from setUpClass")
    default.set("doomed", "deleted inside")
    with variant_state():
        default.set("written", 1)
        default.delete("doomed")
        default.set("warm", "overwritten")
        other.set("elsewhere", 2)
        assert default.get("written") == 1
    assert default.get("written") is None
    assert default.get("doomed") == "deleted inside"
    assert default.get("warm") == "from setUpClass"
    assert other.get("elsewhere") is None
    # Another instance of the same LOCATION sees the rollback too.
    assert LocMemCache("", {}).get("warm") == "from setUpClass"
    default.clear()


@override_settings(CACHES=TWO_CACHES)
def test_it_is_reentrant_and_the_outer_block_decides() -> None:
    cache = caches["default"]
    with variant_state():
        with variant_state():
            cache.set("inner", 1)
        assert cache.get("inner") == 1  # the inner block did nothing
    assert cache.get("inner") is None


@override_settings(CACHES=TWO_CACHES, RESTFLOW_PARITY_ROLLBACK_CACHES=False)
def test_the_setting_turns_it_off() -> None:
    cache = caches["default"]
    with variant_state():
        cache.set("kept", 1)
    assert cache.get("kept") == 1
    cache.clear()


THROTTLED = """
from django.test import SimpleTestCase, override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from restflow_parity import run_both_modes


class ThreePerMinute(AnonRateThrottle):
    rate = "3/min"

    def timer(self):
        return 0.0  # frozen, as in DRF's throttling tests


class Limited(APIView):
    throttle_classes = [ThreePerMinute]

    def get(self, request):
        return Response("ok")


urlpatterns = [path("limited/", Limited.as_view())]


@run_both_modes
@override_settings(ROOT_URLCONF=__name__)
class Throttled(SimpleTestCase):
    def test_the_fourth_request_is_throttled(self):
        codes = [self.client.get("/limited/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429], codes
"""


@pytest.mark.parametrize("rollback", [True, False], ids=["rollback", "no-rollback"])
def test_throttle_counters_under_manage_py_test(tmp_path: Path, rollback: bool) -> None:
    (tmp_path / "throttled.py").write_text(THROTTLED)
    (tmp_path / "throttle_settings.py").write_text(
        "from testproject.settings import *\n"
        f"RESTFLOW_PARITY_ROLLBACK_CACHES = {rollback}\n"
    )
    done = manage_test(
        "throttled",
        "--settings",
        "throttle_settings",
        env={
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS_DIR)]),
            "RESTFLOW_PARITY_MODE": "both",
        },
    )
    output = done.stdout + done.stderr
    if rollback:
        assert done.returncode == 0, output
        assert "no test passed in one mode and failed in the other" in output
    else:
        # The second variant (Django runs _async first) meets a full counter.
        assert done.returncode == 1, output
        assert "AssertionError: [429, 429, 429, 429]" in output
        assert (
            "throttled.Throttled.test_the_fourth_request_is_throttled: sync failed, "
            "async passed (async ran first, in the same process)"
        ) in output


PYTEST_THROTTLED = (
    THROTTLED
    + """

from rest_framework.test import APIClient


@run_both_modes
@override_settings(ROOT_URLCONF=__name__)
def test_function_variant(parity_client):
    codes = [parity_client.get("/limited/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_an_ordinary_test_is_left_alone():
    # Not a variant: its writes stay, as they would without the kit.
    with override_settings(ROOT_URLCONF=__name__):
        assert APIClient().get("/limited/").status_code == 200


def test_and_sees_what_the_previous_one_left():
    with override_settings(ROOT_URLCONF=__name__):
        codes = [APIClient().get("/limited/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
"""
)


@pytest.mark.parametrize("rollback", [True, False], ids=["rollback", "no-rollback"])
def test_throttle_counters_under_pytest(
    project: pytest.Pytester, rollback: bool
) -> None:
    project.makepyfile(
        test_throttled=PYTEST_THROTTLED,
        proj_settings_throttle="from proj_settings import *\n"
        f"RESTFLOW_PARITY_ROLLBACK_CACHES = {rollback}\n",
    )
    result = run(project, "--ds", "proj_settings_throttle")
    if rollback:
        result.assert_outcomes(passed=6)
    else:
        # The class's second variant, and every test after it, meets full
        # counters; the class's mismatch reads like a stack difference.
        assert result.parseoutcomes().get("failed") == 5, result.stdout.str()
        result.stdout.fnmatch_lines(
            [
                "*Throttled::test_the_fourth_request_is_throttled: sync failed, "
                "async passed (async ran first, in the same process)*"
            ]
        )
