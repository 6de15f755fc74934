from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from rest_framework import serializers

from catalog.models import Order, OrderLine, Product
from catalog.orders import OutOfStock, place_order

DATASHEET_SUFFIXES = frozenset({".pdf", ".txt"})
DATASHEET_MAX_BYTES = 512 * 1024


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = (
            "id",
            "sku",
            "name",
            "description",
            "price",
            "stock",
            "is_active",
            "datasheet",
        )
        read_only_fields = ("datasheet",)


class DatasheetSerializer(serializers.ModelSerializer):
    datasheet = serializers.FileField()

    class Meta:
        model = Product
        fields = ("datasheet",)

    def validate_datasheet(self, upload: UploadedFile) -> UploadedFile:
        suffix = PurePath(upload.name or "").suffix.lower()
        if suffix not in DATASHEET_SUFFIXES:
            allowed = ", ".join(sorted(DATASHEET_SUFFIXES))
            raise serializers.ValidationError(f"Upload a {allowed} file.")
        if upload.size is not None and upload.size > DATASHEET_MAX_BYTES:
            raise serializers.ValidationError(
                f"Datasheets are at most {DATASHEET_MAX_BYTES // 1024} KiB."
            )
        return upload


class OrderLineSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.filter(is_active=True)
    )
    sku = serializers.CharField(source="product.sku", read_only=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100)

    class Meta:
        model = OrderLine
        fields = ("product", "sku", "quantity", "unit_price")
        read_only_fields = ("unit_price",)


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True)
    customer = serializers.CharField(source="customer.username", read_only=True)

    class Meta:
        model = Order
        fields = ("id", "customer", "status", "created_at", "lines", "total")
        read_only_fields = ("status", "created_at")

    def validate_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not lines:
            raise serializers.ValidationError("An order needs at least one line.")
        return lines

    def create(self, validated_data: dict[str, Any]) -> Order:
        items = [
            (line["product"], line["quantity"]) for line in validated_data["lines"]
        ]
        try:
            return place_order(validated_data["customer"], items)
        except OutOfStock as error:
            raise serializers.ValidationError(
                {
                    "lines": [
                        f"Only {available} of {sku} in stock."
                        for sku, available in sorted(error.shortages.items())
                    ]
                }
            ) from error
