"""Write the leak and flake soak suite into a directory.

    python tests/soak/generate.py DIR [--with-async-fixtures]

The suite is a throwaway pytest + ``manage.py test`` project over the test
project's ``products`` app. Every test asserts a row-count invariant (see
``support.py``), so a row that leaks from one test into another fails it with
``LEAK:``. Generation is deterministic: the same options give the same files.

- ``test_pt_*.py``: pytest functions (and a few plain pytest classes) of every
  kind in ``PYTEST_KINDS``, run by pytest only.
- ``test_ut_*.py``: Django/DRF/restflow-parity unittest classes of every kind
  in ``UNITTEST_KINDS``, run by pytest *and* by ``manage.py test``.
- ``test_pt_afx_*.py`` (``--with-async-fixtures`` only): tests whose
  ``async def`` fixture writes rows, a known leak (docs/reliability.md).
- ``manifest.json``: the counts by kind and the items each runner should see.

``tests/soak/run.py`` generates, runs and reports; this script only writes.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SOAK_DIR = Path(__file__).resolve().parent
TESTS_DIR = SOAK_DIR.parent
TESTS_PER_MODULE = 12

INI = f"""\
[pytest]
DJANGO_SETTINGS_MODULE = testproject.settings
pythonpath = {TESTS_DIR}
python_files = test_pt_*.py test_ut_*.py
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider --strict-markers
filterwarnings =
    error
    ignore:Unclosed file <tempfile.SpooledTemporaryFile:ResourceWarning
"""

CONFTEST = '''\
"""Sync fixtures whose rows the async tests must see, and a fresh cache."""

import pytest
from django.core.cache import cache
from soak_support import create_products, make_user


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def fx1(db):
    create_products("fx1", 1)


@pytest.fixture
def fx2(db):
    create_products("fx2", 2)


@pytest.fixture
def fx3(fx1, fx2):
    """Chained: fx1's and fx2's rows, then three of its own (6 in all)."""
    create_products("fx3", 3)


@pytest.fixture
def soak_user(db):
    return make_user("fx")


@pytest.fixture
async def afx2(db):
    """Known leak (see docs/reliability.md): an async fixture's writes."""
    from soak_support import acreate_products

    await acreate_products("afx2", 2)
'''

MANAGE = f"""\
import os
import sys

sys.path.insert(0, {str(TESTS_DIR)!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

SOAK_RUNNER = '''\
"""ParityDiscoverRunner that also writes each test's outcome to $SOAK_RESULTS."""

import json
import os

from restflow_parity.django_runner._runner import ParityDiscoverRunner, iter_tests


class SoakRunner(ParityDiscoverRunner):
    def run_suite(self, suite, **kwargs):
        self._soak_ids = [test.id() for test in iter_tests(suite)]
        return super().run_suite(suite, **kwargs)

    def suite_result(self, suite, result, **kwargs):
        outcomes = {
            name: {"outcome": "passed", "message": ""} for name in self._soak_ids
        }
        for kind, pairs in (("failed", result.failures), ("error", result.errors)):
            for test, text in pairs:
                outcomes[test.id()] = {"outcome": kind, "message": text[-2000:]}
        for test, reason in result.skipped:
            outcomes[test.id()] = {"outcome": "skipped", "message": reason}
        with open(os.environ["SOAK_RESULTS"], "w") as file:
            json.dump({"tests_run": result.testsRun, "outcomes": outcomes}, file)
        return super().suite_result(suite, result, **kwargs)
