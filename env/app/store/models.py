from __future__ import annotations

from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=120)
    metal = models.CharField(max_length=40)
    weight_grams = models.DecimalField(max_digits=8, decimal_places=2)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "metal": self.metal,
            "weight_grams": str(self.weight_grams),
            "price": str(self.price),
        }


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"

    total = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The outbox mark: the confirmation could not be enqueued after the commit (broker down).
    # store.tasks.sweep_unconfirmed_orders enqueues it again and clears the mark.
    confirm_enqueue_failed = models.BooleanField(default=False, db_index=True)


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)


class BeatTick(models.Model):
    """One row per beat run. NOT unique on slot: a doubled slot must be countable."""

    slot = models.BigIntegerField(db_index=True)
    scheduled_at = models.DateTimeField(null=True)
    ran_at = models.DateTimeField(auto_now_add=True)
    hostname = models.CharField(max_length=255)


class TaskExecution(models.Model):
    """One row per task execution, duplicates included (at-least-once delivery is measured)."""

    task_name = models.CharField(max_length=120)
    task_id = models.CharField(max_length=64)
    key = models.CharField(max_length=64)
    hostname = models.CharField(max_length=255)
    executed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["task_name", "key"])]


class ProbeWrite(models.Model):
    seq = models.BigIntegerField(db_index=True)
    created = models.DateTimeField(auto_now_add=True)
