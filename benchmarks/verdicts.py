"""How often do the compare verdicts lie on this machine? Measured, not assumed.

Runs the real demo (``devicelab run --device local``) in rounds of four
sessions, each round in its own (seeded) order — demo, demo, demo + 30 % work,
demo + 15 % work (the packages of
``benchmarks/models/build_slowed.py``; same outputs, more computation) —
and compares, with ``console.session.compare.compare_sessions`` at its
defaults (95 %, threshold 5 % or 0.05 ms):

* A/A  (demo vs demo): the **false-regression rate** — overall verdict
  ``regression`` although nothing changed (target <= 5 %; the confidence
  level bounds the rate of a single figure's interval missing);
* A/B  (demo vs +30 %, demo vs +15 %): the **detection rate** — overall
  ``regression`` (target >= 95 % at +30 %),

with the share of ``inconclusive`` and ``no change`` beside them, per run
length: the demo's default (one pass of the recording, 360 frames, ~0.3 s)
and ``--duration`` seconds (long enough for the block bootstrap). It also
prints the *dimensioning* figures — the run-to-run spread of each figure
between identical sessions, and how much of it the block bootstrap alone
covers — from which ``console.core.verdicts.figures.RUN_NOISE`` is set, and
the time one comparison takes.

    .venv/bin/python benchmarks/verdicts.py [--rounds 20] [--duration 12]
                                            [--db runs.db] [--reuse]

``--demo detector`` does the same with the bundled detector
(``resources/packages/nanodet-g-coco`` on ``opencv-vtest.mp4``, what
``scripts/run`` shows; ~18 ms of inference, so +30 % is ~6 ms, far above the
0.05 ms floor) and its slowed variants, built into the log's folder by
``benchmarks/models/build_slowed.py --base detector``; ``--variants 30``
leaves out the +15 % sessions (a detector session is ~40 s here).

``--reuse`` compares the sessions already in ``--db`` instead of running new ones.
Runs take ~20 min at the defaults (the machine's load shows in the figures:
the load average is printed).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO = ROOT / "resources" / "packages" / "digits-cnn"
SLOW = {"slow30": ROOT / "benchmarks" / "models" / "digits-cnn-slow30",
        "slow15": ROOT / "benchmarks" / "models" / "digits-cnn-slow15"}
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
DETECTOR = ROOT / "resources" / "packages" / "nanodet-g-coco"
DETECTOR_VIDEO = ROOT / "resources" / "recordings" / "opencv-vtest.mp4"
DEVICELAB = str(Path(sys.executable).with_name("devicelab"))
#: the pairs compared (reference, candidate)
PAIRS = {"A/A": ("demo1", "demo2"), "A/B +30 %": ("demo1", "slow30"),
         "A/B +15 %": ("demo2", "slow15")}


def round_of(demo: str, folder: Path, variants: Sequence[str]
             ) -> tuple[tuple[tuple[str, Path], ...], Path]:
    """The sessions of one round (role, package) and the recording they run."""
    if demo == "detector":
        from benchmarks.models.build_slowed import DETECTOR_LAYERS, build_detector

        slow = {f"slow{v}": build_detector(f"slow{v}", DETECTOR_LAYERS[f"slow{v}"], folder)
                for v in variants}
        base, video = DETECTOR, DETECTOR_VIDEO
    else:
        slow = {f"slow{v}": SLOW[f"slow{v}"] for v in variants}
        base, video = DEMO, VIDEO
    return (("demo1", base), ("demo2", base), *slow.items()), video


def run(db: Path, package: Path, video: Path, length: str, duration: float, note: str,
        home: Path, threads: int = 0) -> None:
    # the console's own settings folder (DEVICELAB_HOME) and --no-saved-defaults: a
    # setting a sweep saved for this package must not change the runs being judged
    cmd = [DEVICELAB, "run", "--device", "local", "--package", str(package), "--input",
           str(video), "--db", str(db), "--quiet", "--no-saved-defaults", "--note", note]
    if length == "long":
        cmd += ["--loop", "--duration", f"{duration:g}"]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "DEVICELAB_HOME": str(home)}
    subprocess.run(cmd, check=True, capture_output=True, timeout=600, env=env)


def collect(db: Path, rounds: int, duration: float, lengths: Sequence[str], demo: str,
            variants: Sequence[str], threads: int = 0) -> None:
    home = db.parent / f"{db.stem}.home"
    round_, video = round_of(demo, db.parent / f"{db.stem}.variants", variants)
    # each round in its own order (seeded): in a fixed order the first session of every
    # round ran systematically differently (its recording read p90 0.43 ms against 0.25
    # ms), which a fixed A-before-B design would charge to the package
    rng = np.random.default_rng(14)
    for length in lengths:
        t0 = time.monotonic()
        for r in range(rounds):
            for k in rng.permutation(len(round_)):
                role, pkg = round_[int(k)]
                run(db, pkg, video, length, duration, f"bench {length} {r} {role}", home,
                    threads)
        print(f"ran {rounds} rounds ({length}) in {time.monotonic() - t0:.0f} s, load "
              f"average {load()}", file=sys.stderr)


def sessions(db: Path) -> dict[tuple[str, int, str], int]:
    from console.core.store import SessionStore

    out = {}
    with SessionStore(db) as st:
        for s in st.list_sessions(limit=100_000):
            parts = (s.get("note") or "").split()
            if len(parts) == 4 and parts[0] == "bench" and s["status"] == "completed":
                out[(parts[1], int(parts[2]), parts[3])] = int(s["id"])
    return out


def load() -> str:
    """The 1-, 5- and 15-minute load averages (as ``uptime`` prints them)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def slowdowns(st: object, ids: dict[tuple[str, int, str], int], length: str) -> str:
    """The slowdown the variants really had in these sessions: the median over rounds of
    each session's steady-state e2e p50 and infer p50 relative to the round's demo1."""
    from console.core.stats import summary_value

    out = []
    for role in ("slow30", "slow15"):
        for stage in ("e2e", "infer"):
            ratios = []
            for (ln, r, x), sid in ids.items():
                if ln != length or x != role or (ln, r, "demo1") not in ids:
                    continue
                a = summary_value(st.get_session(ids[(ln, r, "demo1")])["summary"],  # type: ignore[attr-defined]
                                  "latency_ms", stage, "p50")
                b = summary_value(st.get_session(sid)["summary"], "latency_ms", stage, "p50")  # type: ignore[attr-defined]
                if a and b:
                    ratios.append(b / a)
            if ratios:
                out.append(f"{role} {stage} p50 {(np.median(ratios) - 1) * 100:+.0f} %")
    return ", ".join(out)


