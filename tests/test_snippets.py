"""Every file in settings_snippets/ is loaded or run, so a broken one fails CI."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client, override_settings

from restflow_parity.django_runner._checks import MIDDLEWARE_PATH, check_middleware

SNIPPETS = Path(__file__).resolve().parent.parent / "settings_snippets"
pytest_plugins = ["pytester"]


def base_settings() -> dict[str, Any]:
    """The test project's settings as a user's would be: without restflow-parity."""
    from testproject import settings

    namespace = {
        name: getattr(settings, name) for name in dir(settings) if name.isupper()
    }
    namespace["INSTALLED_APPS"] = [
        a for a in settings.INSTALLED_APPS if a != "restflow_parity"
    ]
    namespace["MIDDLEWARE"] = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    return namespace


def load_snippet(name: str) -> dict[str, Any]:
    namespace = base_settings()
    source = (SNIPPETS / name).read_text()
    exec(compile(source, str(SNIPPETS / name), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("name", ["test_settings_sync.py", "test_settings_async.py"])
def test_settings_snippet_installs_app_and_middleware(name: str) -> None:
    loaded = load_snippet(name)
    assert "restflow_parity" in loaded["INSTALLED_APPS"]
    assert loaded["MIDDLEWARE"][0] == MIDDLEWARE_PATH
    with override_settings(MIDDLEWARE=loaded["MIDDLEWARE"]):
        assert check_middleware() == []
        response = Client().get("/whoami/")
        assert response.json()["has_scope"] is True


def test_settings_snippet_is_idempotent() -> None:
    namespace = load_snippet("test_settings_sync.py")
    exec((SNIPPETS / "test_settings_sync.py").read_text(), namespace)
    assert namespace["MIDDLEWARE"].count(MIDDLEWARE_PATH) == 1


def test_async_snippet_names_an_asgi_application() -> None:
    assert load_snippet("test_settings_async.py")["ASGI_APPLICATION"].endswith(
        ".application"
    )


def test_pytest_ini_snippet_runs_a_django_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outer run exported its own settings module; the snippet must choose.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    ini = configparser.ConfigParser()
    ini.read(SNIPPETS / "pytest.ini")
    settings_module = ini["pytest"]["DJANGO_SETTINGS_MODULE"]
    package = settings_module.rsplit(".", 1)[0].replace(".", "/")
    for part in range(1, len(package.split("/")) + 1):
        pytester.mkpydir("/".join(package.split("/")[:part]))
    pytester.path.joinpath(*settings_module.split(".")).with_suffix(".py").write_text(
        "SECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.auth', "
        "'restflow_parity']\n"
        "MIDDLEWARE = ['restflow_parity.middleware.EnsureScopeMiddleware']\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', "
        "'NAME': ':memory:'}}\n"
        "ROOT_URLCONF = 'urls'\n"
        "USE_TZ = True\n"
    )
    pytester.makepyfile(
        urls="from django.http import JsonResponse\n"
        "from django.urls import path\n"
        "def scope(request):\n"
        "    return JsonResponse({'type': request.scope['type']})\n"
        "urlpatterns = [path('s/', scope)]\n",
        test_snippet="def test_scope(client):\n"
        "    assert client.get('/s/').json() == {'type': 'http'}\n",
    )
    pytester.path.joinpath("pytest.ini").write_text(
        (SNIPPETS / "pytest.ini").read_text()
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)


def nox_sessions(noxfile: Path) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "-f", str(noxfile)],
        capture_output=True,
        text=True,
        check=True,
    )
    return re.findall(r"^[*-] (\S+)", listed.stdout, re.M)


def test_noxfile_snippet_has_a_session_per_stack_and_the_merge() -> None:
    assert nox_sessions(SNIPPETS / "noxfile.py") == [
        "tests(sync)",
        "tests(async)",
        "parity",
    ]
    source = (SNIPPETS / "noxfile.py").read_text()
    assert '"pytest-split"' in source  # the shards of the CI snippet need it


def test_github_actions_snippet_shards_each_stack_and_merges_the_reports() -> None:
    workflow = yaml.safe_load((SNIPPETS / "github-actions.yml").read_text())
    job = workflow["jobs"]["tests"]
    matrix = job["strategy"]["matrix"]
    assert matrix["stack"] == ["sync", "async"]
    assert matrix["group"] == [1, 2]
    (command,) = [
        step["run"] for step in job["steps"] if "nox -s" in step.get("run", "")
    ]
    sessions = nox_sessions(SNIPPETS / "noxfile.py")
    for stack in matrix["stack"]:
        assert command.replace("${{ matrix.stack }}", stack).split('"')[1] in sessions
    posargs = command.partition(" -- ")[2]
    assert f"--splits {len(matrix['group'])} --group ${{{{ matrix.group }}}}" in posargs
    # The other algorithm leaves gaps and overlaps under pytest-randomly.
    assert "--splitting-algorithm least_duration" in posargs
    assert "--parity-report reports/${{ matrix.stack }}-${{ matrix.group }}.json" in (
        posargs
    )
    (upload,) = [s for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["if"] == "always()"  # failing jobs are when the verdict matters
    assert upload["with"]["path"] == "reports/"
    merge_job = workflow["jobs"]["parity"]
    assert merge_job["needs"] == "tests"
    assert merge_job["if"] == "always()"
    (download,) = [
        s for s in merge_job["steps"] if "download-artifact" in s.get("uses", "")
    ]
    assert download["with"]["path"] == "reports"
    (merge,) = [s["run"] for s in merge_job["steps"] if "merge" in s.get("run", "")]
    assert merge.startswith("python -m restflow_parity merge reports")
    # tests/test_matrix.py runs these very commands on one machine.


def test_project_noxfile_has_the_stack_sessions_ci_uses() -> None:
    sessions = nox_sessions(SNIPPETS.parent / "noxfile.py")
    assert {"stack(sync)", "stack(async)", "lint", "types"} <= set(sessions)
    assert "tests(3.13-dj6.1-drf3.18-postgres-async)" in sessions
    assert not any("3.11-dj6" in name for name in sessions)
