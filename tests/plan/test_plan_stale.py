"""Plan runs left ``running`` by a console that was killed are found and closed.

A real ``devicelab plan run`` on this computer is SIGKILLed mid-cell; the next
``devicelab plan runs`` marks its plan run ``interrupted``, the running cell
``not run`` with its session (every frame it had written kept) and the cells
after it ``not run``. A live console's run is left alone; a pid that now belongs
to a newer process does not keep a dead console's run alive.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import junitparser
import pytest
from helpers.faults import devicelab, devicelab_popen
from helpers.procs import child_pids

from console.core.plan import read_plan
from console.core.store import SessionStore
from console.session.plan_log import get_plan_run, record_plan_start

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "resources" / "packages" / "digits-cnn"
PKG8 = ROOT / "resources" / "packages" / "digits-cnn-int8"

pytestmark = pytest.mark.slow


def _plan(tmp_path: Path) -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(f'name = "stale"\ndevices = ["local"]\npackages = ["{PKG}", "{PKG8}"]\n'
                 'inputs = ["synthetic:64x64"]\n[run]\nfps = 20\nframes = 2000\n')
    return p


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = child_pids(todo.pop())
        out += kids
        todo += kids
    return out


def _gone(pids: list[int], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if Path(f"/proc/{p}").exists()
                 and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _raw(db: Path, sql: str) -> list[tuple[object, ...]]:
    """The log as it is on disk, read without any console (no recovery on open)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute(sql).fetchall()


def kill_mid_cell(plan: str, db: str) -> tuple[int, list[int]]:
    """``devicelab plan run PLAN --db DB`` SIGKILLed once its first cell has streamed 10
    frames (no finaliser, no end written): the cell's session and the agent's pids."""
    proc = devicelab_popen("plan", "run", plan, "--db", db, "--json")
    assert proc.stdout is not None
    sid = frames = None
    try:
        for line in proc.stdout:
            e = json.loads(line)
            if e["event"] == "cell_session":
                sid = e["session_id"]
            if e["event"] == "progress" and e["session_id"] == sid and e["frames"] >= 10:
                frames = e["frames"]
                break
        assert sid is not None and frames, "the first cell never streamed"
        below = _descendants(proc.pid)  # the local agent
        assert below
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
    return sid, below


def test_a_killed_consoles_plan_run_is_marked_interrupted_on_the_next_open(
        tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sid, below = kill_mid_cell(str(_plan(tmp_path)), str(db))
    assert _gone(below) == [], "the agent outlived its killed console"
    # as the killed console left it: the run and its cells still "running" / "pending",
    # the running cell already linked to its session
    assert _raw(db, "SELECT status FROM plan_runs") == [("running",)]
    assert _raw(db, "SELECT idx, verdict, session_id FROM plan_cells ORDER BY idx") == \
        [(0, "pending", sid), (1, "pending", None)]

    listed = devicelab("plan", "runs", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    assert "interrupted" in listed.stdout and "2 not run" in listed.stdout, listed.stdout
    shown = devicelab("plan", "show", "1", "--db", str(db), "--json", "--junit",
                      str(tmp_path / "j.xml"))
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert run["status"] == "interrupted" and run["exit_code"] is None
    first, second = run["cells"]
    assert (first["verdict"], first["session_id"]) == ("not run", sid)
    assert first["reason"].startswith("the console stopped while this cell ran")
    assert (second["verdict"], second["session_id"]) == ("not run", None)
    assert second["reason"].startswith("the console stopped before this cell ran")
    with SessionStore(db, readonly=True) as st:
        s = st.get_session(sid)
        assert s is not None and s["status"] == "interrupted"
        kept = st.frame_count(sid)
        assert kept == s["frames_received"] > 0
        assert f"{kept} frames kept in session {sid}" in first["reason"]
        assert run["ended_at"] == pytest.approx(s["ended_unix_s"])  # its last data
    # CI reads it as a broken lab run, not as a product failure nor a person's stop
    suite = next(iter(junitparser.JUnitXml.fromfile(str(tmp_path / "j.xml"))))
    assert (suite.tests, suite.errors, suite.failures, suite.skipped) == (2, 2, 0, 0)


def test_a_live_consoles_run_stays_running_a_reused_pid_does_not_keep_one(
        tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    plan, problems = read_plan(_plan(tmp_path))
    assert plan is not None, problems
    with SessionStore(db) as st:
        live = record_plan_start(st, plan)  # this test's own process: alive
        reused = record_plan_start(st, plan)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        # the second run's console pid now names a process younger than the run
        with sqlite3.connect(db) as con:
            con.execute("UPDATE plan_runs SET console_pid=?, started_unix_s=started_unix_s-600"
                        " WHERE id=?", [sleeper.pid, reused])
        listed = devicelab("plan", "runs", "--db", str(db), "--json")
        assert listed.returncode == 0, listed.stderr
        status = {r["id"]: r["status"] for r in json.loads(listed.stdout)}
        assert status == {live: "running", reused: "interrupted"}
    finally:
        sleeper.kill()
        sleeper.wait(10)
    with SessionStore(db, readonly=True) as st:
        again = get_plan_run(st, live)
    assert again is not None and again["status"] == "running"
