"""Chrome Trace Event Format export (``sessions export --format trace``): Perfetto and
chrome://tracing open it.

One JSON object ``{"traceEvents": [...]}`` (the format's "JSON Object Format"),
timestamps in µs from the session's first frame:

- process 1 "frames": per frame a complete event (``ph: X``) spanning ``e2e``
  with its ``pre`` / ``infer`` / ``post`` stages nested inside, laid from the
  frame's timestamp after its ``read_ms``; the source read as its own event
  on a second thread;
- process 2 "operators" (a profiled session): one mean profiled inference,
  the runtime's operators in the order they ran, each as long as its mean
  time per profiled frame (the log keeps sums per operator, not each call —
  the event names say so);
- counter events (``ph: C``) for the agent's CPU and memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.core import protocol as P
from console.core.store import LogStore
from console.session.export.job import ExportResult, Job
from console.session.export.target import open_target
from console.session.profiles import load_profile

_FRAMES, _OPS = 1, 2


def _meta(pid: int, tid: int, kind: str, name: str) -> dict[str, Any]:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "ts": 0, "args": {"name": name}}


def export_trace(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    dev = s.get("device_name") or s.get("device_address") or "device"
    events: list[dict[str, Any]] = [
        _meta(_FRAMES, 0, "process_name", f"{s.get('package_name')} on {dev} (frames)"),
        _meta(_FRAMES, 1, "thread_name", "pre / infer / post"),
        _meta(_FRAMES, 2, "thread_name", "source read"),
    ]
    t0: float | None = None
    n = 0
    for f in store.iter_frames(sid):
        ts_s = f.get("ts")
        if ts_s is None:
            continue
        t0 = ts_s if t0 is None else t0
        read = float(f.get("read_ms") or 0.0)
        start = (ts_s - t0) * 1e6
        if read:
            events.append({"name": "read", "cat": "source", "ph": "X", "pid": _FRAMES, "tid": 2,
                           "ts": round(start, 3), "dur": round(read * 1e3, 3)})
        at = start + read * 1e3
        e2e = float(f.get("e2e") or 0.0) * 1e3
        events.append({"name": f"frame {f['i']}", "cat": "frame", "ph": "X", "pid": _FRAMES,
                       "tid": 1, "ts": round(at, 3), "dur": round(e2e, 3),
                       "args": {"i": f["i"], "top1": f.get("top1")}})
        for stage in P.STAGE_PARTS:
            d = float(f.get(stage) or 0.0) * 1e3
            events.append({"name": stage, "cat": "stage", "ph": "X", "pid": _FRAMES, "tid": 1,
                           "ts": round(at, 3), "dur": round(d, 3)})
            at += d
        n += 1
        if n % 2000 == 0:
            job.step(0.8 * n / total, f"frames {n}/{total}")
    samples = store.telemetry(sid, keys=(P.CPU_AGENT, P.RSS))
    for x in samples:
        if t0 is None or x.get("ts") is None:
            continue
        vals = {k: x[k] for k in (P.CPU_AGENT, P.RSS) if isinstance(x.get(k), (int, float))}
        if vals:
            events.append({"name": "agent", "ph": "C", "pid": _FRAMES, "tid": 0,
                           "ts": round((x["ts"] - t0) * 1e6, 3), "args": vals})
    prof = load_profile(store, sid, s.get("profile"))
    if prof is not None and prof.available:
        events += [_meta(_OPS, 0, "process_name", f"operators ({prof.runtime}, mean of "
                         f"{prof.frames} profiled frames)"),
                   _meta(_OPS, 1, "thread_name", "one mean inference, operators in run order")]
        at = 0.0
        for o in prof.in_run_order():
            d = prof.per_frame_us(o)
            events.append({"name": o.node, "cat": o.op_type, "ph": "X", "pid": _OPS, "tid": 1,
                           "ts": round(at, 3), "dur": round(d, 3),
                           "args": {"op_type": o.op_type, "device": o.device, "calls": o.calls,
                                    "total_us": o.total_us, "mean_us_per_call": o.mean_us,
                                    "share": o.share}})
            at += d
    doc = {"traceEvents": events, "displayTimeUnit": "ms",
           "otherData": {"session": s.get("uuid"), "runtime": s.get("runtime"),
                         "runtime_version": s.get("runtime_version"),
                         "provider": s.get("provider")}}
    with open_target(path) as fh:
        json.dump(doc, fh, separators=(",", ":"), default=str)
        fh.write("\n")
    job.step(1.0, "done")
    return ExportResult("trace", [Path(path)], frames=n, telemetry=len(samples))
