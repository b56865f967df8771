"""The driver's boundary to the outside world: two small protocols and their real implementations.

Tests fake THESE (not the kubernetes HTTP client): ``KubeApi`` wraps the few Kubernetes calls the
driver makes, every one pinned to one kube context; ``CommandRunner`` runs the CLI tools of the
bootstrap (docker, kind, kubectl, helm) and of the kind crash path.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class PodInfo:
    name: str
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    node: str = ""
    ip: str = ""
    ready: bool = False
    phase: str = ""
    container_ids: tuple[str, ...] = ()  # runtime ids without the "containerd://" prefix


@dataclass(frozen=True, kw_only=True)
class HpaStatus:
    name: str
    current_replicas: int
    desired_replicas: int
    min_replicas: int
    max_replicas: int
    current_cpu_percent: int | None = None
    scale_down_window_s: int | None = None  # spec.behavior.scaleDown.stabilizationWindowSeconds
    #: the ScalingActive condition: True once the HPA has metrics to act on (None: not reported)
    scaling_active: bool | None = None


class KubeApi(Protocol):
    """The Kubernetes calls the driver needs. Implementations pin ONE context."""

    context: str

    def list_pods(self, namespace: str, selector: str) -> list[PodInfo]: ...

    def delete_pod(self, namespace: str, name: str, *, grace_period_s: int | None) -> None: ...

    def restart_deployment(self, namespace: str, name: str, *, at: str) -> None: ...

    def read_hpa(self, namespace: str, name: str) -> HpaStatus: ...

    def exec_in_pod(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], *, timeout_s: float
    ) -> str: ...

    def namespace_annotations(self, namespace: str) -> dict[str, str]: ...

    def object_annotations(self, namespace: str, kind: str, name: str) -> dict[str, str] | None:
        """The annotations of a ConfigMap (``kind="configmap"``) or Endpoints (``"endpoints"``);
        None when there is no such object."""
        ...

    def pod_log(
        self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int
    ) -> str: ...


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""


class CommandRunner(Protocol):
    def run(
        self, argv: Sequence[str], *, timeout_s: float, check: bool = True, cwd: str | None = None
    ) -> CommandResult: ...

    def which(self, tool: str) -> str | None: ...


class SubprocessRunner:
    """Runs commands for real (bounded by timeout_s), each with ``env`` as its environment.

    ``env``: the environment the entry point built (its own, with DOCKER_HOST of the engine and
    the tool folder on PATH where the kind target needs them); None: this process's.
    ``which`` looks tools up on that environment's PATH."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: dict[str, str] | None = None if env is None else dict(env)

    def run(
        self, argv: Sequence[str], *, timeout_s: float, check: bool = True, cwd: str | None = None
    ) -> CommandResult:
        from hasuite.errors import HasuiteError

        try:
            proc = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=cwd,
                check=False,
                env=self.env,
            )
        except subprocess.TimeoutExpired as exc:
            raise HasuiteError(f"{' '.join(argv)} did not finish within {timeout_s:.0f} s") from exc
        result = CommandResult(
            argv=tuple(argv), returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr
        )
        if check and proc.returncode != 0:
            raise HasuiteError(
                f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
            )
        return result

    def which(self, tool: str) -> str | None:
        import shutil

        return shutil.which(tool, path=None if self.env is None else self.env.get("PATH"))


