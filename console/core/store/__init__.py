"""The session log: every run, frame, telemetry sample, event and bookmark.

What lives here: the store classes (SQLite today, the embedded default), the
row builders the recorder uses and the typed refusals. The schema itself —
tables, columns with units, views, numbered migrations — is
``console.core.schema``; the typed records a reader gets are
``console.core.records``. Tables:

``sessions``   one row a run: device facts and identity, package identity and
               manifest, input description and sha256, all settings, versions,
               times, status (running/completed/stopped/failed/interrupted),
               error text, summary (and its headline figures as columns), the
               console process that owns it.
``frames``     per frame: index, capture time, stage latencies, top-1, outputs,
               ``read_ms`` (the time the source took to deliver the frame).
``telemetry``  per sample: the common figures as columns + the full sample.
``events``     agent and console events, warnings and errors.
``bookmarks``  notes on a moment of a session.
``plan_runs``, ``plan_cells``, ``sweeps``, ``op_profiles``: see the schema.
"""

from console.core.records import STATUSES
from console.core.store.base import (
    SCHEMA_VERSION,
    LogStore,
    decode_json_fields,
    legacy_session_dict,
)
from console.core.store.errors import (
    DatabaseCorrupt,
    DatabaseLocked,
    DatabaseReadOnly,
    DiskFull,
    LogUnreachable,
    SchemaTooNew,
    StoreError,
)
from console.core.store.rows import (
    FRAME_COLUMN_OF,
    FRAME_COLUMNS,
    TELEMETRY_COLUMNS,
    frame_row,
    telemetry_row,
)
from console.core.store.sqlite import SessionStore

__all__ = [
    "FRAME_COLUMNS",
    "FRAME_COLUMN_OF",
    "SCHEMA_VERSION",
    "STATUSES",
    "TELEMETRY_COLUMNS",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "DatabaseReadOnly",
    "DiskFull",
    "LogStore",
    "LogUnreachable",
    "SchemaTooNew",
    "SessionStore",
    "StoreError",
    "decode_json_fields",
    "frame_row",
    "legacy_session_dict",
    "telemetry_row",
]
