"""Security properties that must hold on both stacks."""

from __future__ import annotations

import unittest

import httpx
from django.contrib.auth.models import User
from django.test import RequestFactory, SimpleTestCase
from products.views import RECORDED_SCOPES
from rest_framework.test import APITestCase

from restflow_parity import run_both_modes
from restflow_parity.middleware import EnsureScopeMiddleware
from restflow_parity.scope import build_scope
from restflow_parity.variants._mode import selected_modes


class FreshClientPerTest(SimpleTestCase):
    def test_credentials_and_force_auth_never_outlive_their_test(self) -> None:
        seen: dict[str, object] = {}

        class Leaky(SimpleTestCase):
            @run_both_modes
            def test_1_sets_state(self) -> None:
                self.client.credentials(HTTP_AUTHORIZATION="Token secret")
                self.client.force_authenticate(user=User(username="khan"))
                self.client.cookies["sessionid"] = "stolen"

            @run_both_modes
            def test_2_sees_none(self) -> None:
                echoed = self.client.get("/echo/").json()
                seen[self.mode] = (
                    echoed["authorization"],
                    echoed["headers"].get("Cookie"),
                    self.client.get("/whoami/").data["authenticated"],
                    dict(self.client.cookies),
                )

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Leaky).run(result)
        assert result.wasSuccessful(), result.errors + result.failures
        assert seen == {mode: (None, None, False, {}) for mode in selected_modes()}


@run_both_modes
class CsrfIsEnforcedAlike(APITestCase):
    parity_client_kwargs = {"enforce_csrf_checks": True}

    def setUp(self) -> None:
        self.user = User.objects.create_user(username="khan", password="pw")

    def test_session_post_without_token_is_refused(self) -> None:
        self.client.force_login(self.user)
        response = self.client.post("/whoami/", {"a": 1}, format="json")
        assert response.status_code == 403
        assert "CSRF" in str(response.data["detail"])

    def test_session_post_with_token_is_accepted(self) -> None:
        self.client.force_login(self.user)
        token = self.client.get("/csrf/").json()["token"]
        response = self.client.post(
            "/whoami/", {"a": 1}, format="json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == 200

    def test_token_auth_is_not_subject_to_csrf(self) -> None:
        from rest_framework.authtoken.models import Token

        token = Token.objects.create(user=self.user)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert self.client.post("/whoami/", {}, format="json").status_code == 200


@run_both_modes
class UnderscoreHeadersCannotSpoof(APITestCase):
    def test_underscore_header_name_never_reaches_the_view(self) -> None:
        # "Remote_User" must not arrive as REMOTE-USER / HTTP_REMOTE_USER.
        response = self.client.get("/echo/", headers={"Remote_User": "admin"})
        assert "Remote-User" not in response.json()["headers"]
        sync = self.mode == "sync"
        request = response.wsgi_request if sync else response.asgi_request
        assert "HTTP_REMOTE_USER" not in request.META


def test_real_server_drops_underscore_headers_too(uvicorn_server: object) -> None:
    server = uvicorn_server()  # type: ignore[operator]
    response = httpx.get(
        f"{server.url}/echo/", headers={"Remote_User": "admin", "X-Probe": "u"}
    )
    assert "Remote-User" not in response.json()["headers"]


class ForwardedHeadersAreNotTrusted(SimpleTestCase):
    def test_build_scope_ignores_x_forwarded_for_client_and_scheme(self) -> None:
        request = RequestFactory().get(
            "/",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
            HTTP_X_FORWARDED_PROTO="https",
            HTTP_X_FORWARDED_HOST="evil.example",
        )
        scope = build_scope(request)
        assert scope["client"] == ("127.0.0.1", 0)
        assert scope["scheme"] == "http"
        assert (b"x-forwarded-for", b"203.0.113.9") in scope["headers"]

    def test_middleware_scope_matches(self) -> None:
        request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.9")
        EnsureScopeMiddleware(lambda r: None)(request)  # type: ignore[arg-type,return-value]
        assert request.scope["client"][0] == "127.0.0.1"  # type: ignore[attr-defined]


def test_forwarded_headers_change_nothing_on_either_stack_or_uvicorn(
    uvicorn_server: object,
) -> None:
    from clients import make_client

    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    server = uvicorn_server()  # type: ignore[operator]
    httpx.get(f"{server.url}/scope/fwd", headers={**forwarded, "X-Probe": "fwd-real"})
    scopes = {"uvicorn": RECORDED_SCOPES.pop("fwd-real")}
    for mode in ("sync", "async"):
        client = make_client(mode, awaitable=False)  # type: ignore[arg-type]
        client.get("/scope/fwd", headers={**forwarded, "X-Probe": f"fwd-{mode}"})
        scopes[mode] = RECORDED_SCOPES.pop(f"fwd-{mode}")
    for name, scope in scopes.items():
        assert scope["client"][0] == "127.0.0.1", name
        assert scope["scheme"] == "http", name
