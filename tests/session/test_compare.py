"""Comparing sessions: real fp32 and int8 runs of the demo model on the same recording.

The runs are real (agent subprocess, onnxruntime, SQLite); the verdict
rules are also checked on synthetic series whose true difference is known
(tests/core/test_verdicts_recorded.py checks them on recorded real runs).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.recording import DEVICELAB, PKG, PKG_INT8, TRUTH, VIDEO, copy_db, record
from helpers.sessions import add_session

from console.core.stats import SessionData, steady_data
from console.core.store import SessionStore, frame_row
from console.core.verdicts import VERDICTS
from console.session.compare import (
    NOISE_FLOORS,
    CompareError,
    box_iou,
    compare_data,
    compare_sessions,
    match_boxes,
    parse_tolerance,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """fp32 and int8 on the demo recording (with ground truth), and fp32 on synthetic."""
    assert PKG_INT8.is_dir() and VIDEO.is_file(), "demo resources missing (resources/BUILD.md)"
    d = tmp_path_factory.mktemp("compare")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        fp32 = record(db, PKG, str(VIDEO), truth=str(TRUTH))
        int8 = record(db, PKG_INT8, str(VIDEO), truth=str(TRUTH))
        synth = record(db, PKG, "synthetic:64x64", frames=50)
    return {"db": db, "fp32": fp32, "int8": int8, "synth": synth}


def test_fp32_vs_int8_on_the_same_recording(runs: dict[str, Any]) -> None:
    with SessionStore(runs["db"]) as st:
        cmp = compare_sessions(st, runs["fp32"], runs["int8"])
        n = st.frame_count(runs["fp32"])
    assert cmp.a.title == "digits-cnn@1.0.0" and cmp.b.title == "digits-cnn-int8@1.0.0"
    diffs = {(d.section, d.field) for d in cmp.differences}
    assert {("package", "name"), ("package", "model_sha256"), ("package", "digest")} <= diffs
    assert ("input", "sha256") not in diffs  # same recording
    names = [f.name for f in cmp.figures]
    for stage in ("pre", "infer", "post", "e2e", "read"):  # read: decoding the recording
        for p in ("p50", "p90", "p95", "p99", "mean"):
            assert f"{stage} {p}" in names
    lat = {f.name: f for f in cmp.figures}
    e2e95 = lat["e2e p95"]
    assert e2e95.a is not None and e2e95.b is not None and e2e95.change is not None
    assert e2e95.change == pytest.approx((e2e95.b - e2e95.a) / e2e95.a)
    assert e2e95.verdict in VERDICTS
    assert e2e95.ci_low is not None and e2e95.ci_low <= e2e95.diff <= e2e95.ci_high
    ag = cmp.agreement
    assert ag.available and ag.task == "classification"
    assert ag.frames_compared == n
    assert ag.top1_agree is not None and ag.top1_agreement == pytest.approx(ag.top1_agree / n)
    # the int8 build answers like the float one (both ~0.98 accurate on this clip)
    assert ag.top1_agreement >= 0.9
    assert len(ag.disagreeing_frames) == min(50, n - ag.top1_agree)
    assert ag.top1_low is not None and ag.top1_low <= ag.top1_agreement <= ag.top1_high
    assert sum(map(sum, ag.confusion)) == n  # every compared frame in the confusion table
    assert sum(ag.confusion[c][c] for c in range(len(ag.confusion))) == ag.top1_agree
    assert ag.score_diff_max is not None and 0 <= ag.score_diff_mean <= ag.score_diff_max


def test_fp32_vs_int8_cli_prints_latency_changes_and_agreement(runs: dict[str, Any]) -> None:
    res = subprocess.run([DEVICELAB, "sessions", "compare", str(runs["fp32"]), str(runs["int8"]),
                          "--db", str(runs["db"])], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    lines = {ln.split()[0] + " " + ln.split()[1]: ln for ln in out.splitlines()
             if ln.startswith("  ") and len(ln.split()) > 2}
    for stage in ("pre", "infer", "post", "e2e"):
        line = lines[f"{stage} p95"]
        assert "ms →" in line and "%" in line, line
    assert "top-1 agreement" in out and "frames agree" in out
    assert "digits-cnn-int8@1.0.0" in out
    assert out.strip().splitlines()[-1].startswith("verdict: ")


def test_agreement_counts_real_disagreements(runs: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(runs["db"], tmp_path / "s.db")
    with SessionStore(db) as st:
        st.conn.execute("UPDATE frames SET top1 = (top1 + 1) % 10 WHERE session_id = ? AND i < 40",
                        [runs["int8"]])
        want = st.conn.execute(
            "SELECT COUNT(*) FROM frames a JOIN frames b ON a.i = b.i WHERE a.session_id = ? "
            "AND b.session_id = ? AND a.top1 = b.top1", [runs["fp32"], runs["int8"]]).fetchone()[0]
        differ = [r[0] for r in st.conn.execute(
            "SELECT a.i FROM frames a JOIN frames b ON a.i = b.i WHERE a.session_id = ? "
            "AND b.session_id = ? AND a.top1 != b.top1 ORDER BY a.i LIMIT 50",
            [runs["fp32"], runs["int8"]])]
        ag = compare_sessions(st, runs["fp32"], runs["int8"]).agreement
    assert ag.top1_agree == want
    assert ag.disagreeing_frames == differ


def test_agreement_needs_the_same_recording(runs: dict[str, Any]) -> None:
    with SessionStore(runs["db"]) as st:
        cmp = compare_sessions(st, runs["fp32"], runs["synth"])
    assert not cmp.agreement.available
    assert "synthetic input has no fixed frames" in (cmp.agreement.reason or "")
    assert not any(f.group == "agreement" for f in cmp.figures)
    assert ("input", "kind") in {(d.section, d.field) for d in cmp.differences}


def test_self_compare_has_no_regression_and_exit_0(runs: dict[str, Any]) -> None:
    with SessionStore(runs["db"]) as st:
        cmp = compare_sessions(st, runs["fp32"], runs["fp32"])
    assert cmp.regressions == [] and cmp.differences == []
    assert cmp.agreement.top1_agreement == 1.0
    res = subprocess.run([DEVICELAB, "sessions", "compare", str(runs["fp32"]), str(runs["fp32"]),
                          "--fail-on-regression", "--db", str(runs["db"])],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"verdict: {cmp.verdict_line()}" in res.stdout
    # one pass of the demo recording is ~0.3 s: far too short for a latency interval, so
    # those say so — and the agreeing outputs (no change) do not hide that
    e2e = next(f for f in cmp.figures if f.name == "e2e p95")
    assert e2e.verdict == "inconclusive" and "more frames (~" in e2e.reason
    top1 = next(f for f in cmp.figures if f.name == "top-1 agreement")
    assert top1.verdict == "no change"
    assert cmp.verdict == "inconclusive" and "could not be decided" in cmp.verdict_line()


def _stretch(st: SessionStore, sid: int, spacing_s: float, add_ms: float = 0.0) -> None:
    """Spread a real session's frames over more time (and slow every frame down), so the
    block bootstrap has windows to resample: the log is the only input of a comparison."""
    st.conn.execute("UPDATE frames SET ts_unix_s = ? + i * ?, e2e_ms = e2e_ms + ?, "
                    "infer_ms = infer_ms + ? "
                    "WHERE session_id = ?", [1000.0, spacing_s, add_ms, add_ms, sid])
    st.conn.commit()


def test_fail_on_regression_exit_status(runs: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(runs["db"], tmp_path / "s.db")
    with SessionStore(db) as st:
        _stretch(st, runs["fp32"], 0.04)
        # every frame 20 ms slower: far beyond what a neighbour does to a 0.3 ms frame
        _stretch(st, runs["int8"], 0.04, add_ms=20.0)
    args = [DEVICELAB, "sessions", "compare", str(runs["fp32"]), str(runs["int8"]), "--db",
            str(db)]
    plain = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr
    strict = subprocess.run([*args, "--fail-on-regression"], capture_output=True, text=True,
                            timeout=120)
    assert strict.returncode == 1
    line = next(ln for ln in strict.stdout.splitlines() if ln.strip().startswith("e2e p50"))
    assert "— regression: worse beyond 0.05 ms at 95 % confidence" in line
    assert strict.stdout.strip().splitlines()[-1].startswith("verdict: regression:")
    js = json.loads(subprocess.run([*args, "--json"], capture_output=True, text=True,
                                   timeout=120).stdout)
    assert js["verdict"] == "regression"
    fig = next(f for f in js["figures"] if f["name"] == "e2e p50")
    assert {"a", "b", "diff", "ci_low", "ci_high", "verdict", "reason"} <= set(fig)
    assert fig["ci_low"] <= fig["diff"] <= fig["ci_high"] and fig["ci_low"] > 0
    # inconclusive figures never fail: the same stretched session against itself
    same = subprocess.run([DEVICELAB, "sessions", "compare", str(runs["fp32"]),
                           str(runs["fp32"]), "--fail-on-regression", "--db", str(db)],
                          capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and "verdict: regression" not in same.stdout
    bad = subprocess.run([*args, "--tolerance", "100000%"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "out of range" in bad.stderr


def _data(e2e: np.ndarray, fps: float = 100.0, read: np.ndarray | None = None
          ) -> SessionData:
    """A synthetic steady state: ``e2e`` ms per frame at ``fps`` (no warm-up)."""
    n = e2e.size
    frames: dict[str, Any] = {"ts": np.arange(n) / fps,
                              "e2e": e2e, "pre": e2e * 0.2, "infer": e2e * 0.7,
                              "post": e2e * 0.1}
    if read is not None:
        frames["read_ms"] = read
    return steady_data(frames, [], {"warmup": {"frames": 0}})


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def cmp(a: SessionData, b: SessionData) -> list[Any]:
    """The method alone: synthetic sessions have no run-to-run noise to allow for."""
    return compare_data(a, b, run_noise={})


def test_figure_verdicts_and_words() -> None:
    n = 3000  # 30 s at 100 fps: 30 windows of 1 s
    a = _data(10.0 + 0.3 * _noise(n, 1))
    figs = {f.name: f for f in cmp(a, _data(11.8 + 0.3 * _noise(n, 2), fps=80.0))}
    f = figs["e2e p95"]
    assert f.verdict == "regression" and f.text.startswith("+17.0 % [+16.")
    assert " — regression: worse beyond 5 % at 95 % confidence" in f.text
    assert f.ci_low is not None and f.ci_high is not None and 0 < f.ci_low < f.diff < f.ci_high
    assert f.a_low is not None and f.a_low < f.a < f.a_high  # type: ignore[operator]
    assert figs["fps"].verdict == "regression"  # lower throughput is worse
    assert figs["fps"].text.startswith("-20.0 %")
    figs = {f.name: f for f in cmp(a, _data(8.0 + 0.3 * _noise(n, 3), fps=130.0))}
    assert figs["e2e p95"].verdict == "improvement" and figs["fps"].verdict == "improvement"
    # a real but negligible difference (+1 %, well inside the 5 % threshold) is no change
    figs = {f.name: f for f in cmp(a, _data(10.1 + 0.3 * _noise(n, 4)))}
    assert figs["e2e p50"].verdict == "no change" and "within ±5 %" in figs["e2e p50"].text
    # +50 % of 0.02 ms is jitter, not a slower model: under the 0.05 ms floor
    tiny = cmp(_data(0.02 + 0.001 * _noise(n, 5)), _data(0.03 + 0.001 * _noise(n, 6)))
    t95 = next(f for f in tiny if f.name == "e2e p95")
    assert t95.verdict == "no change" and "0.05 ms" in t95.text
    assert NOISE_FLOORS["ms"] == 0.05
    # figures a session did not measure say so: inconclusive, never zero
    figs = {f.name: f for f in cmp(a, _data(np.array([10.0])))}  # B: a single frame
    assert figs["fps"].verdict == "inconclusive" and "B did not measure" in figs["fps"].text
    assert figs["max temperature"].text == "unavailable (neither session measured it)"


def test_frame_read_time_is_compared_when_recorded() -> None:
    """Decoding got slower on B: a regression of its own, apart from e2e (which excludes
    it); sessions recorded before per-frame read times get no read rows at all."""
    n = 3000
    base = 10.0 + 0.3 * _noise(n, 1)
    figs = {f.name: f for f in cmp(
        _data(base, read=1.0 + 0.05 * _noise(n, 2)), _data(base, read=1.5 + 0.05 * _noise(n, 3)))}
    assert figs["read p95"].verdict == "regression"
    assert figs["e2e p95"].verdict == "no change"  # the same frames
    figs = {f.name: f for f in cmp(_data(base), _data(base, read=np.ones(n)))}
    assert figs["read p50"].verdict == "inconclusive" and "A did not measure" in \
        figs["read p50"].text
    assert not any(f.name.startswith("read") for f in cmp(_data(base), _data(base)))


def test_parse_tolerance() -> None:
    assert parse_tolerance("10%") == pytest.approx(0.10)
    assert parse_tolerance("0.05") == pytest.approx(0.05)
    assert parse_tolerance(" 2.5 % ".strip()) == pytest.approx(0.025)
    for bad in ("ten", "-5%", "nan"):
        with pytest.raises(ValueError):
            parse_tolerance(bad)


def test_box_matching() -> None:
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    a = [[0, 0, 10, 10, 1, 0.9], [20, 20, 40, 40, 2, 0.8]]
    b = [[1, 0, 11, 10, 1, 0.9], [20, 20, 40, 40, 3, 0.8], [100, 100, 110, 110, 1, 0.5]]
    ious = match_boxes(a, b)
    assert ious == [pytest.approx(90 / 110)]  # the class-2 box has no class-2 partner


def test_detection_agreement_over_the_store(db_path: Path) -> None:
    """Detector outputs stored as the agent stores them; matched IoU computed per frame."""
    boxes_a = [[[0, 0, 10, 10, 0, 0.9]], [[0, 0, 10, 10, 0, 0.9], [50, 50, 60, 60, 1, 0.7]]]
    boxes_b = [[[0, 0, 10, 10, 0, 0.8]], [[0, 0, 10, 12, 0, 0.9]]]
    with SessionStore(db_path) as st:
        ids = []
        for boxes in (boxes_a, boxes_b):
            sid = add_session(st, input_kind="video", input_sha256="ab" * 32,
                                    package_manifest={"task": "detection"}, status="completed",
                                    summary={"frames": 2})
            st.insert_batch(sid, [frame_row(i, 1.0 + i, 1, 1, 1, 3, {"boxes": b})
                                  for i, b in enumerate(boxes)], [], [])
            ids.append(sid)
        cmp = compare_sessions(st, ids[0], ids[1])
    ag = cmp.agreement
    assert ag.available and ag.task == "detection"
    assert (ag.boxes_a, ag.boxes_b, ag.boxes_matched) == (3, 2, 2)
    assert ag.iou_mean == pytest.approx((1.0 + 100 / 120) / 2)
    assert ag.recall == pytest.approx(2 / 3) and ag.recall_low is not None
    fig = next(f for f in cmp.figures if f.name == "box recall")
    # one box of three went missing: even the interval's top is under 95 %
    assert fig.verdict == "regression" and "2/3 of A's boxes" in fig.text


def test_unknown_or_unfinished_sessions_refused(runs: dict[str, Any], db_path: Path) -> None:
    with SessionStore(runs["db"]) as st, pytest.raises(CompareError, match="no session 999 in"):
        compare_sessions(st, runs["fp32"], 999)
    with SessionStore(db_path) as st:
        sid = add_session(st)
        with pytest.raises(CompareError, match="has no summary yet"):
            compare_sessions(st, sid, sid)