def rate(k: int, n: int) -> str:
    from console.core.verdicts import proportion_interval

    iv = proportion_interval(k, n)
    if iv is None:
        return "-"
    return f"{k}/{n} = {k / n * 100:5.1f} % [{iv.low * 100:4.1f}, {iv.high * 100:5.1f}]"


def report(db: Path) -> None:
    from console.core.store import SessionStore
    from console.session.compare import compare_sessions

    ids = sessions(db)
    rounds = sorted({r for (_l, r, _role) in ids})
    print(f"load average now {load()}; 95 % Wilson intervals in brackets")
    spent: list[float] = []
    with SessionStore(db) as st:
        for length in ("default", "long"):
            frames = [st.get_session(i)["frames_received"] for (ln, _r, _x), i in ids.items()
                      if ln == length]
            if not frames:
                continue
            print(f"\n{length} length: {int(np.median(frames))} frames per session (median)")
            print(f"  measured slowdown (median over rounds, vs demo1): "
                  f"{slowdowns(st, ids, length)}")
            covered: Counter[str] = Counter()
            judged: Counter[str] = Counter()
            sources: Counter[str] = Counter()
            for label, (ra, rb) in PAIRS.items():
                verdicts: Counter[str] = Counter()
                figs: Counter[str] = Counter()
                for r in rounds:
                    if (length, r, ra) not in ids or (length, r, rb) not in ids:
                        continue
                    t = time.perf_counter()
                    cmp = compare_sessions(st, ids[(length, r, ra)], ids[(length, r, rb)])
                    spent.append(time.perf_counter() - t)
                    verdicts[cmp.verdict] += 1
                    sources[cmp.run_noise.get("source", "?")] += 1
                    for f in cmp.regressions:
                        figs[f.name] += 1
                    if label == "A/A":  # nothing changed: does each interval hold 0?
                        for f in cmp.figures:
                            if f.ci_low is not None and f.ci_high is not None and \
                                    f.method not in ("range", "wilson", "exact"):
                                judged[f.name] += 1
                                covered[f.name] += int(f.ci_low <= 0.0 <= f.ci_high)
                n = sum(verdicts.values())
                word = "false regression" if label == "A/A" else "detected (regression)"
                print(f"  {label:<10} {word:<22} {rate(verdicts['regression'], n)}")
                for v in ("improvement", "no change", "inconclusive"):
                    print(f"  {'':<10} {v:<22} {rate(verdicts[v], n)}")
                if figs:
                    print(f"  {'':<10} regressed figures: "
                          + ", ".join(f"{k} {v}" for k, v in figs.most_common(6)))
            print("  run-to-run spread of these pairs: " + ", ".join(
                f"{k} {v}" for k, v in sorted(sources.items()))
                  + " (measured: from the log's identical sessions, the pair itself left out)")
            coverage(covered, judged)
            without_history(st, ids, length, rounds)
            without_floor(st, ids, length, rounds)
            without_guard(st, ids, length, rounds)
            ceiling(st, ids, length, rounds)
            repeated(st, ids, length, rounds)
            dimension(st, ids, length)
    if spent:
        print(f"\none comparison: median {np.median(spent):.2f} s, max {max(spent):.2f} s")


