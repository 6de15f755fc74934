from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from catalog import exports, reports, views

router = DefaultRouter()
router.register("products", views.ProductViewSet, basename="product")
router.register("orders", views.OrderViewSet, basename="order")

urlpatterns = [
    path("api/", include(router.urls)),
    path("api/auth/token/", obtain_auth_token, name="auth-token"),
    path("api/auth/login/", views.SessionLoginView.as_view(), name="auth-login"),
    path("api/reports/stock/", reports.stock_report, name="stock-report"),
    path("exports/products.csv", exports.export_products, name="export-products"),
    path("exports/orders.csv", exports.export_orders, name="export-orders"),
]
