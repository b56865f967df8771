from decimal import Decimal

from django.db import migrations

# (name, metal, weight in grams, price)
PRODUCTS = [
    ("Solitaire ring", "platinum", "4.20", "2450.00"),
    ("Eternity band", "white gold", "3.80", "1290.00"),
    ("Signet ring", "yellow gold", "8.50", "980.00"),
    ("Stacking ring", "rose gold", "1.60", "240.00"),
    ("Tennis bracelet", "white gold", "12.40", "3900.00"),
    ("Cuban link bracelet", "yellow gold", "24.00", "2100.00"),
    ("Charm bracelet", "silver", "18.20", "160.00"),
    ("Bangle", "rose gold", "14.70", "1150.00"),
    ("Pearl drop earrings", "yellow gold", "3.10", "420.00"),
    ("Diamond studs", "platinum", "2.00", "1850.00"),
    ("Hoop earrings", "silver", "5.40", "85.00"),
    ("Chandelier earrings", "white gold", "6.90", "1320.00"),
    ("Pendant necklace", "yellow gold", "5.60", "690.00"),
    ("Rope chain", "yellow gold", "16.80", "1480.00"),
    ("Locket", "silver", "9.30", "140.00"),
    ("Choker", "white gold", "11.20", "1750.00"),
    ("Cufflinks", "silver", "10.50", "120.00"),
    ("Tie bar", "yellow gold", "4.40", "380.00"),
    ("Brooch", "platinum", "7.70", "2600.00"),
    ("Anklet", "rose gold", "2.90", "210.00"),
]


def seed(apps, schema_editor):
    Product = apps.get_model("store", "Product")
    Product.objects.bulk_create(
        Product(name=name, metal=metal, weight_grams=Decimal(weight), price=Decimal(price))
        for name, metal, weight, price in PRODUCTS
    )


def unseed(apps, schema_editor):
    Product = apps.get_model("store", "Product")
    Product.objects.filter(name__in=[p[0] for p in PRODUCTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