class ClientKubeApi:
    """KubeApi over the official kubernetes client, bound to one context at construction.

    Never constructed before the target's safety checks passed (see runtime.target.KubeTarget).
    Exercised on the kind cluster by tests/k8s/test_real_cluster.py and the experiments.
    """

    def __init__(self, context: str, *, request_timeout_s: float = 10.0) -> None:
        from kubernetes import client, config

        self.context = context
        self._timeout = request_timeout_s
        api_client = config.new_client_from_config(context=context)  # type: ignore[no-untyped-call]
        self._config = api_client.configuration
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._client = client

    def list_pods(self, namespace: str, selector: str) -> list[PodInfo]:
        pods = self._core.list_namespaced_pod(
            namespace, label_selector=selector, _request_timeout=self._timeout
        )
        out = []
        items: list[Any] = list(pods.items)
        for pod in items:
            statuses = pod.status.container_statuses or []
            ready = bool(statuses) and all(s.ready for s in statuses)
            ids = tuple(s.container_id.split("://", 1)[-1] for s in statuses if s.container_id)
            out.append(
                PodInfo(
                    name=pod.metadata.name,
                    namespace=namespace,
                    labels=dict(pod.metadata.labels or {}),
                    node=pod.spec.node_name or "",
                    ip=pod.status.pod_ip or "",
                    ready=ready,
                    phase=pod.status.phase or "",
                    container_ids=ids,
                )
            )
        return out

    def delete_pod(self, namespace: str, name: str, *, grace_period_s: int | None) -> None:
        self._core.delete_namespaced_pod(
            name, namespace, grace_period_seconds=grace_period_s, _request_timeout=self._timeout
        )

    def restart_deployment(self, namespace: str, name: str, *, at: str) -> None:
        body: dict[str, Any] = {
            "spec": {
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}
            }
        }
        self._apps.patch_namespaced_deployment(
            name, namespace, body, _request_timeout=self._timeout
        )

    def read_hpa(self, namespace: str, name: str) -> HpaStatus:
        hpa: Any = self._autoscaling.read_namespaced_horizontal_pod_autoscaler(
            name, namespace, _request_timeout=self._timeout
        )
        cpu = None
        for metric in hpa.status.current_metrics or []:
            if metric.resource and metric.resource.name == "cpu":
                cpu = metric.resource.current.average_utilization
        behavior = hpa.spec.behavior
        scale_down = behavior.scale_down if behavior else None
        window = scale_down.stabilization_window_seconds if scale_down else None
        return HpaStatus(
            name=name,
            current_replicas=hpa.status.current_replicas or 0,
            desired_replicas=hpa.status.desired_replicas or 0,
            min_replicas=hpa.spec.min_replicas or 1,
            max_replicas=hpa.spec.max_replicas,
            current_cpu_percent=cpu,
            scale_down_window_s=window,
            scaling_active=next(
                (
                    c.status == "True"
                    for c in hpa.status.conditions or []
                    if c.type == "ScalingActive"
                ),
                None,
            ),
        )

    def namespace_annotations(self, namespace: str) -> dict[str, str]:
        ns: Any = self._core.read_namespace(namespace, _request_timeout=self._timeout)
        return dict(ns.metadata.annotations or {})

    def object_annotations(self, namespace: str, kind: str, name: str) -> dict[str, str] | None:
        from kubernetes.client.exceptions import ApiException

        read = {
            "configmap": self._core.read_namespaced_config_map,
            "endpoints": self._core.read_namespaced_endpoints,
        }[kind]
        try:
            obj: Any = read(name, namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(obj.metadata.annotations or {})

    def pod_log(
        self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int
    ) -> str:
        """The container's log; ``previous``: of its last terminated run (after a restart)."""
        return str(
            self._core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                previous=previous,
                tail_lines=tail_lines,
                _request_timeout=self._timeout,
            )
        )

    def exec_in_pod(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], *, timeout_s: float
    ) -> str:
        from kubernetes.stream import stream

        # stream() swaps the ApiClient's request method while it runs: on the shared client a
        # concurrent call (the observers poll pods at 4 Hz) then went out as a plain GET, and
        # the exec failed with "Handshake status 200 OK" (seen on kind). Its own client per exec.
        core = self._client.CoreV1Api(self._client.ApiClient(self._config))
        return str(
            stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                container=container,
                command=list(argv),
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _request_timeout=timeout_s,
            )
        )
