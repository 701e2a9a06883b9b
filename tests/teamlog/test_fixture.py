"""The PostgreSQL fixture itself: a real server, a password login that is really checked."""

from __future__ import annotations

import psycopg
import pytest


def test_role_logs_in_with_the_pgpass_password_only(pg_db, monkeypatch):
    with psycopg.connect(pg_db.url) as c:  # password from PGPASSFILE
        assert c.execute("SELECT current_user, current_database()").fetchone() == (
            pg_db.server.role, pg_db.name)
    monkeypatch.delenv("PGPASSFILE")
    monkeypatch.setenv("HOME", str(pg_db.server.root / "nohome"))
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(pg_db.url, connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_db.server.url(pg_db.name, password="wrong"), connect_timeout=5)


def test_each_test_has_a_fresh_database(pg_db):
    rows = pg_db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    assert rows == [(0,)]
