"""The agent <-> console wire protocol, version 1.

This module is copied to devices inside the agent bundle, so it must stay
dependency-free: standard library only, no imports from the rest of the
console, and valid on Python 3.8+ (old device images).

Framing: UTF-8, one JSON object per line (``\\n``-terminated) on the agent's
stdout; commands travel the same way on its stdin. Every message carries its
type in ``"t"``. The first message is always ``hello`` (with ``"v"``, the
protocol version); the last one of a normal run is ``summary``. Anything the
agent prints that is not a protocol line is a protocol error for the console,
which is why the agent keeps stray output (warnings, library chatter) on
stderr.

Agent -> console messages::

    hello      v, agent_version, pid, device{...facts}, clock{wall, mono}
    cold       package_ms, session_ms, first_infer_ms, total_ms, provider,
               providers_available, input{kind, desc, width, height, fps,
               frame_count, sha256} [, runtime, runtime_version]
    frame      i, ts, pre, infer, post, e2e (milliseconds), out{...}
               [, read_ms]
    preview    i, ts, w, h, jpeg (base64)
    telemetry  ts, period_ms, sample{...} (see console.agent.telemetry)
    event      level (info|warning), code, text
    error      code, text, fatal
    profile    v, runtime, status, text, first_frame, frames, infer_ms,
               ops[[node, op_type, device, calls, total_us, order], ...]
    summary    frames, sent, duration_s, reason

Console -> agent commands::

    {"cmd": "stop"}     finish the current frame, send summary, exit 0
    {"cmd": "ping"}     answered by an ``event`` with code ``pong``

Frame timings: ``pre``, ``infer`` and ``post`` are the three stages on the
frame, and ``e2e`` is exactly their span (pre + infer + post): the cost of
the model on one frame. ``read_ms`` (optional, added within v1) is what the
source took to deliver the frame *before* that: decoding a recording,
waiting for a camera or stream, generating a synthetic frame. It is not
part of ``e2e``; pacing (``--fps``) waits are in neither. The agent sends it
when it measured it; a console that does not know it ignores it (readers
take only the fields they know), and a frame without it reads as ``None``.

Runtimes (added within v1): ``cold`` names the runtime that runs the model
(``onnxruntime``, ``litert``, ``openvino``) and its version; ``provider`` is
then what runs it there (an onnxruntime EP, an OpenVINO device, a LiteRT
delegate) and ``providers_available`` what else the device offers. An agent
that does not send them ran onnxruntime.

``profile`` (added within v1; sent only to a console that asked for
``--profile N``, so an older console never sees one) carries the runtime's
own per-operator profile of frames ``first_frame`` .. ``first_frame + frames
- 1``: one row per node with its op type, the EP/device (and kernel) that
ran it, how often it ran and its total µs; ``order`` is where it first ran
within an inference. ``infer_ms`` is the agent's own ``infer`` time over the
same frames, the denominator of each operator's share. Its row layout has
its own version, ``v`` (:data:`PROFILE_VERSION`). ``status`` is ``ok``,
``partial`` (the input ended before ``frames`` were profiled: the rows cover
the frames there were) or ``unavailable`` (the runtime exposes no profiler;
``text`` says why, ``ops`` is empty).

``out`` of a frame depends on the package task: classification ``{"top":
[[class, score], ...]}``; detection ``{"boxes": [[x1, y1, x2, y2, class,
score], ...]}`` in input-frame pixels; raw ``{"shapes": {name: [dims]}}``.

A line longer than :data:`MAX_LINE_BYTES` is refused by the reader without
being buffered whole, so a misbehaving agent cannot exhaust console memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

PROTOCOL_VERSION = 1
#: Version of the ``profile`` message's row layout (within protocol v1).
PROFILE_VERSION = 1
#: What a ``profile`` message's ``status`` can say.
PROFILE_STATUSES = ("ok", "partial", "unavailable")

#: Largest accepted line. Previews are capped well below this (see agent).
MAX_LINE_BYTES = 4 * 1024 * 1024

#: onnxruntime graph optimization levels the agent's ``--graph-opt`` takes (a run
#: setting; ``all`` is onnxruntime's own default).
GRAPH_OPT_LEVELS = ("disabled", "basic", "extended", "all")

#: Why an agent run ended, as carried by ``summary.reason``.
END_REASONS = ("end_of_input", "frame_limit", "duration", "stopped", "error")


# -- the names of the data ------------------------------------------------------
# Every other layer (store, live buffers, exports, the window, the CLI) refers to
# these names instead of typing them out: a new figure is one edit here. ``wire``
# is the key in a protocol v1 message (fixed by the version); ``column`` is the
# name in the session log and in every export, and carries its unit.


@dataclass(frozen=True)
class Field:
    wire: str
    column: str
    unit: str
    doc: str


#: The stages of a frame, in order; ``e2e`` is exactly the span of the other three.
STAGES = ("pre", "infer", "post", "e2e")
#: The measured stages without their span (what a stacked plot draws).
STAGE_PARTS = ("pre", "infer", "post")
#: Time the source took to deliver a frame (outside ``e2e``); optional within v1.
READ = "read_ms"

FRAME_FIELDS = (
    Field("i", "i", "", "frame index, from 0, in the order the agent produced frames"),
    Field("ts", "ts_unix_s", "s", "device wall clock when the frame was captured/read"),
    Field("pre", "pre_ms", "ms", "pre-processing: colour, resize, normalise, layout"),
    Field("infer", "infer_ms", "ms", "the runtime's inference call"),
    Field("post", "post_ms", "ms", "decoding the outputs (top-k, boxes, NMS)"),
    Field("e2e", "e2e_ms", "ms", "pre + infer + post: the model's cost on one frame"),
    Field("read_ms", "read_ms", "ms", "decode/capture time before pre (outside e2e); "
          "NULL when the agent did not report it"),
)
#: Frame fields the console derives from ``out`` (classification top-1).
FRAME_DERIVED = (
    Field("top1", "top1", "", "top-1 class index (classification), NULL otherwise"),
    Field("top1_score", "top1_score", "", "score of the top-1 class"),
)

#: Telemetry sample keys (``console.agent.telemetry`` documents how each is read).
CPU_SYS = "cpu_sys"
CPU_AGENT = "cpu_agent"
RSS = "rss_mb"
MEM_USED = "mem_used_mb"
MEM_TOTAL = "mem_total_mb"
MEM_AVAIL = "mem_avail_mb"
THERMAL = "thermal"
FREQ = "freq_mhz"
THROTTLE = "throttle"
POWER = "power_w"
ENERGY = "energy_j"
SAMPLER_CPU = "sampler_cpu"

#: Scalar telemetry figures; maps (thermal, power, ...) are flattened by
#: :func:`flatten_sample` into ``<map>.<name>`` keys.
TELEMETRY_FIELDS = (
    Field(CPU_SYS, "cpu_sys_pct", "%", "system CPU busy, % of all cores"),
    Field(CPU_AGENT, "cpu_agent_pct_core", "% of one core",
          "the agent process, % of ONE core (like top; may exceed 100)"),
    Field(RSS, "rss_mib", "MiB", "the agent's resident memory"),
    Field(MEM_USED, "mem_used_mib", "MiB", "MemTotal - MemAvailable"),
    Field(MEM_TOTAL, "mem_total_mib", "MiB", "MemTotal"),
    Field(MEM_AVAIL, "mem_avail_mib", "MiB", "MemAvailable"),
    Field(SAMPLER_CPU, "sampler_cpu_pct_core", "% of one core",
          "what taking the samples cost the agent"),
)
#: Maps of named readings inside a sample: key -> (column prefix, unit).
TELEMETRY_MAPS = {THERMAL: ("temp", "°C"), FREQ: ("freq", "MHz"), POWER: ("power", "W"),
                  ENERGY: ("energy", "J")}


def flatten_sample(sample: Dict[str, Any], sep: str = ".",
                   lists_as_json: bool = False) -> Dict[str, Any]:
    """One telemetry sample as flat ``name -> value`` pairs: scalars as they are,
    maps as ``<key><sep><name>`` (``thermal.cpu-thermal``), nested maps (throttle)
    likewise. Strings and lists are dropped (plots want numbers) unless
    ``lists_as_json`` keeps them as text (CSV). The one flattener of the console:
    the live buffers, exports and the log's views all name a figure the same way."""
    out: Dict[str, Any] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, bool):
            out[prefix] = int(v)
        elif isinstance(v, (int, float)):
            out[prefix] = v
        elif lists_as_json and isinstance(v, (list, tuple, str)):
            out[prefix] = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        elif isinstance(v, dict):
            for k in sorted(v):
                walk("%s%s%s" % (prefix, sep, k) if prefix else str(k), v[k])

    walk("", sample)
    return out


