"""The pytest plugin, tested the way users run it: a throwaway project, run in
a subprocess by ``pytester``."""

from __future__ import annotations

import os
import textwrap
from urllib.parse import urlsplit

import pytest

pytest_plugins = ["pytester"]

SETTINGS = """
import os
from urllib.parse import urlsplit

SECRET_KEY = "x"
USE_TZ = True
ROOT_URLCONF = "proj_urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "restflow_parity",
]
MIDDLEWARE = [
    "restflow_parity.middleware.EnsureScopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {"TEST_REQUEST_DEFAULT_FORMAT": "json"}
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
url = os.environ.get("DATABASE_URL", "")
if url.startswith("postgres"):
    parts = urlsplit(url)
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql",
        # A name of its own: the outer run already owns test_<its name>.
        "NAME": "{inner_name}",
        "USER": parts.username or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }}
"""

URLS = """
from django.contrib.auth.models import User
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.response import Response


@api_view(["GET", "POST"])
def users(request):
    if request.method == "POST":
        User.objects.create(username=request.data["username"])
    return Response({
        "count": User.objects.count(),
        "has_scope": hasattr(request._request, "scope"),
    })


urlpatterns = [path("users/", users)]
"""


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A minimal Django + DRF project using the plugin."""
    # The outer run's settings and mode must not leak into the inner one.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.delenv("RESTFLOW_PARITY_MODE", raising=False)
    inner_name = f"rp_{abs(hash(str(pytester.path))) % 10**8}"
    pytester.makepyfile(
        proj_settings=SETTINGS.replace("{inner_name}", inner_name), proj_urls=URLS
    )
    write_ini(pytester)
    return pytester


def write_ini(pytester: pytest.Pytester, extra: str = "", asyncio: bool = True) -> None:
    # An unknown ini key is a warning, so an error here, without pytest-asyncio.
    loop_scope = "asyncio_default_fixture_loop_scope = function\n" if asyncio else ""
    pytester.makeini(
        "[pytest]\n"
        "DJANGO_SETTINGS_MODULE = proj_settings\n"
        "addopts = -p no:randomly -p no:cacheprovider\n"
        "filterwarnings =\n    error\n" + loop_scope + extra
    )


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess(*args)


BOTH_MODES_TESTS = """
import pytest
from restflow_parity import run_both_modes


@run_both_modes
@pytest.mark.django_db
def test_sync_body(parity_client, parity_mode):
    response = parity_client.post("/users/", {"username": "a"}, format="json")
    assert response.data == {"count": 1, "has_scope": True}
    request = response.wsgi_request if parity_mode == "sync" else response.asgi_request
    assert request.method == "POST"


@run_both_modes
@pytest.mark.django_db
async def test_async_body(parity_client, parity_mode):
    response = await parity_client.post("/users/", {"username": "b"}, format="json")
    assert response.data["count"] == 1
"""


def test_functions_are_parametrized_sync_and_async(project: pytest.Pytester) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS)
    result = run(project, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_sync_body?sync? PASSED*",
            "*test_sync_body?async? PASSED*",
            "*test_async_body?sync? PASSED*",
            "*test_async_body?async? PASSED*",
            "*restflow-parity summary:*",
            "*sync: 2 ran (2 passed)*",
            "*async: 2 ran (2 passed)*",
        ]
    )


@pytest.mark.parametrize("how", ["option", "env"])
def test_mode_selection_runs_one_stack(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS)
    args = ["-v"]
    if how == "option":
        args += ["--parity-mode", "async"]
    else:
        monkeypatch.setenv("RESTFLOW_PARITY_MODE", "async")
    result = run(project, *args)
    result.assert_outcomes(passed=2)
    assert "[sync]" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*async: 2 ran (2 passed)*"])


def test_option_overrides_the_variable(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS)
    monkeypatch.setenv("RESTFLOW_PARITY_MODE", "async")
    result = run(project, "-v", "--parity-mode", "sync")
    result.assert_outcomes(passed=2)
    assert "[async]" not in result.stdout.str()


@pytest.mark.parametrize("how", ["option", "env"])
def test_invalid_mode_fails_at_collection(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS)
    if how == "option":
        result = run(project, "--parity-mode", "wsgi")
    else:
        monkeypatch.setenv("RESTFLOW_PARITY_MODE", "wsgi")
        result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*wsgi*is not a parity mode*both, sync, async*"])
    assert "RESTFLOW_PARITY_MODE" in result.stderr.str()


def test_summary_names_tests_that_pass_in_one_mode_only(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_mismatch="""
        from restflow_parity import run_both_modes

        @run_both_modes
        def test_only_sync_works(parity_mode):
            assert parity_mode == "sync"
        """
    )
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*passed in one mode but failed in the other:*",
            "*test_only_sync_works[[]*[]]: sync passed, async failed*",
        ]
    )


def test_mode_fixture_without_the_decorator_names_the_fix(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_bad="def test_x(parity_client):\n    pass\n")
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*without @run_both_modes*Decorate the test*"])


UNITTEST_CLASSES = """
from django.contrib.auth.models import User
from rest_framework.test import APITestCase
from restflow_parity import run_both_modes


