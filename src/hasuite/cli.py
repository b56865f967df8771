"""The `hasuite` command line."""

# size: the argparse tree (build_parser) and one small cmd_* function per subcommand; splitting
# them would scatter the options a user reads in --help across files.
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hasuite.drivers.local.lab import LocalLab
from hasuite.drivers.local.lock import lab_lock
from hasuite.errors import HasuiteError
from hasuite.paths import project_dir, project_paths
from hasuite.session import signals
from hasuite.settings import load_stack, suite_settings_from_env

if TYPE_CHECKING:
    from hasuite.report import Rendered

console = Console(stderr=True)
out = Console()


def _lab(args: argparse.Namespace) -> LocalLab:
    suite = suite_settings_from_env(
        os.environ,
        lab_dir=args.lab_dir,
        port_base=args.port_base,
        timeout_multiplier=args.timeout_multiplier,
        load_scale=getattr(args, "load_scale", None),
    )
    stack = load_stack(profile=getattr(args, "profile", None))
    start = time.monotonic()

    def progress(msg: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:6.1f}s[/dim] {msg}")

    return LocalLab(suite, stack, project_dir(), progress=progress)


@contextlib.contextmanager
def _locked(lab: LocalLab) -> Iterator[None]:
    """One command at a time on the lab (its lock names the holder when refused)."""
    with lab_lock(lab.layout.root) as note:
        if note:
            console.print(f"[yellow]{note}[/yellow]")
        yield


def cmd_lab_up(args: argparse.Namespace) -> int:
    lab = _lab(args)
    with _locked(lab):
        took = lab.up()
    out.print(
        f"lab healthy in {took:.1f} s; app at {lab.layout.app_url}; logs in {lab.layout.log_dir}"
    )
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    start = time.monotonic()
    with _locked(lab):
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
    """Run experiments on a target (local: the lab, brought up if needed); render the report."""
    from hasuite.local_run import run_local
    from hasuite.report import render_run
    from hasuite.report.terminal import RunProgress, print_verdicts
    from hasuite.runfolder import lab_secret_values
    from hasuite.session.config import build_run_config
    from hasuite.session.options import resolve_experiments
    from hasuite.session.registry import active_session
    from hasuite.session.runner import run_experiments

    paths = project_paths()
    total = len(resolve_experiments(args.experiments, paths.experiments))
    secrets: list[str] = []
    if args.target == "local":
        lab = _lab(args)
        config = build_run_config(
            "local", lab.suite, experiments=args.experiments, profile=lab.stack.profile
        )
        with (
            _locked(lab),
            RunProgress(console, total, active_session=active_session) as progress,
        ):
            result = run_local(config, lab, progress=progress.line)
        secrets = lab_secret_values(lab.layout.secrets_file)
    else:
        if args.profile and args.target == "cluster":
            raise HasuiteError(
                "--profile: hasuite never changes an existing cluster; the stack there is "
                "what its owners deployed (drop --profile)"
            )
        suite = suite_settings_from_env(
            os.environ, timeout_multiplier=args.timeout_multiplier, load_scale=args.load_scale
        )
        with (
            _open_kube_target(args) as target,
            RunProgress(console, total, active_session=active_session) as progress,
        ):
            deployed = target.stack_profile()
            _check_deployed_profile(deployed, args.profile)
            config = build_run_config(
                args.target, suite, experiments=args.experiments, profile=deployed
            )
            result = run_experiments(config, target, progress=progress.line)
    rendered = render_run(result.run_dir, secrets=secrets)
    print_verdicts(out, rendered.run)
    _print_paths(rendered)
    _write_summary_md(rendered, args.summary_md, os.environ.get("GITHUB_STEP_SUMMARY"))
    if result.status.value == "INTERRUPTED" or signals.interrupted():
        # a signal after the last verdict (the run is complete and reported) still ends the
        # command as interrupted: CI asked it to stop
        return signals.exit_code(130)
    return 0 if result.status.value in ("PASS", "SKIPPED") else 1


