"""``devicelab plan check|run|runs|show``: test plans over a device matrix.

A plan file (TOML, ``docs/plans.md``) names devices, packages, inputs,
settings, budgets and a baseline; ``run`` runs every device at once and each
device's cells one after another, shows one live line per device (``rich``:
redrawn in place on a terminal, plain lines when piped, ``--json`` one
object per event), writes JUnit XML and an HTML matrix report, and exits
0 every cell passed, 1 a product failure (budget, regression, run failed),
2 the plan was refused, 3 a device could not be used, 130 stopped (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from console.cli import CliError, add_db_argument, add_group, db_path
from console.cli.format import fmt_time

CHECK_EXAMPLE = """example:
  devicelab plan check plans/nightly.toml

Prints one line per problem (PLAN:LINE: key: what is wrong) and exits 2,
or a summary of the cells and exits 0. Verifies every package once; does
not connect to any device."""

RUN_EXAMPLE = """example:
  devicelab plan run plans/nightly.toml --junit report.xml -o report.html
  devicelab plan run plans/nightly.toml --json > events.jsonl

Devices run in parallel, the cells of one device one after another. Ctrl-C
stops every device cleanly (a second Ctrl-C kills the agents).
exit status: 0 every cell passed, 1 a budget failed, a run failed or a
regression against the baseline was found, 2 plan refused before running,
3 no product failure but a device could not be used, 130 stopped."""

RUNS_EXAMPLE = """example:
  devicelab plan runs
  devicelab plan runs --name nightly-digits --json"""

SHOW_EXAMPLE = """example:
  devicelab plan show 7
  devicelab plan show 3f2a9c --junit report.xml -o report.html"""


def register(sub: Any) -> None:
    ps = add_group(sub, "plan", "run test plans over a device matrix",
                   "Test plans: one TOML file names devices × packages × inputs × settings with "
                   "budgets and a baseline; every device runs at once (docs/plans.md).",
                   "examples:\n"
                   "  devicelab plan check plans/nightly.toml\n"
                   "  devicelab plan run plans/nightly.toml --junit report.xml -o report.html\n"
                   "  devicelab plan runs")
    pc = ps.add_parser("check", help="validate a plan without running it", epilog=CHECK_EXAMPLE)
    pc.add_argument("plan", help="the plan file (TOML)")
    pc.add_argument("--json", action="store_true", help="the problems or cells as JSON")
    pc.set_defaults(func=cmd_check)

    pr = ps.add_parser("run", help="run a plan on all its devices at once", epilog=RUN_EXAMPLE)
    pr.add_argument("plan", help="the plan file (TOML)")
    pr.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testsuite per device)")
    pr.add_argument("-o", "--output", metavar="REPORT.html", help="write the HTML matrix report")
    pr.add_argument("--json", action="store_true",
                    help="one JSON object per event on stdout (for scripts), no live table")
    pr.add_argument("--strict-budgets", action="store_true",
                    help="a budget that does not pass (inconclusive, unmeasured) fails the cell")
    pr.add_argument("--accept-new-host-key", action="store_true",
                    help="SSH: trust unknown host keys (a changed key is always refused)")
    pr.add_argument("--quiet", action="store_true", help="no live progress")
    add_db_argument(pr)
    pr.set_defaults(func=cmd_run)

    pl = ps.add_parser("runs", help="list past plan runs", epilog=RUNS_EXAMPLE)
    pl.add_argument("--name", help="only runs of this plan")
    pl.add_argument("--limit", type=int, default=50)
    pl.add_argument("--json", action="store_true")
    add_db_argument(pl)
    pl.set_defaults(func=cmd_runs)

    pw = ps.add_parser("show", help="print one past plan run (and write its reports again)",
                       epilog=SHOW_EXAMPLE)
    pw.add_argument("run", help="plan run id or uuid (prefix)")
    pw.add_argument("--junit", metavar="FILE", help="write its JUnit XML")
    pw.add_argument("-o", "--output", metavar="REPORT.html", help="write its HTML report")
    pw.add_argument("--json", action="store_true")
    add_db_argument(pw)
    pw.set_defaults(func=cmd_show)


# -- check ---------------------------------------------------------------------------
def _checked(path: str) -> Any:
    from console.session.plan_check import check_plan

    return check_plan(path)


def cmd_check(args: argparse.Namespace) -> int:
    checked = _checked(args.plan)
    if args.json:
        print(json.dumps({"ok": checked.ok, "problems": checked.lines(),
                          "cells": [_cell_json(c) for c in checked.cells]}, indent=2))
        return 0 if checked.ok else 2
    if not checked.ok:
        for line in checked.lines():
            print(f"devicelab: error: {line}", file=sys.stderr)
        return 2
    plan = checked.plan
    print(f"plan {plan.name}: {len(checked.devices)} device(s) × {len(plan.packages)} "
          f"package(s) × {len(plan.inputs)} input(s) × {len(plan.settings())} setting(s)"
          + (f" × {plan.repeats} repeats" if plan.repeats > 1 else "")
          + f" = {len(checked.cells)} cells")
    print(f"devices   {', '.join(checked.devices)}")
    for pkg, ver in checked.verifications.items():
        assert ver.package is not None
        print(f"package   {ver.package.title}  {ver.signature}  manifest sha256 "
              f"{ver.package.digest[:16]}…  ({pkg})")
    if checked.budgets:
        print("budgets   " + ", ".join(f"{k}={v:g}" for k, v in checked.budgets.items()))
    if plan.baseline is not None:
        print("baseline  " + (f"tag {plan.baseline.tag}" if plan.baseline.tag
                              else "the last passing run of each cell"))
    print("ok")
    return 0


# -- live progress -----------------------------------------------------------------
def _cell_json(c: Any) -> dict[str, Any]:
    return {"idx": c.idx, "device": c.device, "package": c.package, "input": c.input.spec,
            "settings": c.record(), "label": c.label}


class JsonEvents:
    """``--json``: one JSON object a line on stdout per plan event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def emit(self, event: str, **data: Any) -> None:
        with self.lock:
            try:
                print(json.dumps({"event": event, "t": round(time.time(), 3)} | data,
                                 default=str), flush=True)
            except (OSError, ValueError):
                pass


def make_listener(json_mode: bool, quiet: bool) -> Any:
    from console.session.plan_run import CellOutcome, DeviceProgress, PlanListener, PlanResult

    class Listener(PlanListener):
        """Live terminal view (rich) or JSON events; thread-safe (device threads call it)."""

        def __init__(self) -> None:
            from rich.console import Console

            self.json = JsonEvents() if json_mode else None
            self.console = Console(stderr=True, highlight=False)
            self.quiet = quiet or json_mode
            self.live: Any = None
            self.lock = threading.Lock()
            self.rows: dict[str, dict[str, Any]] = {}
            self.last_plain: dict[str, float] = {}
            self.seen: set[tuple[str, str, str]] = set()

        # terminal -------------------------------------------------------------
        def _plain(self, text: str) -> None:
            if self.quiet or self.live is not None:
                return
            try:
                self.console.print(text, markup=False, soft_wrap=True)
            except (OSError, ValueError):
                self.quiet = True

        def render(self) -> Any:
            from rich.table import Table

            t = Table(box=None, pad_edge=False, show_edge=False)
            for col in ("device", "state", "cell", "frames", "fps", "p95 ms", "pass/fail/not run"):
                t.add_column(col, justify="right" if col in ("frames", "fps", "p95 ms")
                             else "left", no_wrap=True,
                             overflow="ellipsis" if col in ("cell", "device") else "fold",
                             ratio=1 if col == "cell" else None)
            with self.lock:
                for dev, r in self.rows.items():
                    t.add_row(dev, r.get("state", ""), r.get("cell", ""),
                              str(r.get("frames", "")), r.get("fps", ""), r.get("p95", ""),
                              f"{r.get('pass', 0)}/{r.get('fail', 0)}/{r.get('not run', 0)}")
            return t

        def start(self) -> None:
            if not self.quiet and self.console.is_terminal:
                from rich.live import Live

                self.live = Live(get_renderable=self.render, console=self.console,
                                 refresh_per_second=4, transient=False)
                self.live.start()

        def stop(self) -> None:
            if self.live is not None:
                self.live.stop()
                self.live = None

        def _row(self, device: str) -> dict[str, Any]:
            return self.rows.setdefault(device, {"state": "waiting"})

        # events -------------------------------------------------------------
        def plan_started(self, run_id: int, uuid: str, cells: Sequence[Any]) -> None:
            with self.lock:
                for c in cells:
                    self._row(c.device)
            if self.json:
                self.json.emit("plan_started", run_id=run_id, uuid=uuid,
                               cells=[_cell_json(c) for c in cells])
            self._plain(f"plan run {run_id} ({uuid[:12]}): {len(cells)} cells on "
                        f"{len(self.rows)} device(s)")
            self.start()

        def device_state(self, device: str, state: str, text: str) -> None:
            with self.lock:
                self._row(device)["state"] = state
            if self.json:
                self.json.emit("device_state", device=device, state=state, text=text)
            self._plain(f"[{device}] {state}: {text}")

        def cell_started(self, cell: Any) -> None:
            with self.lock:
                r = self._row(cell.device)
                r.update(cell=f"#{cell.idx + 1} {cell.label}", frames=0, fps="", p95="")
            if self.json:
                self.json.emit("cell_started", cell=_cell_json(cell))

        def cell_session(self, cell: Any, session_id: int) -> None:
            if self.json:
                self.json.emit("cell_session", idx=cell.idx, device=cell.device,
                               session_id=session_id)

        def progress(self, p: DeviceProgress) -> None:
            with self.lock:
                r = self._row(p.device)
                r.update(state=p.state, frames=p.frames,
                         fps="" if p.fps is None else f"{p.fps:.1f}",
                         p95="" if p.p95_ms is None else f"{p.p95_ms:.3f}")
            if self.json:
                self.json.emit("progress", device=p.device, state=p.state,
                               idx=p.cell.idx if p.cell else None, index=p.index,
                               total=p.total, frames=p.frames, fps=p.fps, p95_ms=p.p95_ms,
                               session_id=p.session_id)
            now = time.monotonic()
            if now - self.last_plain.get(p.device, 0.0) >= 10.0 and p.frames:
                self.last_plain[p.device] = now
                self._plain(f"[{p.device}] cell {p.index}/{p.total}: {p.frames} frames"
                            + (f", {p.fps:.1f} fps" if p.fps is not None else "")
                            + (f", p95 {p.p95_ms:.3f} ms" if p.p95_ms is not None else ""))

        def event(self, device: str, level: str, code: str, text: str) -> None:
            if self.json:
                self.json.emit("event", device=device, level=level, code=code, text=text)
            with self.lock:  # the same warning for every cell of a device: once
                new = (device, level, text) not in self.seen
                self.seen.add((device, level, text))
            if new and level in ("warning", "error"):
                self._plain(f"[{device}] {level}: {text}")

        def cell_finished(self, outcome: CellOutcome) -> None:
            with self.lock:
                r = self._row(outcome.cell.device)
                r[outcome.verdict] = r.get(outcome.verdict, 0) + 1
            if self.json:
                self.json.emit("cell_finished", idx=outcome.cell.idx,
                               device=outcome.cell.device, verdict=outcome.verdict,
                               reason=outcome.reason, session_id=outcome.session_id,
                               status=outcome.status,
                               checks=[c.to_dict() for c in outcome.checks])
            from console.session.plan_verdicts import display_verdict, undecided_text

            shown = display_verdict(outcome.verdict, outcome.checks)
            undecided = undecided_text(outcome.checks)
            self._plain(f"[{outcome.cell.device}] #{outcome.cell.idx + 1} "
                        f"{outcome.cell.label}: {shown.upper()}"
                        + ("" if shown == "pass" else
                           f": passed; not decided: {undecided}" if shown == "inconclusive"
                           else f": {outcome.reason}"))

        def plan_finished(self, result: PlanResult) -> None:
            self.stop()
            if self.json:
                self.json.emit("plan_finished", run_id=result.run_id, uuid=result.uuid,
                               status=result.status, exit_code=result.exit_code)

    return Listener()


