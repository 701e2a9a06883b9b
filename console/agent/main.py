"""The on-device agent: ``python3 agent.pyz run|facts|verify …``.

Speaks protocol v1 (:mod:`console.core.protocol`) on stdout/stdin; anything
else it has to say goes to stderr. Every failure becomes an ``error``
message with a code and a reason, followed by a ``summary`` with reason
``error``, and exit status 3 — never a silent exit. End of stdin means the
console is gone, and the agent stops: it never outlives its console.

Exit status: 0 ran to its end or was stopped, 2 bad arguments, 3 error.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Dict, List, Optional, Tuple

from console.core import protocol as P
from console.core.manifest import (
    PackageError,
    model_weights,
    read_manifest,
    run_settings,
    sha256_bytes,
    verify_files,
)

AGENT_VERSION = "0+unknown"  # replaced in the bundle by the console's version
try:  # written into the bundle by console.devices.agent_bundle
    from console.agent._version import VERSION as AGENT_VERSION  # type: ignore[no-redef]
except ImportError:  # running from a source tree
    pass


class Output:
    """Thread-safe, unbuffered writer of protocol lines to fd 1.

    Frames are written one ``os.write`` per message so the console sees them
    at once; a lock keeps the telemetry thread's lines whole. A broken pipe
    (console gone) flips ``closed`` and the agent winds down.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.closed = False
        self.sent = 0

    def send(self, msg: Any) -> None:
        data = P.encode(msg)
        with self.lock:
            if self.closed:
                return
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self.fd, view)
                    view = view[n:]
            except OSError:
                self.closed = True
                return
            if isinstance(msg, P.Frame):
                self.sent += 1


class Commands(threading.Thread):
    """Reads console commands from stdin; EOF is treated as ``stop``."""

    def __init__(self, out: Output, stop: threading.Event, pending: bytes = b"") -> None:
        super().__init__(name="agent-stdin", daemon=True)
        self.out = out
        self.stop_event = stop
        #: what was read from stdin after the input line (--input-stdin)
        self.pending = pending

    def run(self) -> None:
        # Raw reads on fd 0, not sys.stdin.buffer: a daemon thread blocked inside
        # a BufferedReader makes the interpreter abort at exit ("could not acquire
        # lock for <stdin> at interpreter shutdown").
        pending = self.pending
        while True:
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip() and not self._handle(line):
                    self.stop_event.set()
                    return
            if len(pending) > 65536:
                pending = b""  # no console command is that long
            chunk = _read_stdin()
            if not chunk:
                break
            pending += chunk
        self.stop_event.set()

    def _handle(self, line: bytes) -> bool:
        """Act on one command line; False means stop."""
        try:
            cmd = P.decode_command(line)
        except P.ProtocolError as exc:
            self.out.send(P.Event("warning", "bad_command", str(exc)))
            return True
        if cmd["cmd"] == "stop":
            return False
        if cmd["cmd"] == "ping":
            self.out.send(P.Event("info", "pong", "pong"))
        else:
            self.out.send(P.Event("warning", "bad_command", "unknown command %r" % cmd["cmd"]))
        return True


def _read_stdin() -> bytes:
    """One raw read of fd 0; b"" at its end or on an error (both: the console is gone)."""
    try:
        return os.read(0, 4096)
    except OSError:
        return b""


def read_input_line() -> Tuple[str, bytes]:
    """The input spec the console writes as stdin's first line (``--input-stdin``), and
    what came after it. A stream URL with a password travels this way: a command line
    is readable by every user of the device (``ps``, ``/proc/PID/cmdline``)."""
    data = b""
    while b"\n" not in data and len(data) <= 65536:
        chunk = _read_stdin()
        if not chunk:
            break
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line.decode("utf-8", "replace").strip(), rest


def _fail(out: Output, code: str, text: str, frames: int = 0, started: float = 0.0) -> int:
    out.send(P.Error(code, text, True))
    out.send(P.Summary(frames, out.sent, time.time() - started if started else 0.0, "error"))
    return 3


