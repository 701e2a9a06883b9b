"""Record the real frame data the verdict tests use (see README.md beside this file).

Runs the real ``devicelab run`` on this computer, reads the sessions back
from the log and stores each one compactly as ``NAME.npz``:

* ``dt``    float16, seconds from the previous frame (the first: 0); ``ts`` is its sum
* ``pre``, ``infer``, ``e2e``   float16, milliseconds (3 significant digits: 0.05 %,
  a hundred times finer than the 5 % threshold); ``post`` is e2e - pre - infer
* ``top1``  int8, the top-1 class per frame
* ``tel_ts`` float32 (same origin), ``cpu_agent``, ``cpu_sys``, ``rss_mb`` float32:
  the telemetry samples
* ``cold_total_ms``, ``video_frames``: scalars

and ``repeats.json``: the summaries (as the log stored them) of the long demo,
second demo and +30 % sessions of the first 5 rounds of a ``benchmarks/verdicts.py``
log (``--repeats-from``), for the repeated-session tests.

    .venv/bin/python tests/data/recorded/make_recordings.py [--duration 12]
                                                            [--repeats-from runs.db]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO = ROOT / "resources" / "packages" / "digits-cnn"
SLOW30 = ROOT / "benchmarks" / "models" / "digits-cnn-slow30"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
DEVICELAB = str(Path(sys.executable).with_name("devicelab"))

#: (file, package, frames: None = the demo's default, one pass of the recording) in
#: recording order: the A/A pair brackets the slowed run.
PLAN = (("aa_1", DEMO, "long"), ("slow30", SLOW30, "long"), ("aa_2", DEMO, "long"),
        ("short_1", DEMO, None), ("short_2", DEMO, None))


def record(db: Path, package: Path, duration: float | None) -> None:
    cmd = [DEVICELAB, "run", "--device", "local", "--package", str(package), "--input",
           str(VIDEO), "--db", str(db), "--quiet"]
    if duration:
        cmd += ["--loop", "--duration", f"{duration:g}"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)


def save(db: Path, sid: int, out: Path) -> None:
    from console.core import protocol as P
    from console.core.store import SessionStore

    with SessionStore(db) as st:
        s = st.get_session(sid)
        assert s is not None
        cols = {c: st.frame_column(sid, c) for c in ("ts", *P.STAGES, "top1")}
        tel = st.telemetry(sid)
    t0 = cols["ts"][0]
    cold = s.get("cold_start") or {}
    np.savez_compressed(
        out, dt=np.diff(cols["ts"], prepend=t0).astype(np.float16),
        **{k: cols[k].astype(np.float16) for k in ("pre", "infer", "e2e")},
        top1=np.nan_to_num(cols["top1"], nan=-1).astype(np.int8),
        tel_ts=np.array([x["ts"] - t0 for x in tel], dtype=np.float32),
        **{k: np.array([x.get(k, np.nan) for x in tel], dtype=np.float32)
           for k in (P.CPU_AGENT, P.CPU_SYS, P.RSS)},
        cold_total_ms=np.float64(cold.get("total_ms", np.nan)),
        video_frames=np.int64((cold.get("input") or {}).get("frame_count") or 0))


def repeats(db: Path, rounds: int = 5) -> None:
    """The benchmark's long sessions (notes ``bench long R ROLE``) -> repeats.json."""
    from console.core.store import SessionStore

    keep = ("latency_ms", "fps", "cold_start_ms", "cpu", "memory", "warmup", "frames")
    out: dict[str, list[dict[str, object]]] = {"demo": [], "demo2": [], "slow30": []}
    role = {"demo1": "demo", "demo2": "demo2", "slow30": "slow30"}
    with SessionStore(db) as st:
        for s in sorted(st.list_sessions(limit=100_000), key=lambda r: r["id"]):
            parts = (s.get("note") or "").split()
            if len(parts) == 4 and parts[:2] == ["bench", "long"] and int(parts[2]) < rounds \
                    and parts[3] in role and s["status"] == "completed":
                summ = s["summary"] or {}
                out[role[parts[3]]].append({k: summ.get(k) for k in keep})
    (HERE / "repeats.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"repeats.json  {(HERE / 'repeats.json').stat().st_size / 1024:.0f} KB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="record the verdict tests' frame data")
    ap.add_argument("--duration", type=float, default=12.0,
                    help="seconds of a long run (>= 10 windows of 1 s after the warm-up)")
    ap.add_argument("--repeats-from", type=Path, metavar="DB",
                    help="only write repeats.json from a benchmarks/verdicts.py log")
    args = ap.parse_args(argv)
    if args.repeats_from:
        repeats(args.repeats_from)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sessions.db"
        for sid, (name, pkg, length) in enumerate(PLAN, 1):
            record(db, pkg, args.duration if length == "long" else None)
            save(db, sid, HERE / f"{name}.npz")
            print(f"{name}.npz  {(HERE / f'{name}.npz').stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
