"""One switch runs a whole pytest suite on both stacks, with no source edit.

The suites below are what real DRF packages' suites look like: Django test
cases, plain ``Test*`` classes and functions, pytest-django's fixtures and a
conftest fixture returning DRF's client; none of them imports the kit.
"""

from __future__ import annotations

import json

import pytest
from test_plugin import project, run, write_ini  # noqa: F401 - the project fixture

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def logged_in(api_client, django_user_model):
    user = django_user_model.objects.create_user("khan", password="pw")
    api_client.force_authenticate(user=user)
    return api_client
"""

UNEDITED_SUITE = """
import pytest
from django.contrib.auth.models import User
from django.test import TestCase
from rest_framework.test import APITestCase


def stack_of(response):
    # What a suite's helper would read: the request the view saw.
    return type(response.wsgi_request).__name__


class UsersCase(APITestCase):
    def test_create(self):
        response = self.client.post("/users/", {"username": "a"}, format="json")
        assert response.data == {"count": 1, "has_scope": True}

    async def test_async_body(self):
        await User.objects.acreate(username="b")
        response = await self.async_client.get("/users/")
        assert response.json()["count"] == 1


@pytest.mark.django_db
class TestUsers:
    def test_list(self, api_client):
        assert api_client.get("/users/").data["count"] == 0

    def test_logged_in(self, logged_in):
        response = logged_in.post("/users/", {"username": "c"}, format="json")
        assert response.wsgi_request.user.username == "khan"

    def test_pytest_django_client(self, client):
        assert client.get("/users/").status_code == 200


@pytest.mark.django_db
def test_function(admin_client):
    response = admin_client.get("/users/")
    assert response.data["count"] == 1
    assert stack_of(response) in ("WSGIRequest", "ASGIRequest")


def test_no_request():
    assert 1 + 1 == 2
"""


def report(project: pytest.Pytester) -> dict[str, dict[str, object]]:  # noqa: F811
    data = json.loads((project.path / "report.json").read_text())
    return {f"{v['test']}|{v['mode']}": v for v in data["variants"]}


def test_the_switch_runs_an_unedited_suite_on_both_stacks(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_suite=UNEDITED_SUITE)
    result = run(project, "--parity-both-modes", "--parity-report", "report.json")
    result.assert_outcomes(passed=14)
    result.stdout.fnmatch_lines(
        [
            "*sync: 7 ran (7 passed); * through WSGI, 0 through ASGI; 1 variant*none",
            "*async: 7 ran (7 passed); * through ASGI, 0 through WSGI; 1 variant*none",
        ]
    )
    variants = report(project)
    assert set(variants) == {
        f"{test}|{mode}"
        for mode in ("sync", "async")
        for test in (
            "test_suite.py::UsersCase::test_create",
            "test_suite.py::UsersCase::test_async_body",
            "test_suite.py::TestUsers::test_list[*]",
            "test_suite.py::TestUsers::test_logged_in[*]",
            "test_suite.py::TestUsers::test_pytest_django_client[*]",
            "test_suite.py::test_function[*]",
            "test_suite.py::test_no_request[*]",
        )
    }
    assert variants["test_suite.py::test_function[*]|async"]["asgi"] == 1


def test_without_the_switch_nothing_is_split(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makeconftest(CONFTEST)
    project.makepyfile(test_suite=UNEDITED_SUITE)
    result = run(project)
    result.assert_outcomes(passed=7)
    assert "restflow-parity summary" not in result.stdout.str()


def test_the_ini_selects_by_path_and_marker(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makeconftest(CONFTEST)
    project.mkpydir("api")
    (project.path / "api" / "test_api.py").write_text(UNEDITED_SUITE)
    project.makepyfile(
        test_other="""
        import pytest

        def test_elsewhere():
            pass

        @pytest.mark.api
        def test_marked_elsewhere():
            pass
        """
    )
    write_ini(
        project,
        "restflow_parity_both_modes = true\n"
        "restflow_parity_both_modes_paths =\n    api/*\n"
        "markers =\n    api: the API's tests\n",
    )
    result = run(project, "-v")
    result.assert_outcomes(passed=16)
    result.stdout.fnmatch_lines_random(
        ["*test_elsewhere PASSED*", "*test_marked_elsewhere PASSED*"]
    )
    write_ini(
        project,
        "restflow_parity_both_modes = true\n"
        "restflow_parity_both_modes_markers =\n    api\n"
        "markers =\n    api: the API's tests\n",
    )
    result = run(project, "-v", "test_other.py")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        [
            "*test_elsewhere PASSED*",
            "*test_marked_elsewhere?sync? PASSED*",
            "*test_marked_elsewhere?async? PASSED*",
        ]
    )
    # A file left out (snapshot tests, say) runs once, as it is.
    write_ini(
        project,
        "restflow_parity_both_modes = true\n"
        "restflow_parity_both_modes_exclude =\n    test_other.py\n"
        "markers =\n    api: the API's tests\n",
    )
    result = run(project, "-v", "test_other.py", "api/test_api.py")
    result.assert_outcomes(passed=16)
    result.stdout.fnmatch_lines_random(
        ["*test_elsewhere PASSED*", "*test_marked_elsewhere PASSED*"]
    )


def test_run_both_modes_takes_plain_classes_and_their_methods(
    project: pytest.Pytester,  # noqa: F811
) -> None:
    project.makepyfile(
        test_plain="""
        import pytest
        from restflow_parity import run_both_modes


        @run_both_modes
        @pytest.mark.django_db
        class TestWhole:
            def test_one(self, client, parity_mode):
                assert client.get("/users/").status_code == 200

            async def test_two(self, async_client):
                assert (await async_client.get("/users/")).status_code == 200


        @pytest.mark.django_db
        class TestSome:
            @run_both_modes
            def test_split(self, client):
                assert client.get("/users/").status_code == 200

            def test_once(self):
                pass
        """
    )
    result = run(project, "-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines_random(
        [
            "*TestWhole::test_one?sync? PASSED*",
            "*TestWhole::test_two?async? PASSED*",
            "*TestSome::test_split?async? PASSED*",
            "*TestSome::test_once PASSED*",
        ]
    )
