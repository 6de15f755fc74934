from django.urls import include, path, re_path
from django.views.generic import RedirectView
from rest_framework.routers import SimpleRouter

from products import async_api, fuzz_views, views

router = SimpleRouter()
router.register("api/products", views.ProductViewSet, basename="product")

urlpatterns = [
    path("ping/", views.ping, name="ping"),
    path("whoami/", views.whoami, name="whoami"),
    re_path(r"^scope/(?P<rest>.*)$", views.scope_echo, name="scope-echo"),
    path("async/products/", views.async_product_names, name="async-products"),
    path("async/products/create/", views.async_create_product, name="async-create"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("export/native.csv", views.export_native_csv, name="export-native-csv"),
    path("async/stream/", views.async_stream, name="async-stream"),
    path("redirect/", views.redirect_to, name="redirect"),
    path("echo/", views.echo, name="echo"),
    path("greeting/", views.greeting, name="greeting"),
    path("remote-user/", views.remote_user, name="remote-user"),
    path("loop/", RedirectView.as_view(url="/loop/"), name="loop"),
    path("csrf/", views.csrf, name="csrf"),
    path("boom/", views.boom, name="boom"),
    path("cookie/set/", views.set_cookie, name="set-cookie"),
    path("cookie/show/", views.show_cookie, name="show-cookie"),
    path("adrf/products/", async_api.adrf_products, name="adrf-products"),
    # The fuzzer's echo (tests/fuzz): every path below fuzz/ reaches it.
    re_path(
        r"^fuzz/(?P<rest>[\s\S]*)\Z", fuzz_views.FuzzEcho.as_view(), name="fuzz-echo"
    ),
    # The watchdog's hazard matrix and deadlocks (tests/test_watchdog.py).
    path("hazard/", include("products.hazard_views")),
    *router.urls,
]
