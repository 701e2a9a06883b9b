"""Bundles written by the previous release (format /2, column names without units) import
into today's log with every row in its right column."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

from console.core.store import SessionStore
from console.session.bundle import import_bundle

LEGACY = Path(__file__).resolve().parent.parent / "data" / "legacy"


def test_v2_bundle_imports_into_todays_log(db_path: Path) -> None:
    bundle = LEGACY / "v2-session.dlbundle"
    meta = json.loads(zipfile.ZipFile(bundle).read("bundle.json"))
    assert meta["format"] == "devicelab-bundle/2"
    src = sqlite3.connect(LEGACY / "v2-log.db")
    want_e2e = [r[0] for r in src.execute("SELECT e2e FROM frames ORDER BY i")]
    want_cpu = [r[0] for r in src.execute("SELECT cpu_agent FROM telemetry ORDER BY ts")]
    want_mark = src.execute("SELECT frame_i, ts, note FROM bookmarks").fetchall()
    started = src.execute("SELECT started_at FROM sessions").fetchone()[0]
    src.close()
    with SessionStore(db_path) as st:
        res = import_bundle(st, bundle)
        sid = res.session_id
        rec = st.session(sid)
        assert rec is not None and rec.started_unix_s == started and rec.summary is not None
        assert st.frame_column(sid, "e2e").tolist() == want_e2e
        got_cpu = [r[0] for r in st.conn.execute(
            "SELECT cpu_agent_pct_core FROM telemetry WHERE session_id=? ORDER BY ts_unix_s",
            [sid])]
        assert got_cpu == want_cpu and any(v is not None for v in got_cpu)
        marks = st.bookmarks(sid)
        assert [(m["frame_i"], m["ts"], m["note"]) for m in marks] == want_mark
        # imported twice: already there
        assert import_bundle(st, bundle).already_present
