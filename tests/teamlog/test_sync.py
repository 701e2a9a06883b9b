"""``sessions push`` / ``pull`` between a laptop's SQLite log and the team's server.

Round trip: sessions recorded on SQLite, pushed, pulled into a new file, arrive
value for value (every row of every table, bookmarks and events included); a
second push or pull copies nothing and says "already there"; a replay keeps its
link to its original; a session still recording is not copied.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from console.core import schema as S
from console.core.store import SessionStore
from console.core.store.base import proc_start_time
from console.core.store.target import open_store
from teamlog.conftest import dl, run_args

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"
_ORDER = {"frames": "i", "telemetry": "ts_unix_s", "events": "ts_unix_s", "bookmarks": "id",
          "op_profiles": "node"}
#: columns naming something of one log only
_LOCAL = {"id", "replay_of", "plan_run_id", "sweep_id", "session_id"}


def _content(db: str) -> dict[str, Any]:
    """Every session by uuid: its columns (but the log's own ids) and every row."""
    out: dict[str, Any] = {}
    with open_store(db) as st:
        for s in st._read("SELECT * FROM sessions ORDER BY id"):
            rows = {}
            for table, order in _ORDER.items():
                cols = [c for c in S.column_names(table) if c not in _LOCAL]
                rows[table] = [tuple(r.values()) for r in st._read(
                    f"SELECT {', '.join(cols)} FROM {table} WHERE session_id = ? ORDER BY "
                    f"{order}", [s["id"]])]
            orig = st._scalar("SELECT uuid FROM sessions WHERE id = ?", [s["replay_of"]]) \
                if s["replay_of"] else None
            out[s["uuid"]] = {"columns": {k: v for k, v in s.items() if k not in _LOCAL},
                              "replays": orig, "rows": rows}
    return out


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, Any]:
    """A laptop's log: a run with ground truth, two bookmarks, and a replay of it."""
    db = str(tmp_path / "laptop.db")
    res = dl(*run_args(db, 90, "--truth", str(TRUTH), "--note", "field #repro"))
    assert res.returncode == 0, res.stderr
    for frame, note in (("5", "blurry"), ("40", "wrong digit")):
        assert dl("sessions", "bookmark", "1", "--frame", frame, "--note", note,
                  "--db", db).returncode == 0
    res = dl("sessions", "replay", "1", "--quiet", "--db", db)
    assert res.returncode == 0, res.stderr
    return {"db": db}


def test_push_pull_round_trip_is_exact_and_idempotent(pg_db, laptop: dict[str, Any],
                                                      tmp_path: Path) -> None:
    mine = _content(laptop["db"])
    assert len(mine) == 2
    first = next(iter(mine.values()))
    assert len(first["rows"]["bookmarks"]) == 2 and len(first["rows"]["events"]) >= 2

    res = dl("sessions", "push", "--db", laptop["db"], "--to", pg_db.url)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "2 copied, 0 already there"
    assert _content(pg_db.url) == mine

    again = dl("sessions", "push", "--db", laptop["db"], "--to", pg_db.url)
    assert again.returncode == 0
    assert again.stdout.count("already there") == 3  # two sessions and the total
    assert again.stdout.strip().splitlines()[-1] == "0 copied, 2 already there"
    assert pg_db.query("SELECT count(*) FROM sessions") == [(2,)]

    back = str(tmp_path / "other-laptop.db")
    res = dl("sessions", "pull", "--from", pg_db.url, "--db", back)
    assert res.returncode == 0, res.stderr
    assert "2 copied" in res.stdout
    assert _content(back) == mine  # value for value, floats included
    res = dl("sessions", "pull", "--from", pg_db.url, "--db", back)
    assert res.stdout.strip().splitlines()[-1] == "0 copied, 2 already there"
    # what the commands show is the same on all three logs
    shows = [dl("sessions", "show", "1", "--db", db).stdout
             for db in (laptop["db"], pg_db.url, back)]
    assert shows[0] == shows[1] == shows[2] and "blurry" in shows[0]


def test_pull_one_by_uuid_prefix_and_a_replay_without_its_original(
        pg_db, laptop: dict[str, Any], tmp_path: Path) -> None:
    with SessionStore(laptop["db"]) as st:
        uuids = [s["uuid"] for s in st.list_sessions()[::-1]]  # oldest first
    res = dl("sessions", "push", uuids[1][:10], "--db", laptop["db"], "--to", pg_db.url)
    assert res.returncode == 0, res.stderr
    assert "the session it replays is not there: link dropped" in res.stdout
    assert pg_db.query("SELECT uuid, replay_of FROM sessions") == [(uuids[1], None)]
    res = dl("sessions", "push", "--db", laptop["db"], "--to", pg_db.url)
    assert res.stdout.strip().splitlines()[-1] == "1 copied, 1 already there"
    one = str(tmp_path / "one.db")
    res = dl("sessions", "pull", uuids[0][:8], "--from", pg_db.url, "--db", one)
    assert res.returncode == 0, res.stderr
    with SessionStore(one) as st:
        assert [s["uuid"] for s in st.list_sessions()] == [uuids[0]]
    res = dl("sessions", "pull", "ffffffffff", "--from", pg_db.url, "--db", one)
    assert res.returncode == 2 and "no session 'ffffffffff'" in res.stderr


def test_a_session_still_recording_is_not_pushed(pg_db, laptop: dict[str, Any]) -> None:
    c = sqlite3.connect(laptop["db"])
    # owned by this very process: alive, so the push must not take it for interrupted
    c.execute("UPDATE sessions SET status = 'running', console_pid = ?, "
              "console_started_ticks = ? WHERE id = 2",
              [os.getpid(), proc_start_time(os.getpid())])
    c.commit()
    c.close()
    res = dl("sessions", "push", "--db", laptop["db"], "--to", pg_db.url)
    assert res.returncode == 0, res.stderr
    assert "session 2 is still recording" in res.stderr
    assert res.stdout.strip().splitlines()[-1] == "1 copied, 0 already there, 1 skipped"
