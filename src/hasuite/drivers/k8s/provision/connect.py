"""The target the suites and ``hasuite run`` act on: a KubeTarget (safety checks first) with its
endpoints through the ingress and `kubectl port-forward`.

On kind, the crash faults' ``docker exec`` and the port-forwards' kubectl run with the engine
kind's nodes run on and the tool folder, as `up` used (:func:`.kindhost.running_engine_env`):
that environment is given to the runner and the port-forwards, the process's is left alone.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from hasuite.drivers.k8s.boundary import CommandRunner, KubeApi, SubprocessRunner
from hasuite.drivers.k8s.host import engine
from hasuite.drivers.k8s.provision.kindhost import running_engine_env
from hasuite.drivers.k8s.provision.options import KubeOptions
from hasuite.drivers.k8s.runtime.target import KubeTarget
from hasuite.errors import ConfigError, HasuiteError
from hasuite.target import Endpoints

#: Services the suite reaches through `kubectl port-forward` (namespace, service, port).
FORWARDS: dict[str, tuple[str, str, int]] = {
    "prometheus": ("monitoring", "kube-prometheus-stack-prometheus", 9090),
    "alertmanager": ("monitoring", "kube-prometheus-stack-alertmanager", 9093),
    "alert_receiver": ("shop", "hasuite-alert-receiver", 9095),
}
#: On kind the shop is reached through Traefik's NodePort, mapped to the host (env/kind).
KIND_APP_URL = "http://127.0.0.1:8080"
#: Test-only probe token of env/k8s/base/app/secrets.yaml (kind); on a cluster pass your own.
KIND_PROBE_TOKEN = "hasuite-probe-token"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(kw_only=True)
class PortForward:
    """`kubectl port-forward` on 127.0.0.1, pinned to one context; bounded start and stop."""

    context: str
    namespace: str
    service: str
    port: int
    local_port: int = field(default_factory=_free_port)
    #: kubectl's environment (on kind: the tool folder on PATH); None: this process's
    env: Mapping[str, str] | None = None
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def argv(self) -> list[str]:
        return [
            "kubectl",
            "--context",
            self.context,
            "-n",
            self.namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            f"svc/{self.service}",
            f"{self.local_port}:{self.port}",
        ]

    def start(self, *, timeout_s: float = 20.0) -> None:
        self._proc = subprocess.Popen(
            self.argv(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=None if self.env is None else dict(self.env),
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise HasuiteError(
                    f"port-forward to {self.namespace}/{self.service} in {self.context} exited: "
                    f"{err.strip()[-300:]}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.local_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise HasuiteError(
            f"port-forward to {self.namespace}/{self.service} in {self.context} not listening "
            f"after {timeout_s:.0f} s"
        )

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)


@contextmanager
def open_target(
    opts: KubeOptions,
    *,
    api_factory: Callable[[str], KubeApi] | None = None,
    runner: CommandRunner | None = None,
    forward: bool = True,
) -> Iterator[KubeTarget]:
    """A KubeTarget for ``opts`` (safety checks first), with port-forwards while it is open."""
    context = opts.resolved_context()
    if api_factory is None:
        from hasuite.drivers.k8s.boundary import ClientKubeApi  # imports the kubernetes client

        api_factory = ClientKubeApi
    app_url = opts.app_url or (KIND_APP_URL if opts.target == "kind" else None)
    if app_url is None:
        raise ConfigError(
            "--target cluster needs the shop's URL (--app-url, e.g. https://shop.staging.example)"
        )
    token = opts.probe_token or (KIND_PROBE_TOKEN if opts.target == "kind" else None)
    env: Mapping[str, str] = opts.environ
    if opts.target == "kind" and runner is None:
        env = _kind_env(opts)
        runner = SubprocessRunner(env=env)
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        if forward:
            for key, (namespace, service, port) in FORWARDS.items():
                pf = PortForward(
                    context=context, namespace=namespace, service=service, port=port, env=env
                )
                pf.start(timeout_s=20.0 * opts.timeout_multiplier)
                stack.callback(pf.stop)
                urls[key] = pf.url
        endpoints = Endpoints(
            app_url=app_url,
            prometheus_url=urls.get("prometheus", ""),
            alertmanager_url=urls.get("alertmanager", ""),
            alert_receiver_url=urls.get("alert_receiver"),
            probe_token=token,
        )
        yield KubeTarget.create(
            target=opts.target,
            context=context,
            api_factory=api_factory,
            allowed_contexts=opts.allowed_contexts,
            kind_cluster=opts.kind_name,
            runner=runner,
            dry_run=opts.dry_run,
            endpoints=endpoints,
        )


def _kind_env(opts: KubeOptions) -> dict[str, str]:
    """The environment of a kind run's commands: the engine kind's nodes run on, for the crash
    faults' `docker exec` (hasuite's own dockerd when that is the one that answers), and the
    tool folder, as `up` used. Without an engine the run stops here, before any probe or fault."""
    try:
        return running_engine_env(opts)
    except engine.EngineError as exc:
        raise ConfigError(
            f"--target kind: {exc}; the kind cluster's nodes are containers of that engine "
            "(bring it up with `hasuite up --target kind --start-docker`)"
        ) from exc
