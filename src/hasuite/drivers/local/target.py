"""The `local` target: experiments' faults and observations on the local lab."""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field

from hasuite.components import validate_selector
from hasuite.drivers.local import health, partition, procs
from hasuite.drivers.local.faults import FaultLedger
from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.render import render_nginx_upstream
from hasuite.errors import InjectionError, LabError, PartitionUnavailable
from hasuite.model import Injection
from hasuite.target import Endpoints, Instance, check_sets

log = logging.getLogger(__name__)


@dataclass
class LocalTarget:
    """Implements hasuite.target.Target on a LocalLab (supervisord plays kubelet)."""

    lab: LocalLab
    name: str = "local"
    #: where partitions are cut (root, iptables, net_cls); tests put fakes here
    host: partition.Host = field(default_factory=partition.Host)
    _paused: list[int] = field(default_factory=list)

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self) -> None:
        self.lab.up()

    def down(self) -> None:
        self.lab.down()

    def endpoints(self) -> Endpoints:
        layout = self.lab.layout
        return Endpoints(
            app_url=layout.app_url,
            prometheus_url=layout.prometheus_url,
            alertmanager_url=layout.alertmanager_url,
            alert_receiver_url=layout.alert_receiver_url,
            probe_token=self.lab.secrets().probe_token,
        )

    # -- observation -------------------------------------------------------------------------

    def _names(self, component: str) -> list[str]:
        return [n for n, c in self.lab.programs() if c == component]

    def instances(self, component: str) -> list[Instance]:
        validate_selector(component, None)
        names = self._names(component)
        if not names:
            raise LabError(f"the lab has no {component} instances; is it up? (`hasuite lab up`)")
        if component == "postgres":
            return self._postgres_instances(names)
        infos = self.lab.supervisor.processes()
        workers = (
            set(health.celery_ping(self.lab.layout, 1.0))
            if component == ("celery-worker")
            else set()
        )
        secrets = self.lab.secrets()
        out = []
        for n in names:
            info = infos.get(n)
            if info is None or info.state != "RUNNING":
                out.append(
                    Instance(
                        component=component,
                        name=n,
                        role=None,
                        ready=False,
                        detail=info.state.lower() if info else "absent",
                    )
                )
                continue
            h = self.lab.instance_health(n, component, workers, secrets)
            out.append(
                Instance(
                    component=component, name=n, role=h.role, ready=h.healthy, detail=h.answer[:120]
                )
            )
        return out

    def _postgres_instances(self, names: list[str]) -> list[Instance]:
        """Each member's role as the member itself reports it (a member cut off from the DCS
        still answers hasuite, whose process no partition cuts), the lag from /cluster."""
        layout = self.lab.layout
        own = {n: health.patroni_own_view(layout, partition.index(n)) for n in names}
        rows = health.merge_member_views(names, health.patroni_cluster(layout), own)
        return [
            Instance(
                component="postgres",
                name=m["name"],
                role=m["role"],
                ready=m["state"] in ("running", "streaming"),
                detail=str(m["state"]),
                lag=m["lag"] if isinstance(m["lag"], int) and m["role"] != "leader" else None,
            )
            for m in rows
        ]

    def server_address(self, component: str, instance: str) -> str | None:
        """``127.0.0.1:port`` the app names as the backend ``instance`` served (Postgres,
        Redis); None for other components."""
        what = {"postgres": "postgres", "redis": "redis"}.get(component)
        if what is None:
            return None
        return f"127.0.0.1:{self.lab.layout.port(what, partition.index(instance))}"

    # -- faults ------------------------------------------------------------------------------

    def _select(self, component: str, role: str | None, count: int) -> list[str]:
        validate_selector(component, role)
        if count < 1:
            raise InjectionError(f"count must be >= 1, got {count}")
        candidates = self.instances(component)
        chosen = [i.name for i in candidates if role is None or i.role == role]
        if not chosen:
            seen = ", ".join(f"{i.name} {i.role or '-'} ({i.detail})" for i in candidates)
            raise InjectionError(
                f"no {component} {role or 'instance'} to hit; instances: {seen or 'none'}"
            )
        return chosen[:count]

    def instance_pids(self, name: str, component: str) -> list[int]:
        info = self.lab.supervisor.processes().get(name)
        pids: list[int] = []
        if info and info.pid:
            pids = [info.pid, *procs.children(info.pid)]
        if component == "postgres":
            # Patroni starts the postmaster detached from itself: a pod crash takes both.
            index = int(name.rsplit("-", 1)[1]) - 1
            pm = procs.postmaster_pid(self.lab.layout.pg_data(index))
            if pm:
                pids += [pm, *procs.children(pm)]
        return list(dict.fromkeys(pids))

    def _injection(
        self,
        component: str,
        action: str,
        names: list[str],
        role: str | None,
        held_s: float | None = None,
    ) -> Injection:
        return Injection(
            at=time.monotonic(),
            wall=time.time(),
            component=component,
            action=action,
            instances=tuple(names),
            role=role,
            held_s=held_s,
        )

    def crash(
        self,
        component: str,
        *,
        role: str | None = None,
        count: int = 1,
        hold_s: float | None = None,
    ) -> Injection:
        """SIGKILL every process of the chosen instance(s) at once; supervisord restarts them
        after the lab's restart delay for the component (env/stack.yaml ``lab``), which is the
        hold-down the injection records: the lab cannot hold an instance longer or shorter, so
        ``hold_s`` (what kind is asked for) changes nothing here."""
        names = self._select(component, role, count)
        pids = [p for n in names for p in self.instance_pids(n, component)]
        delay = self.lab.stack.lab.restart_delay_of(component)
        inj = self._injection(component, "crash", names, role, held_s=float(delay) or None)
        procs.kill_all(pids, signal.SIGKILL)
        log.info("crashed %s (pids %s)", names, pids)
        return inj

    def stop(self, component: str, *, role: str | None = None, count: int = 1) -> Injection:
        """Graceful stop (SIGTERM, like a pod deletion); supervisord starts it again."""
        names = self._select(component, role, count)
        inj = self._injection(component, "stop", names, role)
        if component == "postgres" and self.lab.stack.patroni.termination_grace_s == 0:
            # No termination grace: kubelet's SIGKILL follows SIGTERM at once, so Patroni can
            # neither stop Postgres cleanly nor release the leader key (a seeded violation).
            for n in names:
                procs.kill_all(self.instance_pids(n, component), signal.SIGKILL)
            return inj
        for n in names:
            self.lab.supervisor.signal(n, "TERM")
        return inj

    def pause(self, component: str, *, role: str | None = None) -> Injection:
        """SIGSTOP the instance's processes until resume() or restore()."""
        names = self._select(component, role, 1)
        pids = [p for n in names for p in self.instance_pids(n, component)]
        inj = self._injection(component, "pause", names, role)
        # written first: a run killed while they are stopped leaves the next one what to resume
        self._ledger.add("pause", pids=[*self._paused, *pids], component=component)
        self._paused += procs.kill_all(pids, signal.SIGSTOP)
        return inj

    def resume(self) -> None:
        procs.kill_all(self._paused, signal.SIGCONT)
        self._paused.clear()
        self._ledger.clear("pause")

    @property
    def _ledger(self) -> FaultLedger:
        return FaultLedger(self.lab.layout.root)

    def rollout(
        self, component: str, *, graceful: bool = True, timeout_s: float = 90.0
    ) -> Injection:
        """Restart every instance one at a time, each ready again before the next.

        graceful=False kills each instance instead of stopping it (a seeded violation).
        """
        validate_selector(component, None)
        names = self._names(component)
        inj = self._injection(component, "rollout", names, None)
        # only the app sits behind nginx: other components have no endpoint to leave
        prestop = self.lab.stack.django.prestop_delay_s if component == "django" else 0
        drain = graceful and prestop > 0
        removed = False
        try:
            for n in names:
                if drain:
                    # Kubernetes: the terminating pod leaves the endpoints, preStop sleeps, then
                    # SIGTERM. The lab: nginx marks the instance down, then supervisord stops it.
                    index = int(n.rsplit("-", 1)[1]) - 1  # django-1 listens on port('django', 0)
                    self._set_upstream_removed({index})
                    removed = True
                    time.sleep(prestop)
                if graceful:
                    self.lab.supervisor.stop(n, wait=True)
                    self.lab.supervisor.start(n, wait=False)
                else:
                    procs.kill_all(self.instance_pids(n, component), signal.SIGKILL)
                self._wait_ready(component, n, self.lab.suite.scaled(timeout_s))
                if removed:
                    self._set_upstream_removed(set())
                    removed = False
        finally:
            if removed:  # interrupted while an instance was out: list every instance again
                self._set_upstream_removed(set())
        return inj

    def _set_upstream_removed(self, removed: set[int]) -> None:
        """Rewrite nginx's app upstream without ``removed`` and reload nginx (graceful)."""
        if removed:
            self._ledger.add("upstream", removed=sorted(removed))
        render_nginx_upstream(self.lab.layout, removed)
        self.lab.supervisor.signal("nginx", "HUP")
        if not removed:
            self._ledger.clear("upstream")
        # nginx starts new workers with the new upstream; the old ones finish what they have.
        time.sleep(0.3)

    def _wait_ready(self, component: str, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        time.sleep(0.5)
        last = "not checked"
        while time.monotonic() < deadline:
            inst = next((i for i in self.instances(component) if i.name == name), None)
            if inst and inst.ready:
                return
            last = inst.detail if inst else "absent"
            time.sleep(0.25)
        raise InjectionError(
            f"{name} not ready {timeout_s:.0f} s after its restart; last answer: {last}; "
            f"log: {self.lab.layout.log_dir / (name + '.log')}"
        )

    def partition(
        self,
        component: str,
        *,
        role: str | None = None,
        cut_from: tuple[str, ...],
        keep: tuple[str, ...] = (),
    ) -> Injection:
        """Cut the instance holding ``role`` off from the ``cut_from`` peer sets, ``keep``'s
        still reaching it (net_cls cgroups and iptables, see drivers.local.partition); until
        heal() or restore()."""
        check_sets(cut_from, keep)
        held = self._ledger.entries().get("partition")
        if held is not None:
            raise InjectionError(
                f"{held.get('member', '?')} is already cut off (one partition at a time): "
                "heal() or restore() first (one a dead run left: `hasuite lab down` heals it)"
            )
        partition.require(self.host)
        (member,) = self._select(component, role, 1)
        layout = self.lab.layout
        peers = partition.peer_instances(self.lab.programs(), component, member, cut_from, keep)
        cut = partition.Cut(
            port_base=layout.port_base,
            member=member,
            member_pids=tuple(self.instance_pids(member, component)),
            member_ports=partition.listening_ports(layout, member, component),
            peers=tuple(n for n, _ in peers),
            peer_pids=tuple(p for n, c in peers for p in self.instance_pids(n, c)),
            peer_ports=tuple(p for n, c in peers for p in partition.listening_ports(layout, n, c)),
        )
        if not cut.peers or not cut.member_pids:
            raise InjectionError(
                f"nothing to cut: {member} (pids {list(cut.member_pids)}) from "
                f"{', '.join(cut_from)} (instances: {list(cut.peers) or 'none'}"
                + (f" once {', '.join(keep)} are kept)" if keep else ")")
            )
        inj = self._injection(component, "partition", [member], role)
        # written first: a run killed while the cut is in leaves the next one what to heal
        self._ledger.add(
            "partition",
            port_base=layout.port_base,
            cgroup_root=str(self.host.cgroups.root),
            member=member,
            peers=list(cut.peers),
            cut_from=list(cut_from),
            keep=list(keep),
        )
        try:
            partition.apply(self.host, cut)
        except Exception:
            # apply took out what went in; the entry stays only if some of it would not go
            if not partition.heal(self.host, layout.port_base):
                self._ledger.clear("partition")
            raise
        log.info("cut %s off from %s (%s)", member, ", ".join(cut_from), ", ".join(cut.peers))
        return inj

    def refuse(self, component: str) -> Injection:
        """Reset every TCP connection to ``component``'s listening ports (every instance) until
        heal() or restore(): an outage with sharp edges, for calibration (see
        drivers.local.partition). Recorded like a partition, so every heal path removes it."""
        why = partition.refusal_unavailable(self.host)
        if why:
            raise PartitionUnavailable("connections cannot be refused here: " + "; ".join(why))
        held = self._ledger.entries().get("partition")
        if held is not None:
            raise InjectionError(
                f"{held.get('member', '?')} is already cut off (one partition at a time): "
                "heal() or restore() first (one a dead run left: `hasuite lab down` heals it)"
            )
        layout = self.lab.layout
        names = self._names(component)
        ports = tuple(p for n in names for p in partition.listening_ports(layout, n, component))
        inj = self._injection(component, "refuse", names, None)
        self._ledger.add(
            "partition",
            port_base=layout.port_base,
            cgroup_root=str(self.host.cgroups.root),
            member=component,
            cut_from=["every client (connections refused)"],
        )
        try:
            partition.refuse(self.host, layout.port_base, ports, component)
        except Exception:
            if not partition.heal(self.host, layout.port_base):
                self._ledger.clear("partition")
            raise
        return inj

    def heal(self) -> list[str]:
        """Take this lab's partition out; what could not be removed (the ledger keeps those for
        the next command to try again)."""
        if "partition" not in self._ledger.entries():
            return []  # nothing of ours is in: no iptables call (which may need root)
        left = partition.heal(self.host, self.lab.layout.port_base)
        if not left:
            self._ledger.clear("partition")
        return left

    def restore(self, timeout_s: float = 120.0) -> None:
        """Bring every component back: heal a partition, resume paused processes, start
        stopped ones, wait."""
        self.resume()
        left = self.heal()
        for n, _ in self.lab.programs():
            self.lab.supervisor.start(n, wait=False)
        if left:
            # waiting for health through rules still in would only time out
            raise InjectionError(
                "partition rules could not be removed: " + "; ".join(left) + "; run "
                "`hasuite lab down` as root (it heals what a run left)"
            )
        self.lab.wait_healthy(time.monotonic() + self.lab.suite.scaled(timeout_s), quiet=True)
