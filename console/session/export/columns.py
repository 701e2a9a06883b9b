"""The names the exports give the data, read from the protocol's field table.

Frame fields, stages and telemetry keys are named once, in
:mod:`console.core.protocol` (``FRAME_FIELDS``, ``FRAME_DERIVED``,
``TELEMETRY_FIELDS``, ``TELEMETRY_MAPS``); every format module takes its
headers, keys and schemas from here, so a new field reaches the CSV, JSON and
MCAP exports with no edit in them. Nothing here reads the log or writes a file.

Every export uses the log's own unit-carrying column names (``Field.column``:
``ts_unix_s``, ``e2e_ms``, ``cpu_agent_pct_core``, ``temp.<zone>``), the same in
the database, CSV, JSON and MCAP, so an outside tool reads them without guessing.
"""

from __future__ import annotations

from typing import Any

from console.core.protocol import (
    FRAME_DERIVED,
    FRAME_FIELDS,
    READ,
    TELEMETRY_FIELDS,
    TELEMETRY_MAPS,
    Field,
    flatten_sample,
)

_BY_WIRE = {f.wire: f for f in (*FRAME_FIELDS, *FRAME_DERIVED)}
#: The frame index and its capture time (wire keys are fixed by protocol v1).
INDEX, TS = _BY_WIRE["i"], _BY_WIRE["ts"]
#: The frame as protocol v1 first defined it, with the fields the console derives
#: from ``out``; then the fields added within v1 (``read_ms``). Added fields go last
#: so a reader that goes by position finds the older columns where they always were.
V1_FIELDS = (*(f for f in FRAME_FIELDS if f.wire != READ), *FRAME_DERIVED)
ADDED_FIELDS = tuple(f for f in FRAME_FIELDS if f.wire == READ)
#: Where the export keeps the decoded model output (not a protocol field of its own).
OUT = "out"
#: Export-only columns: seconds since the first frame (or sample), the output as JSON text.
T_REL = "t_s"
OUTPUT_JSON = "output_json"

_TELEMETRY_COLUMN = {f.wire: f.column for f in TELEMETRY_FIELDS}


def csv_name(f: Field) -> str:
    """A frame field's header in the frames CSV."""
    return f.column


def json_name(f: Field) -> str:
    """A frame field's key in the JSON export's ``frames`` rows."""
    return f.column


def telemetry_name(key: str) -> str:
    """A flattened telemetry key (``cpu_agent``, ``thermal.cpu-thermal``) as the CSV names it."""
    head, dot, rest = key.partition(".")
    if dot and head in TELEMETRY_MAPS:
        return f"{TELEMETRY_MAPS[head][0]}.{rest}"
    return _TELEMETRY_COLUMN.get(key, key)


def flat_telemetry(sample: dict[str, Any]) -> dict[str, Any]:
    """A stored sample (``ts`` added by the store) as CSV cells, the console's one way:
    maps as ``<map>.<name>``, lists as JSON text, booleans as 0/1, missing figures absent."""
    return {telemetry_name(k): v for k, v in
            flatten_sample({k: v for k, v in sample.items() if k != TS.wire},
                           lists_as_json=True).items()}
