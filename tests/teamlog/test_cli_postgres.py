"""Every ``devicelab sessions`` command and ``plan run`` with ``--db postgresql://…``.

Two real runs are recorded on the server; the same sessions pulled into a SQLite
file must read the same through every command (one store code, two engines: a
figure that differs is a bug in one of them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers.postgres import PgDatabase

from teamlog.conftest import PKG, VIDEO, dl, one_error_line, run_args

ROOT = Path(__file__).resolve().parents[2]
PKG8 = ROOT / "resources" / "packages" / "digits-cnn-int8"
TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def team(postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server log with two runs (fp32, int8), and a SQLite copy pulled from it."""
    d = tmp_path_factory.mktemp("team")
    db = PgDatabase(postgres, postgres.create_database("cli"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSFILE", str(postgres.pgpass))
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        for pkg in (PKG, PKG8):
            res = dl(*run_args(db.url, 150, "--truth", str(TRUTH), "--note",
                               "night #nightly", "--tag", "smoke", package=pkg))
            assert res.returncode == 0, res.stderr
        local = d / "pulled.db"
        res = dl("sessions", "pull", "--from", db.url, "--db", str(local))
        assert res.returncode == 0 and "2 copied" in res.stdout, res.stderr
    yield {"url": db.url, "db": db, "local": str(local), "dir": d}
    postgres.drop_database(db.name)


@pytest.fixture(autouse=True)
def _pgpass(postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSFILE", str(postgres.pgpass))


def both(team: dict[str, Any], *args: str) -> tuple[str, str]:
    """stdout of one command on the server log and on the pulled SQLite file."""
    out = []
    for db in (team["url"], team["local"]):
        res = dl(*args, "--db", db)
        assert res.returncode == 0, res.stderr
        assert "upgraded" not in res.stderr
        out.append(res.stdout)
    return out[0], out[1]


def test_list_filters_and_pages_the_same(team: dict[str, Any]) -> None:
    pg, sq = both(team, "sessions", "list")
    assert pg == sq and "digits-cnn-int8" in pg and "digits-cnn@" in pg
    for extra in (("--tag", "nightly"), ("--tag", "smoke"), ("--package", "int8"),
                  ("--package", "DIGITS-CNN-INT8"),  # case-insensitive, as on SQLite
                  ("--status", "completed"), ("--limit", "1"), ("--since", "1d"),
                  ("--device", "local")):
        pg, sq = both(team, "sessions", "list", "--json", *extra)
        assert json.loads(pg) == json.loads(sq), extra
    assert len(json.loads(both(team, "sessions", "list", "--json", "--limit", "1")[0])) == 1
    assert json.loads(both(team, "sessions", "list", "--json", "--tag", "nope")[0]) == []


def test_show_by_id_and_uuid_prefix(team: dict[str, Any]) -> None:
    pg, sq = both(team, "sessions", "show", "2")
    assert pg == sq and "digits-cnn-int8" in pg and "accuracy" in pg
    uuid = team["db"].query("SELECT uuid FROM sessions WHERE id = 1")[0][0]
    assert both(team, "sessions", "show", str(uuid)[:8])[0] == both(team, "sessions", "show",
                                                                      "1")[0]
    res = dl("sessions", "show", "99", "--db", team["url"])
    assert res.returncode == 2 and "99" in one_error_line(res)


def test_compare_and_matrix(team: dict[str, Any], tmp_path: Path) -> None:
    pg, sq = both(team, "sessions", "compare", "1", "2", "--json")
    assert json.loads(pg) == json.loads(sq)
    pg, sq = both(team, "sessions", "compare", "1", "2")
    assert pg == sq and "p95" in pg
    res = dl("sessions", "compare", "1", "2", "-o", str(tmp_path / "cmp.html"),
             "--db", team["url"])
    assert res.returncode == 0 and "<html" in (tmp_path / "cmp.html").read_text().lower()
    pg, sq = both(team, "sessions", "matrix", "--json")
    assert json.loads(pg) == json.loads(sq) and pg.count("digits-cnn") >= 2


@pytest.mark.parametrize("fmt", ["csv", "json", "html", "mcap", "bundle"])
def test_export_every_format_the_same(team: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    outs = []
    for name, db in (("pg", team["url"]), ("sq", team["local"])):
        out = tmp_path / f"{name}.{fmt}"
        res = dl("sessions", "export", "1", "--format", fmt, "-o", str(out), "--db", db)
        assert res.returncode == 0, res.stderr
        outs.append(out)
    if fmt == "csv":
        assert outs[0].read_text() == outs[1].read_text()
        assert "e2e_ms" in outs[0].read_text().splitlines()[0]
    elif fmt == "json":
        a, b = (json.loads(p.read_text()) for p in outs)
        a.pop("exported_at"), b.pop("exported_at")
        assert a == b and len(a["frames"]) == 150
    else:
        assert outs[0].stat().st_size > 1000 and outs[1].stat().st_size > 1000


def test_bookmark_replay_delete_on_the_server(team: dict[str, Any]) -> None:
    url = team["url"]
    res = dl("sessions", "bookmark", "1", "--frame", "7", "--note", "odd seven", "--db", url)
    assert res.returncode == 0, res.stderr
    assert "frame 7: odd seven" in dl("sessions", "show", "1", "--db", url).stdout
    res = dl("sessions", "replay", "1", "--quiet", "--db", url)
    assert res.returncode == 0, res.stderr
    (new_id, replay_of, frames), = team["db"].query(
        "SELECT id, replay_of, frames_received FROM sessions ORDER BY id DESC LIMIT 1")
    assert replay_of == 1 and frames == 150
    assert team["db"].query("SELECT count(*) FROM frames WHERE session_id = %s",
                            (new_id,)) == [(150,)]
    res = dl("sessions", "delete", str(new_id), "--yes", "--db", url)
    assert res.returncode == 0, res.stderr
    for table in ("sessions", "frames", "telemetry", "events"):
        col = "id" if table == "sessions" else "session_id"
        assert team["db"].query(f"SELECT count(*) FROM {table} WHERE {col} = %s",
                                (new_id,)) == [(0,)]
    res = dl("sessions", "delete", str(new_id), "--yes", "--db", url)
    assert res.returncode == 2 and one_error_line(res)


def test_plan_run_records_on_the_server(team: dict[str, Any], tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(f'''name = "team-smoke"
devices = ["local"]
packages = ["{PKG}", "{PKG8}"]
inputs = [{{ path = "{VIDEO}", truth = "{TRUTH}" }}]
[run]
frames = 40
[budgets]
p95 = "10s"
''')
    url = team["url"]
    junit = tmp_path / "report.xml"
    res = dl("plan", "run", str(plan), "--db", url, "--junit", str(junit), "--quiet")
    assert res.returncode == 0, res.stdout + res.stderr
    (run_id, status, code), = team["db"].query(
        "SELECT id, status, exit_code FROM plan_runs ORDER BY id DESC LIMIT 1")
    assert (status, code) == ("passed", 0)
    cells = team["db"].query("SELECT verdict, session_id FROM plan_cells WHERE plan_run_id = %s "
                             "ORDER BY idx", (run_id,))
    assert [v for v, _s in cells] == ["pass", "pass"]
    for _v, sid in cells:
        assert team["db"].query("SELECT status, plan_run_id, frames_received FROM sessions "
                                "WHERE id = %s", (sid,)) == [("completed", run_id, 40)]
    runs = dl("plan", "runs", "--db", url)
    assert runs.returncode == 0 and "team-smoke" in runs.stdout
    show = dl("plan", "show", str(run_id), "--db", url)
    assert show.returncode == 0 and "pass" in show.stdout
    with psycopg.connect(team["db"].admin_url) as c:  # the view outside tools read
        rows = c.execute("SELECT package_name, e2e_p95_ms FROM sessions_overview "
                         "WHERE plan_run_id = %s", [run_id]).fetchall()
    assert len(rows) == 2 and all(p95 and p95 > 0 for _n, p95 in rows)
    assert os.environ["PGPASSFILE"]
