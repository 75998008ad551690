from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "client_app.payments"
    label = "payments"
    verbose_name = "Payments"
