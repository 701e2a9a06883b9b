"""``devicelab sweep``: recommend runtime settings for one device and package, from runs.

Every combination of the listed values runs as its own session, in rounds
(every setting once per round, the order rotated each round); the settings
are ranked on the objective with the group the statistics cannot tell from
the best; ``--save`` stores the winner as the device's default for the
package (``console.session.sweep``, ``console.session.run_defaults``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.cli import CliError, add_db_argument, db_path
from console.core.protocol import GRAPH_OPT_LEVELS

EXAMPLE = """examples:
  devicelab sweep --device lab-pi --package model.zip --input clip.avi \\
      --threads 1,2,4 --graph-opt basic,extended,all --spin on,off
  devicelab sweep --device local --package resources/packages/digits-cnn \\
      --input resources/recordings/digits-demo.avi --threads 1,2 --objective fps --save

Each list is comma-separated; a setting not listed keeps its default (threads 0 =
onnxruntime's choice, the default provider, graph optimization all, spin auto).
Every combination × --rounds runs as a session tagged sweep:UUID. The ranking
compares each setting with the best using the same statistics as 'sessions
compare': with 3 or more rounds over sessions (Welch's interval, Mann–Whitney U),
with fewer on the pooled frames (block bootstrap). A setting is in the best
group unless it is worse than the best beyond the threshold (--tolerance, default
5 %) at 95 % confidence. --save stores the best setting for this device and
package: 'devicelab run' and plans use it unless given --threads/--provider/
--graph-opt/--spin (or the plan's [run] sets them).
exit status: 0 a best setting was found, 1 none could be ranked, 2 refused
before running, 3 the device could not be used, 130 stopped (Ctrl-C)."""


def register(sub: Any) -> None:
    from console.cli.run import add_ssh_arguments

    p = sub.add_parser("sweep", help="try runtime settings on a device and recommend the best",
                       description="Run every combination of runtime settings (threads, "
                                   "execution provider, graph optimization, spin) on one "
                                   "device, interleaved in rounds; rank them on an objective "
                                   "and print the best with the settings statistically "
                                   "indistinguishable from it.",
                       epilog=EXAMPLE)
    p.add_argument("--device", default="local",
                   help="local (default), ssh://user@host[:port], a saved device or an alias")
    p.add_argument("--package", required=True, help="package directory or .zip")
    p.add_argument("--input", required=True,
                   help="video file, camera:N (on the device), stream URL, or synthetic[:WxH]")
    p.add_argument("--threads", metavar="N,N…", help="onnxruntime intra-op threads to try")
    p.add_argument("--provider", metavar="EP,EP…", help="execution providers to try")
    p.add_argument("--graph-opt", metavar="LEVEL,…",
                   help=f"graph optimization levels to try: {', '.join(GRAPH_OPT_LEVELS)}")
    p.add_argument("--spin", metavar="on,off…", help="busy-waiting values to try: auto, on, off")
    p.add_argument("--objective", choices=("p95", "fps", "energy"), default="p95",
                   help="what 'best' means: lowest e2e p95 (default), highest fps, lowest "
                        "energy per inference (needs a power sensor)")
    p.add_argument("--rounds", type=int, default=3,
                   help="times each setting runs, interleaved (default 3: the ranking can "
                        "then see the run-to-run spread)")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help="frames per run (default 1000 unless --duration)")
    p.add_argument("--duration", type=float, default=0.0, metavar="S", help="seconds per run")
    p.add_argument("--fps", type=float, default=0.0, metavar="F",
                   help="pace each run (default: as fast as possible)")
    p.add_argument("--loop", action="store_true", help="loop a recording at its end")
    p.add_argument("--warmup", default="auto", metavar="N|Ss|auto",
                   help="frames or seconds left out of each run's figures (as for run)")
    p.add_argument("--tolerance", default="5%",
                   help="the smallest difference that matters (default 5%%)")
    p.add_argument("--save", action="store_true",
                   help="store the best setting as this device's default for this package")
    add_ssh_arguments(p, key_file=False)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_db_argument(p)
    p.set_defaults(func=cmd_sweep)


def _request(args: argparse.Namespace) -> Any:
    from console.core.stats import WarmupError, parse_warmup
    from console.devices.base import AgentOptions
    from console.session.compare import parse_tolerance
    from console.session.sweep import DEFAULT_FRAMES, SweepError, SweepRequest, parse_grid

    try:
        grid = parse_grid(args.threads, args.provider, args.graph_opt, args.spin)
        warmup = parse_warmup(args.warmup)
        tolerance = parse_tolerance(args.tolerance)
    except (SweepError, WarmupError, ValueError) as exc:
        raise CliError(str(exc)) from None
    frames = args.frames if args.frames is not None else \
        (0 if args.duration else DEFAULT_FRAMES)
    if frames < 0 or args.duration < 0 or args.fps < 0:
        raise CliError("--frames, --duration and --fps must not be negative")
    base = AgentOptions(frames=frames, duration=args.duration, fps=args.fps, loop=args.loop,
                        preview_fps=0.0)
    rq = SweepRequest(args.device, args.package, args.input, grid, args.objective,
                      args.rounds, base, warmup, tolerance, save=args.save)
    rq.check()
    return rq


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "unavailable"
    return f"{v:.3f} ms" if unit == "ms" else f"{v:.1f} {unit}" if unit == "fps" else \
        f"{v:.3f} {unit}"


def print_ranking(result: Any) -> None:
    from console.session.sweep_rank import OBJECTIVES

    obj = OBJECTIVES[result.objective]
    print(f"sweep {result.sweep_id} ({result.uuid[:12]})  {result.status}  objective "
          f"{obj.name} ({obj.better} is better)")
    print(f"{'rank':>4}  {'setting':<58} {obj.name:>14}  {'95 % interval':<24} verdict")
    for r in result.ranking:
        iv = "" if r.low is None or r.high is None else \
            f"[{'range ' if r.method == 'range' else ''}{_fmt(r.low, obj.unit)}, " \
            f"{_fmt(r.high, obj.unit)}]"
        group = " *" if r.in_best_group else ""
        print(f"{r.rank:>4}  {r.label:<58} {_fmt(r.estimate, obj.unit):>14}  {iv:<24} "
              f"{r.verdict}{group}")
        if r.verdict != "best":
            print(f"{'':>6}{r.reason}  (sessions {', '.join(map(str, r.sessions)) or 'none'}"
                  + (f"; {r.incomplete} incomplete" if r.incomplete else "") + ")")
    best = result.best
    if best is None:
        print(f"no best setting: {result.reason}")
        return
    others = [r.label for r in result.group if r is not best]
    print(f"best: {best.label}  ({obj.name} {_fmt(best.estimate, obj.unit)})")
    if others:
        print(f"indistinguishable from the best (*): {'; '.join(others)}")
    else:
        print("every other setting is worse than the best beyond the threshold")
    if result.saved:
        print("saved as this device's default for this package (devicelab run and plans "
              "use it unless told otherwise)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from console.cli.run import device_opener, execute_until_stopped
    from console.session.sweep import Sweep, SweepListener
    from console.session.trust import package_policy

    rq = _request(args)
    quiet = args.quiet or args.json

    class Lines(SweepListener):
        def _out(self, text: str) -> None:
            if not quiet:
                try:
                    print(text, file=sys.stderr, flush=True)
                except (OSError, ValueError):
                    pass

        def sweep_started(self, sweep_id: int, uuid: str, settings: Any, rounds: int) -> None:
            self._out(f"sweep {sweep_id} ({uuid[:12]}): {len(settings)} setting(s) × "
                      f"{rounds} round(s) = {len(settings) * rounds} runs")

        def state(self, text: str) -> None:
            self._out(text)

        def run_started(self, round_no: int, index: int, total: int, setting: Any) -> None:
            self._out(f"[{index}/{total}] round {round_no}: {setting.label}")

        def run_finished(self, round_no: int, setting: Any, result: Any) -> None:
            s = result.summary or {}
            p95 = ((s.get("latency_ms") or {}).get("e2e") or {}).get("p95")
            self._out(f"      session {result.session_id} {result.status}"
                      + (f", {s.get('frames')} frames" if s.get("frames") is not None else "")
                      + (f", p95 {p95:.3f} ms" if isinstance(p95, (int, float)) else "")
                      + (f", {s['fps']:.1f} fps" if isinstance(s.get("fps"), (int, float))
                         else "")
                      + (f": {result.error}" if result.error else ""))

        def event(self, level: str, code: str, text: str) -> None:
            self._out(f"      {level}: {text}")

    sweep = Sweep(rq, db_path(args), Lines(), open_device=device_opener(args.accept_new_host_key),
                  package_policy=package_policy())
    result = execute_until_stopped(sweep, "Ctrl-C again to kill the agent")
    try:
        if args.json:
            print(json.dumps(result.to_dict(), indent=2, default=str))
        else:
            print_ranking(result)
    except OSError:
        pass
    return int(result.exit_code)
