from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "client_app.orders"
    label = "orders"
    verbose_name = "Orders"
