"""The ``devicelab`` command line: headless runs, packages, sessions, devices.

Each command group lives in its own module with a ``register(subparsers)``
function. User errors print one line (``devicelab: error: …``) and exit 2;
an unexpected exception prints one line naming the log file that holds the
traceback, and exits 70. No command ever dumps a traceback on the user.

A command lets a refusal (any :class:`UserError`) travel up to ``main``, which prints
it as that one line: it catches one only to reword it, or to make a refusal of
something that is no ``UserError`` (a ``ValueError`` of a parser).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from console import __version__
from console.core.errors import UserError

EXIT_OK = 0
EXIT_FAILED = 1  # the thing ran and failed (run failed, regression, budget)
EXIT_USAGE = 2  # bad input: refused before anything ran
EXIT_INTERNAL = 70


class CliError(UserError):
    """A user-facing error: printed as one line, exit status 2 unless given."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """Every devicelab parser: descriptions and the example epilogs keep their line
    breaks. Sub-parsers are made of their parent's class, so this holds all the way
    down without each command saying so."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)


def add_group(sub: Any, name: str, help: str, description: str, examples: str) -> Any:
    """A command group (``devicelab NAME SUBCOMMAND``); returns its sub-parsers. Given
    no sub-command, ``main`` prints the group's help."""
    p = sub.add_parser(name, help=help, description=description, epilog=examples)
    p.set_defaults(_group_parser=p)
    return p.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH|URL",
                   help="session log: a SQLite file, or postgresql://user@host:port/dbname for "
                        "a team's server (default: $DEVICELAB_DB or the user data folder)")


def db_path(args: argparse.Namespace) -> str:
    """The session log as the command line names it (a path or a URL, never mixed up)."""
    from console.session.sessionlog import resolve, warn_password

    target = resolve(getattr(args, "db", None))
    if not getattr(args, "_db_warned", False):
        warn_password(target)
        args._db_warned = True
    return target.value


def build_parser() -> argparse.ArgumentParser:
    from console.cli import devices as devices_cmd
    from console.cli import keys as keys_cmd
    from console.cli import package as package_cmd
    from console.cli import plan as plan_cmd
    from console.cli import run as run_cmd
    from console.cli import sessions as sessions_cmd
    from console.cli import sweep as sweep_cmd

    ap = Parser(
        prog="devicelab",
        description="Device Lab Console: run ONNX model packages on lab devices (this computer "
                    "or SSH), watch latency and telemetry, and keep an exact session log.\n"
                    "Run without arguments to open the window.",
        epilog="examples:\n"
               "  devicelab                       # the window (devicelab gui --help: "
               "its options)\n"
               "  devicelab run --device local --package resources/packages/digits-cnn \\\n"
               "      --input resources/recordings/digits-demo.avi\n"
               "  devicelab package verify my-model.zip\n"
               "  devicelab sessions list\n\n"
               "every command has --help with an example.")
    ap.add_argument("--version", action="version", version=f"devicelab {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    # The launcher opens the window before this parser runs; listed so --help shows it.
    sub.add_parser("gui", help="open the window with a package, input or device preselected "
                               "(devicelab gui --help)")
    run_cmd.register(sub)
    package_cmd.register(sub)
    sessions_cmd.register(sub)
    devices_cmd.register(sub)
    keys_cmd.register(sub)
    plan_cmd.register(sub)
    sweep_cmd.register(sub)
    return ap


def _log_file() -> str:
    from console.core.logfile import log_file

    return str(log_file())


def setup_logging() -> None:
    """Tracebacks and debug details go to the log file, never to the user's terminal."""
    from console.core.logfile import setup_logging as setup

    setup()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    if not hasattr(args, "func"):
        # a group without a sub-command, e.g. "devicelab sessions"
        sub = getattr(args, "_group_parser", parser)
        sub.print_help()
        return EXIT_USAGE
    setup_logging()
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"devicelab: error: {exc}", file=sys.stderr)
        return exc.code
    except UserError as exc:  # a refusal no command reworded: still one line, exit 2
        print(f"devicelab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("devicelab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:
        from console.core.inputs import redact_text

        # stream URLs on the command line may carry a password: never into the log
        logging.getLogger("devicelab").error(
            "unexpected error in %s\n%s", redact_text(repr(argv)),
            redact_text(traceback.format_exc()))
        print(redact_text(f"devicelab: internal error: {type(exc).__name__}: {exc} "
                          f"(traceback in {_log_file()})"), file=sys.stderr)
        return EXIT_INTERNAL