class ProtocolError(ValueError):
    """A line that is not a valid protocol message."""


def _num(d: Dict[str, Any], key: str) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ProtocolError("field %r must be a number, got %r" % (key, v))
    return float(v)


def _int(d: Dict[str, Any], key: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProtocolError("field %r must be an integer, got %r" % (key, v))
    return v


def _str(d: Dict[str, Any], key: str, default: Optional[str] = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str):
        raise ProtocolError("field %r must be a string, got %r" % (key, v))
    return v


def _dict(d: Dict[str, Any], key: str) -> Dict[str, Any]:
    v = d.get(key, {})
    if not isinstance(v, dict):
        raise ProtocolError("field %r must be an object, got %r" % (key, type(v).__name__))
    return v


@dataclass(frozen=True)
class Hello:
    v: int
    agent_version: str
    pid: int
    device: Dict[str, Any]
    clock: Dict[str, float] = field(default_factory=dict)

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "hello", "v": self.v, "agent_version": self.agent_version,
                "pid": self.pid, "device": self.device, "clock": self.clock}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Hello":
        return cls(_int(d, "v"), _str(d, "agent_version"), _int(d, "pid"),
                   _dict(d, "device"), _dict(d, "clock"))


@dataclass(frozen=True)
class ColdStart:
    package_ms: float
    session_ms: float
    first_infer_ms: float
    total_ms: float
    provider: str
    providers_available: List[str]
    input: Dict[str, Any]
    #: the runtime that runs the model and its version (an agent without them: onnxruntime)
    runtime: str = "onnxruntime"
    runtime_version: Optional[str] = None

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "cold", "package_ms": self.package_ms, "session_ms": self.session_ms,
                "first_infer_ms": self.first_infer_ms, "total_ms": self.total_ms,
                "provider": self.provider, "providers_available": self.providers_available,
                "input": self.input, "runtime": self.runtime,
                "runtime_version": self.runtime_version}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "ColdStart":
        provs = d.get("providers_available", [])
        if not isinstance(provs, list):
            raise ProtocolError("field 'providers_available' must be a list")
        ver = d.get("runtime_version")
        return cls(_num(d, "package_ms"), _num(d, "session_ms"), _num(d, "first_infer_ms"),
                   _num(d, "total_ms"), _str(d, "provider"), [str(p) for p in provs],
                   _dict(d, "input"), _str(d, "runtime", "onnxruntime"),
                   str(ver) if ver is not None else None)


