"""What a variant's ``self.client``, ``self.async_client`` and ``self.factory`` are."""

from __future__ import annotations

from typing import Any

from django.test import AsyncClient
from django.test import Client as DjangoClient
from django.test.client import AsyncRequestFactory
from django.test.client import RequestFactory as DjangoFactory
from rest_framework.test import APIClient as DRFAPIClient
from rest_framework.test import APIRequestFactory as DRFFactory

from restflow_parity.request._client import (
    APIClient,
    AsyncAPIClient,
    Client,
    ClientBase,
    SyncAPIClient,
)
from restflow_parity.request._factory import (
    APIRequestFactory,
    AsyncAPIRequestFactory,
    RequestFactory,
    SyncAPIRequestFactory,
)

__all__ = ["variant_client_classes", "variant_factory"]


def variant_factory(declared: Any) -> Any:
    """``self.factory`` for a variant, from the class's own ``factory``.

    None (no ``factory`` on the class): the mode-aware ``APIRequestFactory``.
    A mode-aware factory of the kit's: kept, it follows the variant. Django's,
    DRF's or the kit's one-stack factory: rebuilt as the mode-aware one with
    the arguments it was made with (headers, ``enforce_csrf_checks``, JSON
    encoder). Anything else called ``factory`` (a model factory, a subclass
    the kit cannot rebuild) is the class's business: returned as None, it
    is left alone, and the ledger says if it builds for the wrong stack.
    """
    if declared is None:
        return APIRequestFactory()
    kind = type(declared)
    if kind in (SyncAPIRequestFactory, AsyncAPIRequestFactory, DRFFactory):
        rebuilt: type = APIRequestFactory
    elif kind in (DjangoFactory, AsyncRequestFactory):
        rebuilt = RequestFactory
    else:
        return None
    return rebuilt(
        enforce_csrf_checks=getattr(declared, "enforce_csrf_checks", False),
        json_encoder=declared.json_encoder,
        **declared.defaults,
    )


def variant_client_classes(owner: type) -> tuple[type, type]:
    """The classes of ``self.client`` and ``self.async_client`` in variants.

    Django's, DRF's and the kit's own client classes are replaced by the
    mode-aware drop-in (awaitable in ``async def`` bodies). A class's own
    ``client_class`` is kept when it follows the running stack: it derives
    from ``restflow_parity.test.APIClient``, or from Django's or DRF's client,
    whose requests follow the variant (``stock.py``; the ledger checks). A
    subclass of the kit's one-stack clients would test one stack twice, so it
    is refused with the fix.
    """
    stock = {
        DjangoClient: Client,
        AsyncClient: Client,
        DRFAPIClient: APIClient,
        SyncAPIClient: APIClient,
        AsyncAPIClient: APIClient,
    }
    chosen: list[type] = []
    for attribute in ("client_class", "async_client_class"):
        declared = getattr(owner, attribute, DRFAPIClient)
        if declared in stock:
            chosen.append(stock[declared])
        elif isinstance(declared, type) and (
            (issubclass(declared, ClientBase) and declared.stack is None)
            or issubclass(declared, (DjangoClient, AsyncClient))
        ):
            chosen.append(declared)
        else:
            name = getattr(declared, "__qualname__", repr(declared))
            raise TypeError(
                f"@run_both_modes on {owner.__qualname__}: its {attribute} "
                f"{name} sends on one stack only, so both variants would test "
                f"that stack. Derive it from restflow_parity.test.APIClient "
                f"(class {getattr(declared, '__name__', 'MyClient')}(APIClient): "
                "...), which sends on the stack of the running variant, "
                "keeping your overrides of request() or generic()."
            )
    return chosen[0], chosen[1]
