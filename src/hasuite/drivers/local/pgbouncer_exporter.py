"""A small PgBouncer exporter for the lab: `pgbouncer_up` and pool gauges.

Why our own: Debian's prometheus-pgbouncer-exporter 1.7 crashes against Debian's PgBouncer 1.18
(KeyError 'total_requests') and never reconnects; the maintained Go exporter is not packaged.
This one connects to PgBouncer's admin console on every scrape (so it recovers by itself),
exports `pgbouncer_up` (0 when PgBouncer does not answer) and the SHOW POOLS columns, with the
metric names of prometheus-community/pgbouncer_exporter where they exist.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator

import psycopg
from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

POOL_COLUMNS = {
    "cl_active": "client_active_connections",
    "cl_waiting": "client_waiting_connections",
    "sv_active": "server_active_connections",
    "sv_idle": "server_idle_connections",
    "maxwait": "client_maxwait_seconds",
}


class PgBouncerCollector(Collector):
    def __init__(self, port: int, user: str, password: str) -> None:
        self.port, self.user, self.password = port, user, password

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("pgbouncer_up", "1 if PgBouncer's admin console answers")
        pools = {
            col: GaugeMetricFamily(
                f"pgbouncer_pools_{name}", f"SHOW POOLS {col}", labels=["database", "user"]
            )
            for col, name in POOL_COLUMNS.items()
        }
        try:
            # The admin console speaks only the simple query protocol: a ClientCursor uses it.
            with (
                psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    dbname="pgbouncer",
                    user=self.user,
                    password=self.password,
                    connect_timeout=2,
                    autocommit=True,
                    cursor_factory=psycopg.ClientCursor,
                ) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("SHOW POOLS")
                names = [d.name for d in cur.description or []]
                rows = [dict(zip(names, row, strict=False)) for row in cur.fetchall()]
        except psycopg.Error:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for row in rows:
            for col, family in pools.items():
                if col in row and row[col] is not None:
                    family.add_metric([str(row["database"]), str(row["user"])], float(row[col]))
        yield from pools.values()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--pgbouncer-port", type=int, required=True)
    parser.add_argument("--user", default="postgres")
    # 127.0.0.1 in the lab; 0.0.0.0 in a pod, where Prometheus scrapes from another pod
    parser.add_argument("--listen-addr", default="127.0.0.1")
    args = parser.parse_args(argv)
    # The password comes from the environment, never the command line (visible in ps).
    password = os.environ.get("PGBOUNCER_EXPORTER_PASSWORD", "")
    REGISTRY.register(PgBouncerCollector(args.pgbouncer_port, args.user, password))
    start_http_server(args.listen_port, addr=args.listen_addr)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
