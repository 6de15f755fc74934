"""What a swapped run changes, and what every run records, inside its process.

Imported by ``parity_runtests.py`` (Django's runner) and ``parity_pytest.py``
(DRF's and adrf's pytest runs); never by the harness's own process.

* ``apply_swap()`` puts restflow-parity's classes where the suite's tests take
  their client and factory from, after ``django.setup()`` and before the test
  modules are imported.
* ``RequestCounter`` notes which test each ``ASGIRequest`` and ``WSGIRequest``
  was built for, so a run can say which tests really reached the ASGI side.
* ``Outcomes`` merges what the runner reports into one outcome per test and
  writes the record that ``verdict.py`` reads.
"""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections import Counter
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

SWAPS = ("none", "sync", "async", "dropin", "both", "adrf")


def dropin_classes() -> tuple[type, type]:
    """restflow-parity's ``APIClient`` and ``APIRequestFactory`` drop-ins."""
    from restflow_parity import test

    return test.APIClient, test.APIRequestFactory


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def apply_swap(swap: str) -> dict[str, str]:
    """Swap restflow-parity's classes in; returns {replaced name: class used}."""
    if swap == "none":
        return {}
    if swap in ("sync", "async"):
        return _swap_django(swap)
    if swap == "dropin":
        return _swap_drf()
    if swap == "both":
        # Nothing: the runs pass --parity-both-modes, and stock clients and
        # factories follow each variant's stack (restflow_parity.request._stock).
        return {}
    if swap == "adrf":
        return _swap_adrf()
    raise ValueError(f"unknown swap {swap!r}; one of {SWAPS}")


def _set(module: Any, name: str, cls: type, done: dict[str, str]) -> None:
    setattr(module, name, cls)
    done[f"{module.__name__}.{name}"] = _name(cls)


def _set_in_django_test(pairs: dict[str, type], done: dict[str, str]) -> None:
    """Replace names where tests import them: ``django.test`` and
    ``django.test.client``."""
    import django.test
    import django.test.client

    for name, cls in pairs.items():
        _set(django.test, name, cls, done)
        _set(django.test.client, name, cls, done)


def _swap_django(swap: str) -> dict[str, str]:
    from django.test import SimpleTestCase

    from restflow_parity import test

    done: dict[str, str] = {}
    pairs: dict[str, type]
    client: type
    if swap == "sync":
        # The Django-flavoured drop-ins, as a user swapping Django's imports
        # gets them; outside a variant they are Django's client and factory.
        pairs = {"Client": test.Client, "RequestFactory": test.RequestFactory}
        attribute, client = "client_class", test.Client
    else:
        pairs = {
            "AsyncClient": test.AsyncAPIClient,
            "AsyncRequestFactory": test.AsyncAPIRequestFactory,
        }
        attribute, client = "async_client_class", test.AsyncAPIClient
    _set_in_django_test(pairs, done)
    setattr(SimpleTestCase, attribute, client)
    done[f"django.test.SimpleTestCase.{attribute}"] = _name(client)
    return done


def _swap_drf() -> dict[str, str]:
    import rest_framework.test as drf
    from django.test import SimpleTestCase

    client, factory = dropin_classes()
    originals = (drf.APIClient, drf.APIRequestFactory)
    done: dict[str, str] = {}
    # APITestCase, APISimpleTestCase, APITransactionTestCase,
    # APILiveServerTestCase: every base of rest_framework.test that uses
    # DRF's client.
    for name, value in sorted(vars(drf).items()):
        if (
            isinstance(value, type)
            and issubclass(value, SimpleTestCase)
            and value.__dict__.get("client_class") in originals
        ):
            value.client_class = client
            done[f"rest_framework.test.{name}.client_class"] = _name(client)
    _set(drf, "APIClient", client, done)
    _set(drf, "APIRequestFactory", factory, done)
    return done


def _swap_adrf() -> dict[str, str]:
    import adrf.test  # type: ignore[import-untyped]

    from restflow_parity import test

    done: dict[str, str] = {}
    _set(adrf.test, "AsyncAPIClient", test.AsyncAPIClient, done)
    _set(adrf.test, "AsyncAPIRequestFactory", test.AsyncAPIRequestFactory, done)
    return done


class RequestCounter:
    """Counts the ASGI and WSGI requests built while each test runs."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.asgi: Counter[str] = Counter()
        self.wsgi: Counter[str] = Counter()

    def install(self) -> None:
        from django.core.handlers.asgi import ASGIRequest
        from django.core.handlers.wsgi import WSGIRequest

        ASGIRequest.__init__ = self._counting(ASGIRequest.__init__, self.asgi)  # type: ignore[method-assign]
        WSGIRequest.__init__ = self._counting(WSGIRequest.__init__, self.wsgi)  # type: ignore[method-assign]

    def _counting(
        self, init: Callable[..., None], tally: Counter[str]
    ) -> Callable[..., None]:
        def counted(request: Any, *args: Any, **kwargs: Any) -> None:
            # Tests run one at a time in a process, so the running test is
            # a process global: requests built in asgiref's threads count too.
            if self.current is not None:
                tally[self.current] += 1
            init(request, *args, **kwargs)

        return counted


# Worse outcomes win when one test reports several times (subtests, teardown).
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


class Outcomes:
    """One outcome per test id, and the record file ``verdict.py`` reads."""

    def __init__(self, suite: str, run: str) -> None:
        self.suite, self.run = suite, run
        self.tests: dict[str, dict[str, Any]] = {}
        self.classes: dict[str, str] = {}

    def add(self, test_id: str, outcome: str, detail: str = "", **info: Any) -> None:
        entry = self.tests.setdefault(test_id, {"outcome": outcome})
        if _RANK[outcome] >= _RANK[entry["outcome"]]:
            entry["outcome"] = outcome
            if detail:
                entry["detail"] = detail
        entry.update({k: v for k, v in info.items() if v is not None})

    def write(self, path: Path) -> None:
        versions = {}
        for dist in ("Django", "djangorestframework", "adrf", "restflow-parity"):
            with contextlib.suppress(metadata.PackageNotFoundError):
                versions[dist] = metadata.version(dist)
        record = {
            "suite": self.suite,
            "run": self.run,
            "python": sys.version.split()[0],
            "versions": versions,
            "classes": self.classes,
            "tests": self.tests,
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
        temporary.replace(path)


def describe(
    exc_type: type[BaseException] | None,
    value: BaseException | None,
    tb: TracebackType | None,
) -> str:
    """One line for a failure: the exception, where it was raised, and the
    innermost restflow-parity frame on the way (the likeliest culprit)."""
    message = str(value).strip().splitlines()
    name = exc_type.__name__ if exc_type is not None else "?"
    text = f"{name}: {message[0]}" if message else name
    frames = traceback.extract_tb(tb) if tb is not None else []
    where = [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames[-1:]]
    ours = [f for f in frames[:-1] if "restflow_parity" in f.filename]
    if ours:
        where.append(
            f"restflow_parity/{Path(ours[-1].filename).name}:{ours[-1].lineno}"
        )
    if where:
        text += f"  [{'; '.join(where)}]"
    return text[:400]
