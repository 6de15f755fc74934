"""Token and session authentication, with CSRF enforced as in production."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APITestCase

from catalog.models import Product
from restflow_parity import run_both_modes
from tests.helpers import ORDERS_URL, PASSWORD, PRODUCTS_URL, FreshCacheMixin, make_user

NEW_PRODUCT = {"sku": "MUG-1", "name": "Mug", "price": "4.50"}


@run_both_modes
class AuthenticationTests(FreshCacheMixin, APITestCase):
    # Both stacks' clients are built with these keywords: the session's
    # unsafe requests then need a CSRF token, as from a browser.
    parity_client_kwargs = {"enforce_csrf_checks": True}

    @classmethod
    def setUpTestData(cls) -> None:
        cls.staff = make_user("stella", staff=True)

    def test_token_for_a_password(self) -> None:
        granted = self.client.post(
            "/api/auth/token/", {"username": "stella", "password": PASSWORD}
        )
        refused = self.client.post(
            "/api/auth/token/", {"username": "stella", "password": "guess"}
        )

        assert granted.status_code == 200
        assert granted.data == {"token": Token.objects.get(user=self.staff).key}
        assert refused.status_code == 400

    async def test_token_writes_need_no_csrf_token(self) -> None:
        token = await Token.objects.acreate(user=self.staff)

        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        created = await self.client.post(PRODUCTS_URL, NEW_PRODUCT)
        self.client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
        forged = await self.client.get(ORDERS_URL)

        assert created.status_code == 201
        assert forged.status_code == 401
        assert forged.data["detail"] == "Invalid token."

    def test_session_writes_need_a_csrf_token(self) -> None:
        assert self.client.login(username="stella", password=PASSWORD)

        response = self.client.post(PRODUCTS_URL, NEW_PRODUCT)

        assert response.status_code == 403
        assert "CSRF Failed" in response.data["detail"]
        assert not Product.objects.filter(sku="MUG-1").exists()

    async def test_session_login_hands_out_the_csrf_token(self) -> None:
        wrong = await self.client.post(
            "/api/auth/login/", {"username": "stella", "password": "guess"}
        )
        login = await self.client.post(
            "/api/auth/login/", {"username": "stella", "password": PASSWORD}
        )
        created = await self.client.post(
            PRODUCTS_URL, NEW_PRODUCT, headers={"X-CSRFToken": login.data["csrf_token"]}
        )

        assert wrong.status_code == 400
        assert login.status_code == 200
        assert "sessionid" in login.cookies
        assert created.status_code == 201, created.data

    async def test_logging_out_ends_the_session(self) -> None:
        assert await self.client.alogin(username="stella", password=PASSWORD)
        signed_in = await self.client.get(ORDERS_URL)
        await self.client.alogout()
        signed_out = await self.client.get(ORDERS_URL)

        assert signed_in.status_code == 200
        assert signed_out.status_code == 401
