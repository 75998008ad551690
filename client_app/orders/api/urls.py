from django.urls import path

from . import accounts, orders, staff

urlpatterns = [
    path("orders/", orders.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<uuid:order_id>/", orders.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/cancel/", orders.OrderCancelView.as_view(), name="order-cancel"),
    path("menu/", orders.MenuView.as_view(), name="menu"),
    path("auth/register/", accounts.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", accounts.TokenView.as_view(), name="auth-token"),
    path("topics/<str:topic>/order-ids/", staff.TopicOrderIdsView.as_view(), name="topic-order-ids"),
]
