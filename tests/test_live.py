"""AsyncAPILiveServerTestCase: a real ASGI server in a thread, reached over a socket.

The same tests run on in-memory SQLite (the default), file SQLite and
PostgreSQL through DATABASE_URL; the connection-model tests assert what each
of them must show.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import socket
import threading
import unittest
import warnings

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.signals import connection_created
from django.test import Client, override_settings
from django.utils import timezone, translation
from products import live_views
from products.models import Product

from restflow_parity.live import (
    SETTING,
    AsyncAPILiveServerTestCase,
    AsyncLiveServer,
    in_memory_connections,
)
from restflow_parity.request._client import AsyncAPIClient

LIVE_URLS = "products.live_urls"


def shares_test_connection() -> bool:
    """In-memory SQLite: the server must use the test's own connection."""
    return DEFAULT_DB_ALIAS in in_memory_connections()


def other_backends() -> int:
    """PostgreSQL sessions on the test database other than the test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@override_settings(ROOT_URLCONF=LIVE_URLS)
class LiveServerTests(AsyncAPILiveServerTestCase):
    def url(self, path: str) -> str:
        return self.live_server_url + path

    def test_sync_view_over_httpx_client(self):
        with httpx.Client() as client:
            response = client.get(self.url("/whoami/"), params={"q": "1"})
        assert response.status_code == 200
        body = response.json()
        assert body["authenticated"] is False
        assert body["query"] == {"q": "1"}
        # A real ASGI request: the server's scope, not EnsureScopeMiddleware's.
        assert body["has_scope"] is True
        assert response.headers["server"] == "uvicorn"

    async def test_async_view_over_httpx_async_client(self):
        await Product.objects.acreate(name="from an async test")
        async with httpx.AsyncClient(base_url=self.live_server_url) as client:
            response = await client.get("/async/products/")
        assert response.status_code == 200
        assert response.json() == {"names": ["from an async test"]}

    async def test_client_is_the_in_process_async_api_client(self):
        assert isinstance(self.client, AsyncAPIClient)
        response = await self.client.get("/whoami/")
        assert response.status_code == 200

    def test_session_login_over_the_socket(self):
        User.objects.create_user("alice", password="secret")
        with httpx.Client(base_url=self.live_server_url) as client:
            login = client.post(
                "/live/login/", data={"username": "alice", "password": "secret"}
            )
            assert login.status_code == 200
            assert "sessionid" in client.cookies
            response = client.get("/whoami/")
        assert response.json()["authenticated"] is True
        assert response.json()["user"] == "alice"

    def test_session_cookie_from_the_django_client(self):
        user = User.objects.create_user("bob")
        django_client = Client()
        django_client.force_login(user)
        cookie = django_client.cookies[settings.SESSION_COOKIE_NAME].value
        response = httpx.get(
            self.url("/whoami/"), cookies={settings.SESSION_COOKIE_NAME: cookie}
        )
        assert response.json()["user"] == "bob"

    def test_server_writes_are_seen_by_the_test(self):
        with httpx.Client(base_url=self.live_server_url) as client:
            sync = client.post("/api/products/", json={"name": "drf", "price": "2.50"})
            made = client.post("/live/async-create/", data={"name": "async"})
        assert (sync.status_code, made.status_code) == (201, 201)
        names = list(Product.objects.order_by("id").values_list("name", flat=True))
        assert names == ["drf", "async"]

    def test_on_commit_invalidation_seen_through_the_server(self):
        with httpx.Client(base_url=self.live_server_url) as client:
            assert client.get("/api/products/").json() == []  # now cached
            Product.objects.create(name="fresh")  # commits: on_commit busts it
            names = [row["name"] for row in client.get("/api/products/").json()]
        assert names == ["fresh"]

    async def test_async_streaming_response(self):
        async with (
            httpx.AsyncClient(base_url=self.live_server_url) as client,
            client.stream("GET", "/async/stream/") as response,
        ):
            chunks = [chunk async for chunk in response.aiter_text()]
        assert response.headers.get("content-length") is None
        assert "".join(chunks) == "chunk-0\nchunk-1\nchunk-2\n"

    def test_sync_streaming_response(self):
        Product.objects.create(name="csv row")
        with warnings.catch_warnings():
            # Django's own advice for sync iterators under ASGI; not ours to fix.
            warnings.filterwarnings(
                "ignore", message="StreamingHttpResponse must consume synchronous"
            )
            with httpx.stream("GET", self.url("/export.csv")) as response:
                text = response.read().decode()
        assert text.splitlines()[1].endswith(",csv row")

    def test_static_files_are_served(self):
        response = httpx.get(self.url("/static/rest_framework/css/default.css"))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")

    def test_forwarded_headers_are_not_trusted(self):
        response = httpx.get(
            self.url("/scope/x"),
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        )
        scope = response.json()["scope"]
        assert scope["client"][0] == "127.0.0.1"
        assert scope["scheme"] == "http"

    def test_attributes_match_djangos_live_server(self):
        assert self.host == "127.0.0.1"
        assert self.allowed_host == self.host
        assert self.allowed_host in settings.ALLOWED_HOSTS
        assert self.static_handler is ASGIStaticFilesHandler
        assert self.server_thread.is_alive()
        assert self.server_thread.port > 0
        assert self.live_server_url == f"http://127.0.0.1:{self.server_thread.port}"

    def test_views_run_in_request_threads_on_the_right_connection(self):
        test_connection = id(connections[DEFAULT_DB_ALIAS])
        with httpx.Client(base_url=self.live_server_url) as client:
            seen = [
                client.get(path).json() for path in ("/live/db/", "/live/async-db/")
            ]
        for identity in seen:
            assert identity["thread"] != threading.get_ident()
            assert identity["thread_name"].startswith("restflow-parity uvicorn")
            # Shared only where a second connection would be a second database.
            assert (identity["connection"] == test_connection) is (
                shares_test_connection()
            )

    def test_server_sees_uncommitted_rows_only_on_a_shared_connection(self):
        # The hazard: another connection to in-memory SQLite fails here with
        # "database table is locked" (a 500 and a LiveServerError).
        with transaction.atomic():
            Product.objects.create(name="not committed")
            response = httpx.get(self.url("/live/db/"))
        assert response.status_code == 200
        assert response.json()["products"] == (1 if shares_test_connection() else 0)


# --- server errors reach the test, checked on nested runs ------------------------


@override_settings(ROOT_URLCONF=LIVE_URLS)
class ServerErrorCases(AsyncAPILiveServerTestCase):
    __test__ = False  # run by the tests below, which check how it fails

    def test_sync_view_raises(self):
        # Passes on its own: only the server's exception can fail it.
        assert httpx.get(self.live_server_url + "/live/boom/").status_code == 500

    def test_assertion_on_a_500(self):
        assert httpx.get(self.live_server_url + "/live/boom/").status_code == 200

    async def test_async_view_raises(self):
        async with httpx.AsyncClient() as client:
            response = await client.get(self.live_server_url + "/live/async-boom/")
        assert response.status_code == 500

    def test_stream_fails_midway(self):
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream("GET", self.live_server_url + "/live/stream-then-fail/") as r,
        ):
            r.read()

    def test_expected_error_taken(self):
        assert httpx.get(self.live_server_url + "/live/boom/").status_code == 500
        (error,) = self.server_thread.pop_errors()
        assert error.request == "GET /live/boom/"
        assert isinstance(error.exception, ValueError)

    def test_ok(self):
        assert httpx.get(self.live_server_url + "/whoami/").status_code == 200


class TearDownErrorCases(ServerErrorCases):
    __test__ = False

    def tearDown(self):
        httpx.get(self.live_server_url + "/live/boom/")


class QuietErrorCases(ServerErrorCases):
    __test__ = False
    raise_server_exceptions = False


def run_cases(case_class, *names):
    result = unittest.TestResult()
    unittest.TestSuite([case_class(name) for name in names]).run(result)
    return result


def failure_text(result, name):
    (text,) = [text for test, text in result.failures if test._testMethodName == name]
    return text


@pytest.mark.django_db(transaction=True)
def test_server_exception_fails_the_test_with_the_server_traceback():
    result = run_cases(ServerErrorCases, "test_sync_view_raises", "test_ok")
    assert result.testsRun == 2
    assert result.errors == []
    text = failure_text(result, "test_sync_view_raises")
    assert "LiveServerError: The live server raised 1 exception(s)" in text
    assert "--- GET /live/boom/ ---" in text
    assert 'live_views.py", line' in text  # the server's own frame
    assert "ValueError: boom from a sync view" in text


@pytest.mark.django_db(transaction=True)
def test_failed_assertion_on_a_500_is_chained_to_the_server_error():
    result = run_cases(ServerErrorCases, "test_assertion_on_a_500")
    text = failure_text(result, "test_assertion_on_a_500")
    assert "AssertionError: assert 500 == 200" in text
    assert "direct cause of the following exception" in text
    assert "LiveServerError" in text.partition("direct cause")[2]
    assert "ValueError: boom from a sync view" in text


# Django's ASGIHandler leaves the request's body file open when a streaming
# response raises; the live server frees it (with a ResourceWarning) at once.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.django_db(transaction=True)
def test_async_view_and_stream_exceptions_fail_their_tests():
    result = run_cases(
        ServerErrorCases, "test_async_view_raises", "test_stream_fails_midway"
    )
    assert len(result.failures) == 2
    async_text = failure_text(result, "test_async_view_raises")
    assert "KeyError: 'boom from an async view'" in async_text
    stream_text = failure_text(result, "test_stream_fails_midway")
    assert "--- GET /live/stream-then-fail/ ---" in stream_text
    assert "RuntimeError: boom in the middle of a stream" in stream_text


@pytest.mark.django_db(transaction=True)
def test_taken_or_silenced_server_errors_do_not_fail():
    taken = run_cases(ServerErrorCases, "test_expected_error_taken")
    assert taken.wasSuccessful(), taken.failures
    quiet = run_cases(QuietErrorCases, "test_sync_view_raises", "test_ok")
    assert quiet.wasSuccessful(), quiet.failures
    assert quiet.testsRun == 2


@pytest.mark.django_db(transaction=True)
def test_request_in_teardown_raising_is_reported():
    result = run_cases(TearDownErrorCases, "test_ok")
    assert result.failures == []
    ((_, text),) = result.errors
    assert "ValueError: boom from a sync view" in text


# --- lifecycle ----------------------------------------------------------------------


class ReuseCases(AsyncAPILiveServerTestCase):
    __test__ = False
    seen: list[tuple[int, int]] = []

    def test_one(self):
        self.seen.append((id(self.server_thread), self.server_thread.port))

    def test_two(self):
        self.seen.append((id(self.server_thread), self.server_thread.port))


@pytest.mark.django_db(transaction=True)
def test_one_server_per_class_and_nothing_left_after_it():
    before = set(threading.enumerate())
    ReuseCases.seen = []
    result = run_cases(ReuseCases, "test_one", "test_two")
    assert result.wasSuccessful(), result.failures + result.errors
    assert len(ReuseCases.seen) == 2
    assert len(set(ReuseCases.seen)) == 1  # the same thread and port
    assert not ReuseCases.server_thread.is_alive()
    assert set(threading.enumerate()) <= before
    port = ReuseCases.seen[0][1]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/whoami/")
    socket.create_server(("127.0.0.1", port)).close()  # the port is free again


@pytest.mark.django_db(transaction=True)
def test_every_connection_opened_for_the_server_is_closed():
    created = []

    def record(sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            created.append(connection)

    connection_created.connect(record)
    try:
        with (
            override_settings(ROOT_URLCONF=LIVE_URLS),
            AsyncLiveServer() as server,
            httpx.Client(base_url=server.url) as client,
        ):
            for path in ("/live/db/", "/live/async-db/", "/live/unsensitive-db/"):
                assert client.get(path).status_code == 200
    finally:
        connection_created.disconnect(record)
    if shares_test_connection():
        # Every thread that ran a query used the test's connection.
        assert created == []
    else:
        assert len(created) >= 3
        assert all(conn.connection is None for conn in created)
    if connection.vendor == "postgresql":
        assert other_backends() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["uvicorn", "daphne", "hypercorn"])
def test_each_server_serves_and_stops_cleanly(name):
    before = set(threading.enumerate())
    Product.objects.create(name="p")
    with override_settings(ROOT_URLCONF=LIVE_URLS, **{SETTING: name}):
        server = AsyncLiveServer()
        with server, httpx.Client(base_url=server.url) as client:
            response = client.get("/async/products/")
            assert response.json() == {"names": ["p"]}
            assert response.headers["server"].startswith(name)
            assert client.get("/live/db/").json()["products"] == 1
            stream = client.get("/async/stream/").text
            assert stream == "chunk-0\nchunk-1\nchunk-2\n"
            forged = client.get("/scope/x", headers={"X-Forwarded-For": "10.9.9.9"})
            assert forged.json()["scope"]["client"][0] == "127.0.0.1"
            assert client.get("/live/boom/").status_code == 500
            (error,) = server.pop_errors()
            assert "ValueError: boom from a sync view" in error.traceback
    assert server.thread.server == name
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url)
    left = {t for t in threading.enumerate() if t not in before}
    # Twisted's reactor cannot restart: daphne's stays for the process.
    assert all(t.name.startswith("restflow-parity daphne") for t in left)
    if connection.vendor == "postgresql":
        assert other_backends() == 0


# What a request on a fresh WSGI thread sees: nothing the test thread set.
FRESH_CONTEXT = {"mark": None, "language": "en-us", "timezone": "America/Chicago"}


@contextlib.contextmanager
def context_set_in_the_test_thread():
    """A language, a time zone and a plain ContextVar, set in the test's thread."""
    token = live_views.TEST_MARK.set("the test thread")
    try:
        with translation.override("fr"), timezone.override("Asia/Tokyo"):
            yield
    finally:
        live_views.TEST_MARK.reset(token)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["uvicorn", "daphne", "hypercorn"])
