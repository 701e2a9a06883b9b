"""MCAP export for Foxglove Studio and PlotJuggler, written by the ``mcap`` package.

Frames, telemetry, events and bookmarks become JSON channels with JSON
schemas (events use ``foxglove.Log`` so Foxglove's Log panel shows them),
merged in time order; session facts are the ``devicelab.session`` metadata.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from console import __version__
from console.core.protocol import FRAME_DERIVED, TELEMETRY_FIELDS, TELEMETRY_MAPS, Field
from console.core.store import LogStore
from console.session.export.columns import ADDED_FIELDS, INDEX, OUT, TS, V1_FIELDS
from console.session.export.job import ExportResult, Job
from console.session.export.target import open_target

#: Frame message keys: the protocol's column names (they carry the unit), with the
#: capture time as ``t``, seconds since the first frame, for the plots' x axis.
_T = "t"
_NULLABLE = {f.wire for f in (*FRAME_DERIVED, *ADDED_FIELDS)}


def _frame_key(f: Field) -> str:
    return _T if f is TS else f.column


def _described(f: Field, kind: str) -> dict[str, Any]:
    unit = f" ({f.unit})" if f.unit else ""
    return {"type": [kind, "null"] if f.wire in _NULLABLE else kind, "description": f.doc + unit}


_FRAME_SCHEMA = {
    "title": "devicelab.Frame", "type": "object",
    "description": "One inference: stage latencies in milliseconds and the decoded output.",
    "properties": {
        **{_frame_key(f): _described(f, "integer" if f is INDEX else "number")
           for f in (*V1_FIELDS, *ADDED_FIELDS) if f is not TS},
        _T: {"type": "number", "description": "seconds since the first frame"},
        OUT: {"type": ["object", "null"],
              "description": "top: [[class, score]…] or boxes: [[x1,y1,x2,y2,class,score]…]"},
    },
}
_TELEMETRY_SCHEMA = {
    "title": "devicelab.Telemetry", "type": "object",
    "description": "One telemetry sample from the device; figures it lacks are absent.",
    "properties": {
        _T: {"type": "number", "description": "seconds since the first frame"},
        **{f.wire: {"type": "number", "description": f"{f.doc} ({f.unit})"}
           for f in TELEMETRY_FIELDS},
        **{key: {"type": "object", "additionalProperties": {"type": "number"},
                 "description": f"readings by name ({unit})"}
           for key, (_prefix, unit) in TELEMETRY_MAPS.items()},
    },
    "additionalProperties": True,
}
#: Foxglove's well-known log message, so the Log panel shows the session's events.
_LOG_SCHEMA = {
    "title": "foxglove.Log", "type": "object",
    "properties": {
        "timestamp": {"type": "object", "properties": {"sec": {"type": "integer"},
                                                       "nsec": {"type": "integer"}}},
        "level": {"type": "integer", "description": "1 debug, 2 info, 3 warning, 4 error, "
                                                     "5 fatal"},
        "message": {"type": "string"}, "name": {"type": "string"},
        "file": {"type": "string"}, "line": {"type": "integer"},
    },
}
_BOOKMARK_SCHEMA = {
    "title": "devicelab.Bookmark", "type": "object",
    "properties": {"frame": {"type": ["integer", "null"]}, "note": {"type": "string"}},
}
_LOG_LEVELS = {"debug": 1, "info": 2, "warning": 3, "error": 4, "fatal": 5}
MCAP_TOPICS = {"frames": "/devicelab/frames", "telemetry": "/devicelab/telemetry",
               "events": "/devicelab/events", "bookmarks": "/devicelab/bookmarks"}


def _ns(ts: float) -> int:
    return max(0, round(ts * 1e9))


def export_mcap(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    from mcap.writer import Writer

    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    samples = store.telemetry(sid)
    events = store.events(sid)
    marks = store.bookmarks(sid)
    first = store.first_frame_ts(sid)
    t0 = float(first if first is not None else (samples[0][TS.wire] if samples else
                                                s.get("started_at") or 0.0))
    enc = json.JSONEncoder(separators=(",", ":"), default=str).encode
    counts = {"frames": 0, "telemetry": 0, "events": 0, "bookmarks": 0}

    def frames() -> Iterator[tuple[float, str, bytes]]:
        for f in store.iter_frames(sid):
            ts = f[TS.wire]
            d = {_frame_key(k): f.get(k.wire) for k in V1_FIELDS}
            d[_T] = ts - t0
            d[OUT] = f[OUT]
            d.update((_frame_key(k), f.get(k.wire)) for k in ADDED_FIELDS)
            yield ts, "frames", enc(d).encode()

    def telemetry() -> Iterator[tuple[float, str, bytes]]:
        for x in samples:
            d = {k: v for k, v in x.items() if k != TS.wire}
            d[_T] = x[TS.wire] - t0
            yield x[TS.wire], "telemetry", enc(d).encode()

    def log() -> Iterator[tuple[float, str, bytes]]:
        for e in events:
            sec = int(e["ts"])
            yield e["ts"], "events", enc({
                "timestamp": {"sec": sec, "nsec": round((e["ts"] - sec) * 1e9) % 10**9},
                "level": _LOG_LEVELS.get(e["level"], 0), "message": e["text"] or "",
                "name": e["code"] or "", "file": "", "line": 0}).encode()

    def bookmarks() -> Iterator[tuple[float, str, bytes]]:
        for b in sorted(marks, key=lambda b: b["ts"] or t0):
            yield (b["ts"] or t0), "bookmarks", enc({"frame": b["frame_i"],
                                                     "note": b["note"] or ""}).encode()

    with open_target(path, "wb") as fh:
        w = Writer(fh)
        w.start(profile="", library=f"devicelab {__version__}")
        ch: dict[str, int] = {}
        for key, schema in (("frames", _FRAME_SCHEMA), ("telemetry", _TELEMETRY_SCHEMA),
                            ("events", _LOG_SCHEMA), ("bookmarks", _BOOKMARK_SCHEMA)):
            sch = w.register_schema(name=str(schema["title"]), encoding="jsonschema",
                                    data=json.dumps(schema).encode())
            ch[key] = w.register_channel(topic=MCAP_TOPICS[key], message_encoding="json",
                                         schema_id=sch)
        merged = heapq.merge(frames(), telemetry(), log(), bookmarks(), key=lambda m: m[0])
        for seq, (ts, key, data) in enumerate(merged):
            w.add_message(channel_id=ch[key], log_time=_ns(ts), publish_time=_ns(ts),
                          data=data, sequence=seq)
            counts[key] += 1
            if key == "frames" and counts["frames"] % 2000 == 0:
                job.step(counts["frames"] / total, f"frames {counts['frames']}/{total}")
        w.add_metadata("devicelab.session", _session_metadata(s))
        w.finish()
    job.step(1.0, "done")
    return ExportResult("mcap", [Path(path)], frames=counts["frames"],
                        telemetry=counts["telemetry"], events=counts["events"])


def _session_metadata(s: Mapping[str, Any]) -> dict[str, str]:
    """MCAP metadata is str -> str: scalars as text, structures as JSON."""
    out = {}
    for k, v in s.items():
        if v is None:
            continue
        out[k] = v if isinstance(v, str) else json.dumps(v, default=str, separators=(",", ":"))
    return out

