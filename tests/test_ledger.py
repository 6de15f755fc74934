"""The stack ledger: a variant whose requests went through the other stack fails.

Each test here is a way a suite used to get a green run for a stack it never
tested (issue 19): pytest-django's fixtures, stock clients and factories made
in a body, a forgotten ``await``. Stock senders follow the variant's stack
(tests/test_stock.py); here that routing is off, as
``RESTFLOW_PARITY_ROUTE_STOCK = False`` turns it off, so the ledger is what
stands between them and a green run. The unittest cases run in this process,
as Django's runner runs them; the pytest ones in a throwaway project.
"""

from __future__ import annotations

import unittest

import pytest
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client as DjangoClient
from django.test import RequestFactory as DjangoRequestFactory
from django.test import SimpleTestCase, TestCase, override_settings
from django.test.client import AsyncRequestFactory
from rest_framework.test import APIClient as DRFAPIClient
from rest_framework.test import APIRequestFactory as DRFAPIRequestFactory
from test_plugin import project, run  # noqa: F401 - the project fixture

from restflow_parity import one_stack, run_both_modes
from restflow_parity.test import AsyncAPIClient, SyncAPIClient

pytest_plugins = ["pytester"]


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def failures(result: unittest.TestResult) -> dict[str, str]:
    """Test method name -> the failure's (or error's) traceback text."""
    found = {}
    for test, text in result.failures + result.errors:
        found[test.id().rpartition(".")[2]] = text
    return found


# --- stock clients and factories in unittest variants ------------------------

unrouted = override_settings(RESTFLOW_PARITY_ROUTE_STOCK=False)


@unrouted
@run_both_modes
class StockSenders(SimpleTestCase):
    __test__ = False  # run by hand below

    def test_drf_client_made_in_the_body(self) -> None:
        assert DRFAPIClient().get("/echo/").status_code == 200

    def test_django_client_made_in_the_body(self) -> None:
        assert DjangoClient().get("/echo/").status_code == 200

    def test_drf_factory_made_in_the_body(self) -> None:
        assert DRFAPIRequestFactory().get("/echo/").method == "GET"

    def test_django_factory_made_in_the_body(self) -> None:
        assert DjangoRequestFactory().get("/echo/").method == "GET"

    def test_kit_client_follows(self) -> None:
        assert self.client.get("/echo/").status_code == 200


def test_stock_senders_fail_the_async_variant_and_name_the_fix() -> None:
    result = run_case(StockSenders)
    found = failures(result)
    assert result.testsRun == 10
    assert sorted(found) == [
        "test_django_client_made_in_the_body_async",
        "test_django_factory_made_in_the_body_async",
        "test_drf_client_made_in_the_body_async",
        "test_drf_factory_made_in_the_body_async",
    ]
    text = found["test_drf_client_made_in_the_body_async"]
    assert "WrongStackError: the async variant sent 1 request(s) through WSGI" in text
    assert "GET /echo/ through WSGI, sent by rest_framework.test.APIClient" in text
    assert "use restflow_parity.test.APIClient" in text
    assert (
        "sent by django.test.Client"
        in found["test_django_client_made_in_the_body_async"]
    )
    factory = found["test_drf_factory_made_in_the_body_async"]
    assert "GET /echo/ built as WSGIRequest" in factory
    assert "use restflow_parity.test.APIRequestFactory" in factory
    assert (
        "use restflow_parity.test.RequestFactory"
        in found["test_django_factory_made_in_the_body_async"]
    )


@unrouted
@run_both_modes
class AsyncStockSenders(SimpleTestCase):
    __test__ = False

    async def test_django_async_client(self) -> None:
        from django.test import AsyncClient

        assert (await AsyncClient().get("/echo/")).status_code == 200

    async def test_fixed_async_client(self) -> None:
        assert (await AsyncAPIClient().get("/echo/")).status_code == 200

    def test_django_async_factory(self) -> None:
        assert isinstance(AsyncRequestFactory().get("/echo/"), ASGIRequest)

    async def test_fixed_sync_client(self) -> None:
        assert (await SyncAPIClient().get("/echo/")).status_code == 200


def test_async_senders_fail_the_sync_variant() -> None:
    found = failures(run_case(AsyncStockSenders))
    assert sorted(found) == [
        "test_django_async_client_sync",
        "test_django_async_factory_sync",
        "test_fixed_async_client_sync",
        "test_fixed_sync_client_async",
    ]
    assert (
        "the sync variant sent 1 request(s) through ASGI"
        in found["test_django_async_client_sync"]
    )
    # The kit's own clients are named, though their ASGI requests reach the
    # signal in a worker thread.
    assert (
        "sent by restflow_parity.test.AsyncAPIClient"
        in found["test_fixed_async_client_sync"]
    )
    assert "built as ASGIRequest" in found["test_django_async_factory_sync"]
    assert (
        "through WSGI, sent by restflow_parity.test.SyncAPIClient"
        in found["test_fixed_sync_client_async"]
    )


