"""The local-images overlay: the whole shop stack from the one image built on this machine.

For a machine without a registry (env/k8s/overlays/local-images): the Spilo image, Zalando's
pooler image and the official charts cannot be pulled there, so each is replaced by a plain
manifest that plays the same role with the same names and labels, and every container runs
:data:`~hasuite.drivers.k8s.names.PLACEHOLDER` (pinned to the built tag before apply):

- PostgreSQL: a StatefulSet of Patroni members on Patroni's Kubernetes DCS (configmaps), with
  Spilo's labels (``application=spilo``, ``cluster-name=shop-db``, ``spilo-role=master|replica``
  set by Patroni itself) and Zalando's secret names, so the driver's role resolution is the same;
- PgBouncer: a Deployment with the operator pooler's labels and Service name;
- Redis: a StatefulSet of Redis + Sentinel pods labelled like the redis-ha chart, with the
  per-pod ``redis-announce-N`` Services the shop's settings name;
- Prometheus and Alertmanager: plain Deployments under the Service names of
  kube-prometheus-stack, scraping by pod discovery with the scrape contract's job labels
  (env/alerts/README.md) and the shared rule files;
- the shop's own objects (env/k8s/base): the same Deployments, probes, PDB and HPA, with the
  image and its command set (the upstream images have entrypoints, ours does not); nginx is the
  ingress (NodePort 30080, mapped to 127.0.0.1:8080 by env/kind/cluster.yaml).

One module a role (:mod:`.patroni`, :mod:`.pgbouncer`, :mod:`.redis`, :mod:`.monitoring`,
:mod:`.shop`), their shared pieces in :mod:`.objects`, the whole in :mod:`.compose`.

Not here (said in env/k8s/README.md): Traefik, cert-manager, Grafana, Loki and Alloy, and the
operators. Settings come from env/stack.yaml like the chart flavor's.
"""
