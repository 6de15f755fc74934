"""docs/bad-input.md, row by row: each misuse and the message that names its fix."""

from __future__ import annotations

import re
import subprocess
import sys
import unittest
import unittest.mock
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from clients import make_client
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from restflow_parity import run_both_modes
from restflow_parity.django_runner._checks import check_middleware
from restflow_parity.test import (
    AsyncAPIClient,
    AsyncAPIRequestFactory,
    AsyncAPITestCase,
    MissingAwaitError,
    ScopeLossWarning,
    SyncAPIClient,
    SyncAPIRequestFactory,
    UnknownUserWarning,
)
from restflow_parity.variants._mode import ENV_VAR, ParityModeError

DOC = Path(__file__).resolve().parent.parent / "docs" / "bad-input.md"
MIDDLEWARE = "restflow_parity.middleware.EnsureScopeMiddleware"


def documented_keys() -> set[str]:
    return set(re.findall(r"^\| `([a-z-]+)` \|", DOC.read_text(), re.M))


class Catalogue(AsyncAPITestCase):
    async def test_forgotten_await(self) -> None:
        response = self.client.get("/echo/")
        with self.assertRaisesMessage(MissingAwaitError, "add `await`, as in"):
            _ = response.status_code
        await response

    def test_never_awaited(self) -> None:
        class Forgetful(AsyncAPITestCase):
            async def test_statement(self) -> None:
                self.client.post("/echo/")  # sends nothing

        result = unittest.TestResult()
        Forgetful("test_statement")(result)
        [(_, text)] = result.errors
        line = Forgetful.test_statement.__code__.co_firstlineno + 1
        # The test fails, at the line that made the request.
        assert "MissingAwaitError: AsyncAPIClient.post('/echo/') was never " in text
        assert f"add `await` in front of the call (at {__file__}:{line})" in text

    def test_never_awaited_outside_a_test(self) -> None:
        # No test to fail (a script, a shell): a warning at that line.
        script = (
            "import django, os\n"
            "os.environ['DJANGO_SETTINGS_MODULE'] = 'testproject.settings'\n"
            "django.setup()\n"
            "from restflow_parity.test import AsyncAPIClient\n"
            "AsyncAPIClient().post('/echo/')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        assert "<string>:5: RuntimeWarning: AsyncAPIClient.post('/echo/') was " in (
            done.stderr
        )
        assert "add `await` in front of the call" in done.stderr

    def test_forgotten_await_in_def_test(self) -> None:
        response = AsyncAPIClient().get("/echo/")
        # A def body cannot await: the fix is async def, or a blocking client.
        with self.assertRaisesMessage(MissingAwaitError, "Make it `async def`"):
            _ = response.status_code

        async def send() -> Any:
            return await response

        async_to_sync(send)()  # not left unsent: that would fail this test

    async def test_format_and_content_type(self) -> None:
        with self.assertRaisesMessage(AssertionError, "Pass format= or content_type="):
            await self.client.post("/echo/", {}, format="json", content_type="x")

    async def test_unknown_format(self) -> None:
        with self.assertRaisesMessage(
            AssertionError, "REST_FRAMEWORK['TEST_REQUEST_RENDERER_CLASSES']"
        ):
            await self.client.post("/echo/", {}, format="yaml")

    async def test_non_serialisable_data(self) -> None:
        with self.assertRaisesMessage(TypeError, "pass content_type="):
            await self.client.post("/echo/", {"when": object()}, format="json")

    async def test_body_on_get(self) -> None:
        with self.assertRaisesMessage(TypeError, "data= becomes the query string"):
            await self.client.get("/echo/", "raw body")

    def test_bad_credentials_key(self) -> None:
        with self.assertRaisesMessage(ValueError, "Did you mean HTTP_AUTHORIZATION"):
            self.client.credentials(Authorization="Token x")
        # A lower-case environ name: one HTTP_ prefix, not two.
        with self.assertRaisesMessage(ValueError, "Did you mean HTTP_AUTHORIZATION="):
            self.client.credentials(http_authorization="Token x")

    def test_bad_header_name(self) -> None:
        with self.assertRaisesMessage(ValueError, "is not a header name"):
            AsyncAPIRequestFactory().get("/x/", headers={"X Space": "1"})

    def test_header_injection(self) -> None:
        with self.assertRaisesMessage(ValueError, "cannot be sent in a header"):
            AsyncAPIRequestFactory().get("/x/", headers={"X-A": "1\r\nX-B: 2"})

    def test_host_twice(self) -> None:
        with self.assertRaisesMessage(ValueError, "names Host twice"):
            AsyncAPIRequestFactory().get("/x/", headers={"Host": "a", "host": "b"})

    def test_raw_query_string(self) -> None:
        with self.assertRaisesMessage(ValueError, "Percent-encode them"):
            SyncAPIRequestFactory().get("/x/", QUERY_STRING="a=ключ")

    def test_body_charset(self) -> None:
        with self.assertRaisesMessage(ValueError, "Name a charset that holds"):
            AsyncAPIRequestFactory().post(
                "/x/", "привет", content_type="text/plain; charset=latin-1"
            )

    async def test_scope_loss(self) -> None:
        # REMOTE_USER is a WSGI server variable: no ASGI scope can carry it.
        with self.assertWarnsMessage(ScopeLossWarning, "no place for this environ"):
            await self.client.get("/echo/", REMOTE_USER="khan")

    def test_scope_keys_on_wsgi(self) -> None:
        with self.assertRaisesMessage(TypeError, "Use environ names (PATH_INFO"):
            SyncAPIRequestFactory().request(path="/x/")

    def test_one_stack_client_class(self) -> None:
        class TenantClient(SyncAPIClient):
            pass

        with self.assertRaisesMessage(TypeError, "Derive it from restflow_parity"):

            @run_both_modes
            class Tenant(SimpleTestCase):
                client_class = TenantClient

                def test_x(self) -> None:
                    pass

    async def test_sync_count_in_async_test(self) -> None:
        with (
            self.assertRaisesMessage(RuntimeError, "self.aassertNumQueries(n)"),
            self.assertNumQueries(0),
        ):
            pass

    def test_force_auth_non_user(self) -> None:
        with self.assertRaisesMessage(TypeError, "Fetch the user first"):
            self.client.force_authenticate(user="khan")

    def test_factory_follow(self) -> None:
        with self.assertRaisesMessage(TypeError, "use a client"):
            AsyncAPIRequestFactory().get("/echo/", follow=True)

    async def test_blocking_call_in_async_body(self) -> None:
        for mode in ("sync", "async"):
            client = make_client(mode, awaitable=False)  # type: ignore[arg-type]
            with self.assertRaisesMessage(RuntimeError, "`await self.client.get(...)`"):
                client.get("/echo/")

    async def test_sync_login_in_async_body(self) -> None:
        with self.assertRaisesMessage(RuntimeError, "await client.alogin()"):
            self.client.login(username="u", password="p")

    async def test_logout_in_async_body(self) -> None:
        with self.assertRaisesMessage(RuntimeError, "await client.alogout()"):
            self.client.logout()

    async def test_sync_capture_in_async_test(self) -> None:
        with (
            self.assertRaisesMessage(RuntimeError, "acaptureOnCommitCallbacks"),
            self.captureOnCommitCallbacks(),
        ):
            pass

    def test_decorate_non_test(self) -> None:
        with self.assertRaisesMessage(TypeError, "must start with 'test'"):
            run_both_modes(lambda: None)

    def test_decorate_non_django_testcase_class(self) -> None:
        with self.assertRaisesMessage(TypeError, "Subclass SimpleTestCase/TestCase"):
            run_both_modes(type("Plain", (unittest.TestCase,), {}))

    def test_invalid_mode(self) -> None:
        with (
            unittest.mock.patch.dict("os.environ", {ENV_VAR: "wsgi"}),
            self.assertRaisesMessage(
                ParityModeError, "Valid values: both, sync, async"
            ),
        ):
            run_both_modes(lambda: None)

    def test_invalid_mode_option(self) -> None:
        done = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "test",
                "--parity-mode",
                "wsgi",
                "--testrunner",
                "restflow_parity.runner.ParityDiscoverRunner",
            ],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "invalid choice: 'wsgi'" in done.stderr

    @override_settings(MIDDLEWARE=[])
    def test_middleware_missing(self) -> None:
        (warning,) = check_middleware()
        assert MIDDLEWARE in (warning.hint or "")

    @override_settings(MIDDLEWARE=[MIDDLEWARE, MIDDLEWARE])
    def test_middleware_twice(self) -> None:
        (warning,) = check_middleware()
        assert "Keep one entry" in (warning.hint or "")

    async def test_login_unknown_user(self) -> None:
        for mode in ("sync", "async"):
            client = make_client(mode, awaitable=True)  # type: ignore[arg-type]
            with self.assertWarnsMessage(UnknownUserWarning, "Create it first"):
                assert await client.alogin(username="ghost", password="pw") is False

    @override_settings(RESTFLOW_PARITY_REQUEST_TIMEOUT="30")
    def test_request_timeout_invalid(self) -> None:
        with self.assertRaisesMessage(
            ImproperlyConfigured, "Allowed values: a number of seconds above 0"
        ):
            AsyncAPIClient()

    @override_settings(RESTFLOW_PARITY_LIVE_SERVER="gunicorn")
    def test_live_server_unknown(self) -> None:
        from restflow_parity.live import selected_server

        with pytest.raises(ImproperlyConfigured, match="pip install uvicorn"):
            selected_server()