def test_the_factory_watch_is_undone_after_each_variant() -> None:
    # Canary of the only patched names: Django's factories build through
    # request(), which the ledger wraps while a variant runs, then restores.
    originals = (DjangoRequestFactory.request, AsyncRequestFactory.request)
    run_case(StockSenders)
    assert (DjangoRequestFactory.request, AsyncRequestFactory.request) == originals
    # Outside a variant nothing is counted or refused.
    assert isinstance(DRFAPIRequestFactory().get("/"), WSGIRequest)


# --- one_stack: a request meant for one stack ---------------------------------


@unrouted
@run_both_modes
class OneStack(SimpleTestCase):
    __test__ = False

    @one_stack("sync", reason="a WSGI adapter by design")
    def test_decorated(self) -> None:
        assert DjangoClient().get("/echo/").status_code == 200
        assert self.client.get("/echo/").status_code == 200

    def test_block(self) -> None:
        with one_stack("sync", reason="a WSGI adapter by design"):
            assert DjangoClient().get("/echo/").status_code == 200
        # Only inside the block.
        assert DjangoClient().get("/echo/").status_code == 200


def test_one_stack_allows_its_stack_and_nothing_more() -> None:
    found = failures(run_case(OneStack))
    assert sorted(found) == ["test_block_async"]
    assert "sent 1 request(s) through WSGI" in found["test_block_async"]


def test_one_stack_needs_a_stack_and_a_reason() -> None:
    with pytest.raises(ValueError, match="'sync' \\(WSGI\\) or 'async'"):
        one_stack("wsgi", reason="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs reason="):
        one_stack("sync", reason=" ")


# --- the decorator loses nothing ---------------------------------------------


def test_a_variant_never_overwrites_a_test_of_the_same_name() -> None:
    class Inventory(SimpleTestCase):
        def test_inventory(self) -> None: ...

        def test_inventory_sync(self) -> None: ...

    with pytest.raises(TypeError, match="already has a test named test_inventory_sync"):
        run_both_modes(Inventory)
    # Python 3.10 and 3.11 wrap an error in __set_name__ in a RuntimeError
    # whose cause it is; 3.12 and later raise it as it is, with a note.
    with pytest.raises((RuntimeError, TypeError)) as raised:

        class Calendar(SimpleTestCase):
            @run_both_modes
            def test_export(self) -> None: ...

            def test_export_async(self) -> None: ...

    error = raised.value.__cause__ if raised.type is RuntimeError else raised.value
    assert isinstance(error, TypeError)
    assert "test_export_async, which the variant would overwrite" in str(error)


@run_both_modes
class Base(SimpleTestCase):
    __test__ = False
    seen: list[tuple[str, str]] = []

    def test_thing(self) -> None:
        self.seen.append(("base", self.mode))

    def test_other(self) -> None:
        self.seen.append(("base other", self.mode))


class Child(Base):
    __test__ = False
    seen: list[tuple[str, str]] = []

    def test_thing(self) -> None:
        self.seen.append(("child", self.mode))

    test_other = None  # type: ignore[assignment]


def test_a_subclass_override_runs_on_both_stacks() -> None:
    result = run_case(Child)
    assert result.wasSuccessful()
    assert sorted(Child.seen) == [("child", "async"), ("child", "sync")]
    names = unittest.defaultTestLoader.getTestCaseNames(Child)
    assert names == ["test_thing_async", "test_thing_sync"]


class TenantFactoryTests(TestCase):
    factory = DRFAPIRequestFactory(HTTP_X_TENANT="acme", enforce_csrf_checks=True)

    @run_both_modes
    def test_class_factory_keeps_its_arguments(self) -> None:
        request = self.factory.get("/echo/")
        expected = {"sync": WSGIRequest, "async": ASGIRequest}[self.mode]
        assert isinstance(request, expected)
        assert request.headers["X-Tenant"] == "acme"
        assert request._dont_enforce_csrf_checks is False


class ModelFactory:
    """Stands for a factory_boy factory: not a request factory."""


class OtherFactoryTests(SimpleTestCase):
    factory = ModelFactory

    @run_both_modes
    def test_another_factory_is_left_alone(self) -> None:
        assert self.factory is ModelFactory


# --- a forgotten await fails ---------------------------------------------------


@run_both_modes
class Forgetful(SimpleTestCase):
    __test__ = False

    async def test_forgets(self) -> None:
        self.client.get("/echo/")  # no await: nothing is sent

    async def test_keeps_one_unawaited(self) -> None:
        pending = self.client.get("/echo/")
        assert repr(pending).endswith("not awaited>")


def test_a_forgotten_await_fails_the_test_in_both_variants() -> None:
    found = failures(run_case(Forgetful))
    assert sorted(found) == [
        "test_forgets_async",
        "test_forgets_sync",
        "test_keeps_one_unawaited_async",
        "test_keeps_one_unawaited_sync",
    ]
    text = found["test_forgets_async"]
    assert "MissingAwaitError: Client.get('/echo/') was never awaited" in text
    assert f"at {__file__}:" in text


# --- pytest: fixtures, functions, and the plugin's own paths -------------------