def _preview(cv2: Any, frame: Any, width: int, quality: int) -> Optional[Dict[str, Any]]:
    h, w = frame.shape[:2]
    if w > width:
        nh = max(1, round(h * width / w))
        frame = cv2.resize(frame, (width, nh), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return None
    return {"w": int(frame.shape[1]), "h": int(frame.shape[0]),
            "jpeg": base64.b64encode(buf.tobytes()).decode("ascii")}


def cmd_run(args: argparse.Namespace) -> int:
    from console.agent import facts as facts_mod
    from console.agent.telemetry import TelemetrySampler

    out = Output(sys.stdout.fileno())
    stop = threading.Event()
    device = facts_mod.collect(workdir=None, with_runtimes=False)
    sampler = TelemetrySampler()
    try:
        device["telemetry"] = sampler.static_facts()
    except Exception as exc:  # facts are best-effort; never block a run on them
        device["telemetry_error"] = str(exc)[:200]
    out.send(P.Hello(P.PROTOCOL_VERSION, AGENT_VERSION, os.getpid(), device,
                     {"wall": time.time(), "mono": time.monotonic()}))
    pending = b""
    if args.input_stdin:
        args.input, pending = read_input_line()
        if not args.input:
            return _fail(out, "input_missing", "no input on stdin (--input-stdin): the console "
                         "sends it as the first line")
    Commands(out, stop, pending).start()
    held: Dict[str, Any] = {}
    try:
        return _run(args, out, stop, sampler, held)
    except Exception as exc:  # a bug or an unforeseen input: still a protocol error
        traceback.print_exc(file=sys.stderr)  # the full story, for whoever reads stderr
        _release(held)
        return _fail(out, "agent_exception", _unexpected(exc, held),
                     held.get("n") or 0, held.get("t_run") or 0.0)


def _unexpected(exc: BaseException, held: Dict[str, Any]) -> str:
    """One line for an exception the agent did not foresee: what, where, what to do.

    The traceback goes to stderr; this line names the exception and the place it was
    raised, so a report from the session log alone already points at the code."""
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    tb = traceback.extract_tb(exc.__traceback__)
    where = " (at %s:%s in %s)" % (os.path.basename(tb[-1].filename), tb[-1].lineno,
                                   tb[-1].name) if tb else ""
    if "frame" in held:
        when = "at frame %d" % held["frame"]
    elif "n" in held:
        when = "after the last frame (%d frames)" % held["n"]
    else:
        when = "before the first frame"
    return ("the agent failed unexpectedly %s: %s%s%s; this is a bug or an input the agent "
            "does not handle: report it with the package and input"
            % (when, type(exc).__name__, ": " + first if first else "", where))


def _release(held: Dict[str, Any]) -> None:
    """Stop the telemetry thread and close the source, whatever state the run is in."""
    tele = held.pop("tele", None)
    if tele is not None:
        tele.stop()
        tele.join(2.0)  # summary must be the last line: no sample after it
    source = held.pop("source", None)
    if source is not None:
        try:
            source.close()
        except Exception:
            pass


def _run(args: argparse.Namespace, out: Output, stop: threading.Event, sampler: Any,
         held: Dict[str, Any]) -> int:
    """Everything after hello. Resources it starts go in ``held`` for the caller to release."""
    from console.agent.profiling import ProfileWindow
    from console.agent.telemetry import TelemetryThread

    # Cold start 1/3: the package, hashes checked again on the device.
    t0 = time.perf_counter()
    try:
        manifest, raw = read_manifest(args.package)
        if args.expect_digest and sha256_bytes(raw) != args.expect_digest:
            return _fail(out, "package_changed",
                         "package refused on the device: manifest.json changed after the console "
                         "verified it (sha256 %s..., expected %s...)"
                         % (sha256_bytes(raw)[:12], args.expect_digest[:12]))
        # The model is hashed once, by Pipeline.read_model, from the bytes it then runs
        # (an OpenVINO IR's weights likewise).
        problems = verify_files(args.package, manifest,
                                skip=(manifest.model, model_weights(manifest) or ""))
    except PackageError as exc:
        return _fail(out, "package_invalid", "package refused on the device: %s" % exc)
    if problems:
        return _fail(out, "package_invalid", "package refused on the device: %s" % problems[0])
    try:
        settings = _settings(args, manifest)
    except PackageError as exc:
        return _fail(out, "setting_unsupported", "refused on the device: %s" % exc)
    package_ms = (time.perf_counter() - t0) * 1000.0

    # Cold start 2/3 and 3/3: the session, and the first inference.
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        return _fail(out, "numpy_missing", "numpy is not installed on the device (%s); install it "
                     "with: python3 -m pip install numpy" % exc)
    from console.agent.pipeline import Pipeline, PipelineError
    from console.agent.sources import SourceError, open_source

    try:
        pipe = Pipeline(args.package, manifest, settings, profile=args.profile > 0)
        first_ms = pipe.warmup()
    except PipelineError as exc:
        return _fail(out, exc.code, exc.text)
    try:
        source = open_source(args.input)
    except SourceError as exc:
        return _fail(out, exc.code, exc.text)
    held["source"] = source
    info = source.info()
    package_ms += pipe.model_check_ms
    out.send(P.ColdStart(package_ms, pipe.session_ms, first_ms,
                         package_ms + pipe.session_ms + first_ms, pipe.provider,
                         pipe.providers_available, info, pipe.runtime, pipe.runtime_version))
    prof = ProfileWindow(pipe.backend, args.profile, args.profile_after) \
        if args.profile > 0 else None

    cv2: Any = None
    if args.preview_fps > 0:
        try:
            import cv2 as _cv2

            cv2 = _cv2
        except ImportError:
            out.send(P.Event("warning", "no_preview", "OpenCV missing on the device: no previews"))

    tele = TelemetryThread(sampler, args.telemetry_ms / 1000.0,
                           lambda ts, s: out.send(P.Telemetry(ts, args.telemetry_ms, s)))
    held["tele"] = tele
    tele.start()

    period = 1.0 / args.fps if args.fps and args.fps > 0 else 0.0
    preview_period = 1.0 / args.preview_fps if args.preview_fps > 0 else 0.0
    next_preview = 0.0
    deadline = time.monotonic() + args.duration if args.duration else None
    n = 0
    reason = "end_of_input"
    next_due = time.monotonic()
    pre, infer, decode, names = pipe.pre, pipe.infer, pipe.decode, pipe.output_names
    perf = time.perf_counter
    t_run = time.time()
    held["t_run"] = t_run
    next_frame = source.frames(loop=args.loop).__next__
    # A capture source decodes its first frame while opening (to learn its size):
    # that read belongs to frame 0's read_ms.
    read_extra = float(getattr(source, "first_read_ms", 0.0) or 0.0)
    try:
        while True:
            t_r = perf()  # read_ms: from asking the source to holding the frame
            try:
                frame, ts = next_frame()
            except StopIteration:
                break
            t_a = perf()
            x = pre(frame)
            t_b = perf()
            y = infer(x)
            t_c = perf()
            result = decode(y, names, frame.shape)
            t_d = perf()
            out.send(P.Frame(n, ts, (t_b - t_a) * 1e3, (t_c - t_b) * 1e3, (t_d - t_c) * 1e3,
                             (t_d - t_a) * 1e3, result, (t_a - t_r) * 1e3 + read_extra))
            read_extra = 0.0
            if prof is not None:
                done = prof.after_frame(n, (t_c - t_b) * 1e3)
                if done is not None:
                    out.send(done)
                    prof = None
            if cv2 is not None and preview_period:
                now = time.monotonic()
                if now >= next_preview:
                    next_preview = now + preview_period
                    pv = _preview(cv2, frame, args.preview_width, args.preview_quality)
                    if pv:
                        out.send(P.Preview(n, ts, pv["w"], pv["h"], pv["jpeg"]))
            n += 1
            if out.closed or stop.is_set():
                reason = "stopped"
                break
            if args.frames and n >= args.frames:
                reason = "frame_limit"
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                reason = "duration"
                break
            if period:
                next_due += period
                delay = next_due - now
                if delay > 0:
                    if stop.wait(delay):
                        reason = "stopped"
                        break
                else:
                    next_due = now  # fell behind: do not burst to catch up
    except PipelineError as exc:
        _release(held)
        return _fail(out, exc.code, "frame %d: %s" % (n, exc.text), n, t_run)
    except Exception:  # decoder/source bugs: cmd_run turns them into a protocol error
        held["n"] = held["frame"] = n
        raise
    held["n"] = n
    if prof is not None:  # the input (or a limit) ended inside the profiled frames
        out.send(prof.result(True))
    _release(held)
    # The input failing is an error, not an end: the frames before it are kept
    # (the console has them), and the run must not read as a complete pass.
    if getattr(source, "truncated", False):
        at = getattr(source, "position", n)
        return _fail(out, "input_truncated",
                     "the recording %s ended at frame %d of the %s it announces (truncated or "
                     "corrupt file); the %d frames before it are kept"
                     % (info.get("desc"), at, info.get("frame_count"), n), n, t_run)
    if getattr(source, "stalled", False):
        return _fail(out, "input_stopped",
                     "%s %s stopped delivering frames after %d (unplugged, unreachable or no "
                     "frame within the read timeout); the frames before it are kept"
                     % (info.get("kind"), info.get("desc"), n), n, t_run)
    out.send(P.Summary(n, out.sent, time.time() - t_run, reason))
    return 0


def _settings(args: argparse.Namespace, manifest: Any) -> Dict[str, Any]:
    """The run's runtime settings (the manifest's, then the options); refusals raise."""
    extra: Dict[str, Any] = {}
    for item in args.runtime_setting or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise PackageError("--runtime-setting %s" % item, "expected KEY=VALUE")
        extra[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    if getattr(args, "graph_opt", "all") != "all":
        extra.setdefault("graph_opt", args.graph_opt)
    settings = run_settings(manifest, args.provider, args.threads, args.spin, extra)
    if manifest.runtime == "onnxruntime" and settings.get("spin", "auto") == "auto":
        # auto: onnxruntime's pool busy-waits after each run, which on a run paced
        # by --fps burns a core between frames; off then, onnxruntime's default else
        if args.fps and args.fps > 0:
            settings["spin"] = "off"
        else:
            settings.pop("spin", None)
    return settings


def cmd_facts(args: argparse.Namespace) -> int:
    from console.agent import facts as facts_mod

    sys.stdout.write(json.dumps(facts_mod.collect(args.workdir)) + "\n")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        manifest, _ = read_manifest(args.package)
        problems: List[Any] = verify_files(args.package, manifest)
    except PackageError as exc:
        problems = [exc]
    for p in problems:
        sys.stdout.write("%s\n" % p)
    return 2 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="devicelab-agent",
        description="Device Lab Console on-device agent (protocol v%d). Started by the console; "
                    "speaks one JSON object per line on stdout." % P.PROTOCOL_VERSION)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a package on an input and stream results")
    r.add_argument("--package", required=True, help="package directory on this device")
    r.add_argument("--expect-digest", default=None,
                   help="sha256 of manifest.json the console verified; refuse any other")
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument("--input",
                       help="video path, camera:N or /dev/videoN, stream URL, or synthetic[:WxH]")
    where.add_argument("--input-stdin", action="store_true",
                       help="read the input as the first line on stdin (a stream URL with a "
                            "password: never on the command line, which every user can read)")
    r.add_argument("--frames", type=int, default=0, help="stop after N frames (0: no limit)")
    r.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: none)")
    r.add_argument("--fps", type=float, default=0.0, help="target FPS (0: as fast as possible)")
    r.add_argument("--loop", action="store_true", help="loop a recording at its end")
    r.add_argument("--provider", default=None,
                   help="onnxruntime execution provider, or OpenVINO device (CPU, GPU, NPU, AUTO)")
    r.add_argument("--threads", type=int, default=0,
                   help="the runtime's inference threads (0: its default)")
    r.add_argument("--spin", choices=("auto", "on", "off"), default="auto",
                   help="onnxruntime thread-pool busy-waiting (auto: off when --fps paces the "
                        "run, onnxruntime's default otherwise)")
    r.add_argument("--runtime-setting", action="append", metavar="KEY=VALUE",
                   help="a runtime setting over the manifest's (e.g. performance_hint=LATENCY)")
    r.add_argument("--profile", type=int, default=0, metavar="N",
                   help="profile N frames with the runtime's own profiler (0: none)")
    r.add_argument("--profile-after", type=int, default=10, metavar="W",
                   help="frames run before the profiled ones (warm-up, default 10)")
    r.add_argument("--graph-opt", choices=P.GRAPH_OPT_LEVELS, default="all",
                   help="onnxruntime graph optimization level (default all, onnxruntime's own)")
    r.add_argument("--preview-fps", type=float, default=10.0, help="preview JPEGs per second")
    r.add_argument("--preview-width", type=int, default=320)
    r.add_argument("--preview-quality", type=int, default=70)
    r.add_argument("--telemetry-ms", type=float, default=100.0, help="telemetry period (ms)")
    f = sub.add_parser("facts", help="print device facts as one JSON line")
    f.add_argument("--workdir", default=None)
    v = sub.add_parser("verify", help="check a package's file hashes")
    v.add_argument("--package", required=True)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "run":
        if args.telemetry_ms < 10:
            sys.stderr.write("--telemetry-ms must be at least 10\n")
            return 2
        return cmd_run(args)
    if args.cmd == "facts":
        return cmd_facts(args)
    return cmd_verify(args)


if __name__ == "__main__":
    sys.exit(main())