def _print_paths(rendered: Rendered) -> None:
    """The report files, a path a line (never wrapped: a log's reader copies them)."""
    files = (("report", rendered.html), ("junit", rendered.junit), ("history", rendered.history))
    for name, path in files:
        out.print(f"{name}: {path}", markup=False, highlight=False, soft_wrap=True)


def _write_summary_md(rendered: Rendered, path: Path | None, step_summary: str | None) -> None:
    """The Markdown summary: to ``--summary-md FILE`` (written whole), else appended to GitHub's
    job summary file when ``$GITHUB_STEP_SUMMARY`` names one. A summary that cannot be written
    is reported and does not change the run's exit code (the verdicts are in the run folder)."""
    from hasuite.report.markdown import render_markdown, write_markdown

    target = path or (Path(step_summary) if step_summary else None)
    if target is None:
        return
    html = rendered.html
    with contextlib.suppress(ValueError):
        html = html.relative_to(Path.cwd())
    text = render_markdown(rendered.run, report_html=str(html))
    try:
        write_markdown(target, text, append=path is None)
    except OSError as exc:
        console.print(f"[yellow]summary not written to {escape(str(target))}: {exc}[/yellow]")
        return
    out.print(f"summary: {target}", markup=False, highlight=False, soft_wrap=True)


def _check_deployed_profile(deployed: str | None, wanted: str | None) -> None:
    """kind: a run judges the settings the cluster runs; --profile must name those."""
    if wanted is not None and wanted != deployed:
        raise HasuiteError(
            f"--profile {wanted}: the cluster runs {deployed or 'the production settings'}; "
            f"converge it first with `hasuite up --target kind --profile {wanted}`"
        )


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Take nginx out for known durations; print how far the probes' outage is off."""
    from hasuite.calibrate import calibrate, describe
    from hasuite.drivers.local.target import LocalTarget

    lab = _lab(args)
    lab.up()
    start = time.monotonic()
    load_dir = None
    if args.load:
        load_dir = lab.layout.root / "calibrate-load" / time.strftime("%Y%m%dT%H%M%S")
    results = calibrate(
        LocalTarget(lab=lab),
        durations_s=tuple(args.durations),
        probe_hz=lab.suite.probe_hz,
        progress=lambda msg: console.print(f"[dim]{time.monotonic() - start:6.1f}s[/dim] {msg}"),
        load_dir=load_dir,
        fault=args.fault,
    )
    how = "SIGSTOP of nginx" if args.fault == "pause" else "connections to nginx refused"
    table = Table(title=f"calibration: {how}, {lab.suite.probe_hz:g} Hz probes")
    for col in ("outage", "view", "reference s", "measured s", "error s", "within", "where from"):
        table.add_column(col)
    for r in results:
        mark = "[green]yes[/green]" if r.within_tolerance else "[red]NO[/red]"
        table.add_row(
            f"{r.duration_s:g} s",
            r.view,
            f"{r.reference_s:.3f}",
            "-" if r.measured_s is None else f"{'>= ' if r.at_least else ''}{r.measured_s:.3f}",
            "-" if r.error_s is None else f"{r.error_s:+.3f}",
            f"{mark} (±{r.tolerance_s:g} s)",
            describe(r).split("; ", 1)[1],
        )
    out.print(table)
    return 0 if all(r.within_tolerance for r in results) else 1


