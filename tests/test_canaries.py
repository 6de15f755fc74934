"""Canaries: the other packages' private names the kit relies on still do what
it relies on (``restflow_parity/_thirdparty/``; docs/reference/privates.md).

A release of Django, DRF, asgiref, pytest-asyncio or CPython that moves one
fails here, by name, before a user's suite fails somewhere stranger.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unittest
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.template import Context, Template
from django.test import Client, LiveServerTestCase, RequestFactory, TransactionTestCase
from django.test.client import FakePayload
from django.test.runner import ParallelTestSuite, RemoteTestResult
from rest_framework.test import APIClient

from restflow_parity._thirdparty import asgiref, cpython, django, drf

pytest_plugins = ["pytester"]


def test_clientmixin_is_djangos_client_base() -> None:
    assert issubclass(Client, django.ClientMixin)
    for name in ("login", "force_login", "logout", "session", "_parse_json"):
        assert hasattr(django.ClientMixin, name), name


def test_store_rendered_templates_records_template_and_context() -> None:
    store: dict[str, Any] = {}
    template = Template("{{ word }}")
    django.store_rendered_templates(
        store,
        signal=None,
        sender=None,
        template=template,
        context=Context({"word": "hi"}),
    )
    assert store["templates"] == [template]
    assert store["context"]["word"] == "hi"


def test_conditional_content_removal_empties_a_head_response() -> None:
    request = RequestFactory().head("/")
    response = django.conditional_content_removal(request, HttpResponse(b"body"))
    assert response.content == b""


def test_limited_stream_reads_up_to_its_limit() -> None:
    stream = django.LimitedStream(FakePayload(b"abcdef"), 6)
    assert stream.read(4) == b"abcd"
    assert stream.read() == b"ef"
    assert stream.read() == b""


@pytest.mark.parametrize("skip", [True, False])
def test_the_csrf_mark_decides_csrf_view_middlewares_check(skip: bool) -> None:
    request = RequestFactory().post("/")  # no token
    django.skip_csrf_checks(request, skip)
    middleware = CsrfViewMiddleware(lambda request: HttpResponse())
    rejected = middleware.process_view(request, lambda r: HttpResponse(), (), {})
    assert (rejected is None) is skip


def test_the_json_method_is_the_clients_parse_json() -> None:
    parse = django.json_method(Client(), JsonResponse({"a": 1}))
    assert parse() == {"a": 1}
    with pytest.raises(ValueError, match="application/json"):
        django.json_method(Client(), HttpResponse(b"{}"))()


def test_locmem_snapshot_and_restore_reach_every_instance_of_a_location() -> None:
    one, other = LocMemCache("canary", {}), LocMemCache("canary", {})
    one.set("kept", 1)
    snapshot = django.locmem_snapshot(one)
    one.set("added", 2)
    one.delete("kept")
    django.locmem_restore(one, snapshot)
    assert (other.get("kept"), other.get("added")) == (1, None)
    one.clear()


def test_a_remote_event_is_replayed_on_the_main_process_result() -> None:
    seen: list[tuple[Any, ...]] = []

    class Result(unittest.TestResult):
        def parityRan(self, test: Any, where: Any) -> None:
            seen.append((test, where))

    remote = RemoteTestResult()
    django.send_remote_event(remote, "parityRan", 0, {"worker": 1})
    [event] = remote.events
    ParallelTestSuite.handle_event(None, Result(), ["the test"], event)  # type: ignore[arg-type]
    assert seen == [("the test", {"worker": 1})]


def test_live_server_hooks_the_kit_overrides_are_djangos() -> None:
    # AsyncAPILiveServerTestCase overrides these to serve ASGI.
    for name in (
        "_create_server_thread",
        "_start_server_thread",
        "_terminate_thread",
        "_make_connections_override",
    ):
        assert callable(getattr(LiveServerTestCase, name)), name
    assert callable(TransactionTestCase._post_teardown)  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_drfs_force_authenticate_state_is_on_the_handler() -> None:
    user = User.objects.create_user("khan")
    client = APIClient()
    client.force_authenticate(user=user, token="t")
    assert drf.forced_auth(client.handler) == (user, "t")
    other = APIClient()
    drf.set_forced_auth(other.handler, user, "t")
    body = other.get("/whoami/").json()
    assert (body["user"], body["auth"]) == ("khan", "t")


def test_asgirefs_serving_frames_are_recognised() -> None:
    # A thread-sensitive call under async_to_sync runs in the calling thread,
    # in a work item, above the idle wait.
    def frames() -> tuple[bool, bool]:
        frame = sys._getframe()
        codes = []
        while frame is not None:
            codes.append(frame.f_code)
            frame = frame.f_back  # type: ignore[assignment]
        return (
            any(asgiref.runs_a_call(code) for code in codes),
            any(asgiref.idles_for_calls(code) for code in codes),
        )

    async def outer() -> tuple[bool, bool]:
        return await sync_to_async(frames)()

    assert async_to_sync(outer)() == (True, True)


def test_cpython_frames() -> None:
    assert cpython.getframe(0).f_code is test_cpython_frames.__code__
    assert cpython.current_frames()[__import__("threading").get_ident()] is not None


def test_interpreter_flags_are_those_the_process_was_started_with() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-X",
            "faulthandler",
            "-c",
            "import json\n"
            "from restflow_parity._thirdparty.cpython import interpreter_flags\n"
            "print(json.dumps(interpreter_flags()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    options = json.loads(done.stdout)
    assert "-Werror::DeprecationWarning" in options
    assert options[options.index("-X") + 1] == "faulthandler"


def test_pytest_asyncios_wrapper_is_recognised(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    pytester.makeconftest(
        "import pytest\n"
        "from restflow_parity._thirdparty import pytest_asyncio\n"
        "seen = []\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_pyfunc_call(pyfuncitem):\n"
        "    made = pytest_asyncio.made_by_pytest_asyncio(pyfuncitem.obj)\n"
        "    seen.append((pyfuncitem.name, made))\n"
        "def pytest_sessionfinish(session):\n"
        "    print('SEEN', sorted(seen))\n"
    )
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.asyncio\n"
        "async def test_wrapped():\n"
        "    pass\n"
        "def test_plain():\n"
        "    pass\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:restflow_parity", "-p", "no:django", "-p", "no:randomly", "-s"
    )
    assert "SEEN [('test_plain', False), ('test_wrapped', True)]" in result.stdout.str()
