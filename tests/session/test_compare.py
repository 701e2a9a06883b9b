"""Comparing sessions: real fp32 and int8 runs of the demo model on the same recording.

The runs are real (agent subprocess, onnxruntime, SQLite); the verdict
logic is also checked on hand-written summaries, where the expected
numbers are known exactly.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import DEVICELAB, PKG, PKG_INT8, TRUTH, VIDEO, copy_db, record
from helpers.sessions import add_session

from console.core.store import SessionStore, frame_row
from console.session.compare import (
    NOISE_FLOORS,
    CompareError,
    box_iou,
    compare_sessions,
    figures,
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
        for p in ("p50", "p95", "p99"):
            assert f"{stage} {p}" in names
    lat = {f.name: f for f in cmp.figures}
    e2e95 = lat["e2e p95"]
    assert e2e95.a is not None and e2e95.b is not None and e2e95.change is not None
    assert e2e95.change == pytest.approx((e2e95.b - e2e95.a) / e2e95.a)
    assert e2e95.verdict in ("regression", "improvement", "same")
    ag = cmp.agreement
    assert ag.available and ag.task == "classification"
    assert ag.frames_compared == n
    assert ag.top1_agree is not None and ag.top1_agreement == pytest.approx(ag.top1_agree / n)
    # the int8 build answers like the float one (both ~0.98 accurate on this clip)
    assert ag.top1_agreement >= 0.9
    assert len(ag.disagreeing_frames) == min(50, n - ag.top1_agree)


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
    assert "verdict: no regression beyond 10 %" in res.stdout


def test_fail_on_regression_exit_status(runs: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(runs["db"], tmp_path / "s.db")
    with SessionStore(db) as st:
        s = st.get_session(runs["int8"])
        summ = s["summary"]
        base = st.get_session(runs["fp32"])["summary"]["latency_ms"]["e2e"]["p95"]
        summ["latency_ms"]["e2e"]["p95"] = base * 1.18 + 1.0  # well past the noise floor
        st.update_session(runs["int8"], summary=summ)
    args = [DEVICELAB, "sessions", "compare", str(runs["fp32"]), str(runs["int8"]), "--db",
            str(db)]
    plain = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0
    strict = subprocess.run([*args, "--fail-on-regression"], capture_output=True, text=True,
                            timeout=120)
    assert strict.returncode == 1
    line = next(ln for ln in strict.stdout.splitlines() if ln.strip().startswith("e2e p95"))
    assert "regression beyond 10 %" in line
    loose = subprocess.run([*args, "--fail-on-regression", "--tolerance", "100000%"],
                           capture_output=True, text=True, timeout=120)
    assert loose.returncode == 2 and "out of range" in loose.stderr


def _summary(p95: float, fps: float | None = 100.0, **extra: Any) -> dict[str, Any]:
    return {"latency_ms": {"e2e": {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.2}},
            "fps": fps, **extra}


def test_figure_verdicts_and_words() -> None:
    figs = {f.name: f for f in figures(_summary(10.0), _summary(11.8, fps=80.0), 0.10)}
    f = figs["e2e p95"]
    assert f.verdict == "regression" and f.text == "+18.0 % — regression beyond 10 %"
    assert f.line == "e2e p95: 10.000 ms → 11.800 ms  +18.0 % — regression beyond 10 %"
    assert figs["fps"].verdict == "regression"  # lower throughput is worse
    assert figs["fps"].text.startswith("-20.0 %")
    figs = {f.name: f for f in figures(_summary(10.0), _summary(8.0, fps=130.0), 0.10)}
    assert figs["e2e p95"].verdict == "improvement" and figs["fps"].verdict == "improvement"
    figs = {f.name: f for f in figures(_summary(10.0), _summary(10.5), 0.10)}
    assert figs["e2e p95"].verdict == "same" and "within 10 %" in figs["e2e p95"].text
    # +50 % of 0.02 ms is jitter, not a slower model
    figs = {f.name: f for f in figures(_summary(0.02), _summary(0.03), 0.10)}
    assert figs["e2e p95"].verdict == "same" and "noise floor" in figs["e2e p95"].text
    assert NOISE_FLOORS["latency_ms"] > 0.01
    # missing figures are unavailable, never zero
    figs = {f.name: f for f in figures(_summary(10.0), _summary(10.0, fps=None), 0.10)}
    assert figs["fps"].verdict == "unavailable" and "B did not measure" in figs["fps"].text
    assert figs["max temperature"].text == "unavailable (neither session measured it)"


def test_frame_read_time_is_compared_when_recorded() -> None:
    """Decoding got slower on B: a regression of its own, apart from e2e (which excludes
    it); sessions recorded before per-frame read times get no read rows at all."""
    read = {"p50": 0.1, "p95": 2.0, "p99": 3.0}
    slower = {"p50": 0.3, "p95": 3.0, "p99": 3.1}
    figs = {f.name: f for f in figures(_summary(10.0, read_ms=read),
                                       _summary(10.0, read_ms=slower), 0.10)}
    assert figs["read p95"].verdict == "regression" and figs["read p95"].text.startswith("+50.0")
    assert figs["read p99"].verdict == "same"  # +3.3 %
    # +200 % of 0.1 ms is the page cache or the camera, not a slower pipeline
    assert figs["read p50"].verdict == "same" and "0.5 ms noise floor" in figs["read p50"].text
    assert figs["e2e p95"].verdict == "same"
    figs = {f.name: f for f in figures(_summary(10.0), _summary(10.0, read_ms=read), 0.10)}
    assert figs["read p50"].verdict == "unavailable" and "A did not measure" in \
        figs["read p50"].text
    assert not any(n.startswith("read") for n in
                   (f.name for f in figures(_summary(10.0), _summary(10.0), 0.10)))


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
                                    summary=_summary(5.0))
            st.insert_batch(sid, [frame_row(i, 1.0 + i, 1, 1, 1, 3, {"boxes": b})
                                  for i, b in enumerate(boxes)], [], [])
            ids.append(sid)
        cmp = compare_sessions(st, ids[0], ids[1])
    ag = cmp.agreement
    assert ag.available and ag.task == "detection"
    assert (ag.boxes_a, ag.boxes_b, ag.boxes_matched) == (3, 2, 2)
    assert ag.iou_mean == pytest.approx((1.0 + 100 / 120) / 2)
    fig = next(f for f in cmp.figures if f.name == "matched-IoU mean")
    assert fig.verdict == "regression"  # one box of three went missing


def test_unknown_or_unfinished_sessions_refused(runs: dict[str, Any], db_path: Path) -> None:
    with SessionStore(runs["db"]) as st, pytest.raises(CompareError, match="no session 999 in"):
        compare_sessions(st, runs["fp32"], 999)
    with SessionStore(db_path) as st:
        sid = add_session(st)
        with pytest.raises(CompareError, match="has no summary yet"):
            compare_sessions(st, sid, sid)
