"""The conformance harness (conformance/): its verdict, its differences list,
and a real run of a few of Django's and DRF's own tests through its swaps.

The verdict tests use small made-up outcome records. The real runs download
the installed Django's and DRF's sdists once into the harness's cache
(.conformance/, as ``conformance/run.py`` does) and run a handful of tests in
subprocesses, the way CI runs the whole suites.
"""

from __future__ import annotations

import json
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The harness is a folder of scripts, not a package: its modules import each
# other by name, as they do when run.py is run.
sys.path.append(str(ROOT / "conformance"))

import run  # noqa: E402
import sources  # noqa: E402
import suites  # noqa: E402
import verdict  # noqa: E402

SWAPPED = {s.name: tuple(r.name for r in s.runs[1:]) for s in suites.SUITES.values()}


def outcomes(**tests: str) -> dict[str, dict[str, str]]:
    return {name.replace("__", "."): {"outcome": o} for name, o in tests.items()}


# --- the verdict -----------------------------------------------------------------


def test_a_test_failing_only_when_swapped_is_a_new_failure() -> None:
    baseline = outcomes(a="passed", b="passed", c="failed", d="skipped")
    swapped = outcomes(a="passed", b="failed", c="failed", d="error")
    judged = verdict.judge("drf", "dropin", baseline, swapped, [])
    # c fails on both: not ours. d was skipped and now errors: ours.
    assert [(f.test, f.outcome, f.baseline) for f in judged.new] == [
        ("b", "failed", "passed"),
        ("d", "error", "skipped"),
    ]
    assert judged.unlisted == judged.new
    assert not judged.ok


def test_a_listed_difference_passes_the_verdict() -> None:
    baseline = outcomes(a="passed", b="passed")
    swapped = outcomes(a="passed", b="failed")
    listed = [verdict.Difference("drf", "dropin", "b", "on purpose", "x.md#y")]
    judged = verdict.judge("drf", "dropin", baseline, swapped, listed)
    assert [f.test for f in judged.listed] == ["b"]
    assert judged.unlisted == []
    assert judged.stale == []
    assert judged.ok


def test_an_entry_that_no_longer_fails_is_stale() -> None:
    baseline = outcomes(a="passed", b="passed")
    listed = [
        verdict.Difference("drf", "dropin", "b", "was broken", "x.md#y"),
        # Another run's entry is judged with that run, not this one.
        verdict.Difference("drf", "both-sync", "a", "elsewhere", "x.md#y"),
    ]
    judged = verdict.judge("drf", "dropin", baseline, dict(baseline), listed)
    assert [d.test for d in judged.stale] == ["b"]
    assert judged.ok  # stale is reported; run.py --strict-stale fails on it


def test_a_test_the_swapped_run_never_reported_is_missing() -> None:
    baseline = outcomes(a="passed", b="passed", c="skipped")
    judged = verdict.judge("django", "sync", baseline, outcomes(a="passed"), [])
    assert [(f.test, f.outcome) for f in judged.new] == [("b", "missing")]


def test_a_variant_is_judged_against_the_test_it_came_from() -> None:
    baseline = outcomes(t__test_x="passed", t__test_y="failed")
    swapped = {
        "t.test_x_async": {"outcome": "failed", "base": "t.test_x", "mode": "async"},
        "t.test_y_async": {"outcome": "failed", "base": "t.test_y", "mode": "async"},
        # A failure with no counterpart in the unchanged run is new too.
        "t.test_z_async": {"outcome": "error", "base": "t.test_z", "mode": "async"},
    }
    judged = verdict.judge("drf", "both-async", baseline, swapped, [])
    assert [(f.test, f.baseline) for f in judged.new] == [
        ("t.test_x_async", "passed"),
        ("t.test_z_async", "absent"),
    ]


def test_summary_fails_on_an_unlisted_new_failure_and_warns_on_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drf = suites.SUITES["drf"]
    records = {
        "drf": outcomes(a="passed", b="passed", c="passed"),
        "dropin": outcomes(a="passed", b="failed", c="passed"),
    }
    jobs = []
    for spec in drf.runs[:2]:
        job = run.Job(drf, spec, tmp_path / f"{spec.name}.json", tmp_path / "log")
        job.out.write_text(json.dumps({"tests": records[spec.name], "classes": {}}))
        jobs.append(job)
    stale = verdict.Difference("drf", "dropin", "c", "fixed since", "x.md#y")
    report = run.summarise(jobs, [stale], {}, strict_stale=False)
    printed = capsys.readouterr().out
    assert not report["ok"]
    assert "NEW failed (unchanged run: passed) b" in printed
    assert "STALE (no longer fails) c" in printed
    assert report["closing"].startswith("conformance: FAILED: 1 new failures")

    listed = verdict.Difference("drf", "dropin", "b", "on purpose", "x.md#y")
    assert run.summarise(jobs, [listed, stale], {}, strict_stale=False)["ok"]
    assert not run.summarise(jobs, [listed, stale], {}, strict_stale=True)["ok"]


