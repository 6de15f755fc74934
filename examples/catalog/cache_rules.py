"""The cache rule: product lists are cached until a product write *commits*.

List responses are cached under a key that includes a generation token. A
write to a product replaces the token, which orphans every cached list at
once (LocMemCache cannot delete keys by prefix). The token is replaced in
``transaction.on_commit``: busting before the commit would let a concurrent
request re-cache the old rows, and a rolled-back write must not bust at all.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import Product

GENERATION_KEY = "catalog:products:generation"
LIST_TIMEOUT = 300


def _new_generation() -> str:
    return uuid.uuid4().hex


def product_list_key(audience: str, url: str) -> str:
    """The cache key of one list response (one page, filter and host)."""
    # A random token rather than a counter: if the cache evicts the token, a
    # fresh one cannot collide with the keys of lists cached before.
    generation = cache.get_or_set(GENERATION_KEY, _new_generation, timeout=None)
    digest = hashlib.sha256(url.encode()).hexdigest()[:32]
    return f"catalog:products:{generation}:{audience}:{digest}"


def bust_product_lists() -> None:
    """Forget every cached product list."""
    cache.set(GENERATION_KEY, _new_generation(), timeout=None)


@receiver([post_save, post_delete], sender=Product)
def bust_after_commit(sender: type[Product], **kwargs: Any) -> None:
    transaction.on_commit(bust_product_lists)