@dataclass(frozen=True)
class Frame:
    i: int
    ts: float
    pre: float
    infer: float
    post: float
    e2e: float
    out: Dict[str, Any]
    #: milliseconds the source took to deliver this frame (None: not reported)
    read_ms: Optional[float] = None

    def to_wire(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"t": "frame", "i": self.i, "ts": self.ts, "pre": self.pre,
                             "infer": self.infer, "post": self.post, "e2e": self.e2e,
                             "out": self.out}
        if self.read_ms is not None:
            d["read_ms"] = self.read_ms
        return d

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Frame":
        return cls(_int(d, "i"), _num(d, "ts"), _num(d, "pre"), _num(d, "infer"),
                   _num(d, "post"), _num(d, "e2e"), _dict(d, "out"),
                   _num(d, "read_ms") if d.get("read_ms") is not None else None)


@dataclass(frozen=True)
class Preview:
    i: int
    ts: float
    w: int
    h: int
    jpeg: str  # base64

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "preview", "i": self.i, "ts": self.ts, "w": self.w, "h": self.h,
                "jpeg": self.jpeg}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Preview":
        return cls(_int(d, "i"), _num(d, "ts"), _int(d, "w"), _int(d, "h"), _str(d, "jpeg"))


@dataclass(frozen=True)
class Telemetry:
    ts: float
    period_ms: float
    sample: Dict[str, Any]

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "telemetry", "ts": self.ts, "period_ms": self.period_ms,
                "sample": self.sample}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Telemetry":
        return cls(_num(d, "ts"), _num(d, "period_ms"), _dict(d, "sample"))


