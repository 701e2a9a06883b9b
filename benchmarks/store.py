#!/usr/bin/env python3
"""Frame rows/s into the session log, SQLite and PostgreSQL, each against its raw ceiling,
and session-list latency with 10 000 sessions on both.

    .venv/bin/python benchmarks/store.py                    # starts its own PostgreSQL
    .venv/bin/python benchmarks/store.py --pg postgresql://user@host:port/db

- SQLite: the store's own path (``insert_batch``: one transaction per batch, as the
  recorder writes) vs bare ``executemany`` of the same rows into the same table.
- PostgreSQL: the store's path (``COPY`` inside a transaction, the frames table with its
  key) vs bare ``COPY`` of the same rows into the same table.
- Listing: ``sessions(limit=50)`` (the first page the Sessions tab and ``sessions list``
  show) and a page deep inside, with 10 000 sessions in the log.

Targets (issue 16): store >= 0.8 x raw on both engines; PostgreSQL >= 150 000 frame
rows/s here. Figures print as the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from console.core.records import DeviceFacts, InputFacts, NewSession, PackageFacts  # noqa: E402
from console.core.store import FRAME_COLUMNS, frame_row  # noqa: E402
from console.core.store.target import open_store  # noqa: E402

BATCH = 2500  # ~ what the recorder flushes every 0.25 s at 10 000 frames/s


def _rows(n: int) -> list[tuple[object, ...]]:
    return [frame_row(i, 1.7e9 + i / 1000, 0.11, 0.52, 0.08, 0.71, {"top": [[i % 10, 0.93]]},
                      read_ms=0.3) for i in range(n)]


def _new(k: int = 0) -> NewSession:
    return NewSession(DeviceFacts("local", "local", f"dev{k % 7}"),
                      PackageFacts(f"pkg{k % 3}", "1.0.0"), InputFacts("video", "clip.avi"),
                      {"fps": 30}, None, "bench", 1, started_unix_s=1.7e9 + k)


def bench_store(url_or_path: str, rows: list[tuple[object, ...]]) -> float:
    with open_store(url_or_path) as st:
        sid = st.create_session(_new())
        t0 = time.perf_counter()
        for k in range(0, len(rows), BATCH):
            st.insert_batch(sid, rows[k:k + BATCH], [], [], frames_received=k + BATCH)
        dt = time.perf_counter() - t0
        st.delete_session(sid)
    return len(rows) / dt


def bench_sqlite_raw(path: str, rows: list[tuple[object, ...]]) -> float:
    with open_store(path) as st:  # the schema, then a bare connection
        sid = st.create_session(_new())
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA synchronous=NORMAL")
    sql = (f"INSERT INTO frames (session_id, {', '.join(FRAME_COLUMNS)}) VALUES "
           f"({', '.join('?' * (len(FRAME_COLUMNS) + 1))})")
    t0 = time.perf_counter()
    for k in range(0, len(rows), BATCH):
        c.execute("BEGIN")
        c.executemany(sql, [(sid, *r) for r in rows[k:k + BATCH]])
        c.execute("COMMIT")
    dt = time.perf_counter() - t0
    c.execute("DELETE FROM frames WHERE session_id=?", [sid])
    c.close()
    return len(rows) / dt


def bench_pg_raw(url: str, rows: list[tuple[object, ...]]) -> float:
    import psycopg

    with open_store(url) as st:
        sid = st.create_session(_new())
    cols = ", ".join(("session_id", *FRAME_COLUMNS))
    with psycopg.connect(url, autocommit=True) as c:
        t0 = time.perf_counter()
        for k in range(0, len(rows), BATCH):
            c.execute("BEGIN")
            with c.cursor() as cur, cur.copy(f"COPY frames ({cols}) FROM STDIN") as cp:
                for r in rows[k:k + BATCH]:
                    cp.write_row((sid, *r))
            c.execute("COMMIT")
        dt = time.perf_counter() - t0
        c.execute("DELETE FROM frames WHERE session_id=%s", [sid])
    return len(rows) / dt


def bench_listing(url_or_path: str, n: int = 10_000) -> tuple[float, float]:
    with open_store(url_or_path) as st:
        have = st.session_count()
        with st.transaction():
            for k in range(have, n):
                from console.core.records import new_session_columns

                row = {**new_session_columns(_new(k)), "uuid": f"{k:032x}",
                       "created_unix_s": 1.7e9 + k, "status": "completed"}
                st.insert_session_row(row, in_transaction=True)
        times_first, times_deep = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            st.sessions(limit=50)
            times_first.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            st.sessions(limit=50, offset=n - 100)
            times_deep.append(time.perf_counter() - t0)
    return statistics.median(times_first) * 1e3, statistics.median(times_deep) * 1e3


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def start_postgres(tmp: Path) -> tuple[str, Path]:
    bindir = Path("/usr/lib/postgresql/15/bin")
    if not (bindir / "initdb").exists():
        raise SystemExit("PostgreSQL 15 is not installed (apt-get install postgresql), or pass "
                         "--pg URL")
    data = tmp / "pg"
    data.mkdir()
    shutil.chown(tmp, "postgres")
    shutil.chown(data, "postgres")
    run = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*run, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres"], check=True, capture_output=True)
    port = _free_port()
    subprocess.run([*run, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                    str(tmp / "pg.log"), "-o",
                    f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    return f"postgresql://postgres@127.0.0.1:{port}/bench", data


def stop_postgres(data: Path) -> None:
    run = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*run, "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(data), "-m", "fast",
                    "stop"], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", metavar="URL", help="an existing server (default: start one)")
    args = ap.parse_args()
    rows = _rows(args.frames)
    tmp = Path(tempfile.mkdtemp(prefix="dl-bench-store-"))
    data = None
    try:
        url = args.pg
        if url is None:
            url, data = start_postgres(tmp)
        db = str(tmp / "sessions.db")
        res: dict[str, list[float]] = {k: [] for k in ("sqlite", "sqlite_raw", "pg", "pg_raw")}
        for _ in range(args.repeat):
            res["sqlite_raw"].append(bench_sqlite_raw(db, rows))
            res["sqlite"].append(bench_store(db, rows))
            res["pg_raw"].append(bench_pg_raw(url, rows))
            res["pg"].append(bench_store(url, rows))
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"frames: {args.frames} rows in batches of {BATCH}, median of {args.repeat}")
        print(f"  SQLite      store {med['sqlite']:>10,.0f} rows/s   raw executemany "
              f"{med['sqlite_raw']:>10,.0f} rows/s   ratio {med['sqlite'] / med['sqlite_raw']:.2f}"
              "   (target >= 0.8)")
        print(f"  PostgreSQL  store {med['pg']:>10,.0f} rows/s   raw COPY        "
              f"{med['pg_raw']:>10,.0f} rows/s   ratio {med['pg'] / med['pg_raw']:.2f}"
              "   (target >= 0.8; >= 150 000 rows/s)")
        for name, target in (("SQLite", db), ("PostgreSQL", url)):
            first, deep = bench_listing(target)
            print(f"  {name:<11} list 10 000 sessions: first page {first:.1f} ms, a page at "
                  f"offset 9 900 {deep:.1f} ms")
        print(f"load average while measuring: {os.getloadavg()[0]:.1f}")
    finally:
        if data is not None:
            stop_postgres(data)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
