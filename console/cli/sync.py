"""``devicelab sessions push`` and ``pull``: sessions between a laptop's log and the team's.

Both directions are :func:`console.session.sync.copy_sessions`; a session is matched
by its uuid, so running either twice copies nothing twice ("already there").
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from console.cli import CliError, add_db_argument

PUSH_EXAMPLE = """examples:
  devicelab sessions push 12 13 --to postgresql://qa@lab-db/devicelab
  devicelab sessions push --to postgresql://qa@lab-db/devicelab      # every finished session

The password, if the server wants one, comes from ~/.pgpass (or PGPASSFILE/PGSERVICE)."""

PULL_EXAMPLE = """examples:
  devicelab sessions pull 4f2a9c --from postgresql://qa@lab-db/devicelab   # by uuid prefix
  devicelab sessions pull 731 --from postgresql://qa@lab-db/devicelab --db field.db"""


def register(ps: Any) -> None:
    pu = ps.add_parser("push", help="copy sessions from this log to another (the team's server)",
                       description="Copy sessions (with bookmarks, events, telemetry and imported "
                                   "files) from the log named by --db to the one named by --to. "
                                   "Idempotent by session uuid.", epilog=PUSH_EXAMPLE)
    pu.add_argument("sessions", nargs="*", metavar="SESSION",
                    help="ids or uuid prefixes in this log (none: every finished session)")
    pu.add_argument("--to", required=True, metavar="PATH|URL", help="the log to copy into")
    add_db_argument(pu)
    pu.set_defaults(func=cmd_push)
    pl = ps.add_parser("pull", help="copy sessions from another log (the team's server) here",
                       description="Copy sessions from the log named by --from into the one named "
                                   "by --db. Idempotent by session uuid.", epilog=PULL_EXAMPLE)
    pl.add_argument("sessions", nargs="*", metavar="SESSION",
                    help="ids or uuid prefixes in the other log (none: every finished session)")
    pl.add_argument("--from", dest="source", required=True, metavar="PATH|URL",
                    help="the log to copy from")
    add_db_argument(pl)
    pl.set_defaults(func=cmd_pull)


def _copy(src_text: str, dst_text: str, refs: list[str]) -> int:
    from console.core.store.target import parse_target
    from console.session.sessionlog import migration_line, open_log, warn_password
    from console.session.sync import copy_sessions

    src_t, dst_t = parse_target(src_text), parse_target(dst_text)
    for t in (src_t, dst_t):
        warn_password(t)
    if not src_t.is_server and not src_t.path.exists():
        raise CliError(f"no session log at {src_t.display}")
    with open_log(src_t) as src, open_log(dst_t) as dst:
        for store in (src, dst):  # an upgraded log is said, never silently
            line = migration_line(store)
            if line:
                print(line, file=sys.stderr)
        res = copy_sessions(src, dst, refs, progress=lambda line: print(line, flush=True))
    for line in res.skipped:
        print(f"devicelab: warning: {line}", file=sys.stderr)
    if not res.copied and not res.skipped:
        print("no sessions to copy")
    else:
        print(f"{res.new} copied, {len(res.copied) - res.new} already there"
              + (f", {len(res.skipped)} skipped" if res.skipped else ""))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from console.cli import db_path

    return _copy(db_path(args), args.to, list(args.sessions))


def cmd_pull(args: argparse.Namespace) -> int:
    from console.cli import db_path

    return _copy(args.source, db_path(args), list(args.sessions))