@dataclass(frozen=True)
class Event:
    level: str
    code: str
    text: str

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "event", "level": self.level, "code": self.code, "text": self.text}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Event":
        return cls(_str(d, "level", "info"), _str(d, "code", ""), _str(d, "text"))


@dataclass(frozen=True)
class Error:
    code: str
    text: str
    fatal: bool = True

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "error", "code": self.code, "text": self.text, "fatal": self.fatal}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Error":
        return cls(_str(d, "code", "agent_error"), _str(d, "text"), bool(d.get("fatal", True)))


@dataclass(frozen=True)
class OpRow:
    """One operator of a ``profile``: over the profiled frames, as the runtime saw it."""

    node: str
    op_type: str
    device: str
    calls: int
    total_us: float
    order: int = 0

    def to_wire(self) -> List[Any]:
        return [self.node, self.op_type, self.device, self.calls, round(self.total_us, 3),
                self.order]

    @classmethod
    def from_wire(cls, row: Any) -> "OpRow":
        if not isinstance(row, list) or len(row) < 5:
            raise ProtocolError("profile row must be [node, op_type, device, calls, total_us"
                                ", order], got %r" % (row,))
        calls, total = row[3], row[4]
        if isinstance(calls, bool) or not isinstance(calls, int) or \
                isinstance(total, bool) or not isinstance(total, (int, float)):
            raise ProtocolError("profile row %r: calls must be an integer, total_us a number"
                                % (row[0],))
        order = row[5] if len(row) > 5 and isinstance(row[5], int) else 0
        return cls(str(row[0]), str(row[1]), str(row[2]), calls, float(total), order)


@dataclass(frozen=True)
class ProfileHeader:
    """How an operator profile was taken: what the wire message (:class:`Profile`) and the
    console's record of it (``console.core.op_profile.OpProfile``) share, named once."""

    runtime: str
    #: ok | partial | unavailable (:data:`PROFILE_STATUSES`)
    status: str
    text: str
    first_frame: int
    frames: int
    infer_ms: float

    def meta(self) -> Dict[str, Any]:
        """The header as JSON: the message's fields, the log's ``sessions.profile``."""
        return {"runtime": self.runtime, "status": self.status, "text": self.text,
                "first_frame": self.first_frame, "frames": self.frames,
                "infer_ms": self.infer_ms}


@dataclass(frozen=True)
class Profile(ProfileHeader):
    ops: List[OpRow] = field(default_factory=list)
    v: int = PROFILE_VERSION

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "profile", "v": self.v, **self.meta(),
                "ops": [r.to_wire() for r in self.ops]}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Profile":
        v = _int(d, "v")
        if v != PROFILE_VERSION:
            raise ProtocolError("profile rows of version %d; this console reads version %d"
                                % (v, PROFILE_VERSION))
        status = _str(d, "status")
        if status not in PROFILE_STATUSES:
            raise ProtocolError("profile status %r (known: %s)"
                                % (status, ", ".join(PROFILE_STATUSES)))
        ops = d.get("ops", [])
        if not isinstance(ops, list):
            raise ProtocolError("field 'ops' must be a list")
        return cls(_str(d, "runtime"), status, _str(d, "text", ""), _int(d, "first_frame"),
                   _int(d, "frames"), _num(d, "infer_ms"), [OpRow.from_wire(r) for r in ops], v)