@run_both_modes
class Users(APITestCase):
    def test_post(self):
        response = self.client.post("/users/", {"username": "u"}, format="json")
        assert response.data["count"] == 1

    async def test_async(self):
        await User.objects.acreate(username="v")
        assert (await self.client.get("/users/")).data["count"] == 1
"""


def test_unittest_variants_under_pytest_and_deselection(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(test_classes=UNITTEST_CLASSES)
    result = run(project, "-v")
    result.assert_outcomes(passed=4)
    result = run(project, "-v", "--parity-mode", "sync")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["*test_post_sync PASSED*", "*sync: 2 ran*"])


LEAK_TESTS = """
import pytest
from django.contrib.auth.models import User
{marker}

@pytest.mark.django_db
async def test_a_creates_a_row():
    await User.objects.acreate(username="leak")
    assert await User.objects.acount() == 1


@pytest.mark.django_db
async def test_b_starts_empty():
    assert await User.objects.acount() == 0
"""


@pytest.mark.parametrize(
    ("mode_args", "marker"),
    [
        (("-o", "asyncio_mode=auto"), ""),
        (("-o", "asyncio_mode=strict"), "pytestmark = pytest.mark.asyncio"),
        (("-p", "no:asyncio"), ""),
    ],
    ids=["asyncio-auto", "asyncio-strict", "no-pytest-asyncio"],
)
def test_async_rows_roll_back(
    project: pytest.Pytester, mode_args: tuple[str, str], marker: str
) -> None:
    # pytest-django #580: without isolation the first row leaks into the second.
    if "no:asyncio" in mode_args:
        write_ini(project, asyncio=False)
    project.makepyfile(test_leak=LEAK_TESTS.format(marker=marker))
    result = run(project, *mode_args)
    result.assert_outcomes(passed=2)


def test_opting_out_brings_back_the_leak(project: pytest.Pytester) -> None:
    """Proof that isolation, not luck, keeps the rows apart."""
    write_ini(project, "restflow_parity_async_isolation = false\n")
    project.makepyfile(test_leak=LEAK_TESTS.format(marker=""))
    result = run(project, "-o", "asyncio_mode=auto")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) < 2, result.stdout.str()


ASYNC_FIXTURE_TESTS = """
import asyncio
import inspect

import pytest
from asgiref.sync import ThreadSensitiveContext
from django.contrib.auth.models import User
{imports}

torn_down = []
# Before asgiref 3.13 each step of a test runs on a loop of its own.
SHARED_LOOP = "executor" in inspect.signature(ThreadSensitiveContext).parameters


@pytest.fixture
def alice(db):
    return User.objects.create(username="alice")


{decorator}
async def bob(db):
    return await User.objects.acreate(username="bob")


{decorator}
async def seen_by_fixture(alice):
    return [user.username async for user in User.objects.all()]


{decorator}
async def carol(db):
    loop = asyncio.get_running_loop()
    yield loop
    same_loop = asyncio.get_running_loop() is loop
    # The test's row is visible, so this runs on the test's connection.
    torn_down.append((same_loop, await User.objects.acount()))
    await User.objects.acreate(username="from-teardown")


@pytest.mark.django_db
{mark}
async def test_a_fixture_row_is_visible(bob):
    assert await User.objects.acount() == 1


@pytest.mark.django_db
def test_b_starts_empty():
    assert User.objects.count() == 0


{mark}
async def test_c_fixture_sees_sync_fixture_rows(seen_by_fixture):
    assert seen_by_fixture == ["alice"]


@pytest.mark.django_db
{mark}
async def test_d_generator_fixture_shares_the_loop(carol):
    assert (asyncio.get_running_loop() is carol) == SHARED_LOOP
    await User.objects.acreate(username="from-test")


@pytest.mark.django_db
def test_e_teardown_ran_and_rolled_back():
    assert torn_down == [(SHARED_LOOP, 1)]
    assert User.objects.count() == 0


class TestOnAClass:
    {decorator}
    async def dave(self, db):
        self.seen = "dave"
        return await User.objects.acreate(username="dave")

    {mark}
    async def test_f_class_fixture(self, dave):
        assert self.seen == "dave"
        assert await User.objects.acount() == 1


@pytest.mark.django_db
def test_g_starts_empty():
    assert User.objects.count() == 0
