from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("store", "0002_seed_products")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="confirm_enqueue_failed",
            field=models.BooleanField(db_index=True, default=False),
        ),
    ]
