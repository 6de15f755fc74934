"""Every code example in docs/ runs here, so the documentation cannot drift.

The convention, for anyone writing a page under docs/:

* Every fence names its language. Every ```python fence is executed; there is
  no opt-out. What cannot run (``pip install``, shell commands, error output,
  before/after changes) goes in a ```bash, ```text or ```diff fence. Spell
  Python ``python`` (not ``py``, ``python3`` or ``pycon``):
  ``test_every_python_fence_is_executed`` fails on any Python fence that the
  harness did not run.
* An HTML comment on the last non-blank line above a fence says how it runs:
  ``<!-- test: KIND -->``. Without one, KIND is ``module``.

  ``module``
      A test module. It is executed into a fresh module
      (``docs_example_<page>_L<line>``, registered in ``sys.modules``) under
      tests/testproject's settings, with the ``products`` app installed. Every
      ``unittest.TestCase`` subclass and ``test*`` function it defines is
      collected here under a unique name (``Docs_<page>_L<line>__<name>`` or
      ``test_<page>_L<line>__<name>``) and run by pytest: unittest classes as
      unittest classes, functions with pytest's fixtures and marks. Fixtures
      it defines keep their names (pytest finds fixtures by name), so each
      fixture name may be defined by one block only. Top-level code runs at
      collection; if it raises, ``test_example_executes`` fails.
  ``body``
      The body of an ``async def`` test method of an ``AsyncAPITestCase``
      (so it may ``await`` and use ``self``). Defined for it: ``client``
      (``self.client``, an ``AsyncAPIClient``), ``khan`` (a ``User`` whose
      password is ``"hunter2"``), ``token`` (khan's DRF ``Token``), and the
      models ``Product`` and ``User``; the product list's cache starts empty.
      It imports anything else it uses.
  ``settings``
      A piece of a test settings module. It is executed over stand-in base
      settings (the test project's, without restflow-parity); its
      ``from .settings import *`` (or ``from .base import *``) line is
      skipped. Every ``restflow_parity.*`` dotted path it names must import,
      and with its ``MIDDLEWARE`` the restflow-parity system checks must pass.
  ``project``
      A file of the project that docs/getting-started.md builds (its first
      line names the file), such as the app's ``models.py``. It is not run
      here: tests/test_getting_started.py makes a ``startproject`` project,
      applies every block of that page to it, and runs its tests on both
      stacks. Only that page may use this kind.

* ``--8<--`` snippet includes in a fence (pymdownx.snippets; use the block
  form in a ```python fence, so that ruff leaves it alone) are replaced by the
  file they name. A python fence that an include outside a fence would bring
  in is not executed, so ``test_every_python_fence_is_executed`` fails on it.
* Other fences are not executed, but they are checked where a check is cheap:
  ```bash commands' ``pytest`` and ``manage.py test`` options must exist,
  ``--parity-mode`` and ``RESTFLOW_PARITY_MODE`` values must be valid, ``nox -s``
  sessions must exist in the project's or the snippet's noxfile, and
  ``restflow-parity[extra]`` extras must exist; ```ini ``[pytest]`` keys must be
  registered ini options; ```yaml must parse.
* ``test_site_builds`` builds the site with ``mkdocs build --strict``.
"""

from __future__ import annotations

import collections
import configparser
import inspect
import os
import re
import shlex
import subprocess
import sys
import traceback
import types
import unittest
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from doc_fences import DOCS, ROOT, Block, expand_snippets, parse_page
from getting_started import PAGE

from restflow_parity.variants._mode import CHOICES

PROJECT_PAGE = PAGE.relative_to(DOCS).as_posix()

KINDS = ("module", "body", "settings", "project")
# Other spellings of Python that would render, yet escape this harness.
PYTHON_ALIASES = frozenset({"py", "py3", "python3", "pycon", "ipython", "pyi"})


PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS = [block for page in PAGES for block in parse_page(page)]
PYTHON = [block for block in BLOCKS if block.language == "python"]
EXEC_ERRORS: dict[str, str] = {}
HANDLED: set[str] = set()  # ids of the Python blocks some test here executes


# --- module blocks: executed into a module each, their tests collected here ----


def load_module(block: Block) -> types.ModuleType:
    name = f"docs_example_{block.slug}"
    module = types.ModuleType(name)
    module.__file__ = str(DOCS / block.page)
    sys.modules[name] = module
    # Padded so tracebacks point at the line of the page.
    code = compile("\n" * (block.line - 1) + block.code, module.__file__, "exec")
    exec(code, module.__dict__)
    return module


def is_fixture(obj: object) -> bool:
    # pytest 8.4 and later wrap a fixture; earlier versions mark the function.
    return type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(
        obj, "_pytestfixturefunction"
    )


def expose_tests(block: Block, module: types.ModuleType) -> None:
    for name, obj in list(vars(module).items()):
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # imported, not defined here
        if is_fixture(obj):
            # Fixtures are found by name, so they keep theirs: one per docs.
            if name in globals():
                raise NameError(
                    f"fixture {name!r} is defined by another docs example (or by "
                    "test_docs.py): give this one a name of its own"
                )
            globals()[name] = obj
        elif isinstance(obj, type) and issubclass(obj, unittest.TestCase):
            globals()[f"Docs_{block.slug}__{name}"] = obj
        elif inspect.isfunction(obj) and name.startswith("test"):
            globals()[f"test_{block.slug}__{name}"] = obj


# --- body blocks: an async def test method of an AsyncAPITestCase --------------

BODY_ARGS = ("self", "client", "khan", "token", "Product", "User")


def body_case(block: Block) -> type[unittest.TestCase]:
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from products.models import Product
    from rest_framework.authtoken.models import Token

    from restflow_parity.test import AsyncAPITestCase

    source = f"async def body({', '.join(BODY_ARGS)}):\n" + "".join(
        f"    {row}" if row.strip() else row for row in block.code.splitlines(True)
    )
    namespace: dict[str, Any] = {"__name__": f"docs_example_{block.slug}"}
    exec(
        compile("\n" * (block.line - 2) + source, str(DOCS / block.page), "exec"),
        namespace,
    )
    body = namespace["body"]

    class BodyExample(AsyncAPITestCase):
        def setUp(self) -> None:
            cache.clear()  # the product list view caches across tests
            self.khan = User.objects.create_user("khan", password="hunter2")
            self.token = Token.objects.create(user=self.khan)

        async def test_example(self) -> None:
            await body(self, self.client, self.khan, self.token, Product, User)

    BodyExample.__name__ = BodyExample.__qualname__ = f"Docs_{block.slug}"
    return BodyExample


def load_examples() -> None:
    """Run the module blocks and define the body blocks' test cases, here."""
    for block in PYTHON:
        if block.kind not in ("", *KINDS):
            continue  # test_every_python_fence_is_executed names it
        if block.kind == "project":
            if block.page == PROJECT_PAGE:
                HANDLED.add(block.id)  # tests/test_getting_started.py runs it
            continue
        HANDLED.add(block.id)
        try:
            if block.kind in ("", "module"):
                expose_tests(block, load_module(block))
            elif block.kind == "body":
                case = body_case(block)
                globals()[case.__name__] = case
            # settings blocks are executed by test_settings_example
        except Exception:
            EXEC_ERRORS[block.id] = traceback.format_exc()


load_examples()


@pytest.mark.parametrize(
    "block", [b for b in PYTHON if b.kind in ("", "module", "body")], ids=lambda b: b.id
)
def test_example_executes(block: Block) -> None:
    assert block.id not in EXEC_ERRORS, EXEC_ERRORS[block.id]