def test_mode_fixture_outside_runner(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.UsageError, match="Decorate the test with"):
        request.getfixturevalue("parity_client")


class LoginWarnings(AsyncAPITestCase):
    """The login-unknown-user row, on both stacks and in both body kinds."""

    def test_sync_login_warns_on_both_stacks(self) -> None:
        for mode in ("sync", "async"):
            client = make_client(mode, awaitable=False)  # type: ignore[arg-type]
            with self.assertWarnsMessage(UnknownUserWarning, "username 'ghost'"):
                assert client.login(username="ghost", password="pw") is False

    def test_warning_points_at_the_caller(self) -> None:
        with self.assertWarns(UnknownUserWarning) as caught:
            AsyncAPIClient().login(username="ghost", password="pw")
        assert caught.filename == __file__

    async def test_alogin_warning_points_at_the_caller(self) -> None:
        with self.assertWarns(UnknownUserWarning) as caught:
            await AsyncAPIClient().alogin(username="ghost", password="pw")
        assert caught.filename == __file__

    async def test_wrong_password_stays_silent(self) -> None:
        from django.contrib.auth.models import User

        await User.objects.acreate_user(username="khan", password="pw")
        for mode in ("sync", "async"):
            client = make_client(mode, awaitable=True)  # type: ignore[arg-type]
            # filterwarnings=error: a warning here would fail the test.
            assert await client.alogin(username="khan", password="nope") is False
            assert await client.alogin(username="khan", password="pw") is True

    async def test_other_credentials_stay_silent(self) -> None:
        # A custom backend's keys name no user this check could look up.
        assert await AsyncAPIClient().alogin(token="abc") is False


