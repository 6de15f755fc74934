"""A plain async Django view over the async ORM."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from catalog.models import Product


@require_GET
async def stock_report(request: HttpRequest) -> JsonResponse:
    """Counts and stock value of the active catalogue."""
    value = ExpressionWrapper(
        F("price") * F("stock"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    totals = await Product.objects.filter(is_active=True).aaggregate(
        products=Count("id"),
        out_of_stock=Count("id", filter=Q(stock=0)),
        units=Sum("stock", default=0),
        value=Sum(value, default=Decimal("0")),
    )
    low = [
        product.sku
        async for product in Product.objects.filter(
            is_active=True, stock__gt=0, stock__lt=5
        ).order_by("sku")
    ]
    return JsonResponse(
        {
            "products": totals["products"],
            "out_of_stock": totals["out_of_stock"],
            "units": totals["units"],
            "value": f"{totals['value']:.2f}",
            "low_stock": low,
        }
    )
