"""adrf async DRF views, to prove the kit drives them too."""

from __future__ import annotations

from adrf.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from products.models import Product


@api_view(["GET", "POST"])
async def adrf_products(request: Request) -> Response:
    if request.method == "POST":
        product = await Product.objects.acreate(name=request.data["name"])
        return Response({"id": product.pk, "name": product.name}, status=201)
    user = request.user
    return Response(
        {
            "names": [p.name async for p in Product.objects.order_by("id")],
            "user": user.get_username() if user.is_authenticated else None,
        }
    )
