"""The kit under parallel runners: pytest-xdist and ``manage.py test --parallel``.

Each test writes one small Django project (both-mode classes and functions,
async database tests, live-server tests over httpx and uvicorn) and runs it in
a subprocess the way users do. Every test process appends what it did to a
record file (its pid, its xdist worker, its test database, the live server
that served it), so the assertions are about where the work really ran, not
only about the exit code.

The project uses the outer run's kind of database: in-memory SQLite by
default (plus a file database, whose copies per worker take another code
path), or the server named by ``DATABASE_URL`` under a database name of its
own, so concurrent runs never share a test database.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from restflow_parity import run_both_modes
from restflow_parity.live import (
    AsyncAPILiveServerTestCase,
    LiveServerError,
    ServerError,
)

pytest_plugins = ["pytester"]

TESTS_DIR = Path(__file__).resolve().parent

SETTINGS = """
import os

from testproject.settings import database_from_url

SECRET_KEY = "not secret"
USE_TZ = True
ROOT_URLCONF = "urls"
ALLOWED_HOSTS = ["testserver"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
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
TEST_RUNNER = "restflow_parity.runner.ParityDiscoverRunner"
url = os.environ.get("DATABASE_URL")
DATABASES = {
    "default": database_from_url(url)
    if url
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
}
"""

RECORD = '''
"""Each test process appends what it did to $RECORD_FILE, one JSON line each."""
import json
import os
import time
from pathlib import Path

from django.db import connection


def write(kind, **data):
    entry = {
        "kind": kind,
        "pid": os.getpid(),
        "xdist": os.environ.get("PYTEST_XDIST_WORKER"),
        "db": str(connection.settings_dict["NAME"]),
        **data,
    }
    with open(os.environ["RECORD_FILE"], "a") as file:
        file.write(json.dumps(entry) + "\\n")


_met = set()


def meet(name, workers):
    """Wait until two processes got here (at most 60 s): both are running tests.

    A scheduler may hand everything to the first worker when tests are quick;
    holding it here until another worker arrives makes the split certain.
    """
    if name in _met:
        return
    _met.add(name)
    folder = Path(os.environ["RECORD_FILE"] + ".meet") / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < min(workers, 2) and time.monotonic() < deadline:
        time.sleep(0.02)
'''

URLS = """
import os

from django.contrib.auth.models import User
from django.http import JsonResponse
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.response import Response

import record


@api_view(["GET", "POST"])
def users(request):
    record.write("view", handler=type(request._request).__name__)
    if request.method == "POST":
        User.objects.create(username=request.data["username"])
    return Response({"names": sorted(User.objects.values_list("username", flat=True))})


def served(request):
    record.write("served", port=int(request.META["SERVER_PORT"]))
    names = sorted(User.objects.values_list("username", flat=True))
    return JsonResponse({"names": names, "pid": os.getpid()})


urlpatterns = [path("users/", users), path("served/", served)]
"""

MANAGE = """
import multiprocessing
import os
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    if os.environ.get("START_METHOD"):  # spawn: what macOS and Windows use
        multiprocessing.set_start_method(os.environ["START_METHOD"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    execute_from_command_line(sys.argv)
"""

INI = """
[pytest]
DJANGO_SETTINGS_MODULE = settings
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
"""

CONFTEST = """
import os
import unittest

import pytest

import record


@pytest.fixture(autouse=True)
def _recorded(request, django_db_setup):
    record.meet("pytest", int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    if not isinstance(request.instance, unittest.TestCase):  # those record in setUp
        record.write("test", test=request.node.nodeid)
"""

# unittest classes: run by pytest (pytest-django) and by manage.py test.
TEST_CLASSES = """
import os

import httpx
from django.contrib.auth.models import User
from rest_framework.test import APITestCase, APITransactionTestCase

import record
from restflow_parity import one_stack, run_both_modes
from restflow_parity.live import AsyncAPILiveServerTestCase


class Recorded:
    def setUp(self):
        super().setUp()
        server = getattr(self, "server_thread", None)
        record.write("test", test=self.id(), port=server.port if server else None)


class LiveRecorded(Recorded):
    @classmethod
    def setUpClass(cls):
        # Under manage.py test --parallel: one live class per worker process.
        record.meet("live", int(os.environ.get("DJANGO_WORKERS", "1")))
        super().setUpClass()


@run_both_modes
class UserApi(Recorded, APITestCase):
    @classmethod
    def setUpTestData(cls):
        User.objects.create(username="fixture")

    def test_create(self):
        response = self.client.post("/users/", {"username": "shared"})
        assert response.data == {"names": ["fixture", "shared"]}

    async def test_create_from_an_async_body(self):
        response = await self.client.post("/users/", {"username": "shared"})
        assert response.data == {"names": ["fixture", "shared"]}

    async def test_async_orm_shares_the_transaction(self):
        await User.objects.acreate(username="shared")
        response = await self.client.get("/users/")
        assert response.data == {"names": ["fixture", "shared"]}


@run_both_modes
class UserApiCommitted(Recorded, APITransactionTestCase):
    def test_create_commits(self):
        response = self.client.post("/users/", {"username": "shared"})
        assert response.data == {"names": ["shared"]}


class LiveUsers(LiveRecorded, AsyncAPILiveServerTestCase):
    def test_sync_http_client(self):
        User.objects.create(username="alice")
        with httpx.Client(base_url=self.live_server_url) as client:
            data = client.get("/served/").json()
        assert data == {"names": ["alice"], "pid": os.getpid()}

    async def test_async_http_client(self):
        await User.objects.acreate(username="bob")
        async with httpx.AsyncClient(base_url=self.live_server_url) as client:
            data = (await client.get("/served/")).json()
        assert data == {"names": ["bob"], "pid": os.getpid()}


@run_both_modes
class LiveParity(LiveRecorded, AsyncAPILiveServerTestCase):
    async def test_in_process_write_served_over_http(self):
        await self.client.post("/users/", {"username": "carol"})
        # The live server is ASGI in both variants, and says so.
        with one_stack("async", reason="the live server serves ASGI"):
            async with httpx.AsyncClient(base_url=self.live_server_url) as client:
                data = (await client.get("/served/")).json()
        assert data == {"names": ["carol"], "pid": os.getpid()}
"""

# pytest functions: the plugin's fixtures and async database isolation.
TEST_FUNCTIONS = """
import os
import threading

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from restflow_parity import run_both_modes


@pytest.fixture
def fixture_user(db):
    return User.objects.create(username="fixture")


@run_both_modes
@pytest.mark.django_db
def test_post(parity_client, fixture_user):
    response = parity_client.post("/users/", {"username": "shared"})
    assert response.data == {"names": ["fixture", "shared"]}


@run_both_modes
@pytest.mark.django_db
async def test_post_from_an_async_body(parity_client, fixture_user):
    response = await parity_client.post("/users/", {"username": "shared"})
    assert response.data == {"names": ["fixture", "shared"]}


@pytest.mark.django_db
async def test_async_orm_on_the_test_connection(fixture_user):
    on_main = await sync_to_async(threading.current_thread)()
    assert on_main is threading.main_thread()
    await User.objects.acreate(username="shared")
    assert await User.objects.acount() == 2


def test_live_server_sync_client(async_live_server):
    User.objects.create(username="alice")
    data = httpx.get(async_live_server + "/served/").json()
    assert data == {"names": ["alice"], "pid": os.getpid()}


async def test_live_server_async_client(async_live_server):
    await User.objects.acreate(username="bob")
    async with httpx.AsyncClient(base_url=async_live_server.url) as client:
        data = (await client.get("/served/")).json()
    assert data == {"names": ["bob"], "pid": os.getpid()}
"""

#: Parity tests per mode: 5 unittest methods and 2 pytest functions.
PYTEST_PARITY = 7
#: Collected items: 10 + 2 + 2 unittest variants and tests, 4 + 3 functions.
PYTEST_PASSED = 19
#: What manage.py test runs: the unittest classes only.
DJANGO_PARITY, DJANGO_TESTS = 5, 12

SERVER_SCHEMES = ("postgres", "postgresql", "mysql", "mariadb")


def _database_kinds() -> list[str]:
    scheme = urlsplit(os.environ.get("DATABASE_URL", "")).scheme
    if scheme in SERVER_SCHEMES:
        return [scheme]
    return ["sqlite-memory", "sqlite-file"]


DATABASE_KINDS = _database_kinds()


class Project:
    """The throwaway project, its environment and what its processes recorded."""

    def __init__(self, path: Path, kind: str, label: str) -> None:
        self.path = path
        self.kind = kind
        self.record_file = path / "record.jsonl"
        self.env = {**os.environ, "RECORD_FILE": str(self.record_file)}
        # The outer run's settings, stack selection and xdist worker (when it
        # runs under xdist itself) are not the project's.
        for name in list(self.env):
            if name.startswith("PYTEST_") or name in (
                "DJANGO_SETTINGS_MODULE",
                "RESTFLOW_PARITY_MODE",
            ):
                del self.env[name]
        self.env["PYTHONPATH"] = os.pathsep.join([str(path), str(TESTS_DIR)])
        self.env.pop("DATABASE_URL", None)
        self.db_name = ""
        if kind == "sqlite-file":
            self.env["DATABASE_URL"] = f"sqlite:///{path / 'db.sqlite3'}"
        elif kind in SERVER_SCHEMES:
            # Never the outer run's test database, nor a concurrent run's.
            self.db_name = f"rp_parallel_{label}_{os.getpid()}"
            url = urlsplit(os.environ["DATABASE_URL"])
            self.env["DATABASE_URL"] = url._replace(path=f"/{self.db_name}").geturl()

    def records(self, kind: str) -> list[dict[str, Any]]:
        lines = self.record_file.read_text().splitlines()
        return [entry for entry in map(json.loads, lines) if entry["kind"] == kind]

    def by_process(self, kind: str, key: str) -> dict[int, set[Any]]:
        found: dict[int, set[Any]] = defaultdict(set)
        for entry in self.records(kind):
            found[entry["pid"]].add(entry[key])
        return dict(found)


def make_project(pytester: pytest.Pytester, kind: str, label: str) -> Project:
    pytester.makepyfile(
        settings=SETTINGS,
        record=RECORD,
        urls=URLS,
        manage=MANAGE,
        conftest=CONFTEST,
        test_classes=TEST_CLASSES,
        test_functions=TEST_FUNCTIONS,
    )
    pytester.makeini(INI)
    return Project(pytester.path, kind, label)


def run_pytest(project: Project, *args: str) -> pytest.RunResult:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return pytest.RunResult(
        done.returncode, done.stdout.splitlines(), done.stderr.splitlines(), 0.0
    )


def run_manage_test(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", *args],
        cwd=project.path,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_test_databases_per_worker(project: Project, suffixes: set[str]) -> None:
    databases = project.by_process("test", "db")
    assert all(len(names) == 1 for names in databases.values()), databases
    names = set().union(*databases.values())
    if project.kind == "sqlite-memory":
        # A private in-memory copy per process (named apart only under spawn).
        assert all("mode=memory" in name for name in names), names
        return
    assert len(names) == len(databases), databases  # one database per worker
    # The runner's copy of the test database: its name plus the worker's suffix.
    stem = f"test_{project.db_name}" if project.db_name else "db.sqlite3.test"
    found = []
    for name in names:
        for suffix in suffixes:
            head, mark, tail = name.rpartition("/")[2].rpartition(f"_{suffix}")
            if mark and head + tail == stem:
                found.append(suffix)
    assert sorted(found) == sorted(suffixes), names


def assert_live_servers_per_worker(
    project: Project, processes: set[int], *, every: bool
) -> None:
    """Live-server requests were served by worker processes; in ``every``
    worker when the runner guarantees it.

    That each request was served in the process of the test that sent it is
    asserted by the test bodies (the view answers with its pid). Ports are not
    compared across processes: once one worker's server closes, the kernel may
    hand the same ephemeral port to another worker's next server.
    """
    served = project.by_process("served", "port")
    if every:
        assert set(served) == processes, served
    else:  # xdist's load scheduling may keep the live tests on one worker
        assert served, "no live server served a request"
        assert set(served) <= processes, served


def assert_both_stacks_served(project: Project) -> None:
    handlers = {entry["handler"] for entry in project.records("view")}
    assert handlers == {"WSGIRequest", "ASGIRequest"}


def assert_pytest_summary(result: pytest.RunResult) -> None:
    output = result.stdout.str()
    assert output.count("restflow-parity summary:") == 1, output
    result.stdout.fnmatch_lines(
        [
            f"*sync: {PYTEST_PARITY} ran ({PYTEST_PARITY} passed)*",
            f"*async: {PYTEST_PARITY} ran ({PYTEST_PARITY} passed)*",
            "*no test passed in one mode and failed in the other*",
        ]
    )


@pytest.mark.parametrize("kind", DATABASE_KINDS)
def test_xdist_two_workers(pytester: pytest.Pytester, kind: str) -> None:
    project = make_project(pytester, kind, "n2")
    result = run_pytest(project, "-n", "2")
    result.assert_outcomes(passed=PYTEST_PASSED)
    assert_pytest_summary(result)
    workers = project.by_process("test", "xdist")
    assert sorted(w for names in workers.values() for w in names) == ["gw0", "gw1"]
    assert_test_databases_per_worker(project, {"gw0", "gw1"})
    assert_live_servers_per_worker(project, set(workers), every=False)
    assert_both_stacks_served(project)


def test_xdist_auto_workers(pytester: pytest.Pytester) -> None:
    project = make_project(pytester, DATABASE_KINDS[0], "auto")
    result = run_pytest(project, "-n", "auto")
    result.assert_outcomes(passed=PYTEST_PASSED)
    assert_pytest_summary(result)
    started = re.search(r"^(\d+) workers? \[\d+ items?\]", result.stdout.str(), re.M)
    assert started is not None, result.stdout.str()
    count = int(started[1])
    workers = project.by_process("test", "xdist")
    assert all(len(names) == 1 for names in workers.values()), workers
    names = {name for found in workers.values() for name in found}
    assert len(names) == len(workers) >= min(count, 2)
    assert names <= {f"gw{index}" for index in range(count)}
    assert_test_databases_per_worker(project, names)
    assert_live_servers_per_worker(project, set(workers), every=False)
    assert_both_stacks_served(project)


@pytest.mark.parametrize(
    ("kind", "start_method"),
    [*((kind, "fork") for kind in DATABASE_KINDS), (DATABASE_KINDS[0], "spawn")],
)
def test_django_parallel_runner(
    pytester: pytest.Pytester, kind: str, start_method: str
) -> None:
    # fork copies an in-memory test database into each worker; spawn (the
    # default on macOS and Windows) starts fresh interpreters, which Django
    # gives a copy restored from a file.
    project = make_project(pytester, kind, f"manage_{start_method}")
    project.env.update(DJANGO_WORKERS="2", START_METHOD=start_method)
    done = run_manage_test(project, "--parallel", "2")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"Ran {DJANGO_TESTS} tests" in output
    assert f"sync: {DJANGO_PARITY} ran ({DJANGO_PARITY} passed)" in output
    assert f"async: {DJANGO_PARITY} ran ({DJANGO_PARITY} passed)" in output
    processes = set(project.by_process("test", "pid"))
    assert len(processes) == 2, processes
    assert_test_databases_per_worker(project, {"1", "2"})
    # Each worker ran one of the two live classes (they wait for each other).
    assert_live_servers_per_worker(project, processes, every=True)
    assert_both_stacks_served(project)


def test_xdist_summary_merges_the_modes_of_one_test_from_two_workers(
    pytester: pytest.Pytester,
) -> None:
    # Two tests on two workers: xdist deals them one each, so the sync and
    # the async variant run in different processes, and only the controller
    # sees both outcomes.
    project = make_project(pytester, "sqlite-memory", "mismatch")
    pytester.makepyfile(
        test_mismatch="""
        import record
        from restflow_parity import run_both_modes

        @run_both_modes
        def test_only_sync_works(parity_mode):
            record.write("variant", mode=parity_mode)
            assert parity_mode == "sync"
        """
    )
    result = run_pytest(project, "-n", "2", "test_mismatch.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sync: 1 ran (1 passed)*",
            "*async: 1 ran (1 failed)*",
            "*passed in one mode but failed in the other:*",
            "*test_only_sync_works[[]*[]]: sync passed, async failed*",
        ]
    )
    modes = project.by_process("variant", "mode")
    assert sorted(mode for found in modes.values() for mode in found) == [
        "async",
        "sync",
    ]
    assert len(modes) == 2, modes


@run_both_modes
class PickledLiveCase(AsyncAPILiveServerTestCase):
    __test__ = False  # only pickled here, as Django's --parallel does

    def test_sync_body(self) -> None:
        raise AssertionError("not run")

    async def test_async_body(self) -> None:
        raise AssertionError("not run")


@pytest.mark.parametrize(
    "name",
    [
        "test_sync_body_sync",
        "test_sync_body_async",
        "test_async_body_sync",
        "test_async_body_async",
    ],
)
def test_live_server_test_case_pickles(name: str) -> None:
    copy = pickle.loads(pickle.dumps(PickledLiveCase(name)))
    assert copy.id() == PickledLiveCase(name).id()


class NotRebuilt(Exception):
    """Pickles, but cannot be rebuilt from its args."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(a + b)


def test_live_server_error_survives_pickling() -> None:
    # Django's --parallel sends each failure back to the main process pickled.
    errors = [
        ServerError("GET /a/", "Traceback: a", ValueError("a")),
        ServerError("GET /b/", "Traceback: b", NotRebuilt(1, 2)),
    ]
    copy = pickle.loads(pickle.dumps(LiveServerError(errors)))
    assert isinstance(copy, LiveServerError)
    assert str(copy) == str(LiveServerError(errors))
    assert [error.request for error in copy.errors] == ["GET /a/", "GET /b/"]
    assert [error.traceback for error in copy.errors] == [
        "Traceback: a",
        "Traceback: b",
    ]
    first, second = (error.exception for error in copy.errors)
    assert isinstance(first, ValueError)
    assert first.args == ("a",)
    # Plain pickle cannot rebuild it (its __init__ takes two arguments): it
    # comes back as None, the traceback text still naming it. Once tblib's
    # pickling support is installed in the process (Django's RemoteTestResult
    # installs it, and another test may have made one), it is rebuilt.
    assert second is None or type(second) is NotRebuilt