@dataclass(frozen=True)
class Summary:
    frames: int
    sent: int
    duration_s: float
    reason: str

    def to_wire(self) -> Dict[str, Any]:
        return {"t": "summary", "frames": self.frames, "sent": self.sent,
                "duration_s": self.duration_s, "reason": self.reason}

    @classmethod
    def from_wire(cls, d: Dict[str, Any]) -> "Summary":
        return cls(_int(d, "frames"), _int(d, "sent"), _num(d, "duration_s"),
                   _str(d, "reason"))


Message = Union[Hello, ColdStart, Frame, Preview, Telemetry, Event, Error, Profile, Summary]

_TYPES = {
    "hello": Hello, "cold": ColdStart, "frame": Frame, "preview": Preview,
    "telemetry": Telemetry, "event": Event, "error": Error, "profile": Profile,
    "summary": Summary,
}


def encode(msg: Any) -> bytes:
    """One message (dataclass above or a plain dict with ``t``) as a wire line."""
    d = msg.to_wire() if hasattr(msg, "to_wire") else msg
    return (json.dumps(d, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def decode(line: Union[bytes, str]) -> Message:
    """Parse one line into a message; raise :class:`ProtocolError` on anything else."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError("line of %d bytes exceeds the %d-byte limit"
                            % (len(line), MAX_LINE_BYTES))
    try:
        d = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        text = line[:80] if isinstance(line, str) else line[:80].decode("utf-8", "replace")
        raise ProtocolError("not a JSON line (%s): %r" % (exc.__class__.__name__, text)) from None
    if not isinstance(d, dict):
        raise ProtocolError("message must be a JSON object, got %s" % type(d).__name__)
    t = d.get("t")
    cls = _TYPES.get(t) if isinstance(t, str) else None
    if cls is None:
        raise ProtocolError("unknown message type %r" % (t,))
    return cls.from_wire(d)  # type: ignore[attr-defined]


def encode_command(cmd: str, **args: Any) -> bytes:
    d: Dict[str, Any] = {"cmd": cmd}
    d.update(args)
    return (json.dumps(d, separators=(",", ":")) + "\n").encode("utf-8")


def decode_command(line: Union[bytes, str]) -> Dict[str, Any]:
    """Parse a console command; unknown or malformed lines raise ProtocolError."""
    try:
        d = json.loads(line)
    except ValueError:
        raise ProtocolError("not a JSON command line") from None
    if not isinstance(d, dict) or not isinstance(d.get("cmd"), str):
        raise ProtocolError("command must be an object with a string 'cmd'")
    return d


class LineReader:
    """Split a byte stream into lines with a hard per-line cap.

    ``feed`` returns complete lines; an over-long line is returned as a
    :class:`ProtocolError` instance in its place and its remaining bytes are
    discarded up to the next newline, so memory stays bounded by the cap.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max = max_line
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> List[Union[bytes, ProtocolError]]:
        out: List[Union[bytes, ProtocolError]] = []
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start)
            if nl < 0:
                chunk = data[start:]
                if not self._skipping:
                    self._buf += chunk
                    if len(self._buf) > self._max:
                        out.append(ProtocolError(
                            "line exceeds the %d-byte limit; discarded" % self._max))
                        self._buf = bytearray()
                        self._skipping = True
                break
            if self._skipping:
                self._skipping = False
            else:
                self._buf += data[start:nl]
                if len(self._buf) > self._max:
                    out.append(ProtocolError("line exceeds the %d-byte limit; discarded"
                                             % self._max))
                elif self._buf:
                    out.append(bytes(self._buf))
                self._buf = bytearray()
            start = nl + 1
        return out

    def pending(self) -> bytes:
        """Bytes after the last newline (a truncated final line at EOF)."""
        return bytes(self._buf)