# --- differences.toml ------------------------------------------------------------

PAGE = """\
# Migrating

## From DRF's `APITestCase`

```python
## not a
```

## Templates {#templates-recorded}
"""


def write_differences(tmp_path: Path, body: str) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "migrating.md").write_text(PAGE)
    path = tmp_path / "differences.toml"
    path.write_text(textwrap.dedent(body))
    return path, docs


def test_differences_entries_are_loaded_with_checked_links(tmp_path: Path) -> None:
    path, docs = write_differences(
        tmp_path,
        """
        [drf.dropin."tests/test_testing.py::T::test_x"]
        reason = "DRF's behaviour loses what the user wrote"
        docs = "guides/migrating.md#from-drfs-apitestcase"

        [django.sync."test_client.tests.ClientTest.test_y"]
        reason = "kept on purpose"
        docs = "guides/migrating.md#templates-recorded"
        """,
    )
    loaded = verdict.load_differences(path, SWAPPED, docs)
    assert [(d.suite, d.run, d.test) for d in loaded] == [
        ("drf", "dropin", "tests/test_testing.py::T::test_x"),
        ("django", "sync", "test_client.tests.ClientTest.test_y"),
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '[drf.drf."t"]\nreason = "r"\ndocs = "guides/migrating.md#x"',
            "no swapped run",
        ),
        ('[drf.dropin."t"]\nreason = " "\ndocs = "guides/migrating.md#x"', "reason"),
        ('[drf.dropin."t"]\ndocs = "guides/migrating.md#x"', "exactly two keys"),
        ('[drf.dropin."t"]\nreason = "r"\ndocs = "guides/ci.md#x"', "migrating guide"),
        ('[drf.dropin."t"]\nreason = "r"\ndocs = "guides/migrating.md#nope"', "#nope"),
        (
            '[drf.dropin."t"]\nreason = "r"\ndocs = "guides/migrating.md#not-a"',
            "no sec",
        ),
    ],
)
def test_a_malformed_entry_is_refused_with_the_fix(
    tmp_path: Path, entry: str, message: str
) -> None:
    path, docs = write_differences(tmp_path, entry)
    with pytest.raises(verdict.DifferencesError, match=message):
        verdict.load_differences(path, SWAPPED, docs)


def test_the_checked_in_list_is_valid() -> None:
    for difference in verdict.load_differences(runs=SWAPPED):
        assert difference.docs.startswith(verdict.DOCS_PAGE)


def test_anchors_match_the_site_generator() -> None:
    markdown = pytest.importorskip("markdown")
    page = ROOT / "docs" / verdict.DOCS_PAGE
    md = markdown.Markdown(extensions=["toc", "attr_list", "fenced_code"])
    md.convert(page.read_text())

    def ids(tokens: list[dict[str, object]]) -> set[str]:
        found = set()
        for token in tokens:
            found.add(str(token["id"]))
            found |= ids(token["children"])  # type: ignore[arg-type]
        return found

    assert verdict.page_anchors(page) == ids(md.toc_tokens)


# --- the sources ------------------------------------------------------------------


def make_project(root: Path) -> None:
    for name in ("pkg/__init__.py", "tests/__init__.py", "tests/test_x.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (root / "docs").mkdir()
    (root / "docs" / "index.txt").write_text("")
    (root / "pyproject.toml").write_text("[tool.pytest]\n")


def test_only_tests_and_top_level_files_are_unpacked(tmp_path: Path) -> None:
    # The sdist's copy of the package must never shadow the installed one.
    make_project(tmp_path / "pkg-1.0")
    archive = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "pkg-1.0", "pkg-1.0")
    sources._unpack(archive, tmp_path / "out")
    found = {
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
    }
    assert found == {
        ".unpacked",
        "pyproject.toml",
        "tests",
        "tests/__init__.py",
        "tests/test_x.py",
    }


