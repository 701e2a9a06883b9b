"""Rows of the hot tables as the writers build them, in today's column order.

The recorder appends these tuples from the agent's read loop, so they are
plain tuples (no dict per frame); their column order comes from the
protocol's field table (``console.core.protocol``), the one place frame and
telemetry figures are named, and a test checks it against the schema.
"""

from __future__ import annotations

import json
from typing import Any

from console.core import protocol as P

#: Columns of a ``frames`` row as :func:`frame_row` builds it (after ``session_id``).
FRAME_COLUMNS: tuple[str, ...] = (
    *(f.column for f in P.FRAME_FIELDS if f.wire != P.READ),
    *(f.column for f in P.FRAME_DERIVED), "out", P.READ)
#: In-memory (protocol) name -> column, for the numeric frame figures readers ask for.
FRAME_COLUMN_OF: dict[str, str] = {
    **{f.wire: f.column for f in P.FRAME_FIELDS}, **{f.wire: f.column for f in P.FRAME_DERIVED}}

#: Scalar telemetry figures kept as columns, in row order (after ts).
_TELEMETRY_SCALARS = tuple(f for f in P.TELEMETRY_FIELDS if f.wire != P.MEM_AVAIL)
TELEMETRY_COLUMNS: tuple[str, ...] = (
    "ts_unix_s", *(f.column for f in _TELEMETRY_SCALARS), "temp_max_c", "power_max_w",
    "sample_json")
EVENT_COLUMNS = ("ts_unix_s", "level", "code", "text")


def telemetry_row(ts: float, sample: dict[str, Any]) -> tuple[Any, ...]:
    """The common telemetry figures as columns; the full sample stays as JSON."""
    thermal = sample.get(P.THERMAL) or {}
    power = sample.get(P.POWER) or {}
    return (ts, *(sample.get(f.wire) for f in _TELEMETRY_SCALARS),
            max(thermal.values()) if thermal else None,
            max(power.values()) if power else None,
            json.dumps(sample, separators=(",", ":")))


def frame_row(i: int, ts: float, pre: float, infer: float, post: float, e2e: float,
              out: dict[str, Any], read_ms: float | None = None) -> tuple[Any, ...]:
    """A frames row (:data:`FRAME_COLUMNS`); ``read_ms`` None when the agent did not send it."""
    top = out.get("top")
    top1, score = (top[0][0], top[0][1]) if top else (None, None)
    if isinstance(top1, float) and top1.is_integer():
        top1 = int(top1)  # a class index sent as 3.0: an integer column on every engine
    return (i, ts, pre, infer, post, e2e, top1, score, json.dumps(out, separators=(",", ":")),
            read_ms)
