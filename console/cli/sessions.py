"""``devicelab sessions``: browse, bookmark, replay, compare, export, import, delete.

Thin: every sub-command parses its arguments, calls one function of the
session layer (``console.session.replay``, ``compare``, ``export``,
``bundle``, ``matrix``) and prints. Exit status: 0 ok, 1 a regression with
``compare --fail-on-regression`` (or a failed replay run), 2 bad input —
a missing session, a refused replay, an unreadable bundle — with one line
on stderr saying what and where.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.cli import EXIT_FAILED, CliError, add_db_argument, add_group
from console.cli.format import fmt_time, summary_lines
from console.cli.log_access import (
    add_session_filters,
    get_session,
    open_store,
    parse_since,
    subcommand,
)
from console.cli.profile_format import profile_json, profile_lines
from console.cli.run import add_ssh_arguments
from console.core.records import SessionRecord, facts_sections
from console.session.profiles import load_profile

LIST_EXAMPLE = """example:
  devicelab sessions list
  devicelab sessions list --status failed --since 7d --device gw-3"""

SHOW_EXAMPLE = """example:
  devicelab sessions show 12
  devicelab sessions show 12 --json"""

BOOKMARK_EXAMPLE = """example:
  devicelab sessions bookmark 12 --frame 240 --note "first dropped frame"
  devicelab sessions bookmark 12 --time 31.5 --note "fan spins up"

--time is in seconds from the session's first frame (the time axis of its
plots); the bookmark also records the frame shown at that time."""

REPLAY_EXAMPLE = """example:
  devicelab sessions replay 12
  devicelab sessions replay 12 --device ssh://pi@10.0.0.7
  devicelab sessions replay 3f2a9c --package ~/customer/model.zip --input ~/customer/clip.mp4

