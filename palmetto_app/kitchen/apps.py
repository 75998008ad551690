from django.apps import AppConfig


class KitchenConfig(AppConfig):
    name = "palmetto_app.kitchen"
    label = "kitchen"
    verbose_name = "Kitchen"