PYTEST_DJANGO_FIXTURES = """
import pytest
from restflow_parity import run_both_modes


@run_both_modes
@pytest.mark.django_db
def test_client(client):
    assert client.get("/users/").status_code == 200


@run_both_modes
def test_rf(rf):
    assert rf.get("/users/").method == "GET"


@run_both_modes
@pytest.mark.django_db
async def test_async_client(async_client):
    assert (await async_client.get("/users/")).status_code == 200


@run_both_modes
def test_async_rf(async_rf):
    assert async_rf.get("/users/").method == "GET"


@run_both_modes
@pytest.mark.django_db
def test_admin_client(admin_client):
    assert admin_client.get("/users/").status_code == 200
"""


def unroute(project: pytest.Pytester) -> None:  # noqa: F811
    settings = project.path / "proj_settings.py"
    settings.write_text(
        settings.read_text() + "\nRESTFLOW_PARITY_ROUTE_STOCK = False\n"
    )


def test_pytest_django_fixtures_fail_the_other_variant(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    unroute(project)
    project.makepyfile(test_fixtures=PYTEST_DJANGO_FIXTURES)
    result = run(project, "-W", "error")
    result.assert_outcomes(passed=5, failed=5)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *test_client[[]async[]] - *",
            "FAILED *test_rf[[]async[]] - *",
            "FAILED *test_admin_client[[]async[]] - *",
            "FAILED *test_async_client[[]sync[]] - *",
            "FAILED *test_async_rf[[]sync[]] - *",
            "E *WrongStackError: the async variant sent 1 request(s) through WSGI*",
            "E *WrongStackError: the sync variant sent 1 request(s) through ASGI*",
            "*- GET /users/ through WSGI, sent by pytest-django's `client` fixture "
            "(django.test.Client): use the `parity_client` fixture",
            "*- GET /users/ built as WSGIRequest, by pytest-django's `rf` fixture "
            "(django.test.RequestFactory): use the `parity_rf` fixture",
            "*- GET /users/ through ASGI, sent by pytest-django's `async_client` "
            "fixture (django.test.AsyncClient): use the `parity_client` fixture",
            "*- GET /users/ built as ASGIRequest, by pytest-django's `async_rf`*",
            "*- GET /users/ through WSGI*`admin_client` fixture*"
            "force_login(admin_user)*",
        ]
    )


def test_pytest_forgotten_await_and_body_clients_fail(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    unroute(project)
    project.makepyfile(
        test_body="""
        import pytest
        from rest_framework.test import APIClient
        from restflow_parity import run_both_modes
        from restflow_parity.test import AsyncAPIClient


        @run_both_modes
        @pytest.mark.django_db
        def test_stock_client_in_body():
            assert APIClient().get("/users/").status_code == 200


        @pytest.mark.django_db
        async def test_forgotten_await():
            AsyncAPIClient().get("/users/")
        """
    )
    result = run(project)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *test_stock_client_in_body[[]async[]] - *",
            "FAILED *test_forgotten_await - *",
            "E *WrongStackError: the async variant sent 1 request(s) through WSGI*",
            "*- GET /users/ through WSGI, sent by rest_framework.test.APIClient*",
            "E *MissingAwaitError: AsyncAPIClient.get('/users/') was never awaited*",
        ]
    )


def test_pytest_cache_rollback_spans_the_fixtures(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makepyfile(
        test_cache="""
        import pytest
        from django.core.cache import cache
        from restflow_parity import run_both_modes


        @pytest.fixture
        def throttle_hits():
            # A login or throttled request in a fixture bumps a counter.
            cache.set("hits", cache.get("hits", 0) + 1)
            yield cache.get("hits")
            cache.set("hits", cache.get("hits", 0) + 10)


        @run_both_modes
        def test_each_variant_starts_fresh(throttle_hits):
            assert throttle_hits == 1
        """
    )
    run(project, "-p", "no:randomly").assert_outcomes(passed=2)


def test_a_users_sync_wrapper_of_an_async_test_is_kept(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makepyfile(
        test_wrapped="""
        import asyncio
        import functools
        import pytest

        CALLS = []


        def in_a_loop_of_my_own(function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                CALLS.append(function.__name__)
                return asyncio.run(function(*args, **kwargs))
            return wrapper


        @pytest.mark.django_db
        @in_a_loop_of_my_own
        async def test_runs_inside_its_wrapper():
            assert CALLS == ["test_runs_inside_its_wrapper"]
        """
    )
    run(project).assert_outcomes(passed=1)


def test_parameters_named_like_modes_pair_correctly(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makepyfile(
        test_pairs="""
        import pytest
        from restflow_parity import run_both_modes


        @pytest.fixture(params=["sync", "async"])
        def job(request):
            return request.param


        @run_both_modes
        def test_calendar(job, parity_mode):
            # Fails on one pair only: (job async, stack async).
            assert (job, parity_mode) != ("async", "async")
        """
    )
    result = run(project, "-v", "--parity-report", "report.json")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_calendar[[]*-async[]]: sync passed, async failed*"]
    )
    assert "ran on one stack only" not in result.stdout.str()
