"""``AsyncLiveServer`` (the handle the fixture yields) and the test case."""

from __future__ import annotations

import functools
from typing import ClassVar

from asgiref.sync import iscoroutinefunction
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test.utils import modify_settings
from django.utils.functional import classproperty

from restflow_parity.live.asgi_types import StaticHandler
from restflow_parity.live.thread import (
    AsyncLiveServerThread,
    LiveServerError,
    ServerError,
    in_memory_connections,
)
from restflow_parity.variants._cases import AsyncAPITransactionTestCase

__all__ = ["AsyncAPILiveServerTestCase", "AsyncLiveServer"]


class AsyncLiveServer:
    """A live server you start and stop yourself; ``async_live_server`` is one.

    ``url`` (also its ``str()``) is the base URL; ``server + "/path/"`` works.
    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        server: str | None = None,
        static_handler: StaticHandler | None = ASGIStaticFilesHandler,
    ) -> None:
        self.thread = AsyncLiveServerThread(
            host, static_handler, in_memory_connections(), port, server=server
        )
        #: ALLOWED_HOSTS plus our host; the fixture enables it for each test.
        self.modified_settings = modify_settings(ALLOWED_HOSTS={"append": host})
        self._shared = False

    def start(self) -> None:
        """Start serving; raise what stopped the server from starting."""
        for conn in self.thread.connections_override.values():
            conn.inc_thread_sharing()
        self._shared = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error is not None:
            error = self.thread.error
            self.stop()
            raise error

    def stop(self) -> None:
        """Stop serving and close every connection the server opened."""
        self.thread.terminate()
        if self._shared:
            self._shared = False
            for conn in self.thread.connections_override.values():
                conn.dec_thread_sharing()

    def __enter__(self) -> AsyncLiveServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self.thread.host

    @property
    def port(self) -> int:
        return self.thread.port

    @property
    def url(self) -> str:
        return f"http://{self.thread.host}:{self.thread.port}"

    def pop_errors(self) -> list[ServerError]:
        """Return what the server raised so far, and forget it."""
        return self.thread.pop_errors()

    def __str__(self) -> str:
        return self.url

    def __add__(self, other: str) -> str:
        return f"{self}{other}"

    def __repr__(self) -> str:
        return f"<AsyncLiveServer {self.thread.server} at {self.url}>"


class AsyncAPILiveServerTestCase(AsyncAPITransactionTestCase):
    """``AsyncAPITransactionTestCase`` plus a real ASGI server for the class.

    The server starts in ``setUpClass`` and stops in ``tearDownClass``; reach
    it at ``self.live_server_url`` with httpx, a browser or any HTTP client.
    An exception the server raises while a test runs fails that test with the
    server's traceback, unless ``raise_server_exceptions`` is False.
    """

    host = "127.0.0.1"
    port = 0
    server_thread_class: type[AsyncLiveServerThread] = AsyncLiveServerThread
    server_thread: ClassVar[AsyncLiveServerThread]
    static_handler: StaticHandler | None = ASGIStaticFilesHandler
    raise_server_exceptions = True

    def _prepare_test(self) -> None:
        self._install_server_check()
        super()._prepare_test()

    def _install_server_check(self) -> None:
        method = getattr(self, self._testMethodName, None)
        if method is None:
            return
        if iscoroutinefunction(method):

            async def arun() -> None:
                try:
                    await method()
                except BaseException as error:
                    self._check_server(error)
                    raise
                self._check_server(None)

            setattr(self, self._testMethodName, functools.wraps(method)(arun))
        else:

            def run() -> None:
                try:
                    method()
                except BaseException as error:
                    self._check_server(error)
                    raise
                self._check_server(None)

            setattr(self, self._testMethodName, functools.wraps(method)(run))

    def _check_server(self, failure: BaseException | None) -> None:
        # Let requests still in flight finish, so their errors are this test's.
        self.server_thread.wait_idle()
        errors = self.server_thread.pop_errors()
        if errors and self.raise_server_exceptions:
            # Chained: a failed assertion on a 500 shows why it was a 500.
            raise LiveServerError(errors) from failure

    @classproperty
    def live_server_url(cls) -> str:
        return f"http://{cls.host}:{cls.server_thread.port}"

    @classproperty
    def allowed_host(cls) -> str:
        return cls.host

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.enterClassContext(
            modify_settings(ALLOWED_HOSTS={"append": cls.allowed_host})
        )
        cls._start_server_thread()

    @classmethod
    def _make_connections_override(cls) -> dict[str, BaseDatabaseWrapper]:
        return in_memory_connections()

    @classmethod
    def _start_server_thread(cls) -> None:
        connections_override = cls._make_connections_override()
        cls.server_thread = cls._create_server_thread(connections_override)
        for conn in connections_override.values():
            conn.inc_thread_sharing()
        cls.server_thread.start()
        cls.addClassCleanup(cls._terminate_thread)
        cls.server_thread.is_ready.wait()
        if cls.server_thread.error is not None:
            raise cls.server_thread.error

    @classmethod
    def _create_server_thread(
        cls, connections_override: dict[str, BaseDatabaseWrapper]
    ) -> AsyncLiveServerThread:
        return cls.server_thread_class(
            cls.host,
            cls.static_handler,
            connections_override=connections_override,
            port=cls.port,
        )

    @classmethod
    def _terminate_thread(cls) -> None:
        cls.server_thread.terminate()
        for conn in cls.server_thread.connections_override.values():
            conn.dec_thread_sharing()
        if cls.raise_server_exceptions:
            # Raised after set-up or tear-down code's requests, outside a test.
            cls.server_thread.raise_errors()

    def _post_teardown(self) -> None:
        super()._post_teardown()  # type: ignore[misc]  # missing from the stubs
        # Requests made by tearDown() or cleanups.
        self._check_server(None)
