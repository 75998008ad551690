from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.OrderCreateView.as_view(), name="order-create"),
    path("orders/<uuid:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("menu/", views.MenuView.as_view(), name="menu"),
]
