"""The ``async_live_server`` fixture, run the way users run it: in a throwaway project.

Each test writes a small Django project with ``pytester`` and runs pytest on it
in a subprocess, with the restflow-parity plugin loaded from its entry point.
The project uses the same database kind as the outer run (DATABASE_URL).
"""

from __future__ import annotations

import os
import textwrap

import pytest

pytest_plugins = ["pytester"]

SETTINGS = """
import os

SECRET_KEY = "not secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = []
ROOT_URLCONF = "urls"
ALLOWED_HOSTS = []  # the fixture must add its own host
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

url = os.environ.get("THROWAWAY_DATABASE_URL", "")
if url.startswith("postgres"):
    # Its own test database, beside the outer run's.
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": "postgres",
        "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432",
        "TEST": {"NAME": f"test_restflow_throwaway_{os.getpid()}"},
    }}
elif url.startswith("sqlite"):
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3", "NAME": "throwaway.sqlite3",
        "TEST": {"NAME": "throwaway_test.sqlite3"},
    }}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"}}
"""

URLS = """
from django.contrib.auth.models import User
from django.http import JsonResponse
from django.urls import path


def users(request):
    names = User.objects.values_list("username", flat=True)
    return JsonResponse({"users": list(names)})


async def count(request):
    return JsonResponse({"count": await User.objects.acount()})


def boom(request):
    raise ValueError("boom in the throwaway project")


urlpatterns = [path("users/", users), path("count/", count), path("boom/", boom)]
"""

INI = """
[pytest]
DJANGO_SETTINGS_MODULE = settings
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    # The outer run exported its own settings module; the project has its own.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    monkeypatch.setenv("THROWAWAY_DATABASE_URL", os.environ.get("DATABASE_URL", ""))
    pytester.makepyfile(settings=SETTINGS, urls=URLS)
    pytester.makeini(INI)
    return pytester


def test_fixture_from_sync_and_async_tests(project: pytest.Pytester):
    project.makepyfile(
        test_live=textwrap.dedent(
            """
            import threading

            import httpx
            import pytest
            from asgiref.sync import sync_to_async
            from django.contrib.auth.models import User
            from django.db import connection


            def test_sync_test_data_reaches_the_server(async_live_server):
                User.objects.create(username="alice")
                response = httpx.get(async_live_server + "/users/")
                assert response.json() == {"users": ["alice"]}


            def test_rows_were_flushed_after_the_previous_test(async_live_server):
                assert User.objects.count() == 0
                assert httpx.get(async_live_server + "/users/").json() == {"users": []}


            def test_transactional_test_database(async_live_server):
                assert connection.in_atomic_block is False  # transactional_db
                assert connection.settings_dict["NAME"] != "postgres"  # a test db


            @pytest.mark.asyncio
            async def test_async_test(async_live_server):
                # The plugin runs async database tests from the main thread,
                # so the async ORM uses the test's own connection.
                on_main = await sync_to_async(threading.current_thread)()
                assert on_main is threading.main_thread()
                await User.objects.acreate(username="bob")
                async with httpx.AsyncClient(base_url=async_live_server.url) as client:
                    response = await client.get("/count/")
                assert response.json() == {"count": 1}


            def test_handle(async_live_server):
                assert str(async_live_server) == async_live_server.url
                assert async_live_server.url.startswith("http://127.0.0.1:")
                assert repr(async_live_server).startswith("<AsyncLiveServer uvicorn")
            """
        )
    )
    result = project.runpytest_subprocess("-p", "no:randomly", "-v")
    result.assert_outcomes(passed=5)
    result.stdout.no_fnmatch_line("*Error when trying to teardown test databases*")


def test_server_exception_errors_the_test_with_its_traceback(project: pytest.Pytester):
    project.makepyfile(
        test_boom=textwrap.dedent(
            """
            import httpx


            def test_boom(async_live_server):
                assert httpx.get(async_live_server + "/boom/").status_code == 500


            def test_taken(async_live_server):
                assert httpx.get(async_live_server + "/boom/").status_code == 500
                (error,) = async_live_server.pop_errors()
                assert error.request == "GET /boom/"


            def test_after(async_live_server):
                assert httpx.get(async_live_server + "/users/").status_code == 200
            """
        )
    )
    result = project.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_boom*",
            "*LiveServerError: The live server raised 1 exception(s)*",
            "*--- GET /boom/ ---*",
            '*urls.py", line *, in boom*',
            "*ValueError: boom in the throwaway project*",
        ]
    )


def test_naive_thread_server_hits_the_locked_table_but_the_fixture_does_not(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    # The hazard this design exists for, measured on in-memory SQLite: a plain
    # uvicorn thread serving Django's ASGIHandler queries from a per-request
    # thread with its own connection, which the test's open transaction locks.
    monkeypatch.setenv("THROWAWAY_DATABASE_URL", "")
    project.makepyfile(
        test_hazard=textwrap.dedent(
            """
            import socket
            import threading

            import httpx
            import pytest
            import uvicorn
            from django.contrib.auth.models import User
            from django.core.asgi import get_asgi_application
            from django.db import transaction


            @pytest.fixture
            def naive_server():
                sock = socket.create_server(("127.0.0.1", 0))
                config = uvicorn.Config(
                    get_asgi_application(), lifespan="off", log_config=None
                )
                server = uvicorn.Server(config)
                thread = threading.Thread(target=server.run, args=([sock],))
                thread.start()
                while not server.started:
                    threading.Event().wait(0.01)
                yield "http://127.0.0.1:%d" % sock.getsockname()[1]
                server.should_exit = True
                thread.join()


            def test_naive(naive_server, transactional_db, settings, caplog):
                settings.ALLOWED_HOSTS = ["127.0.0.1"]
                with transaction.atomic():
                    User.objects.create(username="uncommitted")
                    response = httpx.get(naive_server + "/users/")
                assert response.status_code == 500
                assert "database table is locked" in caplog.text


            def test_fixture(async_live_server):
                with transaction.atomic():
                    User.objects.create(username="uncommitted")
                    response = httpx.get(async_live_server + "/users/")
                assert response.json() == {"users": ["uncommitted"]}
            """
        )
    )
    # The naive server's request threads leave their connections unclosed.
    result = project.runpytest_subprocess(
        "-p", "no:randomly", "-W", "ignore::ResourceWarning"
    )
    result.assert_outcomes(passed=2)