'''

PT_HEADER = """\
import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient
from restflow_parity import run_both_modes
from soak_support import (
    acreate_products,
    aexpect_listed,
    aexpect_rows,
    apost_products,
    create_products,
    expect_listed,
    expect_rows,
    post_products,
)
"""

UT_HEADER = """\
from django.test import TestCase, TransactionTestCase
from rest_framework.test import APITestCase, APITransactionTestCase
from restflow_parity import run_both_modes
from restflow_parity.test import AsyncAPITestCase, AsyncAPITransactionTestCase
from soak_support import (
    acreate_products,
    aexpect_listed,
    aexpect_rows,
    apost_products,
    create_products,
    expect_listed,
    expect_rows,
    make_user,
    post_products,
)
"""

#: Sync fixtures and the product rows each one leaves.
FIXTURE_ROWS = {"": 0, "fx1": 1, "fx2": 2, "fx3": 6}


@dataclass
class Generated:
    """One generated test (function or class) and how many items it yields."""

    kind: str
    source: str
    pytest_items: int
    django_items: int = 0
    asynchronous: int = 0  # items with an async body
    both_modes: int = 0  # items that are a @run_both_modes variant

    @property
    def transactional(self) -> bool:
        return self.kind.endswith("_tx") or self.kind == "ut_transaction"


@dataclass
class Plan:
    """What the generator wrote: counts by kind and per runner."""

    pytest_items: int = 0
    django_items: int = 0
    async_items: int = 0
    both_modes_items: int = 0
    transactional_items: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    modules: int = 0


# --- pytest functions ---------------------------------------------------------


def _pt_signature(rng: random.Random, extra: list[str]) -> tuple[str, int, int]:
    """Pick fixtures: returns (argument list, product rows, users)."""
    fixture = rng.choice(list(FIXTURE_ROWS))
    args = ([fixture] if fixture else []) + extra
    users = 1 if "soak_user" in extra else 0
    return ", ".join(args), FIXTURE_ROWS[fixture], users


def _db_mark(transactional: bool) -> str:
    return (
        "@pytest.mark.django_db(transaction=True)\n"
        if transactional
        else "@pytest.mark.django_db\n"
    )


def pt_sync_orm(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, [])
    k = rng.randint(1, 3)
    source = (
        f"{_db_mark(tx)}def {name}({args}):\n"
        f'    expect_rows("{name}", "start", {rows}, {users})\n'
        f'    create_products("{name}", {k})\n'
        f'    expect_rows("{name}", "end", {rows + k}, {users})\n'
    )
    return Generated("pt_sync_orm" + "_tx" * tx, source, 1)


def pt_sync_client(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, ["soak_user"])
    k = rng.randint(1, 3)
    source = (
        f"{_db_mark(tx)}def {name}({args}):\n"
        f'    expect_rows("{name}", "start", {rows}, {users})\n'
        "    client = APIClient()\n"
        "    client.force_authenticate(user=soak_user)\n"
        f'    post_products(client, "{name}", {k})\n'
        f'    expect_listed(client, "{name}", "end", {rows + k})\n'
        f'    expect_rows("{name}", "end", {rows + k}, {users})\n'
    )
    return Generated("pt_sync_client" + "_tx" * tx, source, 1)


def pt_async_orm(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, [])
    k = rng.randint(1, 3)
    gather = rng.random() < 0.5
    explicit = "@pytest.mark.asyncio\n" if rng.random() < 0.3 else ""
    source = (
        f"{_db_mark(tx)}{explicit}async def {name}({args}):\n"
        f'    await aexpect_rows("{name}", "start", {rows}, {users})\n'
        f'    await acreate_products("{name}", {k}, gather={gather})\n'
        f'    await sync_to_async(create_products)("{name}-s", 1)\n'
        f'    await aexpect_rows("{name}", "end", {rows + k + 1}, {users})\n'
    )
    return Generated("pt_async_orm" + "_tx" * tx, source, 1, asynchronous=1)


def pt_async_db_fixture(name: str, rng: random.Random, tx: bool) -> Generated:
    """No mark: the ``db`` (or ``transactional_db``) fixture asks for the database."""
    fixture = "transactional_db" if tx else "db"
    args, rows, users = _pt_signature(rng, [fixture])
    k = rng.randint(1, 3)
    source = (
        f"async def {name}({args}):\n"
        f'    await aexpect_rows("{name}", "start", {rows}, {users})\n'
        f'    await acreate_products("{name}", {k})\n'
        f'    await aexpect_rows("{name}", "end", {rows + k}, {users})\n'
    )
    return Generated("pt_async_db_fixture" + "_tx" * tx, source, 1, asynchronous=1)


def pt_async_client(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, ["soak_user", "async_api_client"])
    k = rng.randint(1, 3)
    source = (
        f"{_db_mark(tx)}async def {name}({args}):\n"
        f'    await aexpect_rows("{name}", "start", {rows}, {users})\n'
        f'    await aexpect_listed(async_api_client, "{name}", "start", {rows})\n'
        "    async_api_client.force_authenticate(user=soak_user)\n"
        f'    await apost_products(async_api_client, "{name}", {k})\n'
        f'    await aexpect_listed(async_api_client, "{name}", "end", {rows + k})\n'
        f'    await aexpect_rows("{name}", "end", {rows + k}, {users})\n'
    )
    return Generated("pt_async_client" + "_tx" * tx, source, 1, asynchronous=1)


def pt_both_sync_body(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, ["parity_client"])
    k = rng.randint(1, 3)
    source = (
        f"@run_both_modes\n{_db_mark(tx)}def {name}({args}):\n"
        f'    expect_rows("{name}", "start", {rows}, {users})\n'
        f'    post_products(parity_client, "{name}", {k})\n'
        f'    expect_listed(parity_client, "{name}", "end", {rows + k})\n'
        f'    expect_rows("{name}", "end", {rows + k}, {users})\n'
    )
    return Generated("pt_both_sync_body" + "_tx" * tx, source, 2, both_modes=2)


def pt_both_async_body(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, ["parity_client"])
    k = rng.randint(1, 3)
    source = (
        f"@run_both_modes\n{_db_mark(tx)}async def {name}({args}):\n"
        f'    await aexpect_rows("{name}", "start", {rows}, {users})\n'
        f'    await apost_products(parity_client, "{name}", {k})\n'
        f'    await acreate_products("{name}-orm", 1)\n'
        f'    await aexpect_listed(parity_client, "{name}", "end", {rows + k + 1})\n'
        f'    await aexpect_rows("{name}", "end", {rows + k + 1}, {users})\n'
    )
    kind = "pt_both_async_body" + "_tx" * tx
    return Generated(kind, source, 2, asynchronous=2, both_modes=2)


def pt_async_parametrized(name: str, rng: random.Random, tx: bool) -> Generated:
    args, rows, users = _pt_signature(rng, ["count"])
    source = (
        f'@pytest.mark.parametrize("count", [1, 3])\n'
        f"{_db_mark(tx)}async def {name}({args}):\n"
        f'    await aexpect_rows("{name}", "start", {rows}, {users})\n'
        f'    await acreate_products("{name}", count, gather=True)\n'
        f'    await aexpect_rows("{name}", "end", {rows} + count, {users})\n'
    )
    return Generated("pt_async_parametrized" + "_tx" * tx, source, 2, asynchronous=2)


def pt_class(name: str, rng: random.Random, tx: bool) -> Generated:
    """A plain pytest class: a sync and an async method, marked on the class."""
    args, rows, users = _pt_signature(rng, [])
    args = f"self, {args}" if args else "self"
    k = rng.randint(1, 3)
    title = "Test" + name.removeprefix("test_").title().replace("_", "")
    source = (
        f"{_db_mark(tx)}class {title}:\n"
        f"    def test_sync({args}):\n"
        f'        expect_rows("{name}.s", "start", {rows}, {users})\n'
        f'        create_products("{name}.s", {k})\n'
        f'        expect_rows("{name}.s", "end", {rows + k}, {users})\n'
        "\n"
        f"    async def test_async({args}):\n"
        f'        await aexpect_rows("{name}.a", "start", {rows}, {users})\n'
        f'        await acreate_products("{name}.a", {k})\n'
        f'        await aexpect_rows("{name}.a", "end", {rows + k}, {users})\n'
    )
    return Generated("pt_class" + "_tx" * tx, source, 2, asynchronous=1)


def pt_async_nodb(name: str, rng: random.Random, tx: bool) -> Generated:
    """No database: pytest-asyncio's own loop runs it, between isolated tests."""
    source = (
        f"async def {name}(async_api_client):\n"
        '    response = await async_api_client.get("/ping/")\n'
        "    assert response.data == {'ok': True}\n"
    )
    return Generated("pt_async_nodb", source, 1, asynchronous=1)


def pt_async_fixture(name: str, rng: random.Random, tx: bool) -> Generated:
    """Known leak, off by default: rows written by an ``async def`` fixture."""
    k = rng.randint(1, 2)
    source = (
        f"{_db_mark(tx)}async def {name}(afx2):\n"
        f'    await aexpect_rows("{name}", "start", 2)\n'
        f'    await acreate_products("{name}", {k})\n'
        f'    await aexpect_rows("{name}", "end", {2 + k})\n'
    )
    return Generated("pt_async_fixture" + "_tx" * tx, source, 1, asynchronous=1)


Maker = Callable[[str, random.Random, bool], Generated]

#: (maker, functions, share of them with transaction=True)
#: transaction=True is a few percent: each such test flushes every table, which
#: costs ~0.3 s on PostgreSQL and would dominate the soak's wall time.
TX_SHARE = 0.05
PYTEST_KINDS: list[tuple[Maker, int, float]] = [
    (pt_sync_orm, 70, TX_SHARE),
    (pt_sync_client, 50, TX_SHARE),
    (pt_async_orm, 120, TX_SHARE),
    (pt_async_db_fixture, 50, TX_SHARE),
    (pt_async_client, 90, TX_SHARE),
    (pt_both_sync_body, 45, TX_SHARE),
    (pt_both_async_body, 70, TX_SHARE),
    (pt_async_parametrized, 25, TX_SHARE),
    (pt_class, 25, TX_SHARE),
    (pt_async_nodb, 15, 0.0),
]


# --- unittest classes ---------------------------------------------------------


@dataclass
class Shape:
    """A unittest class kind: its base, how it may be decorated, what it sets up."""

    kind: str
    base: str
    transactional: bool
    both: str = ""  # "", "class" or "method"
    async_client: bool = False  # self.client is awaitable in async bodies


UNITTEST_KINDS: list[tuple[Shape, int]] = [
    (Shape("ut_testcase", "TestCase", False), 16),
    (Shape("ut_transaction", "TransactionTestCase", True), 3),
    (Shape("ut_async_api", "AsyncAPITestCase", False, async_client=True), 16),
    (
        Shape(
            "ut_async_api_tx", "AsyncAPITransactionTestCase", True, async_client=True
        ),
        3,
    ),
    (Shape("ut_both_apitestcase", "APITestCase", False, both="class"), 11),
    (Shape("ut_both_async_api", "AsyncAPITestCase", False, both="class"), 11),
    (Shape("ut_both_testcase", "TestCase", False, both="class"), 5),
    (
        Shape(
            "ut_both_async_api_tx", "AsyncAPITransactionTestCase", True, both="class"
        ),
        2,
    ),
    (Shape("ut_both_api_tx", "APITransactionTestCase", True, both="class"), 1),
    (Shape("ut_both_methods", "AsyncAPITestCase", False, both="method"), 9),
]


def unittest_class(name: str, shape: Shape, rng: random.Random) -> Generated:
    """A class whose set-up makes rows at every level the base offers."""
    class_rows = 0 if shape.transactional else rng.randint(0, 2)
    setup_rows = rng.randint(0, 2)
    async_setup_rows = rng.randint(0, 2) if "AsyncAPI" in shape.base else 0
    users = 1
    lines = [f"class {name}({shape.base}):"]
    if shape.both == "class":
        lines.insert(0, "@run_both_modes")
    if not shape.transactional:
        lines += [
            "    @classmethod",
            "    def setUpTestData(cls):",
            f'        expect_rows("{name}", "setUpTestData", 0, 0)',
            f'        create_products("{name}-cls", {class_rows})',
            f'        cls.user = make_user("{name}")',
            "",
        ]
    lines += [
        "    def setUp(self):",
        f'        expect_rows("{name}", "setUp", {class_rows}, '
        f"{0 if shape.transactional else 1})",
    ]
    if shape.transactional:
        lines.append(f'        self.user = make_user("{name}")')
    lines += [f'        create_products("{name}-set", {setup_rows})', ""]
    base_rows = class_rows + setup_rows
    if async_setup_rows:
        lines += [
            "    async def asyncSetUp(self):",
            f'        await aexpect_rows("{name}", "asyncSetUp", {base_rows}, {users})',
            f'        await acreate_products("{name}-aset", {async_setup_rows})',
            "",
        ]
    methods = rng.randint(3, 5)
    pytest_items = asynchronous = both_modes = 0
    for index in range(methods):
        is_async = index % 2 == 1 or rng.random() < 0.3
        rows = base_rows + (async_setup_rows if is_async else 0)
        tag = f"{name}.m{index}"
        k = rng.randint(1, 3)
        split = shape.both == "class" or (shape.both == "method" and index % 2 == 0)
        if split and shape.both == "method":
            lines.append("    @run_both_modes")
        lines += _method(tag, index, is_async, rows, users, k, shape, split)
        items = 2 if split else 1
        pytest_items += items
        asynchronous += items if is_async else 0
        both_modes += items if split else 0
    source = "\n".join(lines) + "\n"
    # The same items under manage.py test as under pytest.
    return Generated(
        shape.kind, source, pytest_items, pytest_items, asynchronous, both_modes
    )


def _method(
    tag: str,
    index: int,
    is_async: bool,
    rows: int,
    users: int,
    k: int,
    shape: Shape,
    split: bool,
) -> list[str]:
    """One test method; with a client when the class gives one to its bodies."""
    # Mode clients (split methods) are awaitable in async bodies and blocking
    # in def bodies; DRF's APIClient is blocking; AsyncAPIClient is awaitable.
    if is_async:
        writes = (
            f'        await apost_products(self.client, "{tag}", {k})'
            if split or shape.async_client
            else f'        await acreate_products("{tag}", {k})'
        )
        listed = (
            f'        await aexpect_listed(self.client, "{tag}", "end", {rows + k})'
            if split or shape.async_client
            else ""
        )
        body = [
            f"    async def test_m{index}(self):",
            f'        await aexpect_rows("{tag}", "start", {rows}, {users})',
            "        self.client.force_authenticate(user=self.user)"
            if split or shape.async_client
            else "",
            writes,
            listed,
            f'        await aexpect_rows("{tag}", "end", {rows + k}, {users})',
        ]
    else:
        blocking_client = split or shape.base.startswith("API")
        writes = (
            f'        post_products(self.client, "{tag}", {k})'
            if blocking_client
            else f'        create_products("{tag}", {k})'
        )
        body = [
            f"    def test_m{index}(self):",
            f'        expect_rows("{tag}", "start", {rows}, {users})',
            "        self.client.force_authenticate(user=self.user)"
            if blocking_client
            else "",
            writes,
            f'        expect_listed(self.client, "{tag}", "end", {rows + k})'
            if blocking_client
            else "",
            f'        expect_rows("{tag}", "end", {rows + k}, {users})',
        ]
    return [line for line in body if line] + [""]


# --- writing ------------------------------------------------------------------


def _pytest_tests(
    rng: random.Random, kinds: list[tuple[Maker, int, float]]
) -> list[Generated]:
    tests: list[Generated] = []
    for maker, count, tx_share in kinds:
        transactional = set(rng.sample(range(count), round(count * tx_share)))
        for index in range(count):
            name = f"test_{maker.__name__.removeprefix('pt_')}_{index:03d}"
            tests.append(maker(name, rng, index in transactional))
    return tests


def _unittest_tests(rng: random.Random) -> list[Generated]:
    tests = []
    for shape, count in UNITTEST_KINDS:
        for index in range(count):
            name = f"Soak{shape.kind.title().replace('_', '')}{index:02d}"
            tests.append(unittest_class(name, shape, rng))
    return tests


def _write_modules(
    directory: Path, prefix: str, header: str, tests: list[Generated], plan: Plan
) -> None:
    for start in range(0, len(tests), TESTS_PER_MODULE):
        chunk = tests[start : start + TESTS_PER_MODULE]
        number = start // TESTS_PER_MODULE
        text = header + "".join(f"\n\n{test.source}" for test in chunk)
        (directory / f"{prefix}{number:03d}.py").write_text(text)
        plan.modules += 1
        for test in chunk:
            plan.pytest_items += test.pytest_items
            plan.django_items += test.django_items
            plan.async_items += test.asynchronous
            plan.both_modes_items += test.both_modes
            plan.transactional_items += test.pytest_items * test.transactional
            plan.by_kind[test.kind] += test.pytest_items


def generate(directory: Path, seed: int = 0, with_async_fixtures: bool = False) -> Plan:
    """Write the project and the tests into ``directory``; return the plan."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("test_*.py"):
        old.unlink()
    rng = random.Random(seed)
    (directory / "pytest.ini").write_text(INI)
    (directory / "conftest.py").write_text(CONFTEST)
    (directory / "manage.py").write_text(MANAGE)
    (directory / "soak_runner.py").write_text(SOAK_RUNNER)
    shutil.copyfile(SOAK_DIR / "support.py", directory / "soak_support.py")
    pytest_tests = _pytest_tests(rng, PYTEST_KINDS)
    unittest_tests = _unittest_tests(rng)
    # Interleave kinds across modules, so every module mixes them.
    rng.shuffle(pytest_tests)
    rng.shuffle(unittest_tests)
    plan = Plan()
    _write_modules(directory, "test_pt_", PT_HEADER, pytest_tests, plan)
    if with_async_fixtures:
        # Their own modules and random stream: the rest of the suite is the
        # same with or without them.
        extra = _pytest_tests(random.Random(seed + 1), [(pt_async_fixture, 20, 0.0)])
        _write_modules(directory, "test_pt_afx_", PT_HEADER, extra, plan)
    _write_modules(directory, "test_ut_", UT_HEADER, unittest_tests, plan)
    manifest = {
        "pytest_items": plan.pytest_items,
        "django_items": plan.django_items,
        "async_items": plan.async_items,
        "both_modes_items": plan.both_modes_items,
        "transactional_items": plan.transactional_items,
        "modules": plan.modules,
        "by_kind": dict(sorted(plan.by_kind.items())),
        "with_async_fixtures": with_async_fixtures,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--with-async-fixtures", action="store_true")
    options = parser.parse_args()
    plan = generate(options.directory, with_async_fixtures=options.with_async_fixtures)
    print(
        f"{plan.modules} modules: {plan.pytest_items} pytest items "
        f"({plan.django_items} also under manage.py test), "
        f"{plan.async_items} with async bodies, {plan.both_modes_items} "
        f"@run_both_modes variants, {plan.transactional_items} transactional"
    )
    for kind, items in sorted(plan.by_kind.items()):
        print(f"  {kind:28} {items}")


if __name__ == "__main__":
    main()
