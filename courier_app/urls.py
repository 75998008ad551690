from common.urls import service_urls

urlpatterns = [*service_urls()]

handler404 = "common.http.not_found"
handler500 = "common.http.server_error"