def cmd_soak(args: argparse.Namespace) -> int:
    """One experiment N times on one lab, in this process: does anything grow or drift?"""
    from hasuite.local_run import run_local
    from hasuite.session.config import build_run_config
    from hasuite.soak import soak

    lab = _lab(args)
    config = build_run_config(
        "local", lab.suite, experiments=(args.experiment,), profile=lab.stack.profile
    )
    stamp = time.strftime("%Y%m%dT%H%M%S")
    soak_file = config.reports_dir / f"soak-{args.experiment}-{stamp}.json"
    start = time.monotonic()
    with _locked(lab):
        _, judgement = soak(
            lab,
            args.experiment,
            runs=args.runs,
            run_once=lambda name: run_local(replace(config, experiments=(name,)), lab),
            drift_of=tuple(args.drift_of),
            out=soak_file,
            progress=lambda msg: console.print(
                f"[dim]{time.monotonic() - start:6.1f}s[/dim] {escape(msg)}"
            ),
        )
    for line in [*judgement.notes, *judgement.unknown, *judgement.findings]:
        out.print(f"  {line}", markup=False, highlight=False)
    out.print(f"soak {args.experiment} x{args.runs}: {judgement.verdict.value}; {soak_file}")
    if signals.interrupted():
        return signals.exit_code(130)
    return 0 if judgement.verdict.value == "PASS" else 1


def _open_kube_target(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """The kind or cluster target of ``hasuite run``: opened (safety checks, port-forwards)."""
    from hasuite.drivers.k8s.provision.connect import open_target

    return open_target(_kube_options(args))


def _kube_options(args: argparse.Namespace) -> Any:
    from hasuite.drivers.k8s.provision.options import build_options

    settings = args.k8s_settings or os.environ.get("HASUITE_K8S_SETTINGS") or None
    return build_options(
        args.target,
        root=project_dir(),
        environ=os.environ,
        context=args.context,
        allow=tuple(args.allow_context),
        settings_path=Path(settings) if settings else None,
        kind_name=args.kind_name,
        kind_workers=getattr(args, "kind_workers", None),
        dry_run=getattr(args, "dry_run", False),
        timeout_multiplier=args.timeout_multiplier,
        app_url=getattr(args, "app_url", None),
        node_image=getattr(args, "node_image", None),
        start_docker=getattr(args, "start_docker", False),
        cluster_only=getattr(args, "cluster_only", False),
        profile=_kube_profile(args),
    )


def _kube_profile(args: argparse.Namespace) -> str | None:
    profile: str | None = getattr(args, "profile", None)
    if profile and args.target == "cluster":
        raise HasuiteError(
            "--profile: hasuite never changes an existing cluster (drop --profile, or use "
            "--target kind)"
        )
    if profile:
        load_stack(profile=profile)  # an unknown profile is refused before any cluster call
    return profile


def _progress() -> Callable[[str], None]:
    start = time.monotonic()

    def show(msg: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:6.1f}s[/dim] ", end="")
        console.print(msg, markup=False, highlight=False, soft_wrap=True)

    return show


def _up_or_down(args: argparse.Namespace, up: bool) -> int:
    """local: `lab up` / `lab down`; kind/cluster: hasuite.drivers.k8s.provision.updown."""
    if args.target == "local":
        if args.dry_run:
            verb = "up" if up else "down"
            raise HasuiteError(f"--dry-run is for --target kind|cluster; `lab {verb}` has none")
        return cmd_lab_up(args) if up else cmd_lab_down(args)
    from hasuite.drivers.k8s.provision.updown import bring_down, bring_up

    steps = (bring_up if up else bring_down)(_kube_options(args), progress=_progress())
    verb = "would run" if args.dry_run else "ran"
    out.print(f"{args.target}: {verb} {len(steps)} command(s)")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """`up --target local` = `lab up`; kind: create/reuse the cluster and install the stack;
    cluster: read-only checks of an allow-listed context."""
    return _up_or_down(args, up=True)


def cmd_down(args: argparse.Namespace) -> int:
    """`down --target local` = `lab down`; kind: delete our cluster; cluster: nothing."""
    return _up_or_down(args, up=False)


def cmd_report(args: argparse.Namespace) -> int:
    """Re-render a saved run (html, junit, history) or compare two runs' numbers."""
    from hasuite.report import compare_runs, parse_tolerances, render_run, resolve_run
    from hasuite.report.terminal import compare_table, print_verdicts
    from hasuite.runfolder import Redactor, lab_secret_values, load_run

    suite = suite_settings_from_env(os.environ, lab_dir=args.lab_dir)
    reports = project_paths().reports(suite.reports_dir)
    secrets = lab_secret_values(suite.lab_dir / "secrets.json")
    if args.compare:
        tolerance = parse_tolerances(args.rel_tol, args.abs_tol)
        redactor = Redactor(secrets)
        a, b = (load_run(resolve_run(r, reports), redactor=redactor) for r in args.compare)
        cmp = compare_runs(a, b, tolerance)
        out.print(compare_table(cmp))
        if cmp.regressions:
            n = len(cmp.regressions)
            out.print(f"[red]{n} regression(s)[/red] from {a.run_id} to {b.run_id}")
            return 1
        out.print(f"no regression from {a.run_id} to {b.run_id}")
        return 0
    rendered = render_run(resolve_run(args.run, reports), secrets=secrets, history=args.history)
    print_verdicts(out, rendered.run)
    _print_paths(rendered)
    _write_summary_md(rendered, args.summary_md, os.environ.get("GITHUB_STEP_SUMMARY"))
    return 0


def _kube_opts(p: argparse.ArgumentParser, *, dry_run: bool = True) -> None:
    """Options for --target kind|cluster (context safety, kind cluster name)."""
    p.add_argument("--target", choices=("local", "kind", "cluster"), default="local")
    if dry_run:
        p.add_argument(
            "--dry-run", action="store_true", help="print every step it would run; touch nothing"
        )
    p.add_argument(
        "--context", default=None, help="kube context (kind: kind-<name>; cluster: required)"
    )
    p.add_argument(
        "--allow-context",
        action="append",
        default=[],
        metavar="NAME",
        help="allow-list a context for --target cluster (repeatable)",
    )
    p.add_argument(
        "--k8s-settings",
        default=None,
        metavar="PATH",
        help="YAML: allowed_contexts, context, kind_name, kind_workers (HASUITE_K8S_SETTINGS)",
    )
    p.add_argument("--kind-name", default=None, help="kind cluster name (default hasuite)")
    p.add_argument(
        "--kind-workers", type=int, default=None, help="kind workers (default: pinned 3, built 2)"
    )
    p.add_argument(
        "--node-image",
        choices=("auto", "pinned", "built"),
        default=None,
        help="kind: pinned = kind's official image + the stack's charts (needs registries); "
        "built = a node image built here, cluster only; auto (default, HASUITE_KIND_NODE_IMAGE): "
        "pinned on GitHub Actions or when the pinned image is present, else built",
    )
    p.add_argument(
        "--start-docker",
        action="store_true",
        help="kind: no Docker daemon running? start hasuite's own (root, Debian/Ubuntu; "
        "implied by CI=true)",
    )
    p.add_argument(
        "--cluster-only",
        action="store_true",
        help="kind, built flavor: the cluster and its add-ons only, without the shop stack",
    )


def _summary_md_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--summary-md",
        type=Path,
        default=None,
        metavar="FILE",
        help="write a Markdown summary (verdict table, the FAILs and their fixes, the report's "
        "path) to FILE; without it, appended to $GITHUB_STEP_SUMMARY when that is set",
    )


