"""The `hasuite` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hasuite.drivers.local.lab import LocalLab
from hasuite.errors import HasuiteError
from hasuite.settings import load_stack, project_dir, suite_settings_from_env

console = Console(stderr=True)
out = Console()


def _lab(args: argparse.Namespace) -> LocalLab:
    suite = suite_settings_from_env(
        os.environ,
        lab_dir=args.lab_dir,
        port_base=args.port_base,
        timeout_multiplier=args.timeout_multiplier,
    )
    stack = load_stack(profile=getattr(args, "profile", None))
    start = time.monotonic()

    def progress(msg: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:6.1f}s[/dim] {msg}")

    return LocalLab(suite, stack, project_dir(), progress=progress)


def cmd_lab_up(args: argparse.Namespace) -> int:
    lab = _lab(args)
    took = lab.up()
    out.print(
        f"lab healthy in {took:.1f} s; app at {lab.layout.app_url}; logs in {lab.layout.log_dir}"
    )
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    start = time.monotonic()
    summary = lab.down(purge=args.purge)
    out.print(f"{summary} ({time.monotonic() - start:.1f} s)")
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    rows = lab.status()
    if args.json:
        out.print_json(json.dumps([asdict(r) for r in rows]))
        return 0 if rows and all(r.healthy for r in rows) else 1
    if not rows:
        out.print(f"no lab running in {lab.layout.root}")
        return 1
    table = Table(title=f"lab {lab.layout.root}")
    for col in ("component", "instance", "role", "pid", "health"):
        table.add_column(col)
    for r in rows:
        mark = "[green]healthy[/green]" if r.healthy else f"[red]{r.state.lower()}[/red]"
        table.add_row(r.component, r.instance, r.role or "", str(r.pid or ""), f"{mark} {r.health}")
    out.print(table)
    return 0 if all(r.healthy for r in rows) else 1


def cmd_lab_logs(args: argparse.Namespace) -> int:
    lab = _lab(args)
    for path in lab.log_files(args.component):
        out.print(f"[bold]==> {path} <==[/bold]")
        if not path.exists():
            out.print("(no log yet)")
            continue
        lines = path.read_text(errors="replace").splitlines()[-args.lines :]
        out.print("\n".join(lines), markup=False, highlight=False)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Bring the lab up if needed, run experiments, print verdicts and the report folder."""
    from hasuite.drivers.local.target import LocalTarget
    from hasuite.run import run_experiments

    if args.target != "local":
        raise HasuiteError(
            f"target {args.target!r} cannot run from `hasuite run` yet; use --target local"
        )
    lab = _lab(args)
    lab.up()
    project = project_dir()
    reports = lab.suite.reports_dir
    if not reports.is_absolute():
        reports = project / reports
    result = run_experiments(
        args.experiments,
        LocalTarget(lab=lab),
        reports_dir=reports,
        experiments_dir=project / "experiments",
        promises_path=project / "suites" / "promises.yaml",
        probe_hz=lab.suite.probe_hz,
        progress=lambda msg: console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}"),
    )
    table = Table(title=f"run {result.run_id} on {args.target}: {result.status.value}")
    for col in ("experiment", "promise", "verdict", "reason"):
        table.add_column(col)
    colours = {"PASS": "green", "FAIL": "red", "ERROR": "yellow", "SKIPPED": "dim"}
    for exp in result.experiments:
        for pr in exp.promises or ():
            verdict = pr.verdict.value
            table.add_row(
                exp.name, pr.id, f"[{colours.get(verdict, 'white')}]{verdict}[/]", pr.reason
            )
        if not exp.promises:
            table.add_row(exp.name, "-", exp.status.value, exp.reason)
    out.print(table)
    out.print(f"report: {result.run_dir / 'summary.json'}")
    if result.status.value == "INTERRUPTED":
        return 130
    return 0 if result.status.value in ("PASS", "SKIPPED") else 1


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Pause nginx for known durations; print how far the probes' outage is off."""
    from hasuite.calibrate import calibrate, describe
    from hasuite.drivers.local.target import LocalTarget

    lab = _lab(args)
    lab.up()
    start = time.monotonic()
    results = calibrate(
        LocalTarget(lab=lab),
        durations_s=tuple(args.durations),
        probe_hz=lab.suite.probe_hz,
        progress=lambda msg: console.print(f"[dim]{time.monotonic() - start:6.1f}s[/dim] {msg}"),
    )
    table = Table(title=f"calibration: SIGSTOP of nginx, {lab.suite.probe_hz:g} Hz probes")
    for col in ("pause", "reference s", "measured s", "error s", "within", "where from"):
        table.add_column(col)
    for r in results:
        mark = "[green]yes[/green]" if r.within_tolerance else "[red]NO[/red]"
        table.add_row(
            f"{r.duration_s:g} s",
            f"{r.reference_s:.3f}",
            "-" if r.measured_s is None else f"{'>= ' if r.at_least else ''}{r.measured_s:.3f}",
            "-" if r.error_s is None else f"{r.error_s:+.3f}",
            f"{mark} (±{r.tolerance_s:g} s)",
            describe(r).split("; ", 1)[1],
        )
    out.print(table)
    return 0 if all(r.within_tolerance for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hasuite", description="Chaos and high-availability verification suite"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def lab_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--lab-dir",
            type=Path,
            default=None,
            help="lab folder (default /var/tmp/hasuite-lab-UID; env HASUITE_LAB_DIR)",
        )
        p.add_argument(
            "--port-base",
            type=int,
            default=None,
            help="first port of the lab's block (default 25000; HASUITE_PORT_BASE)",
        )
        p.add_argument(
            "--timeout-multiplier",
            type=float,
            default=None,
            help="scale every wait (HASUITE_TIMEOUT_MULTIPLIER)",
        )

    lab = sub.add_parser("lab", help="the local lab: the whole stack as processes on 127.0.0.1")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    p = lab_sub.add_parser("up", help="bring the lab up and wait until every part is healthy")
    lab_opts(p)
    p.add_argument(
        "--profile",
        default=None,
        help="a named profile of env/stack.yaml (default: production settings)",
    )
    p.set_defaults(func=cmd_lab_up)
    p = lab_sub.add_parser("down", help="stop every process of the lab")
    lab_opts(p)
    p.add_argument("--purge", action="store_true", help="also delete the lab's data")
    p.set_defaults(func=cmd_lab_down)
    p = lab_sub.add_parser("status", help="component, instance, role, pid, health")
    lab_opts(p)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=cmd_lab_status)
    p = lab_sub.add_parser("logs", help="the last lines of a component's logs")
    lab_opts(p)
    p.add_argument("component")
    p.add_argument("-n", "--lines", type=int, default=50)
    p.set_defaults(func=cmd_lab_logs)

    p = sub.add_parser("run", help="run experiments on the lab and judge the promises")
    lab_opts(p)
    p.add_argument("experiments", nargs="*", help="experiment names (default: all)")
    p.add_argument("--target", choices=("local", "kind", "cluster"), default="local")
    p.add_argument(
        "--profile", default=None, help="a named profile of env/stack.yaml (default: production)"
    )
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("calibrate", help="measure the probes' error on outages of known length")
    lab_opts(p)
    p.add_argument(
        "--durations",
        type=float,
        nargs="+",
        default=[2.0, 5.0, 10.0],
        help="pause lengths in seconds (default 2 5 10)",
    )
    p.set_defaults(func=cmd_calibrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except HasuiteError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
