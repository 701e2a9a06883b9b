"""Logging in to the team's server the libpq way, and refusing in one line.

A wrong password and a server that does not answer each give one line naming
the log (password redacted) and what to do; a password from ``PGPASSFILE`` works
and is never written anywhere: not in the console's log file, its settings, the
session log itself, nor any message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

from console.core.schema import SCHEMA_VERSION
from teamlog.conftest import dl, one_error_line, run_args, secrets_in


def _table_text(pg_db, table: str) -> str:
    return "\n".join(str(r[0]) for r in pg_db.query(f'SELECT t::text FROM "{table}" t'))


def test_pgpass_password_works_and_lands_nowhere(pg_db, devicelab_home: Path) -> None:
    secret = pg_db.server.password
    assert "PGPASSFILE" in os.environ and secret not in pg_db.url
    res = dl(*run_args(pg_db.url, 60))
    assert res.returncode == 0, res.stderr
    assert secret not in res.stdout + res.stderr
    listed = dl("sessions", "list", "--db", pg_db.url)
    assert listed.returncode == 0 and "digits-cnn" in listed.stdout
    assert secret not in listed.stdout + listed.stderr
    assert (devicelab_home / "data" / "logs" / "devicelab.log").is_file()
    assert secrets_in(devicelab_home, secret) == []
    for table in ("sessions", "events", "telemetry"):
        assert secret not in _table_text(pg_db, table)
    assert pg_db.query("SELECT count(*) FROM frames") == [(60,)]


def test_wrong_password_from_pgpass_is_one_line(pg_db, tmp_path: Path, monkeypatch,
                                                devicelab_home: Path) -> None:
    wrong = tmp_path / "pgpass"
    wrong.write_text(f"*:*:*:{pg_db.server.role}:not-the-password\n")
    wrong.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(wrong))
    res = dl("sessions", "list", "--db", pg_db.url)
    assert res.returncode == 2
    line = one_error_line(res)
    assert "refused the login for user devicelab" in line and "pgpass" in line.lower()
    assert pg_db.url in line  # names the log
    assert "not-the-password" not in res.stdout + res.stderr
    res = dl(*run_args(pg_db.url, 10))
    assert res.returncode == 2 and "refused the login" in one_error_line(res)
    assert secrets_in(devicelab_home, "not-the-password") == []


def test_wrong_password_in_the_url_is_redacted_everywhere(pg_db, devicelab_home: Path
                                                          ) -> None:
    url = pg_db.server.url(pg_db.name, password="Hunter2-wrong")
    for args in (("sessions", "list", "--db", url), run_args(url, 10),
                 ("sessions", "push", "--to", url, "--db", str(devicelab_home / "x.db"))):
        res = dl(*args)
        assert res.returncode == 2, res.stderr
        assert "Hunter2-wrong" not in res.stdout + res.stderr
        if args[0] == "sessions" and args[1] == "push":
            assert "no session log at" in one_error_line(res, warnings=1)
            continue
        line = one_error_line(res, warnings=1)  # the warning: a password on the command line
        assert "refused the login" in line and "devicelab:***@" in line
        assert "carries a password" in res.stderr
    assert secrets_in(devicelab_home, "Hunter2-wrong") == []


def test_right_password_in_the_url_works_with_a_warning(pg_db, monkeypatch,
                                                        devicelab_home: Path) -> None:
    monkeypatch.delenv("PGPASSFILE")
    monkeypatch.setenv("HOME", str(devicelab_home))  # no ~/.pgpass to fall back on
    secret = pg_db.server.password
    url = pg_db.server.url(pg_db.name, password=secret)
    res = dl(*run_args(url, 30))
    assert res.returncode == 0, res.stderr
    assert "carries a password" in res.stderr and secret not in res.stdout + res.stderr
    assert secrets_in(devicelab_home, secret) == []
    assert secret not in _table_text(pg_db, "sessions")


def test_unreachable_server_is_one_line(postgres, devicelab_home: Path) -> None:
    from helpers.postgres import free_port

    url = f"postgresql://devicelab:Sekrit-99@127.0.0.1:{free_port()}/nothing"
    for args in (("sessions", "list", "--db", url), run_args(url, 10),
                 ("sessions", "show", "1", "--db", url)):
        res = dl(*args)
        assert res.returncode == 2
        line = one_error_line(res, warnings=1)
        assert "does not answer" in line and "check the server is running" in line
        assert "Sekrit-99" not in res.stdout + res.stderr and "devicelab:***@" in line
    res = dl("sessions", "list", "--db", "postgresql://devicelab@no-such-host.invalid/x")
    assert res.returncode == 2 and "does not answer" in one_error_line(res)
    assert secrets_in(devicelab_home, "Sekrit-99") == []


def test_a_database_is_created_on_first_use(postgres, monkeypatch) -> None:
    monkeypatch.setenv("PGPASSFILE", str(postgres.pgpass))
    name = f"fresh_{os.getpid()}"
    url = postgres.url(name)
    try:
        res = dl(*run_args(url, 20))
        assert res.returncode == 0, res.stderr
        with psycopg.connect(postgres.admin_url(name)) as c:
            assert c.execute("SELECT count(*) FROM frames").fetchone() == (20,)
            assert c.execute("SELECT version FROM devicelab_schema").fetchone() == (SCHEMA_VERSION,)
    finally:
        postgres.drop_database(name)


@pytest.mark.parametrize("sslmode", ["require"])
def test_sslmode_is_passed_to_libpq(pg_db, sslmode: str) -> None:
    """The test server has no TLS: libpq itself must refuse, in one line, no traceback."""
    res = dl("sessions", "list", "--db", f"{pg_db.url}?sslmode={sslmode}")
    assert res.returncode == 2
    assert "SSL" in one_error_line(res)


def test_home_pgpass_and_a_pgservice_entry_work(pg_db, tmp_path: Path, monkeypatch,
                                                devicelab_home: Path) -> None:
    """libpq's own places: ~/.pgpass without PGPASSFILE, and a pg_service.conf entry
    naming host, port, database and user (the URL then names only the service)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").write_text(pg_db.server.pgpass.read_text())
    (home / ".pgpass").chmod(0o600)
    monkeypatch.delenv("PGPASSFILE")
    monkeypatch.setenv("HOME", str(home))
    res = dl(*run_args(pg_db.url, 20))
    assert res.returncode == 0, res.stderr
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[labdb]\nhost=127.0.0.1\nport={pg_db.server.port}\n"
                        f"dbname={pg_db.name}\nuser={pg_db.server.role}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    res = dl("sessions", "list", "--json", "--db", "postgresql://?service=labdb")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) == 1
    monkeypatch.setenv("PGSERVICE", "labdb")
    res = dl("sessions", "show", "1", "--db", "postgresql://")
    assert res.returncode == 0 and "digits-cnn" in res.stdout, res.stderr
    assert secrets_in(devicelab_home, pg_db.server.password) == []