def test_requests_do_not_inherit_the_test_threads_context(name):
    with (
        override_settings(ROOT_URLCONF=LIVE_URLS, **{SETTING: name}),
        context_set_in_the_test_thread(),
        AsyncLiveServer() as server,
    ):
        assert httpx.get(server + "/live/context/").json() == FRESH_CONTEXT


@pytest.mark.django_db(transaction=True)
def test_daphne_ports_opened_from_the_test_thread_get_a_fresh_context():
    # The fuzzer's daphne adds its port from the test's own thread. Twisted
    # ran that call, and every request on the port, in a copy of the test's
    # context; on asgiref 3.8 a request's urlconf reset then raced the
    # test's next request for one shared dict (an AttributeError on 'value').
    from django.core.asgi import get_asgi_application

    from restflow_parity.live.servers import _DaphneHost
    from restflow_parity.live.thread import listening_socket

    host = _DaphneHost.get()
    sock = listening_socket("127.0.0.1", 0)  # the live server's own socket
    port = sock.getsockname()[1]
    with override_settings(ROOT_URLCONF=LIVE_URLS), context_set_in_the_test_thread():
        listening = host.listen(sock, get_asgi_application())
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/live/context/")
        finally:
            host.close(listening, port, lambda: None)
            sock.close()
    assert answer.json() == FRESH_CONTEXT


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["uvicorn", "daphne", "hypercorn"])
def test_stop_lets_a_request_in_flight_finish(name):
    from products import live_views

    live_views.ENTERED.clear()
    live_views.RELEASE.clear()
    answers = []
    with override_settings(ROOT_URLCONF=LIVE_URLS, **{SETTING: name}):
        server = AsyncLiveServer()
        server.start()
        url = str(server)
        caller = threading.Thread(
            target=lambda: answers.append(httpx.get(url + "/live/hold/", timeout=60))
        )
        caller.start()
        assert live_views.ENTERED.wait(30)  # the request is in flight
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        # Released only once the server has stopped taking connections: the
        # request then finishes while the server is stopping.
        while _accepts(server.port) and stopper.is_alive():
            stopper.join(0.01)
        live_views.RELEASE.set()
        stopper.join()
        caller.join()
    assert [answer.json() for answer in answers] == [{"released": True}]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["uvicorn", "daphne", "hypercorn"])
