"""AsyncAPIClient: every behaviour the seed guide documents, on real views."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import override_settings
from products.models import Product
from rest_framework.authtoken.models import Token

from restflow_parity.request._streams import SYNC_STREAM_WARNING
from restflow_parity.test import (
    AsyncAPIClient,
    AsyncAPITestCase,
    DroppedInputWarning,
    MissingAwaitError,
    PendingResponse,
    SyncAPIClient,
)


class VerbTests(AsyncAPITestCase):
    async def test_every_verb_reaches_the_view_with_its_method(self) -> None:
        for verb in ("get", "post", "put", "patch", "delete", "options"):
            response = await getattr(self.client, verb)("/whoami/")
            self.assertEqual(response.status_code, 200, verb)
            self.assertEqual(response.data["method"], verb.upper())

    async def test_head_has_status_and_no_body(self) -> None:
        response = await self.client.head("/echo/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"")

    async def test_trace_is_sent_as_trace(self) -> None:
        response = await self.client.trace("/echo/")
        self.assertEqual(response.json()["method"], "TRACE")

    async def test_get_data_becomes_the_query_string(self) -> None:
        response = await self.client.get(
            "/whoami/", {"category": "phones", "n": [1, 2]}
        )
        self.assertEqual(response.data["query"], {"category": "phones", "n": "2"})
        self.assertEqual(
            response.asgi_request.META["QUERY_STRING"], "category=phones&n=1&n=2"
        )

    async def test_get_data_replaces_the_urls_query_and_says_so(self) -> None:
        # Django's and DRF's rule, kept so a result never changes; the loss
        # is no longer silent.
        with self.assertWarnsMessage(DroppedInputWarning, "the query 'a=1' is dropped"):
            response = await self.client.get("/echo/?a=1", {"b": "2"})
        self.assertEqual(response.json()["query"], "b=2")

    async def test_head_data_becomes_the_query_string(self) -> None:
        response = await self.client.head("/echo/", {"q": "x"})
        self.assertEqual(response.asgi_request.META["QUERY_STRING"], "q=x")

    async def test_get_sends_no_content_type(self) -> None:
        # DRF's factory sends application/octet-stream on GET; a browser doesn't.
        response = await self.client.get("/echo/")
        self.assertIsNone(response.json()["content_type"])

    async def test_query_params_keyword(self) -> None:
        response = await self.client.post("/echo/", query_params={"page": 3})
        self.assertEqual(response.json()["query"], "page=3")


class FormatTests(AsyncAPITestCase):
    async def test_json_format_is_rendered_once_with_one_content_type(self) -> None:
        # adrf's client sends "application/json,application/json" and gets 415.
        response = await self.client.post("/whoami/", {"name": "Phone"}, format="json")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.data["content_type"], "application/json")
        self.assertEqual(response.data["data"], {"name": "Phone"})

    async def test_default_format_comes_from_drf_settings(self) -> None:
        response = await self.client.post("/whoami/", {"name": "Phone"})
        self.assertEqual(response.data["content_type"], "application/json")
        with override_settings(
            REST_FRAMEWORK={"TEST_REQUEST_DEFAULT_FORMAT": "multipart"}
        ):
            response = await self.client.post("/whoami/", {"name": "Phone"})
        self.assertTrue(response.data["content_type"].startswith("multipart/form-data"))
        self.assertEqual(response.data["data"].dict(), {"name": "Phone"})

    async def test_multipart_file_upload(self) -> None:
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("photo.jpg", b"\xff\xd8jpeg", "image/jpeg")
        response = await self.client.post(
            "/echo/", {"photo": upload, "title": "x"}, format="multipart"
        )
        body = response.json()["body"]
        self.assertIn('filename="photo.jpg"', body)
        self.assertIn("title", body)

    async def test_content_type_sends_raw_bytes(self) -> None:
        response = await self.client.post(
            "/echo/", data=b"raw \x00 payload", content_type="text/plain"
        )
        self.assertEqual(response.json()["body"], "raw \x00 payload")
        self.assertEqual(response.json()["content_type"], "text/plain")

    async def test_content_type_json_encodes_dicts(self) -> None:
        response = await self.client.post(
            "/whoami/", {"a": 1}, content_type="application/json"
        )
        self.assertEqual(response.data["data"], {"a": 1})

    async def test_format_and_content_type_together_is_an_assertion(self) -> None:
        with self.assertRaisesMessage(AssertionError, "not both"):
            await self.client.post("/echo/", {"a": 1}, format="json", content_type="x")

    async def test_unknown_format_lists_formats_and_names_the_setting(self) -> None:
        with self.assertRaises(AssertionError) as raised:
            await self.client.post("/echo/", {"a": 1}, format="yaml")
        message = str(raised.exception)
        self.assertIn("'json'", message)
        self.assertIn("'multipart'", message)
        self.assertIn("TEST_REQUEST_RENDERER_CLASSES", message)

    async def test_non_serialisable_data_names_the_fix(self) -> None:
        with self.assertRaisesMessage(TypeError, "could not be rendered as 'json'"):
            await self.client.post("/echo/", {"when": object()}, format="json")

    async def test_format_on_get_is_ignored_as_drf_does(self) -> None:
        # DRF's get() lets format= fall into **extra, where nothing reads it;
        # 31 of DRF's own tests pass it.
        response = await self.client.get("/echo/", {"a": 1}, format="json")
        self.assertEqual(response.json()["query"], "a=1")
        self.assertIsNone(response.json()["content_type"])
        self.assertEqual(response.asgi_request.body, b"")

    async def test_content_type_on_get_sets_the_header_without_a_body(self) -> None:
        response = await self.client.get(
            "/echo/", data="", content_type="application/json"
        )
        self.assertEqual(response.json()["content_type"], "application/json")
        self.assertEqual(response.asgi_request.body, b"")

    async def test_raw_body_on_get_is_refused_with_the_fix(self) -> None:
        with self.assertRaisesMessage(TypeError, "data= becomes the query string"):
            await self.client.get("/echo/", "raw body")


class HeaderTests(AsyncAPITestCase):
    async def test_constructor_defaults_use_environ_names(self) -> None:
        client = AsyncAPIClient(HTTP_HOST="api.example.com", REMOTE_ADDR="10.1.2.3")
        data = (await client.get("/echo/")).json()
        self.assertEqual(data["host"], "api.example.com")
        self.assertEqual(data["remote_addr"], "10.1.2.3")

    async def test_per_request_environ_keywords(self) -> None:
        response = await self.client.get(
            "/echo/", HTTP_AUTHORIZATION="Token abc", SERVER_NAME="api.example.com"
        )
        self.assertEqual(response.json()["authorization"], "Token abc")
        self.assertEqual(response.json()["server_name"], "api.example.com")
        self.assertEqual(response.asgi_request.scope["server"], ("api.example.com", 80))

    async def test_non_str_default_is_stringified_not_crashing(self) -> None:
        client = AsyncAPIClient(SERVER_PORT=8000, HTTP_X_NUMBER=7)
        response = await client.get("/echo/")
        self.assertEqual(response.asgi_request.scope["server"], ("testserver", 8000))
        self.assertEqual(response.json()["headers"]["X-Number"], "7")

    async def test_host_header_follows_the_server_like_a_real_client(self) -> None:
        cases = [
            ({}, b"testserver"),
            ({"secure": True}, b"testserver"),
            (
                {"SERVER_NAME": "api.example.com", "SERVER_PORT": 8443},
                b"api.example.com:8443",
            ),
            ({"secure": True, "SERVER_PORT": "80"}, b"testserver:80"),
        ]
        for extra, host in cases:
            with self.subTest(extra=extra):
                response = await self.client.get("/echo/", **extra)
                headers = response.asgi_request.scope["headers"]
                self.assertEqual([v for k, v in headers if k == b"host"], [host])

    async def test_headers_keyword_is_not_duplicated(self) -> None:
        response = await self.client.get(
            "/echo/",
            headers={"Host": "api.example.com", "Cookie": "x=1"},
            HTTP_X_A="1",
        )
        names = [name for name, _ in response.asgi_request.scope["headers"]]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(response.json()["host"], "api.example.com")
        self.assertEqual(response.asgi_request.COOKIES, {"x": "1"})

    async def test_content_type_header_is_sent_once(self) -> None:
        response = await self.client.post(
            "/echo/",
            b"{}",
            content_type="application/json",
            headers={"Content-Type": "application/vnd.api+json"},
        )
        self.assertEqual(response.json()["content_type"], "application/vnd.api+json")
        types = [
            v for n, v in response.asgi_request.scope["headers"] if n == b"content-type"
        ]
        self.assertEqual(len(types), 1)

    async def test_credentials_persist_until_reset(self) -> None:
        self.client.credentials(HTTP_AUTHORIZATION="Bearer abc.def.ghi")
        for _ in range(2):
            response = await self.client.get("/echo/")
            self.assertEqual(response.json()["authorization"], "Bearer abc.def.ghi")
        self.client.credentials()
        self.assertIsNone((await self.client.get("/echo/")).json()["authorization"])

    async def test_per_request_header_wins_over_credentials(self) -> None:
        self.client.credentials(HTTP_AUTHORIZATION="Token persistent")
        response = await self.client.get("/echo/", HTTP_AUTHORIZATION="Token once")
        self.assertEqual(response.json()["authorization"], "Token once")

    def test_credentials_reject_other_keys_with_a_suggestion(self) -> None:
        with self.assertRaisesMessage(ValueError, "Did you mean HTTP_AUTHORIZATION"):
            AsyncAPIClient().credentials(Authorization="Token abc")

    async def test_underscore_header_names_are_dropped_like_django(self) -> None:
        # CVE-2026-3902: ASGIRequest ignores header names with underscores.
        response = await self.client.get("/echo/", headers={"X_Spoof": "1"})
        self.assertNotIn("X-Spoof", response.json()["headers"])
        self.assertNotIn("HTTP_X_SPOOF", response.asgi_request.META)

    async def test_raw_non_ascii_query_is_refused_as_servers_refuse_it(self) -> None:
        # A request target with raw non-ASCII bytes gets a 400 from uvicorn,
        # hypercorn and daphne before Django runs: the kit says so, on both
        # stacks, instead of sending what no client can send.
        with self.assertRaisesMessage(ValueError, "Percent-encode them"):
            await self.client.get("/echo/", QUERY_STRING="q=\xff")

    async def test_non_utf8_query_bytes_in_the_scope_are_a_400_like_django(
        self,
    ) -> None:
        response = await self.client.request(
            PATH_INFO="/echo/", REQUEST_METHOD="GET", query_string=b"q=\xff"
        )
        self.assertEqual(response.status_code, 400)

    async def test_non_ascii_path_is_not_mangled(self) -> None:
        response = await self.client.get("/scope/café/")
        self.assertEqual(response.asgi_request.path, "/scope/café/")
        self.assertEqual(response.asgi_request.scope["raw_path"], b"/scope/caf%C3%A9/")


class ScopeShapeTests(AsyncAPITestCase):
    async def test_scope_is_spec_shaped(self) -> None:
        scope = (await self.client.get("/echo/?a=1")).asgi_request.scope
        self.assertEqual(scope["query_string"], b"a=1")
        self.assertIsInstance(scope["server"][1], int)
        self.assertEqual(scope["http_version"], "1.1")
        self.assertEqual(scope["root_path"], "")
        self.assertIsInstance(scope["headers"], list)

    async def test_secure_request_is_https(self) -> None:
        response = await self.client.get("/echo/", secure=True)
        self.assertTrue(response.json()["secure"])
        self.assertEqual(response.asgi_request.scope["server"], ("testserver", 443))


class AuthTests(AsyncAPITestCase):
    async def asyncSetUp(self) -> None:
        self.user = await User.objects.acreate_user(username="khan", password="hunter2")

    async def test_alogin_then_alogout(self) -> None:
        self.assertTrue(await self.client.alogin(username="khan", password="hunter2"))
        self.assertEqual((await self.client.get("/whoami/")).data["user"], "khan")
        await self.client.alogout()
        self.assertFalse((await self.client.get("/whoami/")).data["authenticated"])

    async def test_alogin_with_wrong_password_is_false(self) -> None:
        self.assertFalse(await self.client.alogin(username="khan", password="nope"))

    async def test_aforce_login_seeds_the_session(self) -> None:
        await self.client.aforce_login(self.user)
        self.assertEqual((await self.client.get("/whoami/")).data["user"], "khan")

    async def test_token_credentials_reach_the_view(self) -> None:
        # adrf's client drops credentials(HTTP_AUTHORIZATION=...).
        token = await Token.objects.acreate(user=self.user)
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        response = await self.client.get("/whoami/")
        self.assertEqual(response.data["user"], "khan")
        self.assertEqual(response.data["auth"], token.key)

    async def test_force_authenticate_every_later_request_then_clear(self) -> None:
        self.client.force_authenticate(user=self.user, token="dummy")
        for _ in range(2):
            response = await self.client.get("/whoami/")
            self.assertEqual(response.data["user"], "khan")
            self.assertEqual(response.data["auth"], "dummy")
        # adrf's client crashes here with SynchronousOnlyOperation.
        self.client.force_authenticate()
        self.assertFalse((await self.client.get("/whoami/")).data["authenticated"])

    async def test_force_authenticate_clear_also_drops_session_and_credentials(
        self,
    ) -> None:
        await self.client.aforce_login(self.user)
        self.client.credentials(HTTP_AUTHORIZATION="Token x")
        self.client.force_authenticate()
        response = await self.client.get("/echo/")
        self.assertIsNone(response.json()["authorization"])
        self.assertFalse((await self.client.get("/whoami/")).data["authenticated"])

    async def test_force_authenticate_with_a_non_user_names_the_fix(self) -> None:
        with self.assertRaisesMessage(TypeError, "takes a user instance"):
            self.client.force_authenticate(user="khan")

    async def test_alogout_clears_everything_in_one_call(self) -> None:
        await self.client.alogin(username="khan", password="hunter2")
        self.client.credentials(HTTP_AUTHORIZATION="Token x")
        self.client.force_authenticate(user=self.user)
        await self.client.alogout()
        response = await self.client.get("/echo/")
        self.assertIsNone(response.json()["authorization"])
        self.assertFalse((await self.client.get("/whoami/")).data["authenticated"])

    async def test_sync_logout_inside_an_event_loop_names_alogout(self) -> None:
        with self.assertRaisesMessage(RuntimeError, "await client.alogout()"):
            self.client.logout()

    async def test_sync_login_inside_an_event_loop_names_alogin(self) -> None:
        with self.assertRaisesMessage(RuntimeError, "await client.alogin()"):
            self.client.login(username="khan", password="hunter2")

    def test_sync_logout_outside_an_event_loop(self) -> None:
        client = AsyncAPIClient()
        client.force_login(self.user_sync())
        client.credentials(HTTP_AUTHORIZATION="Token x")
        client.force_authenticate(user=User.objects.get(username="sync"))
        client.logout()
        self.assertEqual(len(client.cookies), 0)

        async def fetch(path: str) -> Any:
            return await client.get(path)

        # What the next requests show: no credentials, no forced user.
        self.assertIsNone(async_to_sync(fetch)("/echo/").json()["authorization"])
        self.assertFalse(async_to_sync(fetch)("/whoami/").data["authenticated"])

    def user_sync(self) -> User:
        return User.objects.create_user(username="sync", password="x")


class CsrfTests(AsyncAPITestCase):
    async def asyncSetUp(self) -> None:
        self.user = await User.objects.acreate_user(username="khan", password="pw")

    async def test_csrf_is_exempt_by_default(self) -> None:
        await self.client.aforce_login(self.user)
        self.assertEqual((await self.client.post("/whoami/", {})).status_code, 200)

    async def test_enforce_csrf_checks_rejects_session_posts_without_token(
        self,
    ) -> None:
        client = AsyncAPIClient(enforce_csrf_checks=True)
        await client.aforce_login(self.user)
        response = await client.post("/whoami/", {"a": 1})
        self.assertEqual(response.status_code, 403)
        self.assertIn("CSRF", str(response.data["detail"]))

    async def test_enforce_csrf_checks_accepts_the_token(self) -> None:
        client = AsyncAPIClient(enforce_csrf_checks=True)
        await client.aforce_login(self.user)
        token = (await client.get("/csrf/")).json()["token"]
        response = await client.post("/whoami/", {"a": 1}, HTTP_X_CSRFTOKEN=token)
        self.assertEqual(response.status_code, 200)

    async def test_safe_methods_pass_with_enforcement(self) -> None:
        client = AsyncAPIClient(enforce_csrf_checks=True)
        await client.aforce_login(self.user)
        self.assertEqual((await client.get("/whoami/")).status_code, 200)


class RedirectTests(AsyncAPITestCase):
    async def test_relative_location_is_followed(self) -> None:
        # Django's AsyncClient raises KeyError: 'PATH_INFO' here.
        response = await self.client.get("/redirect/?to=../echo/%3Fx%3D1", follow=True)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["path"], "/echo/")
        self.assertEqual(response.json()["query"], "x=1")
        self.assertEqual(response.redirect_chain, [("../echo/?x=1", 302)])

    async def test_post_301_302_303_become_bodiless_get(self) -> None:
        for status in (301, 302, 303):
            response = await self.client.post(
                f"/redirect/?to=/echo/&status={status}", {"a": 1}, follow=True
            )
            data = response.json()
            self.assertEqual((data["method"], data["body"]), ("GET", ""), status)
            self.assertIsNone(data["content_type"])

    async def test_307_308_keep_method_and_body(self) -> None:
        # Django's AsyncClient raises KeyError: 'REQUEST_METHOD' here.
        for status in (307, 308):
            response = await self.client.post(
                f"/redirect/?to=/echo/&status={status}", {"a": 1}, follow=True
            )
            data = response.json()
            self.assertEqual(data["method"], "POST", status)
            self.assertEqual(json.loads(data["body"]), {"a": 1})
            self.assertEqual(data["content_type"], "application/json")
            self.assertEqual(response.redirect_chain, [("/echo/", status)])

    async def test_head_stays_head(self) -> None:
        response = await self.client.head("/redirect/?to=/echo/", follow=True)
        self.assertEqual(response.asgi_request.method, "HEAD")

    async def test_absolute_url_switches_host_and_scheme(self) -> None:
        response = await self.client.get(
            "/redirect/?to=https://api.example.com/echo/%3Fq%3D1", follow=True
        )
        data = response.json()
        self.assertEqual(data["host"], "api.example.com")
        self.assertTrue(data["secure"])
        self.assertEqual(data["query"], "q=1")

    async def test_redirect_chain_of_several_hops(self) -> None:
        response = await self.client.get(
            "/redirect/?to=/redirect/%3Fto%3D/echo/%26status%3D301", follow=True
        )
        self.assertEqual([status for _, status in response.redirect_chain], [302, 301])

    async def test_redirect_loop_is_detected(self) -> None:
        from django.test.client import RedirectCycleError

        with self.assertRaises(RedirectCycleError):
            await self.client.get("/loop/", follow=True)

    async def test_more_than_twenty_hops_is_an_error(self) -> None:
        from django.test.client import RedirectCycleError

        response = await self.client.get("/redirect/?hops=20", follow=True)
        self.assertEqual(len(response.redirect_chain), 20)
        with self.assertRaisesMessage(RedirectCycleError, "Too many redirects."):
            await self.client.get("/redirect/?hops=21", follow=True)

    def test_sync_client_follows_redirects_the_same_way(self) -> None:
        response = SyncAPIClient().post(
            "/redirect/?to=/echo/&status=307", {"a": 1}, format="json", follow=True
        )
        self.assertEqual(response.json()["method"], "POST")
        self.assertEqual(response.redirect_chain, [("/echo/", 307)])

    async def test_truth_test_of_an_unawaited_response_names_the_fix(self) -> None:
        pending = self.client.get("/echo/")
        with self.assertRaisesMessage(MissingAwaitError, "add `await`"):
            bool(pending)
        await pending

    async def test_without_follow_the_redirect_is_returned(self) -> None:
        response = await self.client.get("/redirect/?to=/echo/")
        self.assertEqual(response.status_code, 302)
        self.assertFalse(hasattr(response, "redirect_chain"))


class ResponseTests(AsyncAPITestCase):
    def setUp(self) -> None:
        cache.clear()  # the product list cache outlives tests under Django's runner

    async def test_response_carries_data_json_content_and_request(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await self.client.get("/api/products/")
        self.assertEqual(response.data[0]["name"], "Phone")
        self.assertEqual(response.json()[0]["name"], "Phone")
        self.assertEqual(json.loads(response.content)[0]["name"], "Phone")
        self.assertEqual(response.asgi_request.path, "/api/products/")
        self.assertEqual(response.resolver_match.url_name, "product-list")

    async def test_cookies_persist_on_the_client(self) -> None:
        response = await self.client.get("/cookie/set/?value=rye")
        self.assertEqual(response.cookies["flavour"].value, "rye")
        self.assertEqual(
            (await self.client.get("/cookie/show/")).json(), {"flavour": "rye"}
        )

    async def test_sync_streaming_view_is_async_iterable(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await self.client.get("/export.csv")
        # Django's ASGIHandler says this of a sync iterator; so does the client,
        # at the line that reads the body.
        with self.assertWarnsMessage(Warning, SYNC_STREAM_WARNING) as caught:
            chunks = [chunk async for chunk in response.streaming_content]
        self.assertEqual(caught.filename, __file__)
        self.assertEqual(
            b"".join(chunks),
            f"id,name\n{(await Product.objects.aget()).pk},Phone\n".encode(),
        )

    async def test_async_streaming_view_is_async_iterable(self) -> None:
        response = await self.client.get("/async/stream/")
        chunks = [chunk async for chunk in response.streaming_content]
        self.assertEqual(chunks, [b"chunk-0\n", b"chunk-1\n", b"chunk-2\n"])

    async def test_view_exception_is_raised_in_the_test(self) -> None:
        with self.assertRaisesMessage(ValueError, "boom from the view"):
            await self.client.get("/boom/")

    async def test_raise_request_exception_false_gives_a_500(self) -> None:
        client = AsyncAPIClient(raise_request_exception=False)
        response = await client.get("/boom/")
        self.assertEqual(response.status_code, 500)

    async def test_plain_async_django_view(self) -> None:
        await Product.objects.acreate(name="Phone")
        response = await self.client.get("/async/products/")
        self.assertEqual(response.json(), {"names": ["Phone"]})

    async def test_adrf_async_view(self) -> None:
        await Product.objects.acreate(name="Phone")
        user = await User.objects.acreate_user(username="khan")
        self.client.force_authenticate(user=user)
        response = await self.client.get("/adrf/products/")
        self.assertEqual(response.data, {"names": ["Phone"], "user": "khan"})
        response = await self.client.post(
            "/adrf/products/", {"name": "Tab"}, format="json"
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(await Product.objects.acount(), 2)


class ForgottenAwaitTests(AsyncAPITestCase):
    async def test_reading_a_pending_response_says_to_await(self) -> None:
        pending = self.client.get("/echo/")
        self.assertIsInstance(pending, PendingResponse)
        for touch in (
            lambda: pending.status_code,
            lambda: pending.data,
            lambda: pending.json,
            lambda: pending["Content-Type"],
        ):
            with self.assertRaisesMessage(MissingAwaitError, "add `await`"):
                touch()
        await pending  # sends it, so no never-awaited warning follows

    async def test_pending_response_is_awaitable_once_built(self) -> None:
        pending = self.client.get("/echo/")
        response = await pending
        self.assertEqual(response.status_code, 200)
