"""``manage.py test`` runs an unedited suite on both stacks, on the project's runner.

The suite below imports nothing from the kit. The switch is a command-line
option or a setting; the project's own ``TEST_RUNNER`` (an XML runner, a
``DiscoverRunner`` subclass) is kept by settings alone, or by the mixin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from test_runner import own_database

TESTS_DIR = Path(__file__).resolve().parent

UNEDITED = """
from django.contrib.auth.models import User
from django.test import RequestFactory, TestCase
from rest_framework.test import APIClient, APITestCase

from products.views import whoami


class Api(APITestCase):
    def test_create(self):
        response = self.client.post("/api/products/", {"name": "P"}, format="json")
        assert response.status_code == 201
        # What a suite reads to look at the request the view saw.
        kind = type(response.wsgi_request).__name__
        assert kind in ("WSGIRequest", "ASGIRequest")

    async def test_async_body(self):
        await User.objects.acreate(username="khan")
        response = await self.async_client.get("/api/products/")
        assert response.status_code == 200


class Plain(TestCase):
    def test_stock_client_and_factory(self):
        user = User.objects.create_user("ada")
        client = APIClient()
        client.force_authenticate(user=user)
        assert client.get("/whoami/").data["user"] == "ada"
        request = RequestFactory().get("/whoami/")
        request.user = user
        assert whoami(request).status_code == 200
"""

PROJECT_RUNNER = """
from django.test.runner import DiscoverRunner

from restflow_parity.runner import ParityRunnerMixin


class ProjectRunner(DiscoverRunner):
    def setup_test_environment(self, **kwargs):
        super().setup_test_environment(**kwargs)
        print("project runner set up")


class ComposedRunner(ParityRunnerMixin, ProjectRunner):
    pass
"""


def manage(
    tmp_path: Path, *args: str, settings: str = ""
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "unedited_suite.py").write_text(UNEDITED)
    (tmp_path / "project_runner.py").write_text(PROJECT_RUNNER)
    (tmp_path / "switch_settings.py").write_text(
        "from testproject.settings import *  # noqa\n" + settings
    )
    environment = {k: v for k, v in os.environ.items() if k != "RESTFLOW_PARITY_MODE"}
    environment["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(TESTS_DIR)])
    own_database(environment, "rp_switch")
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "test",
            "unedited_suite",
            "--noinput",
            "--settings",
            "switch_settings",
            *args,
        ],
        cwd=TESTS_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def variants(path: Path) -> dict[str, dict[str, object]]:
    report = json.loads(path.read_text())
    return {v["id"].rpartition(".")[2]: v for v in report["variants"]}


def test_the_option_runs_every_test_case_on_both_stacks(tmp_path: Path) -> None:
    done = manage(
        tmp_path,
        "--testrunner",
        "restflow_parity.runner.ParityDiscoverRunner",
        "--parity-both-modes",
        "--parity-report",
        str(tmp_path / "r.json"),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Ran 6 tests" in output
    assert "sync: 3 ran (3 passed); 4 requests through WSGI, 0 through ASGI" in output
    assert "async: 3 ran (3 passed); 4 requests through ASGI, 0 through WSGI" in output
    found = variants(tmp_path / "r.json")
    # The stock APIClient made in the body, and Django's RequestFactory,
    # went through ASGI in the async variant.
    assert found["test_stock_client_and_factory_async"]["asgi"] == 2
    assert found["test_stock_client_and_factory_async"]["wsgi"] == 0


def test_without_the_switch_nothing_is_split(tmp_path: Path) -> None:
    done = manage(
        tmp_path, "--testrunner", "restflow_parity.runner.ParityDiscoverRunner"
    )
    assert done.returncode == 0, done.stderr
    assert "Ran 3 tests" in done.stderr
    assert "parity summary" not in done.stdout + done.stderr


def test_the_setting_selects_by_label(tmp_path: Path) -> None:
    done = manage(
        tmp_path,
        "--testrunner",
        "restflow_parity.runner.ParityDiscoverRunner",
        "-v",
        "2",
        settings='RESTFLOW_PARITY_BOTH_MODES = ["unedited_suite.Plain"]\n',
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Ran 4 tests" in output
    assert "test_stock_client_and_factory_async" in output
    # Python 3.10 names the class only: "test_create (unedited_suite.Api)".
    assert re.search(
        r"test_create \(unedited_suite\.Api(\.test_create)?\) \.\.\. ok", output
    )


def test_the_setting_leaves_out_what_it_excludes(tmp_path: Path) -> None:
    done = manage(
        tmp_path,
        "--testrunner",
        "restflow_parity.runner.ParityDiscoverRunner",
        settings=(
            "RESTFLOW_PARITY_BOTH_MODES = True\n"
            'RESTFLOW_PARITY_BOTH_MODES_EXCLUDE = ["unedited_suite.Api.test_create"]\n'
        ),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Ran 5 tests" in output  # test_create once, the others twice


def test_settings_alone_keep_an_xml_test_runner(tmp_path: Path) -> None:
    reports = tmp_path / "xml"
    done = manage(
        tmp_path,
        "--parity-both-modes",
        settings=(
            'TEST_RUNNER = "restflow_parity.runner.ParityRunner"\n'
            "RESTFLOW_PARITY_TEST_RUNNER = "
            '"xmlrunner.extra.djangotestrunner.XMLTestRunner"\n'
            f"TEST_OUTPUT_DIR = {str(reports)!r}\n"
            'TEST_OUTPUT_FILE_NAME = "junit.xml"\n'
        ),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "async: 3 ran (3 passed)" in output
    # The XML runner's own report, with every variant in it.
    cases = ElementTree.parse(reports / "junit.xml").getroot().iter("testcase")
    names = sorted(case.get("name", "") for case in cases)
    assert names == sorted(
        f"{test}_{mode}"
        for test in ("test_create", "test_async_body", "test_stock_client_and_factory")
        for mode in ("sync", "async")
    )


def test_a_project_runner_keeps_its_own_behaviour_with_the_mixin(
    tmp_path: Path,
) -> None:
    done = manage(
        tmp_path,
        "--testrunner",
        "project_runner.ComposedRunner",
        "--parity-mode",
        "async",
        "--parity-both-modes",
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "project runner set up" in output
    assert "sync: not selected (--parity-mode async; its 3 variants" in output


def test_a_base_runner_that_is_not_a_discover_runner_is_refused(
    tmp_path: Path,
) -> None:
    done = manage(
        tmp_path,
        settings=(
            'TEST_RUNNER = "restflow_parity.runner.ParityRunner"\n'
            'RESTFLOW_PARITY_TEST_RUNNER = "unittest.TextTestRunner"\n'
        ),
    )
    assert done.returncode != 0
    assert "is not a DiscoverRunner subclass" in done.stderr


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_parallel_workers_run_the_split_variants(tmp_path: Path, start: str) -> None:
    if os.environ.get("DATABASE_URL", "").startswith("sqlite:///"):
        pytest.skip("a file SQLite database: covered by test_parallel.py")
    done = manage(
        tmp_path,
        "--testrunner",
        "restflow_parity.runner.ParityDiscoverRunner",
        "--parity-both-modes",
        "--parallel",
        "2",
        settings=(
            "import multiprocessing\n"
            f"multiprocessing.set_start_method({start!r}, force=True)\n"
        ),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "sync: 3 ran (3 passed)" in output
    assert "async: 3 ran (3 passed)" in output