def _report_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="re-render a run's report.html, junit.xml and history lines; or compare two runs",
        description="RUN is a run folder, a run id under reports/ (HASUITE_REPORTS_DIR) or "
        "'latest'. --compare exits 1 when a number worsened beyond the tolerance "
        "(absolute per unit + relative to run A's value) or a verdict went PASS -> FAIL/ERROR.",
    )
    p.add_argument("run", nargs="?", default=None, help="run folder or id (default: latest)")
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="compare two runs")
    p.add_argument(
        "--rel-tol", type=float, default=None, help="relative tolerance (default 0.1 = 10 %%)"
    )
    p.add_argument(
        "--abs-tol",
        action="append",
        metavar="UNIT=VALUE",
        help="absolute tolerance per unit, repeatable (defaults s=1 count=0 ratio=0.001 "
        "intervals=0; '*=V' for other units)",
    )
    p.add_argument(
        "--history", type=Path, default=None, help="history file (default reports/history.jsonl)"
    )
    p.add_argument(
        "--lab-dir", type=Path, default=None, help="lab folder whose secrets are redacted"
    )
    _summary_md_opt(p)
    p.set_defaults(func=cmd_report)


def _soak_parser(sub: Any, lab_opts: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "soak", help="run one experiment N times on one lab: do resources grow, does it drift?"
    )
    lab_opts(p)
    p.add_argument("experiment", nargs="?", default="django-instance-kill")
    p.add_argument("--runs", type=int, default=10, help="how many runs (default 10)")
    p.add_argument(
        "--profile", default=None, help="a named profile of env/stack.yaml (default: production)"
    )
    p.add_argument(
        "--drift-of",
        nargs="+",
        default=["max_success_gap_s", "instance_ready_s"],
        metavar="MEASUREMENT",
        help="measurements that must not drift (default: max_success_gap_s instance_ready_s)",
    )
    p.set_defaults(func=cmd_soak)


# size: every subcommand and option in one tree, in the order of --help.
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
    _kube_opts(p, dry_run=False)
    p.add_argument(
        "--app-url", default=None, help="cluster only: the shop's URL (kind: the ingress mapping)"
    )
    p.add_argument(
        "--profile",
        default=None,
        help="a named profile of env/stack.yaml (default: production); kind: the one "
        "`up --profile` deployed",
    )
    p.add_argument(
        "--load-scale",
        type=float,
        default=None,
        metavar="F",
        help="multiply every experiment's Locust load by F (0 < F <= 10; HASUITE_LOAD_SCALE): "
        "for a machine that cannot carry the profiles; the reports name the scaled load",
    )
    _summary_md_opt(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("calibrate", help="measure the probes' error on outages of known length")
    lab_opts(p)
    p.add_argument(
        "--durations",
        type=float,
        nargs="+",
        default=[1.0, 2.0, 5.0, 10.0],
        help="outage lengths in seconds (default 1 2 5 10)",
    )
    p.add_argument(
        "--fault",
        choices=("refuse", "pause"),
        default="refuse",
        help="refuse: reset every connection to nginx (iptables, root; an outage with sharp "
        "edges, the default); pause: SIGSTOP nginx (requests hang, and the outage includes the "
        "server's catch-up after the SIGCONT)",
    )
    p.add_argument(
        "--load",
        action="store_true",
        help="run a fixed-rate Locust load through each pause too and judge its view as well",
    )
    p.set_defaults(func=cmd_calibrate)
    _soak_parser(sub, lab_opts)
    _report_parser(sub)

    def target_opts(p: argparse.ArgumentParser) -> None:
        lab_opts(p)
        _kube_opts(p)

    p = sub.add_parser(
        "up", help="bring a target up: local lab, kind cluster + stack, or check a cluster"
    )
    target_opts(p)
    p.add_argument(
        "--profile",
        default=None,
        help="a profile of env/stack.yaml (local and kind; kind: re-applies the overlay "
        "rendered with it, and without it converges back to production)",
    )
    p.set_defaults(func=cmd_up)
    p = sub.add_parser(
        "down", help="bring a target down (kind: only a cluster hasuite created; cluster: never)"
    )
    target_opts(p)
    p.add_argument("--purge", action="store_true", help="local only: delete the lab's data")
    p.set_defaults(func=cmd_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # SIGINT, SIGTERM and SIGHUP interrupt every stage the same way (session.signals)
        with signals.trap():
            code: int = args.func(args)
    except HasuiteError as exc:
        console.print(f"[red]error:[/red] {exc}")
        code = 2
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/red] ({signals.signal_name()})")
        code = signals.exit_code(130)
    if signals.interrupted():
        # A call abandoned by the interrupt (a rollback or a probe in a daemon thread) may still
        # write to stderr: the interpreter's shutdown then aborted (SIGABRT, exit 134, seen on
        # kind). Everything is written and every child is gone: leave now, with the code.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
