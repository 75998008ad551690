from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.urls import service_urls

urlpatterns = [
    path("api/", include("client_app.orders.api.urls")),
    path("api/", include("client_app.payments.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    *service_urls(),
]

handler404 = "common.http.not_found"
handler500 = "common.http.server_error"