def coverage(covered: Counter[str], judged: Counter[str]) -> None:
    """How often an A/A pair's interval of B - A holds 0, per figure: the intervals'
    real confidence on this machine (nominal 95 %; much more: wider than they need be)."""
    if not judged:
        print("  A/A interval coverage: no pair long enough for an interval")
        return
    n, k = sum(judged.values()), sum(covered.values())
    worst = sorted(judged, key=lambda f: covered[f] / judged[f])[:4]
    print(f"  A/A interval coverage (95 % nominal): {rate(k, n)} of figure intervals hold 0; "
          "lowest: " + ", ".join(f"{f} {covered[f]}/{judged[f]}" for f in worst))


def without_history(st: object, ids: dict[tuple[str, int, str], int], length: str,
                    rounds: list[int]) -> None:
    """The same single pairs with the assumed allowance (``RUN_NOISE``, the shared VMs'
    spread) instead of the one measured from identical sessions: a device whose log
    holds no 5 identical sessions yet."""
    from console.core.verdicts.figures import RUN_NOISE
    from console.session.compare import compare_sessions

    verdicts: dict[str, Counter[str]] = {"A/A": Counter(), "A/B +30 %": Counter()}
    for r in rounds:
        for label, (ra, rb) in (("A/A", PAIRS["A/A"]), ("A/B +30 %", PAIRS["A/B +30 %"])):
            a, b = (length, r, ra), (length, r, rb)
            if a in ids and b in ids:
                verdicts[label][compare_sessions(st, ids[a], ids[b],  # type: ignore[arg-type]
                                                 run_noise=RUN_NOISE).verdict] += 1
    for label, c in verdicts.items():
        n = sum(c.values())
        if n:
            print(f"  with the assumed spread (no identical sessions): {label} " + ", ".join(
                f"{v} {c[v]}/{n}" for v in ("regression", "improvement", "no change",
                                            "inconclusive")))


