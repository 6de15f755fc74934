"""The plugin next to anyio's: who runs which test, in either plugin load order.

Both plugins implement ``pytest_pyfunc_call`` with ``tryfirst=True``; among
those, the one registered last is asked first. ``-p anyio`` registers anyio's
plugin before the entry points are loaded, so restflow-parity's is asked
first; ``-p restflow_parity`` does the opposite. Every test here runs in the
default order and in both forced orders, and a conftest prints the order
pytest really used, so each claim is checked in the order it is about.
"""

from __future__ import annotations

import pytest
from test_plugin import project, run, write_ini

from restflow_parity.pytest_plugin._coroutines import executor_context_supported

pytest_plugins = ["pytester"]
__all__ = ["project"]  # the fixture, imported for the tests here

ORDERS = {
    "default": (),
    "anyio-first-loaded": ("-p", "anyio"),
    "restflow-first-loaded": ("-p", "restflow_parity"),
}

CONFTEST = """
def pytest_collection_finish(session):
    hook = session.config.pluginmanager.hook.pytest_pyfunc_call
    manager = session.config.pluginmanager
    names = [manager.get_name(i.plugin) for i in hook.get_hookimpls()]
    # pluggy calls the last one first.
    asked = [n for n in reversed(names) if n in ("anyio", "restflow_parity")]
    print("PYFUNC ORDER:", " then ".join(asked))
"""

ANYIO_TESTS = """
import pytest
import sniffio
from django.contrib.auth.models import User

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


async def test_runs_on_its_backend(anyio_backend):
    assert sniffio.current_async_library() == anyio_backend


@pytest.fixture
async def bob(db, anyio_backend):
    if anyio_backend == "trio":
        yield None  # Django's async ORM needs asyncio
        return
    user = await User.objects.acreate(username="bob")
    yield user
    # Teardown sees the test's rows: it runs on the test's connection.
    assert await User.objects.acount() == 2


@pytest.mark.django_db
async def test_a_database_rows(anyio_backend, bob):
    assert sniffio.current_async_library() == anyio_backend
    if anyio_backend == "asyncio":
        await User.objects.acreate(username="carol")
        assert await User.objects.acount() == 2


@pytest.mark.django_db
def test_b_rows_rolled_back():
    assert User.objects.count() == 0
"""


@pytest.mark.parametrize("order", ORDERS)
def test_anyio_runs_its_tests_on_its_backends_and_rows_roll_back(
    project: pytest.Pytester, order: str
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_anyio=ANYIO_TESTS)
    result = run(project, "-s", "-v", *ORDERS[order])
    if executor_context_supported():
        result.assert_outcomes(passed=5)
    else:
        # asgiref < 3.13 (CI's oldest versions): the database tests cannot be
        # isolated, and say so; warnings are errors in this project.
        result.assert_outcomes(passed=3, errors=2)
        result.stdout.fnmatch_lines(["*AsyncIsolationWarning*asgiref 3.13*"])
    for backend in ("asyncio", "trio"):
        result.stdout.fnmatch_lines([f"*test_runs_on_its_backend?{backend}? PASSED*"])
    if order == "anyio-first-loaded":
        result.stdout.fnmatch_lines(["PYFUNC ORDER: restflow_parity then anyio"])
    elif order == "restflow-first-loaded":
        result.stdout.fnmatch_lines(["PYFUNC ORDER: anyio then restflow_parity"])


@pytest.mark.parametrize("order", ORDERS)
def test_without_isolation_anyio_rows_leak(
    project: pytest.Pytester, order: str
) -> None:
    """Proof that the isolation, not luck, keeps anyio's rows apart."""
    write_ini(project, "restflow_parity_async_isolation = false\n")
    project.makepyfile(test_anyio=ANYIO_TESTS)
    result = run(project, *ORDERS[order])
    # On PostgreSQL the leaked connection also fails the database teardown.
    assert result.parseoutcomes().get("failed") == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_b_rows_rolled_back - assert 2 == 0*"])


MIXED = """
import asyncio
import threading

import pytest
from django.contrib.auth.models import User


@pytest.mark.anyio
async def test_anyio_keeps_the_main_thread(anyio_backend):
    # anyio runs its loop in the main thread; the isolation path would not.
    assert threading.current_thread() is threading.main_thread()


@pytest.mark.django_db
async def test_plain_async_db_test_is_still_isolated():
    await User.objects.acreate(username="plain")
    assert threading.current_thread() is not threading.main_thread()


@pytest.mark.django_db
def test_then_empty():
    assert User.objects.count() == 0
"""


@pytest.mark.parametrize("order", ORDERS)
def test_plain_async_tests_stay_ours_and_anyio_tests_stay_anyios(
    project: pytest.Pytester, order: str
) -> None:
    write_ini(project, asyncio=False)
    project.makepyfile(test_mixed=MIXED)
    result = run(project, "-p", "no:asyncio", *ORDERS[order])
    result.assert_outcomes(passed=4)  # anyio: asyncio and trio


def test_without_the_executor_api_the_warning_says_why(
    project: pytest.Pytester,
) -> None:
    # asgiref before 3.13 has no ThreadSensitiveContext(executor=...): the
    # conftest stands in for it, and the anyio database test is warned about.
    project.makeconftest(
        """
        import restflow_parity.pytest_plugin._running as running

        running.executor_context_supported = lambda: False
        """
    )
    project.makepyfile(
        test_old="""
        import pytest
        from django.contrib.auth.models import User

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        @pytest.mark.django_db
        async def test_db(anyio_backend):
            # A query here would leave the shared worker's connection open.
            assert User._meta.db_table == "auth_user"
        """
    )
    shown = "default::restflow_parity.pytest_plugin._coexist.AsyncIsolationWarning"
    result = run(project, "-W", shown)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*AsyncIsolationWarning: this anyio test uses the database, but its "
            "async ORM calls run outside the test's transaction*needs asgiref 3.13 "
            "or later*"
        ]
    )


def test_a_trio_marked_test_is_left_to_its_plugin(project: pytest.Pytester) -> None:
    # pytest-trio's rule, in a conftest: it runs the tests marked trio (its
    # pytest_pyfunc_call is not tryfirst, so restflow-parity's is asked first).
    project.makeconftest(
        """
        import functools
        import inspect

        import pytest
        import trio


        def pytest_configure(config):
            config.addinivalue_line("markers", "trio: run with trio")


        def pytest_pyfunc_call(pyfuncitem):
            if pyfuncitem.get_closest_marker("trio") is None:
                return None
            names = inspect.signature(pyfuncitem.obj).parameters
            kwargs = {n: pyfuncitem.funcargs[n] for n in names}
            trio.run(functools.partial(pyfuncitem.obj, **kwargs))
            return True
        """
    )
    project.makepyfile(
        test_trio="""
        import pytest
        import sniffio

        @pytest.mark.trio
        @pytest.mark.django_db
        async def test_runs_on_trio():
            assert sniffio.current_async_library() == "trio"
        """
    )
    run(project, "-p", "no:anyio").assert_outcomes(passed=1)