# -- run ----------------------------------------------------------------------------
def _write_outputs(args: argparse.Namespace, run: dict[str, Any]) -> None:
    from console.session.export.target import open_target
    from console.session.plan_junit import junit_xml
    from console.session.plan_report import render_plan_html

    with _store(args) as st:
        for path, make in ((args.junit, lambda: junit_xml(run, st)),
                           (args.output, lambda: render_plan_html(st, run))):
            if not path:
                continue
            try:
                with open_target(path) as fh:
                    fh.write(make())
            except OSError as exc:
                raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
            if not args.json:
                print(f"wrote {path}")


def _print_run(run: dict[str, Any]) -> None:
    from console.session.plan_log import cells_of
    from console.session.plan_verdicts import display_verdict, undecided_text

    known = cells_of(run)
    counts = run.get("counts") or {}
    print(f"plan {run['name']}  run {run['id']} ({run['uuid'][:12]})  {run['status']}"
          f"  exit {run.get('exit_code')}  {fmt_time(run['started_at'])} → "
          f"{fmt_time(run.get('ended_at'))}")
    print("  " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for c in run["cells"]:
        cell = known.get(int(c["idx"]))
        label = cell.label if cell else f"{c['package']} × {c['input']}"
        sid = f"session {c['session_id']}" if c.get("session_id") is not None else "no session"
        shown = display_verdict(str(c["verdict"]), c.get("checks") or [])
        line = f"  #{int(c['idx']) + 1:<3} {c['device']:<20} {label}  {shown.upper()}"
        undecided = undecided_text(c.get("checks") or [])
        print(f"{line}  ({sid})" + ("" if shown == "pass" else
                                    f"\n       passed; not decided: {undecided}"
                                    if shown == "inconclusive" else
                                    f"\n       {c['verdict']}: {c['reason']}"))


def cmd_run(args: argparse.Namespace) -> int:
    from console.cli.run import device_opener, execute_until_stopped
    from console.session.plan_log import get_plan_run
    from console.session.plan_run import PlanRun
    from console.session.trust import package_policy

    checked = _checked(args.plan)
    if not checked.ok:
        for line in checked.lines():
            print(f"devicelab: error: {line}", file=sys.stderr)
        return 2
    listener = make_listener(args.json, args.quiet)
    prun = PlanRun(checked, db_path(args), listener,
                   open_device=device_opener(args.accept_new_host_key),
                   strict_budgets=args.strict_budgets, package_policy=package_policy())
    try:
        result = execute_until_stopped(prun, "Ctrl-C again to kill the agents")
    finally:
        listener.stop()
    with _store(args) as st:
        run = get_plan_run(st, result.run_id)
    assert run is not None
    try:
        if not args.json:
            _print_run(run)
        _write_outputs(args, run)
    except OSError:  # nowhere left to print: the log has it all
        pass
    return result.exit_code


# -- runs / show -----------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Any:
    from console.core.store import StoreError
    from console.core.store.target import parse_target
    from console.session.sessionlog import open_log

    target = parse_target(db_path(args))
    if not target.is_server and not target.path.exists():
        raise CliError(f"no session log at {target.display}: no plan has run yet (or pass --db)")
    try:  # for writing when it can: plan runs of a killed console are marked interrupted
        return open_log(target)
    except StoreError:
        pass
    return open_log(target, readonly=True)


def cmd_runs(args: argparse.Namespace) -> int:
    from console.session.plan_log import list_plan_runs

    with _store(args) as st:
        runs = list_plan_runs(st, limit=args.limit, name=args.name)
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
        return 0
    if not runs:
        print("no plan runs")
        return 0
    print(f"{'id':>4}  {'uuid':<12}  {'plan':<20} {'started':<19}  {'status':<10} exit  cells")
    for r in runs:
        c = r["counts"]
        cells = ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
        print(f"{r['id']:>4}  {r['uuid'][:12]:<12}  {r['name']:<20} {fmt_time(r['started_at']):<19}"
              f"  {r['status']:<10} {'' if r['exit_code'] is None else r['exit_code']:>4}  "
              f"{cells}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from console.session.plan_log import get_plan_run

    with _store(args) as st:
        run = get_plan_run(st, args.run)
    if run is None:
        raise CliError(f"no plan run {args.run!r} (or more than one: give more of the uuid); "
                       "see devicelab plan runs")
    if args.json:
        print(json.dumps(run, indent=2, default=str))
    else:
        _print_run(run)
    _write_outputs(args, run)
    return 0
