from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from products import views

router = SimpleRouter()
router.register("api/products", views.ProductViewSet, basename="product")

urlpatterns = [
    path("ping/", views.ping, name="ping"),
    path("whoami/", views.whoami, name="whoami"),
    re_path(r"^scope/(?P<rest>.*)$", views.scope_echo, name="scope-echo"),
    path("async/products/", views.async_product_names, name="async-products"),
    path("async/products/create/", views.async_create_product, name="async-create"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("async/stream/", views.async_stream, name="async-stream"),
    path("redirect/", views.redirect_to, name="redirect"),
    *router.urls,
]
