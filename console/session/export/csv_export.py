"""CSV export: frames to ``PATH``, telemetry to ``<PATH stem>.telemetry.csv``.

One row a frame / a sample; nested telemetry figures flattened as
``thermal.<zone>``. Read with any CSV reader (pandas, a spreadsheet). Two
files need a file name: standard output, a FIFO or a device is refused.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from console.core.store import LogStore
from console.session.export.columns import (
    ADDED_FIELDS,
    OUT,
    OUTPUT_JSON,
    T_REL,
    TS,
    V1_FIELDS,
    csv_name,
    flat_telemetry,
)
from console.session.export.job import ExportError, ExportResult, Job
from console.session.export.target import STDOUT, open_target, resolve_target

#: One CSV cell from a store frame row and the first frame's capture time.
Cell = Callable[[Mapping[str, Any], float], Any]


def _value(key: str) -> Cell:
    return lambda r, t0: "" if r.get(key) is None else r[key]


def _frame_columns() -> list[tuple[str, Cell]]:
    """The frames CSV: the field table's v1 fields (with the capture time also as
    seconds since the first frame), the output as JSON, then fields added within v1."""
    cols: list[tuple[str, Cell]] = []
    for f in V1_FIELDS:
        if f is TS:
            cols += [(csv_name(f), lambda r, t0: repr(r[TS.wire])),
                     (T_REL, lambda r, t0: f"{r[TS.wire] - t0:.6f}")]
        else:
            cols.append((csv_name(f), _value(f.wire)))
    cols.append((OUTPUT_JSON, lambda r, t0: json.dumps(r[OUT], separators=(",", ":"))
                 if r[OUT] else ""))
    cols += [(csv_name(f), _value(f.wire)) for f in ADDED_FIELDS]
    return cols


def telemetry_csv_path(path: Path) -> Path:
    p = Path(path)
    stem = p.name[:-4] if p.name.lower().endswith(".csv") else p.name
    return p.with_name(f"{stem}.telemetry.csv")


def export_csv(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    if resolve_target(path).stream:
        shown = "standard output" if str(path) == STDOUT else str(path)
        raise ExportError(f"cannot write {shown}: csv writes two files (frames and telemetry), "
                          "a stream holds one; name a file (run.csv also gives "
                          "run.telemetry.csv) or export json")
    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    t0: float | None = None
    n = 0
    cols = _frame_columns()
    cells = [c for _, c in cols]
    with open_target(path) as fh:
        w = csv.writer(fh)
        w.writerow([name for name, _ in cols])
        for f in store.iter_frames(sid):
            if t0 is None:
                t0 = float(f[TS.wire])
            w.writerow([c(f, t0) for c in cells])
            n += 1
            if n % 2000 == 0:
                job.step(0.8 * n / total, f"frames {n}/{total}")
    samples = store.telemetry(sid)
    base = t0 if t0 is not None else (samples[0][TS.wire] if samples else 0.0)
    flat = [flat_telemetry(x) for x in samples]
    names = sorted({k: None for row in flat for k in row}, key=lambda k: ("." in k, k))
    tpath = telemetry_csv_path(path)
    with open_target(tpath) as fh:
        w = csv.writer(fh)
        w.writerow([csv_name(TS), T_REL, *names])
        for x, row in zip(samples, flat):
            w.writerow([repr(x[TS.wire]), f"{x[TS.wire] - base:.6f}",
                        *("" if row.get(k) is None else row[k] for k in names)])
    job.step(1.0, "done")
    return ExportResult("csv", [Path(path), tpath], frames=n, telemetry=len(samples))

