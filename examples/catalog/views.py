"""The catalogue and orders API: DRF viewsets and the session login."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login
from django.core.cache import cache
from django.db.models import QuerySet
from django.middleware.csrf import get_token
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.cache_rules import LIST_TIMEOUT, product_list_key
from catalog.models import Order, Product
from catalog.orders import NotCancellable, cancel_order
from catalog.permissions import IsStaffOrReadOnly
from catalog.serializers import DatasheetSerializer, OrderSerializer, ProductSerializer


class ProductViewSet(viewsets.ModelViewSet):
    """Products: everyone reads the active ones; staff see and edit all."""

    serializer_class = ProductSerializer
    permission_classes = (IsStaffOrReadOnly,)

    def get_queryset(self) -> QuerySet[Product]:
        products = Product.objects.all()
        if not self.request.user.is_staff:
            products = products.filter(is_active=True)
        if self.request.query_params.get("in_stock") == "true":
            products = products.filter(stock__gt=0)
        return products

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Keyed by the absolute URL: page links in the body name the host.
        audience = "staff" if request.user.is_staff else "public"
        key = product_list_key(audience, request.build_absolute_uri())
        data = cache.get(key)
        if data is None:
            data = super().list(request, *args, **kwargs).data
            cache.set(key, data, LIST_TIMEOUT)
        return Response(data)

    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def datasheet(self, request: Request, pk: str | None = None) -> Response:
        """Upload the product's datasheet (multipart field ``datasheet``)."""
        product = self.get_object()
        upload = DatasheetSerializer(product, data=request.data)
        upload.is_valid(raise_exception=True)
        upload.save()
        return Response(self.get_serializer(product).data)


class OrderViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Orders: customers place and see their own; staff see everyone's."""

    serializer_class = OrderSerializer
    permission_classes = (permissions.IsAuthenticated,)

    def get_queryset(self) -> QuerySet[Order]:
        orders = Order.objects.select_related("customer").prefetch_related(
            "lines__product"
        )
        if self.request.user.is_staff:
            return orders
        return orders.filter(customer=self.request.user)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.save(customer=self.request.user)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a placed order; its stock goes back on the shelf."""
        try:
            order = cancel_order(self.get_object())
        except NotCancellable as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(self.get_queryset().get(pk=order.pk)).data)


class SessionLoginView(APIView):
    """Log in with a username and password; start a session (browser clients).

    The response carries the CSRF token the session's unsafe requests must
    send back in ``X-CSRFToken``.
    """

    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)

    def post(self, request: Request) -> Response:
        user = authenticate(
            request._request,
            username=request.data.get("username"),
            password=request.data.get("password"),
        )
        if user is None:
            return Response(
                {"detail": "Wrong username or password."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        login(request._request, user)
        return Response(
            {"username": user.get_username(), "csrf_token": get_token(request._request)}
        )
