"""The seed guide's cache rule: bust the cached list only once the write commits."""

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from products.models import Product

PRODUCT_LIST_KEY = "products:list"


@receiver([post_save, post_delete], sender=Product)
def invalidate_product_list(sender: type[Product], **kwargs: object) -> None:
    transaction.on_commit(lambda: cache.delete(PRODUCT_LIST_KEY))
