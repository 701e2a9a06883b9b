"""CSV export: frames to ``PATH``, telemetry to ``<PATH stem>.telemetry.csv``.

One row a frame / a sample; nested telemetry figures flattened as
``thermal.<zone>``. Read with any CSV reader (pandas, a spreadsheet).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.core.store import SessionStore
from console.session.export.job import ExportResult, Job
from console.session.export.target import atomic_write

FRAME_COLUMNS = ("frame", "ts", "t_s", "pre_ms", "infer_ms", "post_ms", "e2e_ms", "top1",
                 "top1_score", "output_json", "read_ms")


def _flatten(sample: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sample.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, separators=(",", ":"))
        else:
            out[key] = v
    return out


def telemetry_csv_path(path: Path) -> Path:
    p = Path(path)
    stem = p.name[:-4] if p.name.lower().endswith(".csv") else p.name
    return p.with_name(f"{stem}.telemetry.csv")


def export_csv(store: SessionStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    t0: float | None = None
    n = 0
    with atomic_write(path) as fh:
        w = csv.writer(fh)
        w.writerow(FRAME_COLUMNS)
        for f in store.iter_frames(sid):
            if t0 is None:
                t0 = f["ts"]
            w.writerow([f["i"], repr(f["ts"]), f"{f['ts'] - t0:.6f}", f["pre"], f["infer"],
                        f["post"], f["e2e"], f["top1"], f["top1_score"],
                        json.dumps(f["out"], separators=(",", ":")) if f["out"] else "",
                        "" if f.get("read_ms") is None else f["read_ms"]])
            n += 1
            if n % 2000 == 0:
                job.step(0.8 * n / total, f"frames {n}/{total}")
    samples = store.telemetry(sid)
    base = t0 if t0 is not None else (samples[0]["ts"] if samples else 0.0)
    flat = [_flatten({k: v for k, v in x.items() if k != "ts"}) for x in samples]
    keys: list[str] = []
    for row in flat:
        for k in row:
            if k not in keys:
                keys.append(k)
    keys.sort(key=lambda k: ("." in k, k))
    tpath = telemetry_csv_path(path)
    with atomic_write(tpath) as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "t_s", *keys])
        for x, row in zip(samples, flat):
            w.writerow([repr(x["ts"]), f"{x['ts'] - base:.6f}",
                        *("" if row.get(k) is None else row[k] for k in keys)])
    job.step(1.0, "done")
    return ExportResult("csv", [Path(path), tpath], frames=n, telemetry=len(samples))

