"""Soak: one long run at full speed on the built-in device, watching for leaks and losses.

The console side runs in this very process (``console.session.run.Run`` in a
thread, recording to a real SQLite file), so "console RSS" is this
process's resident memory; "agent RSS" is the agent subprocess's. Every
``--every`` seconds a row is printed: elapsed time, frames, frame rate over
the interval, console and agent RSS, database size (main file + WAL) and
bytes per 1000 frames.

At the end (after a clean stop) it prints, and checks against the targets
of issue 6:

* RSS growth after warm-up: last sample vs the first sample taken after
  ``--warmup`` seconds, for the console and the agent; target < 10 %.
* frames missing: the agent's own count of frames it sent (``summary.sent``)
  vs frame rows in SQLite vs frames the listener saw; target 0, and the
  frame indices in SQLite must be contiguous.

Exit status 0 if both targets are met, 1 otherwise. A benchmark, not a test:
it prints figures; CI does not run it.

    .venv/bin/python benchmarks/soak.py                    # 10 minutes
    .venv/bin/python benchmarks/soak.py --duration 60 --every 5
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.core import protocol as P  # noqa: E402
from console.devices.base import AgentOptions  # noqa: E402
from console.devices.local import LocalDevice  # noqa: E402
from console.session.run import Run, RunListener, RunRequest, RunResult  # noqa: E402

RSS_GROWTH_TARGET = 0.10


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size of a process in MB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def db_bytes(db: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(str(db) + suffix)
        except OSError:
            pass
    return total


class Counter(RunListener):
    """Counts what the console received, as the window's listener would see it."""

    def __init__(self) -> None:
        self.frames = 0
        self.last_i = -1
        self.previews = 0
        self.telemetry_n = 0
        self.errors: list[str] = []
        self.session_id: int | None = None

    def session_created(self, session_id: int) -> None:
        self.session_id = session_id

    def frame(self, msg: P.Frame) -> None:
        self.frames += 1
        self.last_i = msg.i

    def preview(self, msg: P.Preview) -> None:
        self.previews += 1

    def telemetry(self, msg: P.Telemetry) -> None:
        self.telemetry_n += 1

    def event(self, level: str, code: str, text: str) -> None:
        if level == "error":
            self.errors.append(f"{code}: {text}")


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--every", type=float, default=30.0, help="print a row every S seconds")
    ap.add_argument("--warmup", type=float, default=60.0,
                    help="seconds before the RSS baseline is taken (default 60)")
    ap.add_argument("--package", default=str(ROOT / "resources" / "packages" / "digits-cnn"))
    ap.add_argument("--input", default=str(ROOT / "resources" / "recordings" / "digits-demo.avi"),
                    help="looped at its end (default: the demo recording)")
    ap.add_argument("--preview-fps", type=float, default=10.0,
                    help="previews per second, as the window asks (default 10)")
    ap.add_argument("--telemetry-ms", type=float, default=100.0)
    ap.add_argument("--db", default=None, help="session database (default: a temporary file)")
    args = ap.parse_args()

    tmp = None
    if args.db:
        db = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="devicelab-soak-")
        db = Path(tmp.name) / "soak.db"

    counter = Counter()
    req = RunRequest(args.package, args.input, AgentOptions(
        loop=True, preview_fps=args.preview_fps, telemetry_ms=args.telemetry_ms),
        note="benchmarks/soak.py")
    run = Run(LocalDevice(), req, db, counter)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run.execute()
        except Exception as exc:  # printed below; a benchmark must say why it stopped
            box["error"] = exc

    print(f"soak: {args.duration:.0f} s at full speed on the built-in device, "
          f"package {Path(args.package).name}, input {Path(args.input).name} (looped), "
          f"previews {args.preview_fps:g}/s, telemetry every {args.telemetry_ms:g} ms")
    print(f"database: {db}")
    t = threading.Thread(target=target, name="soak-run")
    t0 = time.monotonic()
    t.start()
    header = (f"{'t (s)':>7} {'frames':>10} {'fps':>8} {'console MB':>11} {'agent MB':>9} "
              f"{'db MB':>8} {'kB/1k fr':>9}")
    print(header)
    print("-" * len(header))
    rows: list[tuple[float, int, float | None, float | None]] = []
    last_t, last_n = 0.0, 0
    next_at = args.every
    stop_at: float | None = None
    while t.is_alive():
        time.sleep(0.2)
        el = time.monotonic() - t0
        if el >= args.duration and not run.stopping:
            run.stop()
            stop_at = time.monotonic()
        if el < next_at or run.stopping:
            continue
        next_at += args.every
        n = counter.frames
        agent_pid = getattr(run.proc, "pid", None)
        c_rss, a_rss = rss_mb(), (rss_mb(agent_pid) if agent_pid else None)
        size = db_bytes(db)
        fps = (n - last_n) / (el - last_t) if el > last_t else 0.0
        per_k = size / n if n else None  # bytes/frame == kB per 1000 frames
        print(f"{el:7.0f} {n:10d} {fps:8.0f} {fmt(c_rss):>11} {fmt(a_rss):>9} "
              f"{size / 1e6:8.1f} {fmt(per_k, '.1f'):>9}", flush=True)
        rows.append((el, n, c_rss, a_rss))
        last_t, last_n = el, n
    t.join()
    stop_to_result = time.monotonic() - stop_at if stop_at is not None else None
    if "error" in box:
        print(f"soak: the run was refused: {box['error']}")
        return 1
    result: RunResult = box["result"]
    end_rss = rss_mb()
    s = result.summary or {}

    with sqlite3.connect(db) as c:
        n_db, i_min, i_max = c.execute(
            "SELECT COUNT(*), MIN(i), MAX(i) FROM frames WHERE session_id=?",
            [result.session_id]).fetchone()
        n_tel = c.execute("SELECT COUNT(*) FROM telemetry WHERE session_id=?",
                          [result.session_id]).fetchone()[0]
        integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
    sent = s.get("agent_sent")
    contiguous = n_db == 0 or (i_min == 0 and i_max == n_db - 1)

    print()
    print(f"session {result.session_id}: {result.status}"
          + (f" ({result.error})" if result.error else ""))
    print(f"frames: agent sent {sent}, listener saw {counter.frames}, in SQLite {n_db} "
          f"(indices {i_min}..{i_max}, contiguous: {contiguous}); telemetry rows {n_tel}; "
          f"previews seen {counter.previews}")
    print(f"mean rate {n_db / max(1e-9, s.get('duration_s') or 1e-9):.0f} frames/s; "
          f"database {db_bytes(db) / 1e6:.1f} MB = "
          f"{db_bytes(db) / max(1, n_db) * 1000 / 1e3:.1f} kB per 1000 frames "
          f"(frames + telemetry + events); integrity_check: {integrity}")
    if counter.errors:
        print(f"error events: {len(counter.errors)}, first: {counter.errors[0]}")

    ok = True
    base = next((r for r in rows if r[0] >= args.warmup), None)
    if base is None or len(rows) < 2 or rows[-1] is base:
        print(f"RSS growth: not enough samples after the {args.warmup:g} s warm-up "
              "(run longer or lower --warmup/--every)")
        ok = False
    else:
        last = rows[-1]
        for name, k in (("console", 2), ("agent", 3)):
            b, e = base[k], last[k]
            if b is None or e is None:
                print(f"{name} RSS: not measured")
                ok = False
                continue
            g = (e - b) / b
            peak = max(r[k] or 0.0 for r in rows if r[0] >= base[0])
            verdict = "ok" if g < RSS_GROWTH_TARGET else "OVER TARGET"
            print(f"{name} RSS after warm-up: {b:.1f} MB at {base[0]:.0f} s -> {e:.1f} MB at "
                  f"{last[0]:.0f} s ({g * 100:+.1f} %, peak {peak:.1f} MB; target < "
                  f"{RSS_GROWTH_TARGET * 100:.0f} %): {verdict}")
            ok = ok and g < RSS_GROWTH_TARGET
        print(f"console RSS after the summary was computed: {fmt(end_rss)} MB; stop -> "
              f"result (agent stop, last flush, summary read back from the log): "
              f"{fmt(stop_to_result, '.1f')} s")
    missing = None if sent is None else sent - n_db
    print(f"frames missing from the log: {missing if missing is not None else 'unknown'} "
          f"(listener vs SQLite: {counter.frames - n_db}); target 0: "
          f"{'ok' if missing == 0 and counter.frames == n_db and contiguous else 'FAILED'}")
    ok = ok and missing == 0 and counter.frames == n_db and contiguous
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
