"""Seed the menu with Palmetto's standard card; operators edit prices in the admin afterwards."""

from decimal import Decimal

from django.db import migrations

PIZZAS = [
    ("margherita", "Margherita", "Tomato, fior di latte, basil", Decimal("8.50")),
    ("marinara", "Marinara", "Tomato, garlic, oregano, olive oil", Decimal("7.50")),
    ("diavola", "Diavola", "Tomato, mozzarella, spicy salami", Decimal("10.50")),
    ("quattro-formaggi", "Quattro Formaggi", "Mozzarella, gorgonzola, parmesan, fontina", Decimal("11.00")),
    ("capricciosa", "Capricciosa", "Ham, mushrooms, artichokes, olives", Decimal("11.50")),
    ("funghi", "Funghi", "Tomato, mozzarella, mushrooms", Decimal("9.50")),
    ("prosciutto-rucola", "Prosciutto e Rucola", "Parma ham, rocket, parmesan", Decimal("12.50")),
    ("vegetariana", "Vegetariana", "Grilled peppers, aubergine, courgette", Decimal("10.00")),
]
# Size and how much more than the 30 cm price it costs.
SIZES = [("30", "30 cm", Decimal("0.00")), ("40", "40 cm", Decimal("4.00"))]
OTHERS = [
    ("garlic-bread", "Garlic bread", "side", "", Decimal("4.00")),
    ("caprese-salad", "Insalata caprese", "side", "", Decimal("6.50")),
    ("tiramisu", "Tiramisu", "dessert", "", Decimal("5.00")),
    ("panna-cotta", "Panna cotta", "dessert", "", Decimal("4.50")),
    ("lemonade", "Lemonade", "drink", "0.33 l", Decimal("3.00")),
    ("mineral-water", "Mineral water", "drink", "0.5 l", Decimal("2.00")),
    ("cola", "Cola", "drink", "0.33 l", Decimal("3.00")),
]


def seed(apps, schema_editor):
    MenuItem = apps.get_model("orders", "MenuItem")
    position = 0
    for slug, name, description, base in PIZZAS:
        for size, label, extra in SIZES:
            position += 1
            MenuItem.objects.update_or_create(
                item_id=f"{slug}-{size}",
                defaults=dict(name=name, category="pizza", size=label, description=description, price=base + extra, position=position),
            )
    for slug, name, category, size, price in OTHERS:
        position += 1
        MenuItem.objects.update_or_create(
            item_id=slug, defaults=dict(name=name, category=category, size=size, price=price, position=position)
        )


def unseed(apps, schema_editor):
    MenuItem = apps.get_model("orders", "MenuItem")
    slugs = [f"{slug}-{size}" for slug, *_ in PIZZAS for size, *_ in SIZES] + [slug for slug, *_ in OTHERS]
    MenuItem.objects.filter(item_id__in=slugs).delete()


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
