"""A real PostgreSQL 15 server on 127.0.0.1 for tests and benchmarks: "the team's log".

:func:`start_postgres` runs Debian's ``initdb`` and then ``postgres`` itself (not
``pg_ctl``: the server is a child of the caller, with a parent-death signal, so a
test run killed hard does not leave it behind) as the ``postgres`` user — the
server refuses to run as root — on a free port, with its data and its socket in a
temporary folder that user owns. :meth:`PgServer.stop` and :meth:`PgServer.start`
stop and start the very same server (same data, same port): what a test of "the
server went away mid-run" needs.

Logins: over the Unix socket and for the ``postgres`` superuser on TCP, ``trust``
(the fixtures' own administration); every other role on TCP must give its password
(``scram-sha-256``), so the ``devicelab`` role the tests record as is a real
password login — the password is in a ``pgpass`` file (libpq's own convention)
and a wrong one is really refused.

Nothing here fakes PostgreSQL; when it is missing :func:`postgres_missing_reason`
says why and :func:`serve_for_tests` skips (locally) or fails (``CI=true``).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BINDIR = Path(os.environ.get("DEVICELAB_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
#: the role tests record as (a password login over TCP)
ROLE = "devicelab"
ROLE_PASSWORD = "lab-Pw-" + uuid.uuid4().hex[:12]  # a fresh secret per test run

_HBA = """\
# written by tests/helpers/postgres.py
local   all   all                    trust
host    all   postgres  127.0.0.1/32  trust
host    all   all       127.0.0.1/32  scram-sha-256
"""
#: fast and small: a test server holds nothing worth an fsync (the machine does not crash
#: under it). Commits stay synchronous: with ``synchronous_commit=off`` a server killed
#: mid-run (the outage tests) forgets transactions it already confirmed.
_COMMON = ("max_connections=60", "log_min_messages=warning", "log_connections=off",
           "password_encryption=scram-sha-256")
_SETTINGS = ("fsync=off", "full_page_writes=off", "shared_buffers=32MB", *_COMMON)
#: PostgreSQL's own durability defaults (benchmarks measure a server as a lab runs it)
DURABLE_SETTINGS = _COMMON
_PR_SET_PDEATHSIG = 1


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _as_root() -> bool:
    return os.geteuid() == 0


def postgres_missing_reason() -> str | None:
    """Why no PostgreSQL server can run here (None when it can)."""
    for tool in ("initdb", "postgres"):
        if not os.access(BINDIR / tool, os.X_OK):
            return (f"{BINDIR / tool} is not installed (Debian/Ubuntu: apt-get install "
                    "postgresql; scripts/setup does it as root)")
    if _as_root():
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "there is no 'postgres' user to run the server as (it refuses root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) of ``postgres`` when we are root (the server refuses root), else None."""
    if not _as_root():
        return None
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def _die_with_parent() -> None:
    """In the child, after the switch to ``postgres``: SIGINT (a fast shutdown) when the
    test process dies, however it dies (a credential change clears the setting, so it is
    set here, last)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


class PostgresError(Exception):
    pass


@dataclass
class PgServer:
    """A PostgreSQL server of the tests, and how to reach it."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    role: str = ROLE
    password: str = ROLE_PASSWORD
    settings: tuple[str, ...] = _SETTINGS
    _made: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def pgpass(self) -> Path:
        """A pgpass file with the role's password (``PGPASSFILE``)."""
        return self.root / "pgpass"

    def url(self, dbname: str, *, user: str | None = None, password: str | None = None) -> str:
        who = user or self.role
        if password is not None:
            who += f":{password}"
        return f"postgresql://{who}@{self.host}:{self.port}/{dbname}"

    def admin_url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    # -- life -------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start the server (again) on its port; wait until it takes connections."""
        if self.running:
            return
        ids = _server_user()
        cmd = [str(BINDIR / "postgres"), "-D", str(self.data), "-p", str(self.port),
               "-k", str(self.socket_dir), "-c", f"listen_addresses={self.host}"]
        for s in self.settings:
            cmd += ["-c", s]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                user=ids[0] if ids else None, group=ids[1] if ids else None,
                extra_groups=[] if ids else None, preexec_fn=_die_with_parent,
                cwd=self.root)
        try:
            from helpers.procs import allow_pid
        except ImportError:  # a benchmark, not a test: no leftover check to tell
            pass
        else:
            allow_pid(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PostgresError(f"postgres exited ({self.proc.returncode}): "
                                    f"{self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise PostgresError(f"postgres did not answer within {timeout:.0f} s: {self.log_tail()}")

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.admin_url(), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (SIGINT: sessions are ended, clean shutdown) or
        ``immediate`` (SIGQUIT: as a crash looks to a client)."""
        if self.proc is None:
            return
        sig = signal.SIGQUIT if mode == "immediate" else signal.SIGINT
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -- databases --------------------------------------------------------------------
    def admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.admin_url(dbname), autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database owned by :attr:`role`; its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{name}" OWNER "{self.role}"')
        self._made.append(name)
        return name

    def drop_database(self, name: str) -> None:
        if self.running:
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres(root: Path | None = None, *, port: int | None = None,
                   durable: bool = False) -> PgServer:
    """initdb and start a private server (under ``root``, default a new temp folder);
    ``durable``: with PostgreSQL's own fsync/WAL defaults (for benchmarks). Raise
    :class:`PostgresError` if it cannot run."""
    reason = postgres_missing_reason()
    if reason:
        raise PostgresError(reason)
    # pytest's tmp folders are root's, mode 0700: postgres could not enter them
    root = Path(tempfile.mkdtemp(prefix="dl-pg-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    srv = PgServer(root, port or free_port(),
                   settings=DURABLE_SETTINGS if durable else _SETTINGS)
    srv.socket_dir.mkdir(exist_ok=True)
    ids = _server_user()
    if ids:
        for p in (root, srv.socket_dir):
            os.chown(p, *ids)
    os.chmod(root, 0o755)
    pwfile = root / "superuser.pw"
    pwfile.write_text("unused-superuser-password\n")  # trust logins for it; a password anyway
    if ids:
        os.chown(pwfile, *ids)
    res = subprocess.run([str(BINDIR / "initdb"), "-D", str(srv.data), "-U", "postgres",
                          "--pwfile", str(pwfile), "-A", "trust", "-E", "UTF8",
                          "--locale", "C.UTF-8", "--no-sync"],
                         capture_output=True, text=True, timeout=300, cwd=root,
                         user=ids[0] if ids else None, group=ids[1] if ids else None,
                         extra_groups=[] if ids else None)
    pwfile.unlink()
    if res.returncode != 0:
        raise PostgresError(f"initdb failed: {(res.stderr or res.stdout).strip()[-500:]}")
    (srv.data / "pg_hba.conf").write_text(_HBA)
    try:
        srv.start()
        srv.admin(f"CREATE ROLE \"{srv.role}\" LOGIN CREATEDB PASSWORD '{srv.password}'")
    except BaseException:
        srv.destroy()
        raise
    srv.pgpass.write_text(f"{srv.host}:{srv.port}:*:{srv.role}:{srv.password}\n")
    os.chmod(srv.pgpass, 0o600)  # libpq ignores a pgpass others can read
    return srv


def unavailable(what: str, reason: str) -> None:
    """Skip locally; under CI=true a missing server is a failure, not a skip."""
    import pytest

    if _in_ci():
        pytest.fail(f"CI=true: {what} must run, but {reason}")
    pytest.skip(f"{what} need a real PostgreSQL server: {reason}")


def serve_for_tests(what: str = "the PostgreSQL tests") -> Iterator[PgServer]:
    """The body of a session-scoped ``postgres`` fixture: a running server, destroyed
    afterwards however the tests ended."""
    reason = postgres_missing_reason()
    if reason:
        unavailable(what, reason)
    try:
        srv = start_postgres()
    except PostgresError as exc:
        unavailable(what, str(exc))
        raise
    try:
        yield srv
    finally:
        srv.destroy()


@dataclass(frozen=True)
class PgDatabase:
    """One test's own database on the shared server."""

    server: PgServer
    name: str

    @property
    def url(self) -> str:
        """The log URL a user would type: no password (it comes from PGPASSFILE)."""
        return self.server.url(self.name)

    @property
    def admin_url(self) -> str:
        return self.server.admin_url(self.name)

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as c:
            cur = c.execute(sql, params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []
