"""Django's and DRF's own clients and factories follow the running variant's stack.

With nothing imported from the kit but ``run_both_modes``, each stock sender
sends on the variant's stack, keeps its own behaviour (Django's encoding,
DRF's force-authentication, cookies, templates, raised exceptions), and the
stack ledger shows where each request went.
"""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

import pytest
from django.contrib.auth.models import User
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest
from django.test import (
    AsyncClient,
    AsyncRequestFactory,
    Client,
    RequestFactory,
    SimpleTestCase,
    TestCase,
)
from django.test.client import ClientHandler
from rest_framework.test import APIClient, APIRequestFactory, RequestsClient
from test_plugin import project, run  # noqa: F401 - the project fixture

from restflow_parity import run_both_modes
from restflow_parity.test import SyncAPIClient

pytest_plugins = ["pytester"]

REQUEST_CLASS = {"sync": WSGIRequest, "async": ASGIRequest}


def run_case(case: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
    return result


def assert_passed(result: unittest.TestResult) -> None:
    problems = [text for _, text in result.failures + result.errors]
    assert not problems, "\n".join(problems)
    assert not result.skipped


@run_both_modes
class StockClients(TestCase):
    __test__ = False  # run by hand below: each test asserts its own stack

    def test_drf_client(self) -> None:
        user = User.objects.create_user("khan")
        client = APIClient()
        client.force_authenticate(user=user)  # DRF's own state, on its handler
        client.credentials(HTTP_X_TRACE="t1")
        response = client.post("/whoami/", {"a": 1}, format="json")
        assert response.status_code == 200
        assert response.data["user"] == "khan"
        assert response.data["data"] == {"a": 1}
        request = response.wsgi_request  # the view's request, on either stack
        assert isinstance(request, REQUEST_CLASS[self.mode])
        assert request.headers["X-Trace"] == "t1"

    def test_django_client_session(self) -> None:
        user = User.objects.create_user("khan", password="pw")
        client = Client()
        assert client.login(username="khan", password="pw")
        response = client.get("/whoami/")
        assert response.json()["user"] == "khan"
        assert response.wsgi_request.user == user
        assert response.wsgi_request.session["_auth_user_id"] == str(user.pk)

    def test_django_client_keeps_its_contract(self) -> None:
        client = Client()
        response = client.get("/greeting/", {"name": "Ada"})
        self.assertTemplateUsed(response, "products/greeting.html")
        assert response.context["name"] == "Ada"
        assert response.resolver_match.url_name == "greeting"
        client.get("/cookie/set/", {"value": "rye"})
        assert client.get("/cookie/show/").json() == {"flavour": "rye"}
        with pytest.raises(ValueError, match="boom from the view"):
            client.get("/boom/")
        response = client.get("/redirect/", follow=True)
        assert response.redirect_chain == [("/whoami/", 302)]

    def test_factories(self) -> None:
        for request in (
            RequestFactory().post("/echo/", {"a": "1"}),
            APIRequestFactory().post("/echo/", {"a": "1"}, format="multipart"),
        ):
            assert isinstance(request, REQUEST_CLASS[self.mode])
            assert request.scope["path"] == "/echo/"
            assert request.POST["a"] == "1"
        assert (
            RequestFactory(HTTP_X_TENANT="acme").get("/").headers["X-Tenant"] == "acme"
        )

    async def test_async_client(self) -> None:
        client = AsyncClient()
        response = await client.get("/echo/", headers={"X-Trace": "t2"})
        assert response.json()["headers"]["X-Trace"] == "t2"
        assert isinstance(response.asgi_request, REQUEST_CLASS[self.mode])
        streamed = await client.get("/export/native.csv")
        body = b"".join([chunk async for chunk in streamed.streaming_content])
        assert body.startswith(b"id,name")

    def test_async_factory(self) -> None:
        request = AsyncRequestFactory().post(
            "/echo/?q=1", b"raw", content_type="text/plain", headers={"X-A": "b"}
        )
        assert isinstance(request, REQUEST_CLASS[self.mode])
        assert request.GET["q"] == "1"
        assert request.body == b"raw"
        assert request.headers["X-A"] == "b"
        assert request.content_type == "text/plain"
        assert request.scope["method"] == "POST"

    def test_requests_client(self) -> None:
        client = RequestsClient()
        response = client.post("http://testserver/echo/", json={"a": 1})
        assert response.status_code == 200
        echoed = response.json()
        assert echoed["body"] == '{"a": 1}'
        assert echoed["content_type"] == "application/json"
        assert client.get("http://testserver/cookie/set/").status_code == 200
        assert client.get("http://testserver/cookie/show/").json() == {"flavour": "oat"}


@pytest.mark.django_db
def test_stock_senders_pass_on_both_stacks() -> None:
    result = run_case(StockClients)
    assert_passed(result)
    assert result.testsRun == 14


@pytest.mark.django_db
def test_outside_variants_stock_names_are_django_and_drf_themselves() -> None:
    handler_call = ClientHandler.__call__
    factory_request = RequestFactory.request
    run_case(StockClients)
    assert ClientHandler.__call__ is handler_call
    assert RequestFactory.request is factory_request
    import rest_framework.test as drf
    from django.core.handlers.wsgi import WSGIHandler

    assert drf.WSGIHandler is WSGIHandler
    assert isinstance(APIRequestFactory().get("/"), WSGIRequest)
    assert not hasattr(APIClient().get("/whoami/"), "asgi_request")


@run_both_modes
class KitFixedStack(SimpleTestCase):
    __test__ = False

    def test_sync_api_client(self) -> None:
        assert SyncAPIClient().get("/echo/").status_code == 200


def test_the_kits_one_stack_clients_are_not_routed() -> None:
    result = run_case(KitFixedStack)
    [(test, text)] = result.failures
    assert test.id().endswith("test_sync_api_client_async")
    assert "sent by restflow_parity.test.SyncAPIClient" in text


@run_both_modes
class BlockingInALoop(SimpleTestCase):
    __test__ = False

    async def test_stock_client_in_async_body(self) -> None:
        Client().get("/echo/")


def test_a_blocking_stock_client_in_an_async_body_names_the_fix() -> None:
    result = run_case(BlockingInALoop)
    [(test, text)] = result.errors
    assert test.id().endswith("_async")
    assert "Django's Client blocks, and it was called inside an event loop" in text
    assert "`await self.async_client.get(...)`" in text


PYTEST_SUITE = """
import pytest
from rest_framework.test import APIClient
from restflow_parity import run_both_modes


@pytest.fixture
def api_client():
    return APIClient()


@run_both_modes
@pytest.mark.django_db
def test_client(client, parity_mode):
    response = client.post("/users/", {"username": "a"})
    stack = "WSGI" if parity_mode == "sync" else "ASGI"
    assert type(response.wsgi_request).__name__ == f"{stack}Request"


@run_both_modes
@pytest.mark.django_db
def test_admin_client(admin_client):
    assert admin_client.get("/users/").data["count"] == 1


@run_both_modes
def test_rf(rf, async_rf, parity_mode):
    stack = "WSGI" if parity_mode == "sync" else "ASGI"
    assert type(rf.get("/users/")).__name__ == f"{stack}Request"
    assert type(async_rf.get("/users/")).__name__ == f"{stack}Request"


@run_both_modes
@pytest.mark.django_db
async def test_async_client(async_client):
    assert (await async_client.get("/users/")).data["count"] == 0


@run_both_modes
@pytest.mark.django_db
def test_conftest_style_fixture(api_client):
    assert api_client.post("/users/", {"username": "b"}, format="json").data == {
        "count": 1, "has_scope": True
    }
"""


def test_pytest_django_and_conftest_fixtures_follow_the_variant(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makepyfile(test_stock=PYTEST_SUITE)
    result = run(project, "-p", "no:randomly", "--parity-report", "report.json")
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            "*sync: 5 ran (5 passed); * through WSGI, 0 through ASGI*",
            "*async: 5 ran (5 passed); * through ASGI, 0 through WSGI*",
        ]
    )


def test_the_kits_module_has_every_public_name_of_drfs_and_djangos() -> None:
    # An import swap (rest_framework.test or django.test.client to
    # restflow_parity.test) never needs a split: every name each module
    # defines is there.
    import django.test.client
    import rest_framework.test

    import restflow_parity.test as ours

    for module in (django.test.client, rest_framework.test):
        defined = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (
                getattr(value, "__module__", None) == module.__name__
                or (name.isupper() and not callable(value))
                or name in ("DjangoClient", "DjangoRequestFactory")
            )
        }
        assert defined <= set(ours.__all__), defined - set(ours.__all__)
        for name in defined:
            assert getattr(ours, name) is not None
    from restflow_parity.test import MULTIPART_CONTENT, Client

    assert MULTIPART_CONTENT == django.test.client.MULTIPART_CONTENT
    assert ours.DjangoClient is Client


class TenantClient(APIClient):
    """A suite's own client class: DRF's, with a header of its own."""

    def request(self, **kwargs: object) -> object:
        kwargs["HTTP_X_TENANT"] = "acme"
        return super().request(**kwargs)


@run_both_modes
class OwnClientClass(SimpleTestCase):
    __test__ = False
    client_class = TenantClient

    def test_own_client_follows(self) -> None:
        assert type(self.client) is TenantClient
        response = self.client.get("/echo/")
        assert response.json()["headers"]["X-Tenant"] == "acme"
        assert isinstance(response.wsgi_request, REQUEST_CLASS[self.mode])


def test_a_suites_own_client_class_is_kept_and_follows() -> None:
    assert_passed(run_case(OwnClientClass))


def test_the_kits_module_imports_without_requests_as_drfs_does() -> None:
    # DRF defines DjangoTestAdapter, HeaderDict and MockOriginalResponse only
    # when requests is installed; the kit's module must import either way, and
    # its RequestsClient must fail as DRF's does (ImproperlyConfigured), naming
    # requests.
    script = (
        "import sys\n"
        "sys.modules['requests'] = None  # as if not installed\n"
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.auth',"
        " 'django.contrib.contenttypes', 'rest_framework'])\n"
        "django.setup()\n"
        "import rest_framework.test as drf\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "import restflow_parity.test as ours\n"
        "from restflow_parity.test import *\n"
        "assert not hasattr(drf, 'DjangoTestAdapter')\n"
        "assert 'DjangoTestAdapter' not in ours.__all__\n"
        "try:\n"
        "    ours.RequestsClient()\n"
        "except ImproperlyConfigured as error:\n"
        "    print(error)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "requests" in done.stdout
