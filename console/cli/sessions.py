"""``devicelab sessions``: browse the session log."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from console.cli import CliError, add_db_argument, db_path
from console.cli.format import fmt_num, fmt_time, summary_lines
from console.core.store import SessionStore, StoreError

LIST_EXAMPLE = """example:
  devicelab sessions list
  devicelab sessions list --status failed --since 7d --device gw-3"""

SHOW_EXAMPLE = """example:
  devicelab sessions show 12
  devicelab sessions show 12 --json"""


def register(sub: Any) -> None:
    p = sub.add_parser("sessions", help="browse, show and manage recorded sessions",
                       description="The session log: every run with everything needed to "
                                   "reproduce it.")
    p.set_defaults(_group_parser=p)
    ps = p.add_subparsers(dest="sessions_command", metavar="SUBCOMMAND")
    ls = ps.add_parser("list", help="list sessions, newest first", epilog=LIST_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("--device", help="device name or address contains")
    ls.add_argument("--package", help="package name contains, or NAME@VERSION")
    ls.add_argument("--status", choices=("running", "completed", "stopped", "failed",
                                         "interrupted"))
    ls.add_argument("--since", help="only newer than: 30m, 12h, 7d or YYYY-MM-DD")
    ls.add_argument("--tag", help="sessions carrying this tag")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    add_db_argument(ls)
    ls.set_defaults(func=cmd_list)
    sh = ps.add_parser("show", help="everything one session recorded", epilog=SHOW_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sh.add_argument("session", help="session id (or uuid prefix)")
    sh.add_argument("--json", action="store_true")
    add_db_argument(sh)
    sh.set_defaults(func=cmd_show)


def open_store(args: argparse.Namespace, *, write: bool = False) -> SessionStore:
    from pathlib import Path

    path = db_path(args)
    if not write and not Path(path).exists():
        raise CliError(f"no session log at {path} yet (run something first, or pass --db)")
    try:
        store = SessionStore(path)
        store.recover_interrupted()
        return store
    except StoreError as exc:
        raise CliError(str(exc)) from None


def parse_since(text: str | None) -> float | None:
    if not text:
        return None
    import re
    from datetime import datetime

    m = re.match(r"^(\d+)([mhd])$", text)
    if m:
        mult = {"m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return time.time() - int(m.group(1)) * mult
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise CliError(f"bad --since {text!r}: use 30m, 12h, 7d or YYYY-MM-DD") from None


def get_session(store: SessionStore, ref: str) -> dict[str, Any]:
    s = store.find_session(ref)
    if s is None:
        raise CliError(f"no session {ref!r} in {store.path}")
    return s


def _row_fields(s: dict[str, Any]) -> dict[str, Any]:
    summ = s.get("summary") or {}
    e2e = (summ.get("latency_ms") or {}).get("e2e") or {}
    return {
        "id": s["id"], "started": fmt_time(s.get("started_at") or s.get("created_at")),
        "device": s.get("device_name") or s.get("device_address"),
        "package": f"{s.get('package_name')}@{s.get('package_version')}",
        "input": s.get("input_desc"), "frames": s.get("frames_received") or 0,
        "fps": summ.get("fps"), "p95_ms": e2e.get("p95"),
        "max_temp_c": (summ.get("thermal") or {}).get("max_c"),
        "status": s.get("status"), "note": s.get("note") or "",
    }


def cmd_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rows = store.list_sessions(device=args.device, package=args.package, status=args.status,
                                   since=parse_since(args.since), tag=args.tag, limit=args.limit)
    fields = [_row_fields(s) for s in rows]
    if args.json:
        print(json.dumps(fields, indent=2))
        return 0
    if not fields:
        print("no sessions match")
        return 0
    print(f"{'id':>5}  {'started':<19}  {'device':<16} {'package':<24} {'frames':>7} "
          f"{'fps':>8} {'p95 ms':>8} {'max °C':>7}  {'status':<11} note")
    for f in fields:
        print(f"{f['id']:>5}  {f['started']:<19}  {str(f['device'])[:16]:<16} "
              f"{f['package'][:24]:<24} {f['frames']:>7} {fmt_num(f['fps'], '.1f'):>8} "
              f"{fmt_num(f['p95_ms'], '.3f'):>8} {fmt_num(f['max_temp_c'], '.1f'):>7}  "
              f"{f['status']:<11} {f['note'][:40]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        s = get_session(store, args.session)
        events = store.events(s["id"])
        bookmarks = store.bookmarks(s["id"])
        n_tel = store.conn.execute("SELECT COUNT(*) FROM telemetry WHERE session_id=?",
                                   [s["id"]]).fetchone()[0]
    if args.json:
        s["events"] = events
        s["bookmarks"] = bookmarks
        s["telemetry_samples"] = n_tel
        print(json.dumps(s, indent=2, default=str))
        return 0
    facts = s.get("device_facts") or {}
    libs = facts.get("libraries") or {}
    settings = s.get("settings") or {}
    print(f"session {s['id']}  ({s['uuid']})  {s['status']}")
    print(f"  started   {fmt_time(s.get('started_at'))}   ended {fmt_time(s.get('ended_at'))}")
    print(f"  device    {s.get('device_name')} [{s.get('device_address')}]  "
          f"{facts.get('os') or '?'}, kernel {facts.get('kernel') or '?'}, "
          f"{facts.get('arch') or '?'}, {facts.get('cpu_model') or '?'} x{facts.get('cores')}")
    print(f"            python {facts.get('python')}, numpy {libs.get('numpy')}, onnxruntime "
          f"{libs.get('onnxruntime')}, opencv {libs.get('opencv')}, provider {s.get('provider')}")
    ident = s.get("device_identity") or {}
    if ident.get("host_key_sha256"):
        print(f"            host key {ident.get('host_key_type')} {ident['host_key_sha256']}")
    print(f"  package   {s.get('package_name')}@{s.get('package_version')}  sha256 "
          f"{s.get('package_digest')}" + (f"  signed by {s['package_signer']}"
                                           if s.get("package_signer") else ""))
    print(f"  input     {s.get('input_kind')}: {s.get('input_desc')}"
          + (f"  sha256 {s['input_sha256']}" if s.get("input_sha256") else ""))
    print("  settings  " + ", ".join(f"{k}={v}" for k, v in settings.items()
                                      if v not in (None, "", 0, 0.0, False, {})))
    print(f"  versions  console {s.get('console_version')}, agent {s.get('agent_version')}, "
          f"protocol v{s.get('protocol_version')}")
    if s.get("note"):
        print(f"  note      {s['note']}")
    if s.get("tags"):
        print(f"  tags      {', '.join(s['tags'])}")
    if s.get("replay_of"):
        print(f"  replay of session {s['replay_of']}")
    if s.get("error"):
        print(f"  error     {s['error']}")
    print(f"  recorded  {s.get('frames_received') or 0} frames, {n_tel} telemetry samples, "
          f"{len(events)} events")
    if s.get("summary"):
        print("summary")
        for line in summary_lines(s["summary"]):
            print("  " + line)
    if bookmarks:
        print("bookmarks")
        for b in bookmarks:
            print(f"  frame {b['frame_i']}: {b['note']}")
    warn = [e for e in events if e["level"] in ("warning", "error")]
    if warn:
        print("warnings and errors")
        for e in warn[-20:]:
            print(f"  {fmt_time(e['ts'])} {e['level']:<7} {e['text']}")
    return 0
