"""``devicelab run``: one headless run with a live progress line and a summary."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from console.cli import EXIT_FAILED, CliError, add_db_argument, db_path
from console.cli.format import fmt_num, summary_lines
from console.cli.profile_format import profile_json, profile_lines
from console.core import protocol as P
from console.core.errors import UserError
from console.core.protocol import GRAPH_OPT_LEVELS
from console.devices.base import AgentOptions, DeployProgress
from console.session.run import Run, RunListener, RunRequest, RunResult

EXAMPLE = """example:
  devicelab run --device local --package resources/packages/digits-cnn \\
      --input resources/recordings/digits-demo.avi \\
      --truth resources/recordings/digits-demo.truth.csv
  devicelab run --device ssh://pi@10.0.0.7 --package model.zip --input camera:0 --duration 30
  devicelab run --device lab-pi --key-file ~/.ssh/lab_ed25519 --package model.zip --input clip.avi
  devicelab run --device local --package model.zip --input synthetic:640x480 --frames 500 --json

Ctrl-C stops the run cleanly and keeps the session; a second Ctrl-C kills the agent.
exit status: 0 completed or stopped, 1 failed/interrupted or a budget failed with
--fail-on-budget (or was inconclusive with --strict-budgets), 2 refused before
running (bad package, input, device or database)."""


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a model package on a device and record a session",
                       description="Run a model package on a device, show live progress, record "
                                   "every frame and telemetry sample in the session log, and "
                                   "print a summary.",
                       epilog=EXAMPLE)
    p.add_argument("--device", default="local",
                   help="local (this computer, default), ssh://user@host[:port], a saved device "
                        "name or a ~/.ssh/config alias")
    p.add_argument("--package", required=True, help="package directory or .zip")
    p.add_argument("--input", required=True,
                   help="video file, camera:N (on the device), stream URL, or synthetic[:WxH]")
    p.add_argument("--frames", type=int, default=0, metavar="N", help="stop after N frames")
    p.add_argument("--duration", type=float, default=0.0, metavar="S",
                   help="stop after S seconds")
    p.add_argument("--fps", type=float, default=0.0, metavar="F",
                   help="target frame rate (default: as fast as possible)")
    p.add_argument("--loop", action="store_true", help="loop a recording at its end")
    p.add_argument("--provider", metavar="EP", help="onnxruntime execution provider (OpenVINO: the "
                   "device, CPU/GPU/NPU/AUTO), e.g. "
                                                    "CPUExecutionProvider")
    p.add_argument("--threads", type=int, default=None,
                   help="inference threads (onnxruntime intra-op, LiteRT num_threads, OpenVINO "
                        "INFERENCE_NUM_THREADS; default 0: the runtime's choice)")
    p.add_argument("--spin", choices=("auto", "on", "off"), default=None,
                   help="onnxruntime busy-waiting between runs; auto (default) turns it off "
                        "when --fps paces the run, so idle time is not burnt or counted as CPU")
    p.add_argument("--graph-opt", choices=GRAPH_OPT_LEVELS, default=None,
                   help="onnxruntime graph optimization level (default all)")
    p.add_argument("--no-saved-defaults", action="store_true",
                   help="ignore the settings 'devicelab sweep --save' stored for this device "
                        "and package (threads, provider, graph optimization, spin)")
    p.add_argument("--runtime-setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a runtime setting over the package's (e.g. performance_hint=THROUGHPUT "
                        "for OpenVINO); one its runtime lacks is refused")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="profile N frames with the runtime's own profiler (onnxruntime, "
                        "OpenVINO; LiteRT has none) and print the slowest operators")
    p.add_argument("--profile-after", type=int, default=10, metavar="W",
                   help="frames run before the profiled ones (warm-up; default 10)")
    p.add_argument("--telemetry-ms", type=float, default=100.0, metavar="MS",
                   help="telemetry sampling period (default 100 ms = 10 Hz)")
    p.add_argument("--preview-fps", type=float, default=0.0, metavar="F",
                   help="preview JPEGs per second (default 0 on the CLI: none)")
    p.add_argument("--truth", metavar="CSV", help="ground truth 'frame,label' to score accuracy")
    p.add_argument("--note", default="",
                   help="a note stored with the session; #words in it become tags")
    p.add_argument("--tag", action="append", default=[], help="tag the session (repeatable)")
    p.add_argument("--budget", action="append", default=[], metavar="KEY=VALUE",
                   help="performance budget, e.g. p95=50ms, cold_start=1.5s (repeatable)")
    p.add_argument("--fail-on-budget", action="store_true",
                   help="exit 1 if any budget fails: its whole confidence interval is beyond "
                        "the limit (for hardware-in-the-loop scripts)")
    p.add_argument("--strict-budgets", action="store_true",
                   help="exit 1 also when a budget is inconclusive (the interval includes "
                        "the limit, or the figure was not measured)")
    p.add_argument("--warmup", default="auto", metavar="N|Ss|auto",
                   help="leave the first N frames or S seconds out of the steady-state "
                        "figures and budgets (default auto: the first 50 frames or 2 s, "
                        "whichever ends first, at most a quarter of the frames; 0: none); "
                        "the warm-up stays in the log")
    add_ssh_arguments(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    add_db_argument(p)
    p.set_defaults(func=cmd_run)


class ProgressPrinter(RunListener):
    """Live one-line progress on stderr (in place on a terminal, every 5 s otherwise)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.frames = 0
        self.t_first: float | None = None
        self.recent: list[float] = []
        self.cpu: float | None = None
        self.temp: float | None = None
        self.last_print = 0.0
        self.lock = threading.Lock()
        self.session_id: int | None = None
        #: the newest frame's index and time, and whether its line was printed
        self._last: tuple[int, float] | None = None
        self._printed_last = True

    def _out(self, text: str, final: bool = False) -> None:
        if self.quiet:
            return
        try:
            if self.tty:
                sys.stderr.write("\r\x1b[2K" + text + ("\n" if final else ""))
            else:
                sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            # the terminal went away (SIGHUP, a closed pipe): the run goes on, recorded
            self.quiet = True

    def state(self, state: str, text: str) -> None:
        if state in ("verifying", "connecting", "deploying", "starting", "stopping"):
            self._out(f"[{state}] {text}", final=True)

    def session_created(self, session_id: int) -> None:
        self.session_id = session_id
        self._out(f"session {session_id} recording", final=True)

    def deploy_progress(self, p: DeployProgress) -> None:
        if p.cached:
            self._out(f"[deploy] {p.stage} {p.name}: already on the device", final=True)
            return
        pct = 100.0 * p.done / p.total if p.total else 100.0
        self._out(f"[deploy] {p.stage} {p.name}: {p.done / 1e6:.1f}/{p.total / 1e6:.1f} MB "
                  f"({pct:.0f}%, {p.rate_bps / 1e6:.1f} MB/s)", final=p.done >= p.total)

    def event(self, level: str, code: str, text: str) -> None:
        if level in ("warning", "error"):
            self._out(f"[{level}] {text}", final=True)

    def telemetry(self, msg: P.Telemetry) -> None:
        s = msg.sample
        self.cpu = s.get("cpu_agent")
        th = s.get("thermal") or {}
        self.temp = max(th.values()) if th else None

    def frame(self, msg: P.Frame) -> None:
        self.frames += 1
        if self.t_first is None:
            self.t_first = msg.ts
        self.recent.append(msg.e2e)
        if len(self.recent) > 2000:
            del self.recent[:1000]
        self._last = (msg.i, msg.ts)
        self._printed_last = False
        now = time.monotonic()
        if now - self.last_print < (0.25 if self.tty else 5.0):
            return
        self.last_print = now
        self._progress()

    def _progress(self, final: bool = False) -> None:
        if self._last is None or self.t_first is None:
            return
        i, ts = self._last
        self._printed_last = True
        span = ts - self.t_first
        fps = fmt_num((self.frames - 1) / span if span > 0 else None, ".1f", na="-")
        rec = sorted(self.recent)
        p95 = rec[min(len(rec) - 1, int(0.95 * len(rec)))]
        self._out(f"frame {i + 1:>7}  {fps:>8} fps  p95 {p95:7.3f} ms  agent cpu "
                  f"{fmt_num(self.cpu, '.0f', '%')}  temp {fmt_num(self.temp, '.1f', ' °C')}",
                  final=final)

    def finished(self, result: RunResult) -> None:
        """The last progress line stays: a run shorter than the progress interval (or
        whose last frames came after the last line) still shows its final count and
        rate."""
        if not self._printed_last:
            self._progress(final=True)
        elif self.tty and not self.quiet:
            try:
                sys.stderr.write("\r\x1b[2K")
            except (OSError, ValueError):
                self.quiet = True