def test_every_python_fence_is_executed() -> None:
    problems = []
    for block in BLOCKS:
        if block.language.lower() in PYTHON_ALIASES or block.language == "Python":
            problems.append(f"{block.id}: write ```python, not ```{block.language}")
        elif not block.language:
            problems.append(
                f"{block.id}: name the fence's language (```text for output)"
            )
        if block.kind and block.kind not in KINDS:
            problems.append(
                f"{block.id}: unknown <!-- test: {block.kind} -->; use {KINDS}"
            )
        elif block.kind == "project" and block.page != PROJECT_PAGE:
            problems.append(
                f"{block.id}: <!-- test: project --> is for {PROJECT_PAGE} only"
            )
        elif block.kind and block.language != "python":
            problems.append(
                f"{block.id}: <!-- test: {block.kind} --> on a {block.language} fence"
            )
    # Counted again from the raw text, so a fence the parser misses still fails.
    opener = re.compile(r"^\s*(`{3,}|~{3,})\s*\{?\s*\.?python\b", re.M)
    counts = collections.Counter(block.page for block in PYTHON if block.id in HANDLED)
    for page in PAGES:
        name = page.relative_to(DOCS).as_posix()
        found = len(opener.findall(expand_snippets(page.read_text())))
        if found != counts[name]:
            problems.append(f"{name}: {found} python fences, {counts[name]} executed")
    assert not problems, "\n".join(problems)


# --- settings blocks -----------------------------------------------------------


def base_settings() -> dict[str, Any]:
    """The test project's settings as a user's would be: without restflow-parity."""
    from testproject import settings

    from restflow_parity.django_runner._checks import MIDDLEWARE_PATH

    namespace = {
        name: getattr(settings, name) for name in dir(settings) if name.isupper()
    }
    namespace["INSTALLED_APPS"] = [
        a for a in settings.INSTALLED_APPS if a != "restflow_parity"
    ]
    namespace["MIDDLEWARE"] = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    return namespace


