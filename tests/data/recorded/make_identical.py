"""Make ``detector_identical.db``: real detector sessions for the measured-spread tests.

From a log written by ``benchmarks/verdicts.py --demo detector --lengths default
--variants 30 --threads 1`` (rounds of demo, demo, demo + 30 % on the bundled
footage), keep every session's row (its summary: what the spread is measured
from) and the frames and telemetry of round 0 only (the pair compared and its
+30 % session), so the file stays small. A real SQLite log, opened by
``SessionStore`` like any other; tests copy it before opening.

    .venv/bin/python tests/data/recorded/make_identical.py RUNS.db
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

OUT = Path(__file__).with_name("detector_identical.db")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path, help="the benchmark's log")
    args = ap.parse_args()
    OUT.unlink(missing_ok=True)
    src, dst = sqlite3.connect(args.db), sqlite3.connect(OUT)
    src.backup(dst)
    src.close()
    keep = [r[0] for r in dst.execute(
        "SELECT id FROM sessions WHERE note LIKE 'bench default 0 %'")]
    marks = ",".join("?" * len(keep))
    for table in ("frames", "telemetry", "events", "op_profiles"):
        dst.execute(f"DELETE FROM {table} WHERE session_id NOT IN ({marks})", keep)
    dst.commit()
    dst.execute("PRAGMA journal_mode=DELETE")
    dst.execute("VACUUM")
    dst.close()
    print(f"{OUT}: {OUT.stat().st_size // 1024} KiB, frames of sessions {keep}")


if __name__ == "__main__":
    main()