def without_floor(st: object, ids: dict[tuple[str, int, str], int], length: str,
                  rounds: list[int]) -> None:
    """What the practical threshold's 0.05 ms floor costs the +30 % pairs: the same
    comparisons with the floor at 0 (only the 5 %) — a diagnosis, not the verdict: the
    variants add ~0.05-0.09 ms to a demo of ~0.15 ms, right at the floor."""
    from console.session.compare import compare_sessions

    n = hits = false = 0
    for r in rounds:
        a, a2, b = ((length, r, x) for x in ("demo1", "demo2", "slow30"))
        if a in ids and b in ids:
            n += 1
            hits += compare_sessions(st, ids[a], ids[b], floors={"ms": 0.0}  # type: ignore[arg-type]
                                     ).verdict == "regression"
            if a2 in ids:
                false += compare_sessions(st, ids[a], ids[a2], floors={"ms": 0.0}  # type: ignore[arg-type]
                                          ).verdict == "regression"
    if n:
        print(f"  without the 0.05 ms floor (5 % only): +30 % detected {rate(hits, n)}, A/A "
              f"false regression {false}/{n}")


def without_guard(st: object, ids: dict[tuple[str, int, str], int], length: str,
                  rounds: list[int]) -> None:
    """The same single pairs judged with the contention guard off (a device not equally
    free in the two sessions: ``console.core.verdicts.contention``) — what it prevents."""
    from console.core.verdicts import contention
    from console.session.compare import compare_sessions

    kept = contention.OTHER_WORK_CORES
    verdicts: dict[str, Counter[str]] = {"A/A": Counter(), "A/B +30 %": Counter()}
    apart = Counter[str]()
    try:
        contention.OTHER_WORK_CORES = math.inf
        for r in rounds:
            for label, (ra, rb) in (("A/A", PAIRS["A/A"]), ("A/B +30 %", PAIRS["A/B +30 %"])):
                a, b = (length, r, ra), (length, r, rb)
                if a in ids and b in ids:
                    cmp = compare_sessions(st, ids[a], ids[b])  # type: ignore[arg-type]
                    verdicts[label][cmp.verdict] += 1
                    wa, wb = cmp.other_work_cores
                    apart[label] += int(wa is not None and wb is not None
                                        and abs(wb - wa) > kept)
    finally:
        contention.OTHER_WORK_CORES = kept
    for label, c in verdicts.items():
        n = sum(c.values())
        if n:
            print(f"  without the contention guard: {label} " + ", ".join(
                f"{v} {c[v]}/{n}" for v in ("regression", "improvement", "no change",
                                            "inconclusive"))
                  + f"; other work more than {kept:g} core apart in {apart[label]}/{n}")


#: figures whose separability the ceiling looks at: (stage, percentile)
CEILING = (("e2e", "p50"), ("e2e", "p95"), ("infer", "p50"), ("infer", "p95"))


def ceiling(st: object, ids: dict[tuple[str, int, str], int], length: str,
            rounds: list[int]) -> None:
    """What any rule on one figure of one pair could do here, whatever its statistics:
    the A/A ratios B/A (both orders) give the 95th percentile a pair of identical runs
    reaches; a rule that flags at most 5 % of A/A pairs cannot flag an A/B pair below it.
    Printed: that ratio, and the share of +30 % pairs above it (the detection ceiling)."""
    from console.core.stats import summary_value

    def fig(role: str, r: int, stage: str, p: str) -> float | None:
        sid = ids.get((length, r, role))
        if sid is None:
            return None
        v = summary_value(st.get_session(sid)["summary"], "latency_ms", stage, p)  # type: ignore[attr-defined]
        return float(v) if v else None

    parts = []
    for stage, p in CEILING:
        aa, ab = [], []
        for r in rounds:
            a1, a2, b = fig("demo1", r, stage, p), fig("demo2", r, stage, p), \
                fig("slow30", r, stage, p)
            if a1 and a2:
                aa += [a2 / a1, a1 / a2]
            if a1 and b:
                ab.append(b / a1)
        if len(aa) >= 10 and ab:
            q = float(np.percentile(aa, 95))
            above = sum(x > q for x in ab)
            parts.append(f"{stage} {p}: A/A 95th pct ×{q:.2f}, +30 % pairs above it "
                         f"{above}/{len(ab)}, not slower at all {sum(x <= 1 for x in ab)}")
    if parts:
        print("  ceiling of any one-figure rule on a single pair (summaries' figures):")
        for line in parts:
            print(f"    {line}")


