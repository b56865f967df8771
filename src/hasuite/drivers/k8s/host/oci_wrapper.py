#!/usr/bin/env python3
"""An OCI runtime in front of runc for hosts that cannot grant what `--privileged` asks for.

Installed by :mod:`hasuite.drivers.k8s.host.engine` (a copy of this file, run by Debian's python3)
and registered with our own dockerd as its default runtime, only when the host needs it: a VM
whose capability bounding set lacks a capability (CAP_SYS_RESOURCE here) or whose hard open-files
limit is below what a container asks for. Docker then asks runc for every capability and runc
fails with "unable to apply caps: operation not permitted".

Before handing over to runc it rewrites, in place:
- ``create``/``run``: the bundle's config.json (``--bundle``/``-b``, default the current folder);
- ``exec``: the process file (``--process``/``-p``);
removing each capability outside this process's bounding set from every capability set and
lowering each rlimit to what this process may set (its own hard limit). Everything else passes
through unchanged (``os.execv``). Standard library only: this file runs outside the venv.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Mapping
from typing import Any

#: Linux capability numbers (include/uapi/linux/capability.h), as OCI names them.
CAP_NAMES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

RLIMITS = {
    "RLIMIT_NOFILE": resource.RLIMIT_NOFILE,
    "RLIMIT_NPROC": resource.RLIMIT_NPROC,
    "RLIMIT_MEMLOCK": resource.RLIMIT_MEMLOCK,
    "RLIMIT_CORE": resource.RLIMIT_CORE,
    "RLIMIT_STACK": resource.RLIMIT_STACK,
}


def read_bounding_set(status_text: str) -> set[str]:
    """The capability names in ``CapBnd`` of a /proc/<pid>/status text."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return {name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1}
    return set(CAP_NAMES)


def host_hard_limits() -> dict[str, int]:
    """This process's hard limit per OCI rlimit name (-1 = unlimited)."""
    out = {}
    for name, res in RLIMITS.items():
        hard = resource.getrlimit(res)[1]
        out[name] = -1 if hard == resource.RLIM_INFINITY else hard
    return out


def _clamp(value: int, hard: int) -> int:
    if hard < 0:
        return value
    return hard if value < 0 or value > hard else value


def fit_process(process: dict[str, Any], allowed: set[str], hard: dict[str, int]) -> bool:
    """Fit an OCI ``process`` object to the host (in place); True when something changed."""
    changed = False
    caps = process.get("capabilities") or {}
    for key, values in caps.items():
        if isinstance(values, list):
            kept = [c for c in values if c in allowed]
            if kept != values:
                caps[key] = kept
                changed = True
    for limit in process.get("rlimits") or []:
        cap = hard.get(limit.get("type", ""))
        if cap is None:
            continue
        for key in ("hard", "soft"):
            # OCI stores unlimited as 2**64-1; treat anything above the hard limit alike
            value = int(limit.get(key, 0))
            new = _clamp(-1 if value >= 2**63 else value, cap)
            if new != (-1 if value >= 2**63 else value):
                limit[key] = new
                changed = True
    return changed


def find_target(argv: list[str]) -> tuple[str, str] | None:
    """('config', path) for create/run, ('process', path) for exec, None otherwise."""
    sub_at = next(
        (i for i, a in enumerate(argv) if a in ("create", "run", "exec")),
        None,
    )
    if sub_at is None:
        return None
    sub = argv[sub_at]
    flags = ("--bundle", "-b") if sub in ("create", "run") else ("--process", "-p")
    value = None
    rest = argv[sub_at + 1 :]
    for i, arg in enumerate(rest):
        if arg in flags and i + 1 < len(rest):
            value = rest[i + 1]
        for flag in flags:
            if arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
    if sub == "exec":
        return ("process", value) if value else None
    return ("config", os.path.join(value or os.getcwd(), "config.json"))


def rewrite(path: str, kind: str, allowed: set[str], hard: dict[str, int]) -> None:
    with open(path) as fh:
        doc = json.load(fh)
    process = doc.get("process", {}) if kind == "config" else doc
    if fit_process(process, allowed, hard):
        tmp = path + ".hasuite"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)


def runc_path(environ: Mapping[str, str]) -> str:
    """The runc this wrapper hands over to (``HASUITE_OCI_RUNC``; engine.install_wrapper writes
    the host's runc in place of the default)."""
    return environ.get("HASUITE_OCI_RUNC", "/usr/sbin/runc")


def main(argv: list[str], environ: Mapping[str, str]) -> None:
    runc = runc_path(environ)
    target = find_target(argv[1:])
    if target is not None:
        with open("/proc/self/status") as fh:
            allowed = read_bounding_set(fh.read())
        try:
            rewrite(target[1], target[0], allowed, host_hard_limits())
        except (OSError, ValueError) as exc:  # let runc report the real problem
            print(f"hasuite oci wrapper: {target[1]}: {exc}", file=sys.stderr)
    os.execv(runc, [runc, *argv[1:]])


if __name__ == "__main__":  # the wrapper's own process (dockerd runs it): its entry point
    main(sys.argv, os.environ)
