"""Placing and cancelling orders: the stock rules, in one transaction each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from catalog.models import Order, OrderLine, Product


class OutOfStock(Exception):
    """Some products do not have the quantities asked for."""

    def __init__(self, shortages: dict[str, int]) -> None:
        self.shortages = shortages  # sku -> units available
        super().__init__(f"not enough stock for {', '.join(sorted(shortages))}")


class NotCancellable(Exception):
    """The order is not in a state that can be cancelled."""


def place_order(customer: Any, items: Iterable[tuple[Product, int]]) -> Order:
    """Create an order for ``(product, quantity)`` items and take the stock."""
    wanted: Counter[int] = Counter()
    for product, quantity in items:
        wanted[product.pk] += quantity
    with transaction.atomic():
        # Locked and re-read: the products the caller holds may be stale.
        products = Product.objects.select_for_update().in_bulk(list(wanted))
        shortages = {
            product.sku: product.stock
            for pk, product in products.items()
            if product.stock < wanted[pk]
        }
        if shortages:
            raise OutOfStock(shortages)
        order = Order.objects.create(customer=customer)
        lines = []
        for pk, quantity in wanted.items():
            product = products[pk]
            product.stock -= quantity
            # save(), not update(): post_save is what busts the cached lists.
            product.save(update_fields=["stock", "updated_at"])
            lines.append(
                OrderLine(
                    order=order,
                    product=product,
                    quantity=quantity,
                    unit_price=product.price,
                )
            )
        OrderLine.objects.bulk_create(lines)
    return order


def cancel_order(order: Order) -> Order:
    """Cancel a placed order and put its stock back."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != Order.Status.PLACED:
            raise NotCancellable(f"order {order.pk} is {order.status}")
        lines = list(order.lines.all())
        products = Product.objects.select_for_update().in_bulk(
            [line.product_id for line in lines]
        )
        for line in lines:
            product = products[line.product_id]
            product.stock += line.quantity
            product.save(update_fields=["stock", "updated_at"])
        order.status = Order.Status.CANCELLED
        order.save(update_fields=["status"])
    return order
