#!/usr/bin/env python3
"""Frame rows/s into the session log, SQLite and PostgreSQL, each against its raw ceiling,
and session-list latency with 10 000 sessions on both.

    .venv/bin/python benchmarks/store.py                 # starts its own PostgreSQL 15
    .venv/bin/python benchmarks/store.py --profile       # + where PostgreSQL's time goes
    .venv/bin/python benchmarks/store.py --pg postgresql://user@host:port/db

- SQLite: the store's own path (``insert_batch``: one transaction per batch, as the
  recorder writes) vs bare ``executemany`` of the same rows into the same table.
- PostgreSQL: the store's path (binary ``COPY`` inside a transaction, the frames table
  with its key and its session check) vs bare ``COPY`` of the same rows into the same
  table, in text and in binary (the ratio is to the faster one).
- Listing: ``sessions(limit=50)`` (the first page the Sessions tab and ``sessions list``
  show) and a page deep inside, with 10 000 sessions in the log.
- ``--profile``: PostgreSQL bare COPY variants — text vs binary, psycopg's ``write_row``
  vs a buffer built in Python, batch sizes, and the frames table with the per-row
  foreign key of schema v4 vs the per-statement check of v5.

The machine is shared and loaded, so each PostgreSQL figure also prints the CPU it
took: the client (this process) and the server (its backend process, read from
/proc when the server is local) in rows per CPU-second — figures a busy neighbour
moves much less than wall-clock rows/s. Medians of ``--repeat`` runs.

Targets (issue 16): store >= 0.8 x raw on both engines; PostgreSQL >= 150 000 frame
rows/s here.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from console.core.records import DeviceFacts, InputFacts, NewSession, PackageFacts  # noqa: E402
from console.core.store import FRAME_COLUMNS, frame_row  # noqa: E402
from console.core.store.target import open_store  # noqa: E402

BATCH = 2500  # ~ what the recorder flushes every 0.25 s at 10 000 frames/s
Rows = list[tuple[Any, ...]]
_COLS = ", ".join(("session_id", *FRAME_COLUMNS))
_TYPES = ["int8", "int8", "float8", "float8", "float8", "float8", "float8", "int8", "float8",
          "text", "float8"]


def _rows(n: int) -> Rows:
    return [frame_row(i, 1.7e9 + i / 1000, 0.11, 0.52, 0.08, 0.71, {"top": [[i % 10, 0.93]]},
                      read_ms=0.3) for i in range(n)]


def _new(k: int = 0) -> NewSession:
    return NewSession(DeviceFacts("local", "local", f"dev{k % 7}"),
                      PackageFacts(f"pkg{k % 3}", "1.0.0"), InputFacts("video", "clip.avi"),
                      {"fps": 30}, None, "bench", 1, started_unix_s=1.7e9 + k)


@dataclass
class Figure:
    """One measurement: wall seconds, and the CPU seconds of client and server."""

    rows: int
    wall: float
    client: float
    server: float | None

    @property
    def rate(self) -> float:
        return self.rows / self.wall


def _median(figs: Sequence[Figure]) -> Figure:
    srv = [f.server for f in figs if f.server is not None]
    return Figure(figs[0].rows, statistics.median(f.wall for f in figs),
                  statistics.median(f.client for f in figs),
                  statistics.median(srv) if len(srv) == len(figs) else None)


def _backend_cpu(pid: int | None) -> float | None:
    """CPU seconds of a local server backend (None when it is not on this machine)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            f = fh.read().decode().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _timed(pid: int | None, n: int, fn: Callable[[], None]) -> Figure:
    s0, c0, t0 = _backend_cpu(pid), time.process_time(), time.perf_counter()
    fn()
    wall, client, s1 = time.perf_counter() - t0, time.process_time() - c0, _backend_cpu(pid)
    return Figure(n, wall, client, None if s0 is None or s1 is None else s1 - s0)


def _local_pid(conn: Any, url: str) -> int | None:
    host = conn.info.host
    return conn.info.backend_pid if host in ("127.0.0.1", "localhost", "::1") or \
        host.startswith("/") else None


# -- the store's path, both engines ----------------------------------------------------------
def bench_store(target: str, rows: Rows) -> Figure:
    with open_store(target) as st:
        sid = st.create_session(_new())
        conn = getattr(st, "conn", None)
        pid = _local_pid(conn, target) if "://" in target and conn is not None else None

        def run() -> None:
            for k in range(0, len(rows), BATCH):
                st.insert_batch(sid, rows[k:k + BATCH], [], [], frames_received=k + BATCH)

        fig = _timed(pid, len(rows), run)
        st.delete_session(sid)
    return fig


