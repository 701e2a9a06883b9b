"""``devicelab sessions export`` and ``sessions import``: sessions leaving and entering the
log as files (formats in ``console.session.export``, bundles in ``console.session.bundle``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.cli import CliError, add_db_argument
from console.cli.log_access import open_store, subcommand

EXPORT_EXAMPLE = """example:
  devicelab sessions export 12 --format html -o report.html
  devicelab sessions export 12 --format csv -o run12.csv     (+ run12.telemetry.csv)
  devicelab sessions export 12 --format mcap -o run12.mcap   (Foxglove, PlotJuggler)
  devicelab sessions export 12 --format trace -o run12.trace.json  (Perfetto, chrome://tracing)
  devicelab sessions export 12 --format json -o - | jq .session.summary
  devicelab sessions export 12 --format bundle --with-package --with-input -o run12.dlbundle

A comparison of two sessions exports with: devicelab sessions compare A B -o cmp.html"""

IMPORT_EXAMPLE = """example:
  devicelab sessions import customer-run.dlbundle
  devicelab sessions replay <printed id>

Importing a bundle whose session is already in the log changes nothing (it is
idempotent): the existing session id is printed and the exit status is 0."""


def register(ps: Any) -> None:
    ex = subcommand(ps, "export", "export a session as csv, json, html, mcap or a portable bundle",
              EXPORT_EXAMPLE)
    ex.add_argument("session", help="session id (or uuid prefix)")
    ex.add_argument("--format", required=True,
                    choices=("csv", "json", "html", "mcap", "trace", "bundle"))
    ex.add_argument("-o", "--output", required=True, metavar="PATH",
                    help="file to write; - for standard output (not csv: it writes two files)")
    ex.add_argument("--with-package", action="store_true",
                    help="bundle: include the model package (checked against the recorded "
                         "sha256)")
    ex.add_argument("--with-input", action="store_true",
                    help="bundle: include the recorded video and its ground truth")
    ex.add_argument("--package", metavar="PATH",
                    help="bundle: take the package from this copy (the recorded path is gone; "
                         "checked against the recorded sha256 all the same)")
    ex.add_argument("--input", metavar="PATH",
                    help="bundle: take the recording from this copy (checked likewise)")
    add_db_argument(ex)
    ex.set_defaults(func=cmd_export)

    im = subcommand(ps, "import", "import a session bundle into the log", IMPORT_EXAMPLE)
    im.add_argument("bundle", help="a file written by 'sessions export --format bundle'")
    im.add_argument("--json", action="store_true")
    add_db_argument(im)
    im.set_defaults(func=cmd_import)


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None

    def show(fraction: float, text: str) -> None:
        sys.stderr.write(f"\r\x1b[2Kexporting {fraction * 100:3.0f}%  {text}")
        if fraction >= 1.0:
            sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()

    return show


def cmd_export(args: argparse.Namespace) -> int:
    from console.session.bundle import export_bundle
    from console.session.export import STDOUT, export_session, is_standard_output

    if args.format != "bundle" and (args.with_package or args.with_input or args.package
                                    or args.input):
        raise CliError("--with-package, --with-input, --package and --input only apply to "
                       "--format bundle")
    if args.package and not args.with_package:
        raise CliError("--package names the copy to include: add --with-package")
    if args.input and not args.with_input:
        raise CliError("--input names the copy to include: add --with-input")
    with open_store(args) as store:
        if args.format == "bundle":
            res = export_bundle(store, args.session, args.output,
                                with_package=args.with_package, with_input=args.with_input,
                                package=args.package, input=args.input,
                                progress=_progress())
        else:
            res = export_session(store, args.session, args.format, args.output,
                                 progress=_progress())
    # the export itself went to standard output: what it did is said on stderr
    say = sys.stderr if is_standard_output(args.output) else sys.stdout
    for p in res.paths:
        print(f"wrote {'standard output' if str(p) == STDOUT else p}", file=say)
    print(f"{res.frames} frames, {res.telemetry} telemetry samples"
          + ("" if args.format == "csv" else f", {res.events} events"), file=say)
    for n in res.notes:
        print(f"note: {n}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from console.session.bundle import import_bundle

    with open_store(args, write=True) as store:
        res = import_bundle(store, args.bundle, progress=_progress())
    if args.json:
        print(json.dumps({"session_id": res.session_id, "uuid": res.uuid,
                          "already_present": res.already_present,
                          "package": str(res.package_path) if res.package_path else None,
                          "input": str(res.input_path) if res.input_path else None,
                          "counts": res.counts, "notes": res.notes}, indent=2))
    elif res.already_present:
        print(f"session {res.uuid} is already in the log as session {res.session_id}; nothing "
              "changed")
    else:
        c = res.counts
        print(f"imported session {res.session_id} ({res.uuid}): {c.get('frames', 0)} frames, "
              f"{c.get('telemetry', 0)} telemetry samples, {c.get('events', 0)} events, "
              f"{c.get('bookmarks', 0)} bookmarks")
    if not args.json:
        if res.package_path:
            print(f"package kept at {res.package_path}")
        if res.input_path:
            print(f"recording kept at {res.input_path}")
        for n in res.notes:
            print(f"note: {n}", file=sys.stderr)
    return 0
