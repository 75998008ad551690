from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from client_app.orders import web
from common.urls import service_urls

urlpatterns = [
    path("api/", include("client_app.orders.api.urls")),
    path("api/", include("client_app.payments.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # The customer's pages (Django templates): log in, your orders, live tracking of one.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("track/", web.track_list, name="track-list"),
    path("track/<uuid:order_id>/", web.track_page, name="track"),
    path("track/<uuid:order_id>/state/", web.track_state, name="track-state"),
    path("track/<uuid:order_id>/cancel/", web.track_cancel, name="track-cancel"),
    *service_urls(),
]

handler404 = "common.http.not_found"
handler500 = "common.http.server_error"
