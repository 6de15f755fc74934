"""The test project's URLs plus the live-server tests' views under ``/live/``.

Used with ``@override_settings(ROOT_URLCONF="products.live_urls")``.
"""

from django.urls import include, path

from products import live_views

live_patterns = [
    path("boom/", live_views.boom),
    path("async-boom/", live_views.async_boom),
    path("stream-then-fail/", live_views.stream_then_fail),
    path("login/", live_views.session_login),
    path("db/", live_views.db_identity),
    path("async-db/", live_views.async_db_identity),
    path("unsensitive-db/", live_views.unsensitive_query),
    path("async-create/", live_views.async_create),
    path("slow/", live_views.slow),
    path("hold/", live_views.hold),
    path("context/", live_views.context_state),
]

urlpatterns = [
    path("live/", include(live_patterns)),
    path("", include("products.urls")),
]
