"""JSON export: one document with the session row, bookmarks, events,
telemetry and frames, streamed so a long session never sits in memory twice."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from console import __version__
from console.core.store import LogStore
from console.session.export.columns import ADDED_FIELDS, OUT, V1_FIELDS, json_name
from console.session.export.job import ExportResult, Job
from console.session.export.target import open_target


def export_json(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    events = store.events(sid)
    samples = store.telemetry(sid)
    dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
    n = 0
    # the field table's order: v1 fields, the output, then fields added within v1
    keys = [*((json_name(f), f.wire) for f in V1_FIELDS), (OUT, OUT),
            *((json_name(f), f.wire) for f in ADDED_FIELDS)]
    with open_target(path) as fh:
        fh.write('{"format":"devicelab-session/2","exported_by":' + dumps(__version__)
                 + ',"exported_at":' + dumps(time.time()) + ',\n"session":' + dumps(s)
                 + ',\n"bookmarks":' + dumps(store.bookmarks(sid))
                 + ',\n"events":' + dumps(events)
                 + ',\n"telemetry":[')
        for k, x in enumerate(samples):
            fh.write(("," if k else "") + "\n" + dumps(x))
        fh.write('],\n"frames":[')
        for f in store.iter_frames(sid):
            row = {name: f.get(key) for name, key in keys}
            fh.write(("," if n else "") + "\n" + dumps(row))
            n += 1
            if n % 2000 == 0:
                job.step(n / total, f"frames {n}/{total}")
        fh.write("]}\n")
    job.step(1.0, "done")
    return ExportResult("json", [Path(path)], frames=n, telemetry=len(samples),
                        events=len(events))