def request_from_args(args: argparse.Namespace) -> RunRequest:
    from console.core.stats import parse_warmup
    from console.session.budgets import parse_budget

    budgets = {}
    for b in args.budget:
        k, v = parse_budget(b)
        budgets[k] = v
    warmup = parse_warmup(getattr(args, "warmup", "auto"))
    for name, value in (("--frames", args.frames), ("--duration", args.duration),
                        ("--fps", args.fps), ("--threads", args.threads or 0)):
        if value < 0:
            raise CliError(f"{name} must not be negative")
    if args.telemetry_ms < 10:
        raise CliError("--telemetry-ms must be at least 10")
    settings = []
    for item in getattr(args, "runtime_setting", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--runtime-setting {item}: expected KEY=VALUE")
        settings.append((key.strip(), int(value) if value.strip().isdigit() else value.strip()))
    if getattr(args, "profile", 0) < 0 or getattr(args, "profile_after", 0) < 0:
        raise CliError("--profile and --profile-after must not be negative")
    tuned = {k: v for k, v in (("threads", args.threads), ("provider", args.provider),
                               ("spin", args.spin),
                               ("graph_opt", getattr(args, "graph_opt", None)))
             if v is not None}
    opts = AgentOptions(frames=args.frames, duration=args.duration, fps=args.fps, loop=args.loop,
                        preview_fps=args.preview_fps, telemetry_ms=args.telemetry_ms,
                        profile=getattr(args, "profile", 0),
                        profile_after=getattr(args, "profile_after", 10),
                        runtime_settings=tuple(settings), **tuned)
    if not getattr(args, "no_saved_defaults", True):
        opts = _with_saved_defaults(args, opts, set(tuned))
    return RunRequest(package=args.package, input=args.input, options=opts, note=args.note,
                      tags=tuple(args.tag), truth=args.truth, budgets=budgets, warmup=warmup)


def _with_saved_defaults(args: argparse.Namespace, opts: AgentOptions, given: set[str]
                         ) -> AgentOptions:
    """The settings a sweep saved for this device and package, for what the command line
    did not give (``devicelab sweep --save``); says so on stderr."""
    from console.session.run_defaults import applied_words, apply_saved

    try:
        opts, applied, why = apply_saved(opts, args.device, args.package, given)
    except UserError as exc:
        print(f"devicelab: warning: saved run defaults not used: {exc}", file=sys.stderr)
        return opts
    words = applied_words(applied, why)
    if words:
        print(f"devicelab: {words} (--no-saved-defaults: none)", file=sys.stderr)
    return opts


def add_ssh_arguments(parser: argparse.ArgumentParser, *, key_file: bool = True) -> None:
    """``--accept-new-host-key`` and ``--key-file PATH``, worded alike for every command that
    opens a device: what :func:`open_cli_device` reads. ``sweep`` takes no key file
    (``key_file=False``); ``plan run`` words the first for many devices and adds its own."""
    parser.add_argument("--accept-new-host-key", action="store_true",
                        help="SSH: trust an unknown host's key (a changed key is always refused)")
    if key_file:
        parser.add_argument("--key-file", metavar="PATH", default=None,
                            help="SSH: private key file on this computer, tried first, for this "
                                 "command only (a saved device keeps one with 'devices add "
                                 "--key-file'); its passphrase is asked for if needed")


def _cli_key_file(args: argparse.Namespace) -> str | None:
    """``--key-file`` checked here, so a typo is one line before any network."""
    from console.devices.registry import LOCAL_NAMES

    raw = getattr(args, "key_file", None)
    if not raw:
        return None
    if args.device.strip() in LOCAL_NAMES:
        raise CliError(f"--key-file is for SSH devices; --device {args.device.strip()} needs "
                       "no key: leave --key-file out")
    path = os.path.abspath(os.path.expanduser(raw))
    if not os.path.isfile(path):
        raise CliError(f"--key-file {raw}: no such file; give the path of a private key on "
                       "this computer (e.g. ~/.ssh/id_ed25519)")
    return path


def open_cli_device(args: argparse.Namespace) -> Any:
    """The device of ``args.device``; reads ``args.accept_new_host_key`` and ``args.key_file``
    when the command has them (``add_ssh_arguments`` adds them)."""
    from console.devices.registry import open_device

    key_file = _cli_key_file(args)
    ssh_options: dict[str, Any] = {}
    if key_file is not None:
        ssh_options["key_file"] = key_file
    return open_device(args.device,
                       accept_new_host_key=getattr(args, "accept_new_host_key", False),
                       interactive=sys.stdin.isatty(),
                       notice=lambda line: print(f"devicelab: {line}", file=sys.stderr),
                       **ssh_options)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None], kill: Callable[[], None], again: str
                    ) -> Iterator[None]:
    """While inside: Ctrl-C, and the SIGTERM/SIGHUP of `timeout`, CI and test rigs, call
    ``stop`` the first time (in order: sessions end `stopped` with their summary) and
    ``kill`` after; ``again`` says what a second one does. For ``run`` and ``plan run``."""
    presses = {"n": 0}

    def on_signal(signum: int, frame: Any) -> None:
        presses["n"] += 1
        if presses["n"] == 1:
            what = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
            try:
                sys.stderr.write(f"\nstopping{what}… ({again})\n")
            except OSError:  # the terminal is gone (SIGHUP)
                pass
            stop()
        else:
            kill()

    handled = [signal.SIGINT, signal.SIGTERM] + \
        ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    # A signal ignored at start stays ignored: `nohup devicelab run …` must survive
    # the terminal closing, and `cmd &` in a script is immune to Ctrl-C on purpose.
    old = {sig: signal.signal(sig, on_signal) for sig in handled
           if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


R = TypeVar("R", covariant=True)


class Stoppable(Protocol[R]):
    """A run, a plan run or a sweep: each stops in order, aborts, and executes once."""

    def stop(self) -> None: ...

    def abort(self) -> None: ...

    def execute(self) -> R: ...


def execute_until_stopped(job: Stoppable[R], again: str) -> R:
    """``job.execute()`` under :func:`stop_on_signals`: the first Ctrl-C stops the job, the
    next aborts it. A refusal (``RunError``, a ``UserError``) reaches ``main`` as one line."""
    with stop_on_signals(job.stop, job.abort, again):
        return job.execute()


def device_opener(accept_new_host_key: bool) -> Callable[[str], Any]:
    """How ``plan run`` and ``sweep`` open each device they name: never asking on the
    terminal (several run at once), trusting a new host key only when told to."""
    from console.devices.registry import open_device

    def opener(spec: str) -> Any:
        return open_device(spec, accept_new_host_key=accept_new_host_key, interactive=False)

    return opener


def execute_run(args: argparse.Namespace, request: RunRequest) -> int:
    """Shared by ``run`` and ``sessions replay``: run, print, pick the exit status."""
    from console.cli.sessions import open_store as open_cli_log

    # Open the log once first, as every command does: an upgrade of its schema is said in
    # one line, a refusal (login, server away) comes before any device work, and rows a
    # server log could not take last time (the spool) are pushed now.
    open_cli_log(args, write=True).close()
    device = open_cli_device(args)
    printer = ProgressPrinter(args.quiet or args.json)
    from console.session.trust import package_policy

    run = Run(device, request, db_path(args), printer, package_policy=package_policy())
    try:
        result = execute_until_stopped(run, "Ctrl-C again to kill the agent")
    finally:
        device.close()
    try:
        return print_result(args, request, result, device.describe())
    except OSError:  # nowhere left to print (the terminal closed): the log has it all
        return EXIT_FAILED if result.status in ("failed", "interrupted") else 0


def print_result(args: argparse.Namespace, request: RunRequest, result: RunResult,
                 device_desc: str) -> int:
    s = result.summary or {}
    if args.json:
        print(json.dumps({"session_id": result.session_id, "status": result.status,
                          "error": result.error, "device": device_desc, "summary": s,
                          "profile": profile_json(result.profile),
                          **({"pending": result.pending} if result.pending else {})},
                         indent=2, default=str))
    else:
        print(f"session {result.session_id}  {result.status}  on {device_desc}")
        if result.error:
            print(f"error: {result.error}")
        if not result.pending:  # no summary yet: it is computed once every row is there
            for line in summary_lines(s) + profile_lines(result.profile):
                print(line)
    if result.pending:
        print(f"devicelab: warning: {result.pending}", file=sys.stderr)
    failing = {"fail", "inconclusive"} if getattr(args, "strict_budgets", False) else {"fail"}
    failed_budget = any(b["verdict"] in failing for b in result.budget_verdicts)
    if result.status in ("failed", "interrupted"):
        if not args.json:
            print(f"devicelab: run {result.status}: {result.error or 'see the session events'}"
                  f" (frames kept: {s.get('frames', 0)})", file=sys.stderr)
        return EXIT_FAILED
    if failed_budget and (getattr(args, "fail_on_budget", False)
                          or getattr(args, "strict_budgets", False)):
        return EXIT_FAILED
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return execute_run(args, request_from_args(args))
