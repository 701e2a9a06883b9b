"""What the window reads from the log goes through console.session.browse (no store in the UI).

A real run records the session; throttling cannot happen on these VMs, so
the throttle readings are added to its telemetry afterwards, by the store's
own writer (a fake of the device, not of the log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.recording import PKG, copy_db, record

from console.core import protocol as P
from console.core.store import SessionStore, telemetry_row
from console.session import browse


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("browse")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, PKG, "synthetic:32x32", frames=40, fps=100)
    with SessionStore(db) as st:
        t0 = float(st.frame_arrays(sid)["ts"][0])
        fake = [telemetry_row(t0 + 0.05 * k, {P.CPU_SYS: 10.0,
                                              P.THROTTLE: {"throttled": k >= 3}})
                for k in range(6)]
        st.insert_batch(sid, [], fake, [])
    return {"db": db, "id": sid, "t0": t0}


def test_details_count_telemetry_and_start_at_the_first_frame(
        recorded: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(recorded["db"], tmp_path / "s.db")
    d = browse.load_details(db, recorded["id"])
    with SessionStore(db) as st:
        n = len(st.telemetry(recorded["id"]))
    assert d.telemetry_samples == n >= 6
    assert d.first_ts == recorded["t0"]
    assert d.session["frames_received"] == 40


def test_playback_keeps_the_throttle_readings(recorded: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(recorded["db"], tmp_path / "s.db")
    data = browse.load_playback(db, recorded["id"])
    flags = [s[P.THROTTLE]["throttled"] for _ts, s in data.samples if P.THROTTLE in s]
    assert flags == [False, False, False, True, True, True]
    assert len(data.rows) == 40


def test_a_log_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "none" / "sessions.db"
    assert browse.list_rows(db) == []
    with pytest.raises(browse.BrowseError, match="no session log at"):
        browse.load_details(db, 1)
    with pytest.raises(browse.BrowseError, match="no session log at"):
        browse.load_playback(db, 1)
    assert browse.load_matrix(db, None).rows == []
    assert not db.exists() and not db.parent.exists()


def test_a_session_that_is_gone_says_so(recorded: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(recorded["db"], tmp_path / "s.db")
    with pytest.raises(browse.BrowseError, match="session 999 is no longer in the log"):
        browse.load_details(db, 999)
