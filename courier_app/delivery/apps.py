from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "courier_app.delivery"
    label = "delivery"
    verbose_name = "Delivery"