#: sessions per side in the repeated comparisons, and how many groupings are drawn
GROUP = 5
DRAWS = 20


def repeated(st: object, ids: dict[tuple[str, int, str], int], length: str,
             rounds: list[int]) -> None:
    """The same pairs, GROUP sessions per side (compare_groups: decided over sessions)."""
    from console.session.compare import compare_groups

    print(f"  repeated sessions, {GROUP} per side ({DRAWS} draws of {GROUP} rounds out of "
          f"{len(rounds)}; draws share rounds, so the counts are not independent):")
    rng = np.random.default_rng(1)
    draws = [sorted(rng.choice(rounds, GROUP, replace=False).tolist()) for _ in range(DRAWS)] \
        if len(rounds) >= GROUP else []
    for label, (ra, rb) in PAIRS.items():
        verdicts: Counter[str] = Counter()
        figs: Counter[str] = Counter()
        for rs in draws:
            if not all((length, r, x) in ids for r in rs for x in (ra, rb)):
                continue
            cmp = compare_groups(st, [ids[(length, r, ra)] for r in rs],  # type: ignore[arg-type]
                                 [ids[(length, r, rb)] for r in rs])
            verdicts[cmp.verdict] += 1
            figs.update(f.name for f in cmp.regressions)
        n = sum(verdicts.values())
        if figs:
            label += " (" + ", ".join(f"{k} {v}" for k, v in figs.most_common(3)) + ")"
        print(f"  {label:<10} " + ", ".join(f"{v} {verdicts[v]}/{n}" for v in
                                            ("regression", "improvement", "no change",
                                             "inconclusive")))


