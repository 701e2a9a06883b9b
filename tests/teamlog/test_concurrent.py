"""Three consoles recording into one server at once: no row lost, none in the wrong session.

Three real ``devicelab run`` processes start together against the same database:
two run the fp32 demo model (different lengths), one the int8 model. Every session
must hold exactly its own frames (indices 0..n-1, once each) — and the model's
answers tell whose a frame is: the two fp32 sessions agree score for score, the
int8 one does not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.recording import DEVICELAB

from teamlog.conftest import PKG, run_args

pytestmark = pytest.mark.slow

PKG8 = Path(__file__).resolve().parents[2] / "resources" / "packages" / "digits-cnn-int8"


def test_three_consoles_at_once(pg_db) -> None:
    runs = {"fp32-a": (PKG, 240), "int8": (PKG8, 270), "fp32-b": (PKG, 300)}
    procs = {name: subprocess.Popen([DEVICELAB, *run_args(pg_db.url, n, "--fps", "60",
                                                         "--note", name, package=pkg)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    stdin=subprocess.DEVNULL)
             for name, (pkg, n) in runs.items()}
    outs = {name: p.communicate(timeout=300) for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, (name, outs[name])

    by_note = {note: (sid, status, n, t0, t1) for sid, note, status, n, t0, t1 in pg_db.query(
        "SELECT id, note, status, frames_received, started_unix_s, ended_unix_s FROM sessions")}
    assert set(by_note) == set(runs)
    spans = [(t0, t1) for _s, _st, _n, t0, t1 in by_note.values()]
    assert max(t0 for t0, _ in spans) < min(t1 for _, t1 in spans), \
        f"the three runs did not overlap ({spans}): nothing concurrent was tested"

    scores = {}
    for note, (sid, status, n, t0, t1) in by_note.items():
        want = runs[note][1]
        assert (status, n) == ("completed", want), note
        idx = pg_db.query("SELECT i FROM frames WHERE session_id = %s ORDER BY i", (sid,))
        assert [i for (i,) in idx] == list(range(want)), note  # none lost, none twice
        scores[note] = [s for (s,) in pg_db.query(
            "SELECT top1_score FROM frames WHERE session_id = %s ORDER BY i", (sid,))]
        # telemetry and events of this session were taken during this session
        for (ts,) in pg_db.query("SELECT ts_unix_s FROM telemetry WHERE session_id = %s "
                                 "UNION ALL SELECT ts_unix_s FROM events WHERE session_id = %s",
                                 (sid, sid)):
            assert t0 - 1 <= ts <= t1 + 1, note
        codes = [c for (c,) in pg_db.query("SELECT code FROM events WHERE session_id = %s",
                                           (sid,))]
        assert codes.count("cold_start") == 1, note
    # the model's answers say whose frame is whose
    assert scores["fp32-a"] == scores["fp32-b"][:240]
    assert scores["int8"][:240] != scores["fp32-a"]
    assert pg_db.query("SELECT count(*) FROM frames") == [(sum(n for _p, n in runs.values()),)]


def test_consoles_opening_a_fresh_log_at_the_same_moment_build_it_once(pg_db) -> None:
    """Six consoles open an empty database together: one builds the schema under the
    migration lock, the others wait and find it built (a stale catalog lookup after the
    lock once made a waiter try to create the version table again)."""
    import threading

    from console.core import schema as S
    from console.core.store.postgres import PostgresStore
    from console.core.store.target import parse_target

    target = parse_target(pg_db.url)
    start = threading.Barrier(6)
    errors: list[BaseException] = []
    migrated: list[int | None] = []

    def open_once() -> None:
        start.wait()
        try:
            st = PostgresStore(target)
            migrated.append(st.migrated_from)
            st.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(migrated) == 6
    with PostgresStore(target) as st:
        assert st._version() == S.SCHEMA_VERSION
