"""MCAP export for Foxglove and PlotJuggler, written by the ``mcap`` package.

Channels (JSON messages with JSON schemas), merged in time order:

``/devicelab/frames``     one message a frame: the log's unit-carrying column names
                          (``e2e_ms``, ``read_ms``…), ``t_s`` since the first frame.
``/devicelab/telemetry``  one message a sample, **flat** numbers only (no nested maps,
                          so a plot picks ``cpu_agent_pct_core`` or ``temp_<zone>_c``
                          with no set-up): ``Field.column`` names, map readings as
                          ``<prefix>_<name>_<unit>``.
``/devicelab/images``     annotated preview frames as ``foxglove.CompressedImage``,
                          drawn from the session's recording (``mcap_images``).
``/devicelab/events``     ``foxglove.Log``, so Foxglove's Log panel shows them.
``/devicelab/bookmarks``  the session's notes.

The two Foxglove schemas are Foxglove's published ones (the fields this export
writes; tests/data/foxglove names the source and a test checks them). Session
facts are the ``devicelab.session`` metadata.
"""

from __future__ import annotations

import base64
import heapq
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from console import __version__
from console.core.protocol import (
    FRAME_DERIVED,
    TELEMETRY_FIELDS,
    TELEMETRY_MAPS,
    Field,
    flatten_sample,
)
from console.core.store import LogStore
from console.session.export.columns import ADDED_FIELDS, INDEX, OUT, T_REL, TS, V1_FIELDS
from console.session.export.job import ExportResult, Job
from console.session.export.target import open_target

#: Frame message keys: the protocol's column names (they carry the unit), with the
#: capture time as ``t_s``, seconds since the first frame, for the plots' x axis.
_T = T_REL
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
#: unit -> the suffix a flat telemetry name carries
_UNIT_SUFFIX = {"°C": "c", "MHz": "mhz", "W": "w", "J": "j"}
_COLUMN_OF = {f.wire: f.column for f in TELEMETRY_FIELDS}
_MAP_OF = {key: (prefix, _UNIT_SUFFIX.get(unit, re.sub(r"[^a-z0-9]+", "", unit.lower())))
           for key, (prefix, unit) in TELEMETRY_MAPS.items()}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "x"


def flat_telemetry_name(key: str) -> str:
    """A flattened sample key (``cpu_agent``, ``thermal.cpu-thermal``) as the MCAP names
    it: the log's column (``cpu_agent_pct_core``) or ``temp_cpu_thermal_c`` — one path
    segment (Foxglove's message paths split on dots), the unit last."""
    if key in _COLUMN_OF:
        return _COLUMN_OF[key]
    head, dot, rest = key.partition(".")
    if dot and head in _MAP_OF:
        prefix, unit = _MAP_OF[head]
        return f"{prefix}_{_slug(rest)}_{unit}"
    return _slug(key)


def flat_telemetry(sample: Mapping[str, Any]) -> dict[str, float]:
    """A stored sample as flat numbers (flags as 0/1; text and lists left out)."""
    return {flat_telemetry_name(k): float(v) for k, v in
            flatten_sample({k: v for k, v in sample.items() if k != TS.wire}).items()}


