"""The stack's members as the runtime driver finds them: the label selector of each component,
and what a pod says of its own role (Patroni's REST API, Redis's ROLE, Sentinel's addresses).

The selectors are the ones the manifests carry (env/k8s and the local-images overlay); tests/k8s
checks both sides against each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from hasuite.drivers.k8s.boundary import KubeApi, PodInfo
from hasuite.drivers.k8s.names import NAMESPACE, PG_CLUSTER

#: Component -> (label selector, deployment name or None).
COMPONENTS: dict[str, tuple[str, str | None]] = {
    "postgres": ("application=spilo,cluster-name=shop-db", None),
    "pooler": ("application=db-connection-pooler,cluster-name=shop-db", None),
    "redis": ("app=redis-ha", None),
    "sentinel": ("app=redis-ha", None),
    "django": ("app.kubernetes.io/name=shop,app.kubernetes.io/component=django", "django"),
    "celery-worker": (
        "app.kubernetes.io/name=shop,app.kubernetes.io/component=celery-worker",
        "celery-worker",
    ),
    "celery-beat": (
        "app.kubernetes.io/name=shop,app.kubernetes.io/component=celery-beat",
        "celery-beat",
    ),
    "nginx": ("app.kubernetes.io/name=shop,app.kubernetes.io/component=nginx", "nginx"),
}


#: The Services the local-images overlay's Redis members announce themselves by (+ ordinal).
ANNOUNCE = "redis-announce-"

#: A cut-off pod cannot update its own labels (it cannot reach the API server), so during a cut
#: its role comes from the member itself, asked inside its pod through the kubelet (exec), which
#: no cut touches: Patroni's REST API (GET /patroni) and Redis's ROLE, both on the pod's loopback.
OWN_ROLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "postgres": (
        "postgres",
        (
            "python3",
            "-c",
            "import urllib.request as r;"
            "print(r.urlopen('http://127.0.0.1:8008/patroni', timeout=2).read().decode())",
        ),
    ),
    "redis": ("redis", ("redis-cli", "-p", "6379", "role")),
}

#: Container -> log lines its process writes when it handles SIGTERM (a graceful stop): gunicorn's
#: arbiter logs both; Celery's worker logs its warm shutdown.
GRACEFUL_MARKERS: dict[str, tuple[str, ...]] = {
    "django": ("Handling signal: term", "Shutting down: Master"),
    "celery-worker": ("worker: Warm shutdown",),
}


def own_view(component: str, answer: str) -> tuple[str | None, bool]:
    """A member's answer about itself -> (its role, whether it serves).

    Patroni's GET /patroni JSON: role leader, master or primary -> leader, others as said; it
    serves while its Postgres ``state`` is running or streaming, as on the lab (a leader that is
    demoting says primary while its Postgres shuts down, and accepts no write). Redis's ROLE:
    master; slave -> replica; it serves when it answers. (None, False) for anything else."""
    if component == "postgres":
        try:
            data = json.loads(answer)
        except ValueError:
            return None, False
        if not isinstance(data, dict) or not isinstance(data.get("role"), str):
            return None, False
        role = data["role"]
        role = "leader" if role in ("leader", "master", "primary") else role
        return (role or None), bool(role) and data.get("state") in ("running", "streaming")
    words = answer.split()
    role = (
        {"master": "master", "slave": "replica", "replica": "replica"}.get(words[0])
        if words
        else None
    )
    return role, role is not None


def announce_addresses(rows: str, pod: PodInfo) -> list[str]:
    """The Service addresses of the other members' ``redis-announce-N`` Services, from
    ``NAME CLUSTER-IP`` lines (headless Services and ``pod``'s own announce Service left out)."""
    out = []
    for line in rows.splitlines():
        name, _, ip = line.strip().partition(" ")
        if not name.startswith(ANNOUNCE) or ip in ("", "None"):
            continue
        if is_address_of(pod, name):
            continue
        out.append(ip)
    return out


def is_address_of(pod: PodInfo, address: str) -> bool:
    """Whether the address a Sentinel gives is ``pod``'s: its IP, or its announce Service's
    name (``redis-announce-N`` for pod ``...-N``, as the local-images overlay announces)."""
    if address == pod.ip:
        return True
    host = address.split(".", 1)[0]
    ordinal = pod.name.rsplit("-", 1)[-1]
    return host.startswith(ANNOUNCE) and host.rsplit("-", 1)[-1] == ordinal


def ask_own_view(api: KubeApi, component: str, pod: PodInfo) -> tuple[str | None, bool, str]:
    """What a cut-off member says of itself (OWN_ROLE): ``own_view`` of its answer, and the
    answer; no role and not serving when it does not answer."""
    container, argv = OWN_ROLE[component]
    try:
        said = api.exec_in_pod(NAMESPACE, pod.name, container, argv, timeout_s=5)
    except Exception as exc:  # no answer is no role, as on the lab; the observer goes on
        return None, False, f"no answer ({type(exc).__name__})"
    role, serving = own_view(component, said)
    return role, serving, " ".join(said.split())


#: Where Patroni's Kubernetes DCS keeps the leader lock: the ``<scope>-leader`` ConfigMap (the
#: local-images overlay: configmaps) or the ``<scope>`` Endpoints (Zalando's operator default).
LEADER_LOCKS: tuple[tuple[str, str], ...] = (
    ("configmap", f"{PG_CLUSTER}-leader"),
    ("endpoints", PG_CLUSTER),
)


def patroni_leader(api: KubeApi, now_wall: float) -> str | None:
    """The member that holds Patroni's leader lock now; None when no lock is found or it has
    expired (``renewTime`` + ``ttl`` passed: its holder is gone and no member took it yet).

    Patroni is the judge of who leads, not the ``spilo-role`` label: each pod sets its own
    label, and a pod whose node or kubelet is gone keeps ``master``."""
    for kind, name in LEADER_LOCKS:
        notes = api.object_annotations(NAMESPACE, kind, name)
        if notes is None:
            continue
        return lock_holder(notes, now_wall)
    return None


def lock_holder(notes: dict[str, str], now_wall: float) -> str | None:
    """The holder named by a leader lock's annotations, None when it has none or it expired."""
    leader = notes.get("leader") or None
    try:
        renewed = datetime.fromisoformat(notes["renewTime"]).timestamp()
        ttl = float(notes["ttl"])
    except (KeyError, ValueError):
        return leader  # a lock without times: as Patroni wrote it
    return leader if now_wall <= renewed + ttl else None


def role_of(component: str, pod: PodInfo, lead: str | None) -> str | None:
    """``pod``'s role given who leads (``lead``: Patroni's lock holder; the Redis master's
    address as the Sentinels name it); None for components without one."""
    if component == "postgres":
        return "leader" if lead == pod.name else "replica"
    if component == "redis":
        return "master" if lead and is_address_of(pod, lead) else "replica"
    return None


def sentinel_master(
    api: KubeApi, pods: list[PodInfo], is_cut: Callable[[PodInfo], bool]
) -> str | None:
    """Ask a Sentinel (the first ready pod's sentinel container that answers) for the master
    address; never an unreachable pod's (``is_cut``: cut off, or held down), which sees only its
    own side or cannot be asked at all."""
    for pod in pods:
        if not pod.ready or is_cut(pod):
            continue
        try:
            out = api.exec_in_pod(
                NAMESPACE,
                pod.name,
                "sentinel",
                ["redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", "shop"],
                timeout_s=5,
            )
        except Exception:  # a container restarting: ask the next Sentinel
            continue
        lines = out.split()
        if lines:
            return lines[0]
    return None


def server_address(
    component: str,
    instance: str,
    pods: list[PodInfo],
    redis_master: Callable[[list[PodInfo]], str | None],
) -> str | None:
    """The ``host:port`` the app names as the backend a pod served: Postgres's
    ``pod-ip:5432`` (the server's own address); Redis's as Sentinel names it, the pod's
    announce Service ``redis-announce-N:6379`` where the Sentinels announce hostnames (the
    local-images overlay), else ``pod-ip:6379``. None for other components or a pod without
    an address."""
    port = {"postgres": 5432, "redis": 6379}.get(component)
    pod = next((p for p in pods if p.name == instance), None)
    if not port or pod is None or not pod.ip:
        return None
    if component == "redis" and (redis_master(pods) or "").startswith(ANNOUNCE):
        return f"{ANNOUNCE}{pod.name.rsplit('-', 1)[-1]}:{port}"
    return f"{pod.ip}:{port}"