def dotted_paths(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("restflow_parity.") else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [path for item in value for path in dotted_paths(item)]
    return []


@pytest.mark.parametrize(
    "block", [b for b in PYTHON if b.kind == "settings"], ids=lambda b: b.id
)
def test_settings_example(block: Block) -> None:
    from django.test import override_settings
    from django.utils.module_loading import import_string

    from restflow_parity.django_runner._checks import check_middleware

    namespace = base_settings()
    before = dict(namespace)
    code = re.sub(r"^from \.\S* import \*.*$", "", block.code, flags=re.M)
    exec(
        compile("\n" * (block.line - 1) + code, str(DOCS / block.page), "exec"),
        namespace,
    )
    changed = {
        k: v for k, v in namespace.items() if k.isupper() and before.get(k) is not v
    }
    assert changed, f"{block.id} sets no setting"
    for path in dotted_paths(list(changed.values())):
        import_string(path)
    if "MIDDLEWARE" in changed:
        with override_settings(MIDDLEWARE=namespace["MIDDLEWARE"]):
            assert check_middleware() == []
    if "RESTFLOW_PARITY_LIVE_SERVER" in changed:
        from restflow_parity.live import selected_server

        with override_settings(
            RESTFLOW_PARITY_LIVE_SERVER=changed["RESTFLOW_PARITY_LIVE_SERVER"]
        ):
            selected_server()


# --- other fences: checked, not executed -----------------------------------------


def commands(block: Block) -> list[list[str]]:
    """The simple commands of a shell block, as argument lists."""
    text = re.sub(r"\\\n", " ", block.code)
    found = []
    for row in text.splitlines():
        row = row.strip().removeprefix("$ ")
        if not row or row.startswith("#"):
            continue
        for part in re.split(r"&&|\|\||;|\|", row):
            words = shlex.split(part, comments=True)
            if words:
                found.append(words)
    return found


SHELL = [b for b in BLOCKS if b.language in ("bash", "sh", "shell", "console")]
SHELL_COMMANDS = [(block, words) for block in SHELL for words in commands(block)]


def _ids(value: Any) -> str:
    block, words = value
    return f"{block.id}:{' '.join(words)[:40]}"


def is_pytest(words: list[str]) -> bool:
    program = [w for w in words if "=" not in w or w.startswith("-")]
    return bool(program) and (
        program[0].endswith("pytest") or program[1:3] == ["-m", "pytest"]
    )


@cache
def pytest_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@cache
def nox_sessions() -> frozenset[str]:
    names: set[str] = set()
    for noxfile in (ROOT / "noxfile.py", ROOT / "settings_snippets" / "noxfile.py"):
        listed = subprocess.run(
            [sys.executable, "-m", "nox", "-l", "-f", str(noxfile)],
            capture_output=True,
            text=True,
            check=True,
        )
        names.update(re.findall(r"^[*-] (\S+)", listed.stdout, re.M))
    return frozenset(names)


def nox_session_names(words: list[str]) -> list[str]:
    """The sessions a nox command line names after -s/--sessions."""
    names, taking = [], False
    for word in words[1:]:
        if word.startswith("-"):
            taking = word in ("-s", "--session", "--sessions")
        elif taking:
            names.append(word)
    return names


def check_parity_mode_values(words: list[str]) -> None:
    for index, word in enumerate(words):
        if word.startswith("RESTFLOW_PARITY_MODE="):
            assert word.partition("=")[2] in CHOICES, word
        if word == "--parity-mode" and index + 1 < len(words):
            assert words[index + 1] in CHOICES, words
        if word.startswith("--parity-mode="):
            assert word.partition("=")[2] in CHOICES, word


@pytest.mark.parametrize(
    ("block", "words"), SHELL_COMMANDS, ids=[_ids(c) for c in SHELL_COMMANDS]
)
def test_shell_command(block: Block, words: list[str]) -> None:
    check_parity_mode_values(words)
    if is_pytest(words):
        help_text = pytest_help()
        for word in words:
            if word.startswith("--"):
                option = word.partition("=")[0]
                assert re.search(rf"(^|[\s,]){re.escape(option)}\b", help_text, re.M), (
                    f"{block.id}: pytest has no option {option}"
                )
    elif "manage.py" in " ".join(words) and "test" in words:
        from django.core.management.commands.test import Command

        command = Command()
        command.test_runner = "restflow_parity.runner.ParityDiscoverRunner"
        parser = command.create_parser("manage.py", "test")
        args = words[words.index("test") + 1 :]
        _, unknown = parser.parse_known_args(args)
        assert not [a for a in unknown if a.startswith("-")], f"{block.id}: {unknown}"
    elif words[0] == "nox":
        for name in nox_session_names(words):
            assert name in nox_sessions(), f"{block.id}: no nox session {name}"
    elif "pip" in words and "install" in words:
        extras_text = configparser.ConfigParser()
        extras_text.read(ROOT / "setup.cfg")
        extras = set(extras_text["options.extras_require"])
        for word in words:
            if word.startswith("restflow-parity["):
                named = word.removeprefix("restflow-parity[").rstrip("]").split(",")
                assert set(named) <= extras, f"{block.id}: unknown extra in {word}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.language == "ini"], ids=lambda b: b.id
)
def test_ini_example(block: Block, pytestconfig: pytest.Config) -> None:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(block.code)
    for section in ("pytest", "tool:pytest"):
        if section in parser:
            for key in parser[section]:
                pytestconfig.getini(key)  # ValueError for an unknown key


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.language == "yaml"], ids=lambda b: b.id
)
def test_yaml_example(block: Block) -> None:
    assert yaml.safe_load(block.code) is not None


# --- the site ------------------------------------------------------------------


@pytest.mark.tooling
def test_site_builds(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",  # not -q: it hides the warnings that --strict counts
            "-d",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr


def test_pages_are_found() -> None:
    assert len(PAGES) >= 10
    assert len(PYTHON) >= 30
    # A parser that lost fences would make every other test here vacuous.
    assert all(block.code.strip() for block in BLOCKS)