_TELEMETRY_SCHEMA = {
    "title": "devicelab.Telemetry", "type": "object",
    "description": "One telemetry sample from the device, flat: every value a number, the "
                   "unit in the name; figures the device lacks are absent.",
    "properties": {
        _T: {"type": "number", "description": "seconds since the first frame (s)"},
        **{f.column: {"type": "number", "description": f"{f.doc} ({f.unit})"}
           for f in TELEMETRY_FIELDS},
    },
    "patternProperties": {
        f"^{prefix}_.+_{unit}$": {"type": "number", "description": f"{key} readings by name"}
        for key, (prefix, unit) in _MAP_OF.items()},
    "additionalProperties": {"type": "number"},
}
_TIME = {"type": "object", "title": "time", "properties": {
    "sec": {"type": "integer", "minimum": 0},
    "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999}}}
#: Foxglove's well-known log message (its published schema, the fields written here),
#: so the Log panel shows the session's events.
_LOG_SCHEMA = {
    "title": "foxglove.Log", "description": "A log message", "type": "object",
    "properties": {
        "timestamp": {**_TIME, "description": "Timestamp of log message"},
        "level": {"title": "foxglove.LogLevel", "description": "Log level", "oneOf": [
            {"title": name, "const": k} for k, name in
            enumerate(("UNKNOWN", "DEBUG", "INFO", "WARNING", "ERROR", "FATAL"))]},
        "message": {"type": "string", "description": "Log message"},
        "name": {"type": "string", "description": "Process or node name"},
        "file": {"type": "string", "description": "Filename"},
        "line": {"type": "integer", "minimum": 0, "description": "Line number in the file"},
    },
    "required": ["timestamp", "level", "message", "name", "file", "line"],
}
#: Foxglove's compressed image (its published schema, the fields written here): the
#: Image panel shows the annotated preview frames.
_IMAGE_SCHEMA = {
    "title": "foxglove.CompressedImage", "description": "A compressed image", "type": "object",
    "properties": {
        "timestamp": {**_TIME, "description": "Timestamp of image"},
        "frame_id": {"type": "string", "description": "Frame of reference for the image."},
        "data": {"type": "string", "contentEncoding": "base64",
                 "description": "Compressed image data"},
        "format": {"type": "string", "description": "Image format"},
    },
    "required": ["timestamp", "frame_id", "data", "format"],
}
_BOOKMARK_SCHEMA = {
    "title": "devicelab.Bookmark", "type": "object",
    "properties": {"frame": {"type": ["integer", "null"]}, "note": {"type": "string"}},
}
_LOG_LEVELS = {"debug": 1, "info": 2, "warning": 3, "error": 4, "fatal": 5}
MCAP_TOPICS = {"frames": "/devicelab/frames", "telemetry": "/devicelab/telemetry",
               "images": "/devicelab/images", "events": "/devicelab/events",
               "bookmarks": "/devicelab/bookmarks"}
_SCHEMAS = {"frames": _FRAME_SCHEMA, "telemetry": _TELEMETRY_SCHEMA, "images": _IMAGE_SCHEMA,
            "events": _LOG_SCHEMA, "bookmarks": _BOOKMARK_SCHEMA}


def _ns(ts: float) -> int:
    return max(0, round(ts * 1e9))


def _stamp(ts: float) -> dict[str, int]:
    ns = _ns(ts)
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


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
    counts = {"frames": 0, "telemetry": 0, "images": 0, "events": 0, "bookmarks": 0}
    from console.session.export.mcap_images import FRAME_ID, preview_images, recording_of

    clip, no_images = recording_of(store, s)

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
            d: dict[str, float] = {_T: x[TS.wire] - t0}
            d.update(flat_telemetry(x))
            yield x[TS.wire], "telemetry", enc(d).encode()

    def images() -> Iterator[tuple[float, str, bytes]]:
        if clip is None:
            return
        for ts, _i, jpeg in preview_images(store, s, clip):
            yield ts, "images", enc({
                "timestamp": _stamp(ts), "frame_id": FRAME_ID,
                "data": base64.b64encode(jpeg).decode("ascii"), "format": "jpeg"}).encode()

    def log() -> Iterator[tuple[float, str, bytes]]:
        for e in events:
            yield e["ts"], "events", enc({
                "timestamp": _stamp(e["ts"]),
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
        for key, schema in _SCHEMAS.items():
            if key == "images" and clip is None:
                continue
            sch = w.register_schema(name=str(schema["title"]), encoding="jsonschema",
                                    data=json.dumps(schema).encode())
            ch[key] = w.register_channel(topic=MCAP_TOPICS[key], message_encoding="json",
                                         schema_id=sch)
        merged = heapq.merge(frames(), telemetry(), images(), log(), bookmarks(),
                             key=lambda m: m[0])
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
                        telemetry=counts["telemetry"], events=counts["events"],
                        notes=[no_images] if no_images else
                        [f"{counts['images']} annotated preview frames"])


def _session_metadata(s: Mapping[str, Any]) -> dict[str, str]:
    """MCAP metadata is str -> str: scalars as text, structures as JSON."""
    out = {}
    for k, v in s.items():
        if v is None:
            continue
        out[k] = v if isinstance(v, str) else json.dumps(v, default=str, separators=(",", ":"))
    return out

