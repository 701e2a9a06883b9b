"""Test configuration shared by every test directory.

- Qt runs offscreen (set here, not by hand: the pytest-qt ``qapp`` fixture
  aborts without a display otherwise).
- Every test gets its own DEVICELAB_HOME, so settings, caches and the session
  log of one test never leak into another or into the user's real folders.
- A test that leaves a child process (an agent!) or a non-daemon thread running
  fails: the product promises agents never outlive their run.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("DEVICELAB_DB", None)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers.procs import allowed_pids, child_pids  # noqa: E402

RESOURCES = ROOT / "resources"
DEMO_PACKAGE = RESOURCES / "packages" / "digits-cnn"
DEMO_PACKAGE_INT8 = RESOURCES / "packages" / "digits-cnn-int8"
DEMO_VIDEO = RESOURCES / "recordings" / "digits-demo.avi"
DEMO_TRUTH = RESOURCES / "recordings" / "digits-demo.truth.csv"


@pytest.fixture(autouse=True)
def devicelab_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> Path:
    home = tmp_path_factory.mktemp("devicelab-home")
    monkeypatch.setenv("DEVICELAB_HOME", str(home))
    monkeypatch.delenv("DEVICELAB_DB", raising=False)
    return home


@pytest.fixture(autouse=True)
def _no_leftovers(request: pytest.FixtureRequest):
    before_threads = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5.0
    while True:
        kids = [p for p in child_pids() if p not in allowed_pids()]
        threads = [t for t in threading.enumerate()
                   if t.ident not in before_threads and t.is_alive() and not t.daemon]
        if not kids and not threads:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    msgs = []
    if kids:
        msgs.append(f"child processes still running after the test: {kids}")
    if threads:
        msgs.append(f"threads still running after the test: {[t.name for t in threads]}")
    pytest.fail("; ".join(msgs))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture(scope="session")
def demo_package() -> Path:
    assert DEMO_PACKAGE.is_dir(), "resources/packages/digits-cnn missing (resources/BUILD.md)"
    return DEMO_PACKAGE


@pytest.fixture(scope="session")
def demo_video() -> Path:
    assert DEMO_VIDEO.is_file(), "resources/recordings/digits-demo.avi is missing"
    return DEMO_VIDEO


# -- a real PostgreSQL server for the team-log tests (tests/helpers/postgres.py) -------
@pytest.fixture(scope="session")
def postgres():
    """One server for the whole run, started on first use, destroyed after; skipped
    locally when PostgreSQL is missing, a failure under CI=true."""
    from helpers.postgres import serve_for_tests

    yield from serve_for_tests()


@pytest.fixture
def pg_db(postgres, monkeypatch: pytest.MonkeyPatch):
    """A fresh database of this test's own (dropped after); PGPASSFILE holds the role's
    password, so ``pg_db.url`` carries none — as a user would set it up."""
    from helpers.postgres import PgDatabase

    monkeypatch.setenv("PGPASSFILE", str(postgres.pgpass))
    db = PgDatabase(postgres, postgres.create_database())
    yield db
    postgres.drop_database(db.name)
