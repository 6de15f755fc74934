# ruff: noqa: E501  (the fault-to-test map below is a table; wrapping hides it)
"""Each fault ANCHORS.md lists for Django's AsyncClient, adrf and DRF, and the
test that shows restflow-parity does not have it.

Django AsyncClient / AsyncRequestFactory
- str query_string, str server port, no raw_path/root_path: test_client.ScopeShapeTests
- non-ASCII path decoded as latin-1:      test_client.HeaderTests.test_non_ascii_path_is_not_mangled
- HTTP_AUTHORIZATION= keyword lost:       test_client.HeaderTests.test_per_request_environ_keywords
- REMOTE_ADDR= becomes a junk header:     test_remote_addr_is_the_client_not_a_header (below)
- non-str default crashes on .encode:     test_client.HeaderTests.test_non_str_default_is_stringified_not_crashing
- headers={"Host"/"Content-Type"/"Cookie"} doubled or joined:
                                          test_client.HeaderTests.test_headers_keyword_is_not_duplicated,
                                          test_client.HeaderTests.test_content_type_header_is_sent_once
- follow=True: relative Location, 307/308, cross-host/https:
                                          test_client.RedirectTests
- sync streaming_content is a plain map:  test_client.ResponseTests.test_sync_streaming_view_is_async_iterable
- response closed off the connection's thread: test_response_is_closed_in_the_test_connection_thread (below)
- no ThreadSensitiveContext:              restflow_parity.request._handler.AsyncClientHandler wraps each request

adrf AsyncAPIClient
- 415 on format="json" (content type sent twice): test_client.FormatTests.test_json_format_is_rendered_once_with_one_content_type
- credentials(HTTP_AUTHORIZATION=...) dropped:    test_client.AuthTests.test_token_credentials_reach_the_view
- force_authenticate() SynchronousOnlyOperation:  test_client.AuthTests.test_force_authenticate_every_later_request_then_clear
- no follow:                                      test_client.RedirectTests

DRF
- APITestCase.async_client ignores format=:       test_client.FormatTests
- GET carries CONTENT_TYPE octet-stream:          test_client.VerbTests.test_get_sends_no_content_type
- credentials() win over per-request headers:     test_client.HeaderTests.test_per_request_header_wins_over_credentials
"""

from __future__ import annotations

import threading

from django.core.signals import request_finished

from restflow_parity.test import AsyncAPIClient, AsyncAPITestCase


class RegressionTests(AsyncAPITestCase):
    async def test_remote_addr_is_the_client_not_a_header(self) -> None:
        response = await AsyncAPIClient(REMOTE_ADDR="10.9.8.7").get("/echo/")
        scope = response.asgi_request.scope
        assert scope["client"] == ("10.9.8.7", 0)
        assert all(b"remote" not in name for name, _ in scope["headers"])

    async def test_response_is_closed_in_the_test_connection_thread(self) -> None:
        # request_finished receivers may use the ORM; under Django's runner the
        # main thread owns the test's connection and transaction.
        threads: list[bool] = []

        def record(**kwargs: object) -> None:
            threads.append(threading.current_thread() is threading.main_thread())

        request_finished.connect(record)
        try:
            await self.client.get("/echo/")
        finally:
            request_finished.disconnect(record)
        assert threads == [True]
