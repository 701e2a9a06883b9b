"""A full ``devicelab run`` recorded on PostgreSQL equals the same run recorded on SQLite.

The real command (local device, the demo package and recording, real onnxruntime)
runs twice, once per log. What the model computes — every frame's index, top-1,
score and outputs — is equal value for value, row for row; what the clock measures
(latencies, timestamps, CPU) can only be equal in kind: the same columns filled,
with the same types. Session columns are equal except ids, times, the console's
process and the figures measured from the clock (those must be filled alike).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from console.core.store.target import open_store
from teamlog.conftest import dl, run_args

pytestmark = pytest.mark.slow

FRAMES = 150
#: which row, which console, which moment: differ between any two runs
_PER_RUN = {"id", "uuid", "created_unix_s", "started_unix_s", "ended_unix_s", "console_pid",
            "console_started_ticks"}
#: measured from the clock (or the machine's load) on each run
_MEASURED_JSON = {"summary", "cold_start", "device_facts"}
_MEASURED = {"pre", "infer", "post", "e2e", "fps", "duration", "cold_start", "cpu", "rss",
             "temp", "energy", "accuracy"}
_TIMED_FRAME = ("ts_unix_s", "pre_ms", "infer_ms", "post_ms", "e2e_ms", "read_ms")
_EXACT_FRAME = ("i", "top1", "top1_score", "out")


def _shape(v: Any) -> Any:
    """What a JSON value holds, without its measured values: keys, kinds, lengths of
    fixed lists."""
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return ["list"]
    if isinstance(v, bool) or v is None:
        return v
    return type(v).__name__ if not isinstance(v, int) else "number"


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _recorded(db: str) -> dict[str, Any]:
    with open_store(db) as st:
        (s,) = st._read("SELECT * FROM sessions")
        sid = s["id"]
        return {
            "session": s,
            "frames": st._read("SELECT * FROM frames WHERE session_id = ? ORDER BY i", [sid]),
            "telemetry": st._read("SELECT * FROM telemetry WHERE session_id = ? "
                                  "ORDER BY ts_unix_s", [sid]),
            "events": st._read("SELECT * FROM events WHERE session_id = ? ORDER BY ts_unix_s",
                               [sid]),
        }


def _digits_masked(text: str | None) -> str | None:
    return None if text is None else re.sub(r"\d+(\.\d+)?", "#", text)


def test_a_run_on_postgres_equals_the_run_on_sqlite(pg_db, tmp_path: Path) -> None:
    sqlite = str(tmp_path / "sessions.db")
    for db in (pg_db.url, sqlite):
        res = dl(*run_args(db, FRAMES, "--fps", "200", "--note", "same #run", "--tag", "eq"))
        assert res.returncode == 0, res.stderr
    pg, sq = _recorded(pg_db.url), _recorded(sqlite)

    # frames: the model's answers value for value, the clock's figures filled alike
    assert len(pg["frames"]) == len(sq["frames"]) == FRAMES
    for a, b in zip(pg["frames"], sq["frames"], strict=True):
        assert set(a) == set(b)
        assert {k: a[k] for k in _EXACT_FRAME} == {k: b[k] for k in _EXACT_FRAME}
        assert {k: _kind(a[k]) for k in _TIMED_FRAME} == {k: _kind(b[k]) for k in _TIMED_FRAME}
        assert all(isinstance(a[k], float) for k in _TIMED_FRAME)

    # telemetry: the same columns filled, the same sample keys, the same types
    def tele_kinds(rows: list[dict[str, Any]]) -> set[tuple[tuple[str, str], ...]]:
        return {tuple((k, _kind(v)) for k, v in r.items() if k != "sample_json") for r in rows}

    assert pg["telemetry"] and sq["telemetry"]
    assert tele_kinds(pg["telemetry"]) == tele_kinds(sq["telemetry"])
    assert ({tuple(sorted(json.loads(r["sample_json"]))) for r in pg["telemetry"]}
            == {tuple(sorted(json.loads(r["sample_json"]))) for r in sq["telemetry"]})

    # events: the same, numbers aside (a cold start of 5.8 ms vs 7.0 ms)
    def ev(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(r["level"], r["code"], _digits_masked(r["text"])) for r in rows]

    assert ev(pg["events"]) == ev(sq["events"]) and len(pg["events"]) >= 2

    # the session row
    a, b = pg["session"], sq["session"]
    assert set(a) == set(b)
    for k in sorted(set(a) - _PER_RUN):
        if k in _MEASURED_JSON:
            assert _shape(json.loads(a[k])) == _shape(json.loads(b[k])), k
        elif any(k.startswith(m) for m in _MEASURED):
            assert _kind(a[k]) == _kind(b[k]), k
        else:
            assert a[k] == b[k], k
    assert a["status"] == "completed" and a["frames_received"] == a["agent_sent"] == FRAMES
    assert set(json.loads(a["tags"])) == {"run", "eq"}
    for k in _PER_RUN - {"id", "uuid", "console_pid"}:
        assert isinstance(a[k], float) and isinstance(b[k], float), k

    # what a reader builds from them: the summary's figures, by kind
    with open_store(pg_db.url) as p, open_store(sqlite) as q:
        ra, rb = p.session(a["id"]), q.session(b["id"])
        assert ra is not None and rb is not None
        assert type(ra) is type(rb)
        assert p.frame_arrays(a["id"])["top1"].tolist() == q.frame_arrays(b["id"])["top1"].tolist()
        assert p.frame_column(a["id"], "e2e").dtype == q.frame_column(b["id"], "e2e").dtype
        assert sorted(p.telemetry(a["id"])[-1]) == sorted(q.telemetry(b["id"])[-1])
        assert p.events(a["id"])[0]["text"] == q.events(b["id"])[0]["text"]