"""


@pytest.mark.parametrize(
    ("mode_args", "header", "decorator"),
    [
        (("-o", "asyncio_mode=auto"), "", "@pytest.fixture"),
        (
            ("-o", "asyncio_mode=strict"),
            "import pytest_asyncio\n@pytest.mark.asyncio",
            "@pytest_asyncio.fixture",
        ),
        (("-p", "no:asyncio"), "", "@pytest.fixture"),
    ],
    ids=["asyncio-auto", "asyncio-strict", "no-pytest-asyncio"],
)
def test_async_fixtures_share_the_transaction(
    project: pytest.Pytester, mode_args: tuple[str, str], header: str, decorator: str
) -> None:
    if "no:asyncio" in mode_args:
        write_ini(project, asyncio=False)
    imports, _, mark = header.partition("\n")
    project.makepyfile(
        test_fixtures=ASYNC_FIXTURE_TESTS.replace("{imports}", imports)
        .replace("{mark}", mark)
        .replace("{decorator}", decorator)
    )
    result = run(project, "-v", *mode_args)
    result.assert_outcomes(passed=7)


MISSHAPEN_FIXTURES = """
import pytest


@pytest.fixture
async def never_yields(db):
    if False:
        yield


@pytest.fixture
async def yields_twice(db):
    yield 1
    yield 2


@pytest.mark.django_db
async def test_never_yields(never_yields):
    pass


@pytest.mark.django_db
async def test_yields_twice(yields_twice):
    assert yields_twice == 1
"""


def test_an_async_generator_fixture_yields_exactly_once(
    project: pytest.Pytester,
) -> None:
    write_ini(project, asyncio=False)
    project.makepyfile(test_misshapen=MISSHAPEN_FIXTURES)
    result = run(project, "-p", "no:asyncio")
    # The test body passes; its fixture's second yield fails the teardown.
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*never_yields did not yield a value*",
            "*fixture yields_twice has more than one 'yield'*",
        ]
    )


def test_opting_out_leaves_async_fixtures_to_pytest_asyncio(
    project: pytest.Pytester,
) -> None:
    write_ini(project, "restflow_parity_async_isolation = false\n")
    project.makepyfile(
        test_fixtures=ASYNC_FIXTURE_TESTS.replace("{imports}", "")
        .replace("{mark}", "")
        .replace("{decorator}", "@pytest.fixture")
    )
    result = run(project, "-o", "asyncio_mode=auto")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) < 7, result.stdout.str()
    result.stdout.fnmatch_lines(["*FAILED*test_b_starts_empty - assert 1 == 0*"])


def test_sync_fixture_data_and_client_requests_share_the_transaction(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_shared="""
        import pytest
        from django.contrib.auth.models import User

        @pytest.fixture
        def alice(db):
            return User.objects.create(username="alice")

        async def test_async_sees_fixture_rows(alice, async_api_client):
            assert await User.objects.acount() == 1
            response = await async_api_client.post("/users/", {"username": "b"})
            assert response.data["count"] == 2

        @pytest.mark.django_db
        def test_next_test_starts_empty():
            assert User.objects.count() == 0
        """
    )
    result = run(project, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=2)


def test_transaction_true_commits_and_runs_on_commit(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_commit="""
        import pytest
        from asgiref.sync import sync_to_async
        from django.contrib.auth.models import User
        from django.db import transaction

        fired = []

        def create():
            with transaction.atomic():
                User.objects.create(username="c")
                transaction.on_commit(lambda: fired.append("yes"))

        @pytest.mark.django_db(transaction=True)
        async def test_commits():
            await sync_to_async(create)()
            assert fired == ["yes"]

        @pytest.mark.django_db
        def test_flushed_afterwards():
            assert User.objects.count() == 0
        """
    )
    result = run(project, "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=2)


def test_async_rf_fixture_builds_requests_to_hand_to_views(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_rf="""
        from django.core.handlers.asgi import ASGIRequest

        def test_rf(async_api_rf):
            request = async_api_rf.post("/x/", {"a": 1}, format="json")
            assert isinstance(request, ASGIRequest)
            assert request.body == b'{"a":1}'
        """
    )
    run(project).assert_outcomes(passed=1)


def test_works_under_xdist(project: pytest.Pytester) -> None:
    project.makepyfile(test_both=BOTH_MODES_TESTS, test_classes=UNITTEST_CLASSES)
    result = run(project, "-n", "2", "-o", "asyncio_mode=auto")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        ["*sync: 4 ran (4 passed)*", "*async: 4 ran (4 passed)*"]
    )


def test_fixtures_are_documented(project: pytest.Pytester) -> None:
    result = run(project, "--fixtures")
    for name in ("async_api_client", "async_api_rf", "parity_client", "parity_mode"):
        result.stdout.fnmatch_lines([f"{name}*"])


def _postgres_note() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return urlsplit(url).scheme or "sqlite"


def test_runs_against_the_configured_database(project: pytest.Pytester) -> None:
    vendor = "postgresql" if _postgres_note() == "postgres" else "sqlite"
    project.makepyfile(
        test_vendor=textwrap.dedent(
            f"""
            import pytest
            from django.db import connection

            @pytest.mark.django_db
            def test_vendor():
                assert connection.vendor == {vendor!r}
            """
        )
    )
    run(project).assert_outcomes(passed=1)