def test_connections_made_as_the_server_stops_are_closed(name):
    # asyncio takes a waiting connection in one step and hands it to the
    # server in a later one; a server closed in between drops the socket open,
    # and a ResourceWarning fails whatever test collects it. Connections
    # arrive all through each stop here; none may be left open.
    with (
        override_settings(ROOT_URLCONF=LIVE_URLS, **{SETTING: name}),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(20):
            server = AsyncLiveServer()
            server.start()
            stopped = threading.Event()

            def connect(
                port: int = server.port, stopped: threading.Event = stopped
            ) -> None:
                while not stopped.is_set():
                    with contextlib.suppress(OSError):
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()

            client = threading.Thread(target=connect)
            client.start()
            server.stop()
            stopped.set()
            client.join()
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_unknown_server_name_says_what_to_set():
    with (
        override_settings(**{SETTING: "gunicorn"}),
        pytest.raises(ImproperlyConfigured) as error,
    ):
        AsyncLiveServer()
    message = str(error.value)
    assert "RESTFLOW_PARITY_LIVE_SERVER = 'gunicorn'" in message
    assert "'uvicorn' (pip install uvicorn)" in message
    assert "'hypercorn' (pip install hypercorn)" in message


def test_missing_server_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "hypercorn" else real_find_spec(name, *a),
    )
    with (
        override_settings(**{SETTING: "hypercorn"}),
        pytest.raises(ImproperlyConfigured, match="pip install hypercorn`"),
    ):
        AsyncLiveServer()