def test_wrong_stack() -> None:
    from restflow_parity.test import SyncAPIClient

    @run_both_modes
    class OneStackClient(SimpleTestCase):
        def test_echo(self) -> None:
            SyncAPIClient().get("/echo/")

    result = unittest.TestResult()
    OneStackClient("test_echo_async")(result)
    [(_, text)] = result.failures
    assert "WrongStackError: the async variant sent 1 request(s) through WSGI" in text
    assert (
        "sent by restflow_parity.test.SyncAPIClient: use "
        "restflow_parity.test.APIClient, which follows the variant's stack" in text
    )


def test_variant_name_taken() -> None:
    class Sync(SimpleTestCase):
        def test_calendar(self) -> None: ...

        def test_calendar_sync(self) -> None: ...

    with pytest.raises(TypeError, match="which the variant would overwrite"):
        run_both_modes(Sync)


def test_one_stack_without_reason() -> None:
    from restflow_parity import one_stack

    with pytest.raises(ValueError, match="needs reason="):
        one_stack("sync", reason="")


class EveryRowHasItsTest(SimpleTestCase):
    def test_doc_and_tests_list_the_same_misuses(self) -> None:
        names = [*dir(Catalogue), *globals()]
        tested = {
            name.removeprefix("test_").replace("_", "-")
            for name in names
            if name.startswith("test_")
        }
        assert documented_keys() == tested
        assert len(tested) >= 20
