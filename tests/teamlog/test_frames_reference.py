"""Frames belong to a session on both engines, however the reference is kept.

SQLite keeps it as a foreign key; PostgreSQL (schema v5) with one check per insert
statement, because its per-row foreign-key check cost four times the COPY of the
row. Either way: frames of a session that is not there are refused (nothing of the
batch stays), and deleting a session — by the console or by hand in psql/sqlite3 —
deletes its frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.records import DeviceFacts, InputFacts, NewSession, PackageFacts
from console.core.store import StoreError, frame_row
from console.core.store.target import open_store


def _frames(n: int, start: int = 0) -> list[tuple[object, ...]]:
    return [frame_row(i, 1.7e9 + i / 100, 0.1, 0.5, 0.1, 0.7, {"top": [[i % 10, 0.9]]},
                      read_ms=0.2) for i in range(start, start + n)]


@pytest.fixture(params=["postgresql", "sqlite"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    return request.getfixturevalue("pg_db").url


def test_frames_of_a_missing_session_are_refused(log: str) -> None:
    with open_store(log) as st:
        sid = st.create_session(NewSession(DeviceFacts(), PackageFacts(), InputFacts(), {},
                                           None, "t", 1))
        st.insert_batch(sid, _frames(500), [], [])
        with pytest.raises(StoreError, match=r"(?i)foreign key|reference"):
            st.insert_batch(sid + 1000, _frames(10), [], [])
        with pytest.raises(StoreError, match=r"(?i)foreign key|reference"), st.transaction():
            # a good session's row and a missing one's in one transaction: both refused
            st.insert_rows("frames", ("session_id", "i", "ts_unix_s"),
                           [(sid, 900, 1.0), (sid + 1000, 901, 1.0)])
        assert st.frame_count(sid) == 500 and st.frame_count(sid + 1000) == 0
        st.insert_batch(sid, _frames(100, 500), [], [])  # the store still writes after it
        assert st.frame_count(sid) == 600


def test_deleting_a_session_by_hand_deletes_its_frames(log: str) -> None:
    with open_store(log) as st:
        a = st.create_session(NewSession(DeviceFacts(), PackageFacts(), InputFacts(), {},
                                         None, "t", 1))
        b = st.create_session(NewSession(DeviceFacts(), PackageFacts(), InputFacts(), {},
                                         None, "t", 1))
        st.insert_batch(a, _frames(300), [], [])
        st.insert_batch(b, _frames(200), [], [])
        st._write("DELETE FROM sessions WHERE id = ?", [a])  # as psql or sqlite3 would
        assert st.frame_count(a) == 0 and st.frame_count(b) == 200
        assert st.delete_session(b) and st.frame_count(b) == 0


def test_a_uuid_prefix_of_digits_only_is_found(log: str) -> None:
    """``sessions show 64942758`` names a session by its uuid when no id is 64942758."""
    with open_store(log) as st:
        sid = st.create_session(NewSession(DeviceFacts(), PackageFacts(), InputFacts(), {},
                                           None, "t", 1, uuid="64942758" + "ab" * 12))
        found = st.find("64942758")
        assert found is not None and found.id == sid
        assert st.find(str(sid)) is not None and st.find(str(sid)).id == sid  # ids first
