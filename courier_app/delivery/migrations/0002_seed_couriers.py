"""Seed the courier pool so a fresh install can deliver; operators manage it in the admin."""

from django.db import migrations

COURIERS = [
    ("Rosa", "+1 843 555 0101"),
    ("Marco", "+1 843 555 0102"),
    ("Giulia", "+1 843 555 0103"),
    ("Luca", "+1 843 555 0104"),
    ("Sofia", "+1 843 555 0105"),
]


def seed(apps, schema_editor):
    Courier = apps.get_model("delivery", "Courier")
    for name, phone in COURIERS:
        Courier.objects.get_or_create(name=name, defaults={"phone": phone})


def unseed(apps, schema_editor):
    apps.get_model("delivery", "Courier").objects.filter(name__in=[n for n, _ in COURIERS], deliveries=None).delete()


class Migration(migrations.Migration):
    dependencies = [("delivery", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
