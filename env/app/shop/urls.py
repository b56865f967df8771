from django.urls import include, path
from store import probes, views

urlpatterns = [
    path("", views.catalogue_page, name="catalogue"),
    path("products/<int:product_id>", views.product_page, name="product"),
    path("api/products", views.api_products),
    path("api/products/<int:product_id>", views.api_product),
    path("api/orders", views.api_orders),
    path("api/orders/<int:order_id>", views.api_order),
    path("healthz", views.healthz),
    path("readyz", views.readyz),
    path("probe/db", probes.probe_db),
    path("probe/order", probes.probe_order),
    path("probe/cache", probes.probe_cache),
    path("probe/task", probes.probe_task_enqueue),
    path("probe/tasks", probes.probe_tasks),
    path("probe/beat", probes.probe_beat),
    path("probe/burn", probes.probe_burn),
    # GET /metrics (django-prometheus, plus store.metrics gauges)
    path("", include("django_prometheus.urls")),
]