def bench_sqlite_raw(path: str, rows: Rows) -> Figure:
    with open_store(path) as st:  # the schema, then a bare connection
        sid = st.create_session(_new())
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO frames ({_COLS}) VALUES ({', '.join('?' * (len(FRAME_COLUMNS) + 1))})"

    def run() -> None:
        for k in range(0, len(rows), BATCH):
            c.execute("BEGIN")
            c.executemany(sql, [(sid, *r) for r in rows[k:k + BATCH]])
            c.execute("COMMIT")

    fig = _timed(None, len(rows), run)
    c.execute("DELETE FROM frames WHERE session_id=?", [sid])
    c.close()
    return fig


# -- bare COPY variants -------------------------------------------------------------------
def _copy_text(cur: Any, sid: int, rows: Rows, table: str) -> None:
    with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row((sid, *r))


def _copy_binary(cur: Any, sid: int, rows: Rows, table: str) -> None:
    with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(_TYPES)
        write = cp.write_row
        for r in rows:
            write((sid, *r))


def _esc(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return repr(v)


def _copy_text_buffer(cur: Any, sid: int, rows: Rows, table: str) -> None:
    s = f"{sid}\t"
    buf = "".join(s + "\t".join([_esc(v) for v in r]) + "\n" for r in rows).encode()
    with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN") as cp:
        cp.write(buf)


_HEAD = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_FIXED = struct.Struct(">hiqiqidididididiqid")  # count, sid, i, ts, 4 stages, top1, score


def _copy_binary_buffer(cur: Any, sid: int, rows: Rows, table: str) -> None:
    """The binary COPY stream packed in Python (rows with every field set, as here)."""
    parts = [_HEAD]
    add, pack, tail = parts.append, _FIXED.pack, struct.Struct(">i").pack
    for i, ts, pre, inf, post, e2e, top1, score, out, read in rows:
        ob = out.encode()
        add(pack(11, 8, sid, 8, i, 8, ts, 8, pre, 8, inf, 8, post, 8, e2e, 8, top1, 8, score))
        add(tail(len(ob)) + ob + b"\x00\x00\x00\x08" + struct.pack(">d", read))
    add(b"\xff\xff")
    with cur.copy(f"COPY {table} ({_COLS}) FROM STDIN (FORMAT BINARY)") as cp:
        cp.write(b"".join(parts))


COPY_VARIANTS: dict[str, Callable[[Any, int, Rows, str], None]] = {
    "text write_row": _copy_text, "binary write_row": _copy_binary,
    "text, buffer built in Python": _copy_text_buffer,
    "binary, buffer built in Python": _copy_binary_buffer}


def bench_pg_raw(url: str, rows: Rows, variant: str = "binary write_row",
                 batch: int = BATCH, table: str = "frames") -> Figure:
    import psycopg

    with open_store(url) as st:
        sid = st.create_session(_new())
    copy = COPY_VARIANTS[variant]
    with psycopg.connect(url, autocommit=True) as c:
        pid = _local_pid(c, url)

        def run() -> None:
            for k in range(0, len(rows), batch):
                c.execute("BEGIN")
                with c.cursor() as cur:
                    copy(cur, sid, rows[k:k + batch], table)
                c.execute("COMMIT")

        fig = _timed(pid, len(rows), run)
        c.execute(f"DELETE FROM {table} WHERE session_id=%s", [sid])  # type: ignore[arg-type]
        c.execute("DELETE FROM sessions WHERE id=%s", [sid])
        c.execute(f"VACUUM {table}")  # type: ignore[arg-type]
    return fig


def bench_listing(target: str, n: int = 10_000) -> tuple[float, float]:
    from console.core.records import new_session_columns

    with open_store(target) as st:
        have = st.session_count()
        with st.transaction():
            for k in range(have, n):
                row = {**new_session_columns(_new(k)), "uuid": f"{k:032x}",
                       "created_unix_s": 1.7e9 + k, "status": "completed"}
                st.insert_session_row(row, in_transaction=True)
        first, deep = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            st.sessions(limit=50)
            first.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            st.sessions(limit=50, offset=n - 100)
            deep.append(time.perf_counter() - t0)
    return statistics.median(first) * 1e3, statistics.median(deep) * 1e3


# -- printing ----------------------------------------------------------------------------------
def _cpu(f: Figure) -> str:
    srv = f"server {f.rows / f.server:>9,.0f}" if f.server else "server         ?"
    return f"client {f.rows / f.client:>10,.0f}  {srv} rows/CPU-s"


def _line(name: str, f: Figure) -> str:
    return f"    {name:<44} {f.rate:>9,.0f} rows/s   {_cpu(f)}"


def profile(url: str, rows: Rows, repeat: int) -> None:
    import psycopg

    def med(**kw: Any) -> Figure:
        return _median([bench_pg_raw(url, rows, **kw) for _ in range(repeat)])

    print("  PostgreSQL bare COPY, where the time goes (batches of 2 500 unless said):")
    for variant in COPY_VARIANTS:
        print(_line(variant, med(variant=variant)), flush=True)
    for b in (500, 10_000, 50_000):
        print(_line(f"binary write_row, batches of {b:,}", med(batch=b)), flush=True)
    with psycopg.connect(url, autocommit=True) as c:  # the frames table as schema v4 had it
        c.execute("CREATE TABLE IF NOT EXISTS frames_v4 (LIKE frames INCLUDING ALL)")
        c.execute("ALTER TABLE frames_v4 DROP CONSTRAINT IF EXISTS frames_v4_session_fk")
        c.execute("ALTER TABLE frames_v4 ADD CONSTRAINT frames_v4_session_fk FOREIGN KEY "
                  "(session_id) REFERENCES sessions(id) ON DELETE CASCADE")
    for variant in ("text write_row", "binary write_row"):
        print(_line(f"{variant}, per-row foreign key (v4)",
                    med(variant=variant, table="frames_v4")), flush=True)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP TABLE frames_v4")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", metavar="URL", help="an existing server (default: start one)")
    ap.add_argument("--profile", action="store_true",
                    help="also print where PostgreSQL's time goes (bare COPY variants)")
    args = ap.parse_args()
    rows = _rows(args.frames)
    tmp = Path(tempfile.mkdtemp(prefix="dl-bench-store-"))
    os.environ.setdefault("DEVICELAB_HOME", str(tmp / "home"))
    srv = None
    try:
        url = args.pg
        if url is None:
            from helpers.postgres import start_postgres

            srv = start_postgres(durable=True)  # fsync on, as a lab's server runs
            url = srv.admin_url("bench")
        db = str(tmp / "sessions.db")
        res: dict[str, list[Figure]] = {k: [] for k in ("sqlite", "sqlite_raw", "pg",
                                                        "pg_raw_text", "pg_raw_binary")}
        runs: list[tuple[str, Callable[[], Figure]]] = [
            ("sqlite_raw", lambda: bench_sqlite_raw(db, rows)),
            ("sqlite", lambda: bench_store(db, rows)),
            ("pg_raw_text", lambda: bench_pg_raw(url, rows, "text write_row")),
            ("pg_raw_binary", lambda: bench_pg_raw(url, rows, "binary write_row")),
            ("pg", lambda: bench_store(url, rows))]
        for k in range(args.repeat):  # each repeat in another order: no one always goes last
            for name, run in runs[k % len(runs):] + runs[:k % len(runs)]:
                res[name].append(run())
        m = {k: _median(v) for k, v in res.items()}
        raw = max(m["pg_raw_text"], m["pg_raw_binary"], key=lambda f: f.rate)
        print(f"frames: {args.frames:,} rows in batches of {BATCH:,}, median of {args.repeat}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"  SQLite      store {m['sqlite'].rate:>9,.0f} rows/s   raw executemany "
              f"{m['sqlite_raw'].rate:>9,.0f} rows/s   ratio "
              f"{m['sqlite'].rate / m['sqlite_raw'].rate:.2f}   (target >= 0.8)")
        print(f"  PostgreSQL  store {m['pg'].rate:>9,.0f} rows/s   raw COPY        "
              f"{raw.rate:>9,.0f} rows/s   ratio {m['pg'].rate / raw.rate:.2f}   "
              "(target >= 0.8; >= 150 000 rows/s)")
        print(_line("store (binary COPY, v5 table)", m["pg"]))
        print(_line("raw text COPY", m["pg_raw_text"]))
        print(_line("raw binary COPY", m["pg_raw_binary"]))
        if args.profile:
            profile(url, rows, args.repeat)
        for name, target in (("SQLite", db), ("PostgreSQL", url)):
            first, deep = bench_listing(target)
            print(f"  {name:<11} list 10 000 sessions: first page {first:.1f} ms, a page at "
                  f"offset 9 900 {deep:.1f} ms")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if srv is not None:
            srv.destroy()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
