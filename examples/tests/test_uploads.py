"""Uploading a product's datasheet (multipart) through both stacks."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APITestCase

from catalog.models import Product
from restflow_parity import run_both_modes
from tests.helpers import PRODUCTS_URL, FreshCacheMixin, datasheet, kettle, make_user


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as stored:
        return stored.read()


@run_both_modes
class DatasheetUploadTests(FreshCacheMixin, APITestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.staff = make_user("stella", staff=True)
        cls.customer = make_user("carl")
        cls.product = kettle()
        cls.product.save()
        cls.url = f"{PRODUCTS_URL}{cls.product.pk}/datasheet/"

    def setUp(self) -> None:
        super().setUp()
        self.client.force_authenticate(user=self.staff)

    def test_a_pdf_is_stored(self) -> None:
        upload = datasheet("kettle.pdf")

        response = self.client.post(self.url, {"datasheet": upload}, format="multipart")

        assert response.status_code == 200, response.data
        self.product.refresh_from_db()
        name = self.product.datasheet.name
        self.addCleanup(default_storage.delete, name)
        assert name.startswith("datasheets/kettle")
        assert response.data["datasheet"] == f"http://testserver/media/{name}"
        upload.seek(0)
        assert stored_bytes(name) == upload.read()

    async def test_a_text_file_is_stored(self) -> None:
        notes = b"Capacity: 1.7 l\nPower: 2200 W\n"
        upload = SimpleUploadedFile("kettle.txt", notes, content_type="text/plain")

        response = await self.client.post(
            self.url, {"datasheet": upload}, format="multipart"
        )

        assert response.status_code == 200, response.data
        product = await Product.objects.aget(pk=self.product.pk)
        self.addCleanup(default_storage.delete, product.datasheet.name)
        assert await sync_to_async(stored_bytes)(product.datasheet.name) == notes

    async def test_bad_uploads_are_refused(self) -> None:
        cases = [
            ("kettle.exe", 1024, "Upload a .pdf, .txt file."),
            ("kettle.pdf", 600 * 1024, "Datasheets are at most 512 KiB."),
        ]
        for name, size, error in cases:
            response = await self.client.post(
                self.url, {"datasheet": datasheet(name, size)}, format="multipart"
            )
            assert response.status_code == 400
            assert response.data == {"datasheet": [error]}
        missing = await self.client.post(self.url, {}, format="multipart")
        assert missing.data == {"datasheet": ["No file was submitted."]}
        self.client.force_authenticate(user=self.customer)
        by_customer = await self.client.post(
            self.url, {"datasheet": datasheet()}, format="multipart"
        )
        assert by_customer.status_code == 403
        product = await Product.objects.aget(pk=self.product.pk)
        assert not product.datasheet