@pytest.mark.django_db(transaction=True)
def test_port_in_use_fails_to_start_and_leaves_nothing():
    before = set(threading.enumerate())
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = AsyncLiveServer(port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            server.start()
    assert set(threading.enumerate()) <= before


@pytest.mark.django_db(transaction=True)
def test_handle_reads_like_pytest_djangos_live_server():
    with override_settings(ROOT_URLCONF=LIVE_URLS), AsyncLiveServer() as server:
        assert str(server) == server.url == f"http://127.0.0.1:{server.port}"
        assert server + "/whoami/" == f"{server.url}/whoami/"
        assert repr(server) == f"<AsyncLiveServer uvicorn at {server.url}>"
        assert httpx.get(server + "/whoami/").status_code == 200


def test_the_listening_socket_turns_nagle_off_for_asyncio_servers() -> None:
    # uvicorn serves on our socket through asyncio, which sets TCP_NODELAY
    # only on connections of a socket whose proto says TCP; with Nagle on,
    # each reply on a kept-alive connection waited ~40 ms for a delayed ACK.
    import asyncio
    import socket

    from restflow_parity.live.thread import listening_socket

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            conn = writer.get_extra_info("socket")
            seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        sock = listening_socket("127.0.0.1", 0)
        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            port = sock.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            result = await seen
            writer.close()
        return result

    assert asyncio.run(accepted_nodelay()) != 0