Runs the recorded package, input and settings again; the new session links to
the original. Refused (exit 2) when the package's manifest or model sha256, or
the recording's sha256, differs from what the session recorded — the message
names the file and what differs."""

DELETE_EXAMPLE = """example:
  devicelab sessions delete 12
  devicelab sessions delete 12 --yes      (no prompt, for scripts)"""



def register(sub: Any) -> None:
    ps = add_group(sub, "sessions", "browse, replay, compare, export and manage sessions",
                   "The session log: every run with everything needed to reproduce it.",
                   "examples:\n"
                   "  devicelab sessions list --since 2d\n"
                   "  devicelab sessions replay 12 --device board\n"
                   "  devicelab sessions compare 12 13 --fail-on-regression\n"
                   "  devicelab sessions export 12 --format html -o run12.html\n"
                   "  devicelab sessions push 12 --to postgresql://qa@lab-db/devicelab")
    ls = subcommand(ps, "list", "list sessions, newest first", LIST_EXAMPLE)
    add_session_filters(ls)
    ls.add_argument("--status", choices=("running", "completed", "stopped", "failed",
                                         "interrupted"))
    ls.add_argument("--since", help="only newer than: 30m, 12h, 7d or YYYY-MM-DD")
    ls.add_argument("--tag", help="sessions carrying this tag")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    add_db_argument(ls)
    ls.set_defaults(func=cmd_list)
    sh = subcommand(ps, "show", "everything one session recorded", SHOW_EXAMPLE)
    sh.add_argument("session", help="session id (or uuid prefix)")
    sh.add_argument("--json", action="store_true")
    sh.add_argument("--ops", choices=("top", "all"), default="top",
                    help="a profiled session's operators: the 10 slowest (default) or all")
    add_db_argument(sh)
    sh.set_defaults(func=cmd_show)

    bm = subcommand(ps, "bookmark", "mark a moment of a session with a note", BOOKMARK_EXAMPLE)
    bm.add_argument("session", help="session id (or uuid prefix)")
    where = bm.add_mutually_exclusive_group(required=True)
    where.add_argument("--frame", type=int, metavar="N", help="frame index")
    where.add_argument("--time", type=float, metavar="S",
                       help="seconds from the session's first frame")
    bm.add_argument("--note", required=True, help="what happened there")
    add_db_argument(bm)
    bm.set_defaults(func=cmd_bookmark)

    rp = subcommand(ps, "replay", "run a recorded session again (checked, linked to the original)",
              REPLAY_EXAMPLE)
    rp.add_argument("session", help="session id (or uuid prefix)")
    rp.add_argument("--device", help="run on this device instead of the recorded one")
    rp.add_argument("--package", help="a copy of the recorded package (checked by sha256)")
    rp.add_argument("--input", help="a copy of the recorded input (checked by sha256)")
    rp.add_argument("--fail-on-budget", action="store_true",
                    help="exit 1 if any budget fails")
    add_ssh_arguments(rp)
    rp.add_argument("--json", action="store_true", help="print the summary as JSON")
    rp.add_argument("--quiet", action="store_true", help="no live progress line")
    add_db_argument(rp)
    rp.set_defaults(func=cmd_replay)

    from console.cli import sessions_compare, sessions_files

    sessions_compare.register(ps)
    sessions_files.register(ps)

    de = subcommand(ps, "delete", "delete a session and everything recorded with it",
                    DELETE_EXAMPLE)
    de.add_argument("session", help="session id (or uuid prefix)")
    de.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_db_argument(de)
    de.set_defaults(func=cmd_delete)

    from console.cli import sync as sync_cmd

    sync_cmd.register(ps)





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
        "tags": list(s.get("tags") or []),
    }


def _cell(v: Any, spec: str) -> str:
    """A table cell: '–' where the figure was not measured (the width stays)."""
    return "–" if v is None else f"{v:{spec}}"


def _short_input(desc: Any) -> str:
    text = str(desc or "")
    return text.rsplit("/", 1)[-1] if "://" not in text else text


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
    print(f"{'id':>5}  {'started':<19}  {'device':<14} {'package':<22} {'input':<18} "
          f"{'frames':>7} {'fps':>7} {'p95 ms':>8} {'max °C':>6}  {'status':<11} note / tags")
    from console.session.run import note_with_tags

    for f in fields:
        note = note_with_tags(f["note"], f["tags"], width=40)
        print(f"{f['id']:>5}  {f['started']:<19}  {str(f['device'])[:14]:<14} "
              f"{f['package'][:22]:<22} {_short_input(f['input'])[:18]:<18} "
              f"{f['frames']:>7} {_cell(f['fps'], '.1f'):>7} {_cell(f['p95_ms'], '.3f'):>8} "
              f"{_cell(f['max_temp_c'], '.1f'):>6}  {f['status']:<11} {note}")
    if any(f[k] is None for f in fields for k in ("fps", "p95_ms", "max_temp_c")):
        print("('–': not measured on that run or device)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        s = get_session(store, args.session)
        events = store.events(s["id"])
        bookmarks = store.bookmarks(s["id"])
        n_tel = store.telemetry_count(s["id"])
        prof = load_profile(store, s["id"], s.get("profile"))
    if args.json:
        s["operators"] = profile_json(prof)
        s["events"] = events
        s["bookmarks"] = bookmarks
        s["telemetry_samples"] = n_tel
        print(json.dumps(s, indent=2, default=str))
        return 0
    rec = SessionRecord.from_row(s)
    print(f"session {rec.id}  ({rec.uuid})  {rec.status}")
    for sec in facts_sections(rec, telemetry_samples=n_tel, events=len(events),
                              bookmarks=len(bookmarks)):
        print(sec.title)
        for r in sec.rows:
            print(f"  {r.label:<16} {r.text}")
    if s.get("summary"):
        print("summary")
        for line in summary_lines(s["summary"]):
            print("  " + line)
    for line in profile_lines(prof, top=len(prof.ops) if prof and args.ops == "all" else 10):
        print("  " + line if not line.startswith("operators") else line)
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


# -- bookmark ------------------------------------------------------------------------
def cmd_bookmark(args: argparse.Namespace) -> int:
    from console.session.replay import load_timeline, resolve_moment

    note = args.note.strip()
    if not note:
        raise CliError("--note is empty: say what happened at that moment")
    with open_store(args) as store:
        s = get_session(store, args.session)
        try:
            moment = resolve_moment(load_timeline(store, int(s["id"])), frame=args.frame,
                                    time_s=args.time)
            bid = store.add_bookmark(int(s["id"]), note, frame_i=moment.frame_i, ts=moment.ts)
        except ValueError as exc:  # no such frame or time in it
            raise CliError(str(exc)) from None
    where = (f"frame {moment.frame_i}, " if moment.frame_i is not None else "") + \
        f"{moment.t:.3f} s"
    print(f"bookmark {bid} on session {s['id']} at {where}: {note}")
    return 0


# -- replay --------------------------------------------------------------------------
def _saved_device_names() -> list[str]:
    from console.core.settings import SettingsError, load_settings

    try:
        return [str(d.get("name")) for d in load_settings().devices if d.get("name")]
    except SettingsError:
        return []


def cmd_replay(args: argparse.Namespace) -> int:
    from console.cli.run import execute_run
    from console.session.replay import ReplayRefused, plan_replay, verify_replayed

    with open_store(args) as store:
        try:
            plan = plan_replay(store, args.session, device=args.device, package=args.package,
                               input=args.input, saved_device_names=_saved_device_names())
        except ReplayRefused as exc:
            raise CliError(f"replay refused: {exc}") from None
    if not args.quiet:
        print(f"replaying session {plan.original_id} on {plan.device}: package "
              f"{plan.package_path}, input {plan.input_spec} (sha256 checked)", file=sys.stderr)
        for n in plan.notes:
            print(f"note: {n}", file=sys.stderr)
    args.device = plan.device
    code = execute_run(args, plan.request)
    with open_store(args) as store:
        replays = store.session_ids_replaying(plan.original_id)
        problems = verify_replayed(store, plan.original_id, replays[0]) if replays else []
    for p in problems:
        print(f"devicelab: warning: the replay is not exact: {p} (a file changed during "
              "the run)", file=sys.stderr)
    return code or (EXIT_FAILED if problems else 0)


# -- compare -------------------------------------------------------------------------
def cmd_delete(args: argparse.Namespace) -> int:
    from console.session.bundle import delete_session

    with open_store(args) as store:
        s = get_session(store, args.session)
        desc = (f"session {s['id']} ({s.get('package_name')}@{s.get('package_version')} on "
                f"{s.get('device_name') or s.get('device_address')}, "
                f"{s.get('frames_received') or 0} frames, {s.get('status')}, "
                f"{fmt_time(s.get('started_at'))})")
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError(f"deleting {desc} needs confirmation: pass --yes")
            try:
                answer = input(f"delete {desc}? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 0
        res = delete_session(store, int(s["id"]))
    print(f"deleted session {res.session_id} ({res.uuid})"
          + (", and the files imported with it" if res.removed_files else "")
          + (f"; sessions {', '.join(map(str, res.unlinked_replays))} no longer link to it"
             if res.unlinked_replays else ""))
    return 0
