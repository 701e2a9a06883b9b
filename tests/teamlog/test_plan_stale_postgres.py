"""A killed console's plan run on the team's PostgreSQL log is found and closed too.

The same fault as tests/plan/test_plan_stale.py, on a real server: a real
``devicelab plan run --db postgresql://…`` is SIGKILLed mid-cell; the server
still says ``running`` (nobody could say otherwise); the next ``devicelab plan
runs`` against the server marks the plan run ``interrupted``, the running cell
``not run`` with its session and every frame it had written, the next cell
``not run``. Recovery on a shared log must also leave another console's live
run alone: its pid is alive on this host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.postgres import PgDatabase
from plan.test_plan_stale import _plan, kill_mid_cell

from console.core.plan import read_plan
from console.core.store.target import open_store
from console.session.plan_log import record_plan_start
from teamlog.conftest import dl

pytestmark = pytest.mark.slow


def test_a_killed_consoles_plan_run_on_postgres_is_closed_by_the_next_console(
        pg_db: PgDatabase, tmp_path: Path) -> None:
    sid, _agent = kill_mid_cell(str(_plan(tmp_path)), pg_db.url)
    # the server as the killed console left it
    assert pg_db.query("SELECT status FROM plan_runs") == [("running",)]
    assert pg_db.query("SELECT idx, verdict, session_id FROM plan_cells ORDER BY idx") == \
        [(0, "pending", sid), (1, "pending", None)]
    written = pg_db.query("SELECT COUNT(*) FROM frames WHERE session_id = %s", (sid,))[0][0]
    assert written > 0

    # another console's run, alive (this process), recorded on the same server
    plan, problems = read_plan(_plan(tmp_path))
    assert plan is not None, problems
    with open_store(pg_db.url) as st:
        live = record_plan_start(st, plan)

    listed = dl("plan", "runs", "--db", pg_db.url, "--json")
    assert listed.returncode == 0, listed.stderr
    status = {r["id"]: r["status"] for r in json.loads(listed.stdout)}
    assert status == {1: "interrupted", live: "running"}, status
    shown = dl("plan", "show", "1", "--db", pg_db.url, "--json")
    assert shown.returncode == 0, shown.stderr
    first, second = json.loads(shown.stdout)["cells"]
    assert (first["verdict"], first["session_id"]) == ("not run", sid)
    assert first["reason"].startswith("the console stopped while this cell ran")
    assert f"{written} frames kept in session {sid}" in first["reason"]
    assert (second["verdict"], second["session_id"]) == ("not run", None)
    assert pg_db.query("SELECT status, frames_received FROM sessions WHERE id = %s", (sid,)) \
        == [("interrupted", written)]