def test_a_checkout_is_copied_without_its_package(tmp_path: Path) -> None:
    make_project(tmp_path / "checkout")
    tree = sources.checkout_tree(tmp_path / "checkout", "pkg", tmp_path / "cache")
    assert (tree / "tests" / "test_x.py").exists()
    assert (tree / "pyproject.toml").exists()
    assert not (tree / "pkg").exists()
    with pytest.raises(sources.SourceError, match="no tests/ folder"):
        sources.checkout_tree(tmp_path / "checkout" / "docs", "pkg", tmp_path)


# --- real runs of a few of the suites' own tests -------------------------------


def harness(tmp_path: Path, *args: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "verdict.json"
    empty = tmp_path / "differences.toml"
    empty.write_text("")
    code = run.main(
        [
            *args,
            "--results",
            str(tmp_path),
            "--json",
            str(out),
            "--differences",
            str(empty),
        ]
    )
    return code, json.loads(out.read_text())


def record(tmp_path: Path, slug: str) -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = json.loads(
        (tmp_path / f"{slug}.json").read_text()
    )["tests"]
    return loaded


@pytest.mark.tooling
def test_django_tests_run_three_ways(tmp_path: Path) -> None:
    labels = (
        "asgi.tests.ASGITest.test_get_asgi_application",
        "test_client.test_fakepayload",
    )
    code, report = harness(tmp_path, "--suite", "django", "--django-tests", *labels)
    runs = {r["run"]: r for r in report["runs"]}  # type: ignore[attr-defined]
    assert list(runs) == ["django", "sync", "async"]
    assert "crashed" not in str(runs)
    assert runs["django"]["classes"] == {"": "(unchanged)"}
    # The Django-flavoured drop-in, as a user swapping Django's import gets it.
    assert (
        runs["sync"]["classes"]["django.test.Client"]
        == "restflow_parity.request._client.Client"
    )
    assert runs["async"]["classes"]["django.test.AsyncClient"].endswith(
        ".AsyncAPIClient"
    )
    baseline = record(tmp_path, "django-django")
    assert set(record(tmp_path, "django-sync")) == set(baseline)
    assert {t["outcome"] for t in baseline.values()} == {"passed"}
    # The counter sees the ASGI requests of the test that built them.
    assert baseline["asgi.tests.ASGITest.test_get_asgi_application"]["asgi"] == 1
    # The exit status is the verdict: no differences are listed here.
    unlisted = sum(len(r["unlisted"]) for r in runs.values())
    assert (code == 0) == (unlisted == 0) == report["ok"]


@pytest.mark.tooling
def test_drf_tests_run_under_both_modes_reach_asgi(tmp_path: Path) -> None:
    # DRF's conftest imports it; conformance/requirements.txt installs it.
    pytest.importorskip("dj_database_url", reason="pip install dj-database-url")
    # DRF skips its OpenAPI generator tests without it; the dev extra has it.
    pytest.importorskip("uritemplate", reason="pip install uritemplate")
    # test_openapi builds its requests with Django's RequestFactory.
    # (A class, not a test: the both-modes run renames its tests.)
    generator = "tests/schemas/test_openapi.py::TestGenerator"
    openapi = f"{generator}::test_schema_construction"
    args = ("--drf-tests", "tests/test_testing.py", generator, "--only", "both-async")
    _, report = harness(tmp_path, "--suite", "drf", "--workers", "0", *args)
    runs = {r["run"]: r for r in report["runs"]}  # type: ignore[attr-defined]
    assert list(runs) == ["drf", "both-async"]
    # Nothing swapped: the product's switch splits the tests, and Django's
    # and DRF's own classes follow each variant's stack.
    assert runs["both-async"]["classes"] == {"": "(unchanged)"}
    baseline = record(tmp_path, "drf-drf")
    variants = record(tmp_path, "drf-both-async")
    assert len(baseline) > 20
    modes = {t.get("mode") for t in variants.values()}
    assert modes == {"async"}  # every test, functions and plain classes too
    # Every variant names the test it came from, and that test ran unchanged.
    for test_id, test in variants.items():
        assert test["base"] in baseline
        assert test_id in (f"{test['base']}_async", f"{test['base']}[async]")
    # self.client of an async variant is on the async stack, and so is a
    # request from Django's RequestFactory, by both counts: the harness's own
    # and the product's stack ledger.
    assert any(t.get("asgi") for t in variants.values())
    assert variants[f"{openapi}_async"]["asgi"] > 0
    assert baseline[openapi]["wsgi"] > 0
    assert not any(t.get("asgi") for t in baseline.values())
    ledger = runs["both-async"]["ledger"]
    assert ledger["asgi"] > 0
    assert ledger["wsgi"] == ledger["passed_on_the_other_stack"] == 0