def dimension(st: object, ids: dict[tuple[str, int, str], int], length: str) -> None:
    """The run-to-run spread of steady-state figures between identical demo sessions, and
    the share the block bootstrap's own interval explains — from which
    ``console.core.verdicts.figures.RUN_NOISE`` is set. Two measures of the spread: the
    relative SD between sessions, and the *tail* one, the 95th percentile of
    ``|log(x_i / x_j)|`` over every pair of identical sessions divided by ``1.96 * sqrt(2)``
    — the relative SD a log-normal run effect would need to reach that far. On a shared
    machine a few sessions run starved (a third of the frame rate for the whole run), so
    the tail one is what keeps identical sessions from being called different; RUN_NOISE
    takes it, less the bootstrap's own part (in quadrature), the largest over stages."""
    from console.core import protocol as P
    from console.core.stats import warmup_frames
    from console.core.verdicts import latency_intervals, mean_interval, rate_interval

    rows: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, iv: Any) -> None:
        # a session too short for the bootstrap has a range, not an interval: no SE
        if iv is not None and iv.estimate > 0:
            se = (iv.high - iv.low) / 3.92 if iv.decisive else 0.0
            rows.setdefault(name, []).append((iv.estimate, se))

    for (ln, _r, role), sid in ids.items():
        if ln != length or not role.startswith("demo"):
            continue
        ts = st.frame_column(sid, "ts")  # type: ignore[attr-defined]
        k = warmup_frames(ts)
        for stage in (*P.STAGES, P.READ):
            v = st.frame_column(sid, stage)[k:]  # type: ignore[attr-defined]
            if np.isfinite(v).any():
                for name, iv in latency_intervals(ts[k:], v, run_noise={}).items():
                    add(f"{'read' if stage == P.READ else stage} {name}", iv)
        add("fps", rate_interval(ts[k:], run_noise={}))
        tel = st.telemetry(sid, keys=["cpu_agent", "cpu_sys", "rss_mb"])  # type: ignore[attr-defined]
        for key, name in (("cpu_agent", "agent cpu"), ("cpu_sys", "system cpu"),
                          ("rss_mb", "agent memory")):
            tt = np.array([x["ts"] for x in tel if x.get(key) is not None and x["ts"] >= ts[k]])
            vv = np.array([x[key] for x in tel if x.get(key) is not None and x["ts"] >= ts[k]])
            add(name, mean_interval(tt, vv, run_noise={}) if vv.size else None)
    if not rows:
        return
    print(f"  run-to-run spread of identical sessions ({length}): relative SD between "
          "sessions, tail (see dimension()), the bootstrap's own relative SE, and the "
          "run-to-run part beyond the bootstrap (SD / tail)")
    kinds: dict[str, float] = {}
    for name, vals in rows.items():
        est = np.array([v[0] for v in vals])
        se = np.array([v[1] for v in vals])
        if est.size < 3 or not np.all(np.isfinite(se)):
            continue
        sd, boot = np.std(est, ddof=1) / np.mean(est), float(np.mean(se / est))
        lr = np.abs(np.log(est[:, None] / est[None, :]))[np.triu_indices(est.size, 1)]
        tail = float(np.percentile(lr, 95)) / (1.96 * math.sqrt(2.0))
        extra = math.sqrt(max(sd * sd - boot * boot, 0.0))
        extra_t = math.sqrt(max(tail * tail - boot * boot, 0.0))
        print(f"    {name:<18} {sd * 100:6.1f} %  {tail * 100:6.1f} %  {boot * 100:6.1f} %  "
              f"{extra * 100:5.1f} % / {extra_t * 100:5.1f} %")
        kind = KINDS.get(name, name if name.startswith("read") else name.split()[-1])
        kinds[kind] = max(kinds.get(kind, 0.0), extra_t)
    if any(v[1] > 0 for vals in rows.values() for v in vals):  # a bootstrap was made
        print("  RUN_NOISE from this run (tail, largest over stages): "
              + ", ".join(f"{k} {v:.2f}" for k, v in sorted(kinds.items())))
    else:
        print("  (too short for the bootstrap: the spread between sessions is all there is; "
              "RUN_NOISE is set from sessions long enough for an interval)")


#: the RUN_NOISE kind of a dimensioned figure that is not a stage's percentile or mean
KINDS = {"fps": "fps", "agent cpu": "cpu", "system cpu": "cpu", "agent memory": "memory"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20, help="rounds of four sessions")
    ap.add_argument("--duration", type=float, default=12.0,
                    help="seconds of a long session (default 12: ≥ 10 windows of 1 s)")
    ap.add_argument("--db", type=Path, default=None, help="keep the sessions in this log")
    ap.add_argument("--reuse", action="store_true", help="compare the sessions in --db")
    ap.add_argument("--lengths", default="default,long",
                    help="which run lengths to record: default,long (default both)")
    ap.add_argument("--demo", choices=("digits", "detector"), default="digits",
                    help="the digits demo (default) or the bundled detector on real footage")
    ap.add_argument("--variants", default="30,15",
                    help="which slowed variants to run: 30,15 (default) or 30")
    ap.add_argument("--threads", type=int, default=0,
                    help="inference threads of every session (default 0: the runtime's own; "
                         "1 leaves a core to the console on a 2-core machine)")
    args = ap.parse_args(argv)
    print(f"load average at the start {load()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "sessions.db"
        if not args.reuse:
            collect(db, args.rounds, args.duration, args.lengths.split(","), args.demo,
                    [v.strip() for v in args.variants.split(",") if v.strip()], args.threads)
        report(db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
