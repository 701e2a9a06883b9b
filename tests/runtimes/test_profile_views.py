"""A profiled session as every view shows it: sessions show, the HTML report, the Chrome
trace export (checked against the Trace Event Format), and sessions compare of fp32
against int8 listing which operators got slower. Two real profiled runs, made once."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.op_profile import build_profile, compare_profiles, op_family

from .conftest import PACKAGES, VIDEO


def _dl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.launcher", *args], capture_output=True,
                          text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """Session 1: digits-cnn fp32, session 2: its int8 twin, both profiled (onnxruntime)."""
    home = tmp_path_factory.mktemp("home")
    env = dict(os.environ, DEVICELAB_HOME=str(home))
    db = home / "s.db"
    for pkg in ("digits-cnn", "digits-cnn-int8"):
        res = _dl(env, "run", "--package", str(PACKAGES / pkg), "--input", str(VIDEO),
                  "--profile", "100", "--quiet", "--db", str(db))
        assert res.returncode == 0, res.stderr
    return env, db


def test_sessions_show_lists_the_operators(profiled: tuple[dict[str, str], Path]) -> None:
    env, db = profiled
    res = _dl(env, "sessions", "show", "1", "--db", str(db))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    head = next(x for x in lines if x.startswith("operators   "))
    assert "profiled over frames 10-109 (onnxruntime " in head
    k = lines.index(head)
    assert lines[k + 1].split()[:2] == ["#", "node"] and lines[k + 2].split()[0] == "1"
    js = json.loads(_dl(env, "sessions", "show", "1", "--json", "--db", str(db)).stdout)
    ops = js["operators"]["ops"]
    assert js["profile"]["status"] == "ok" and js["operators"]["frames"] == 100
    assert {o["op_type"] for o in ops} >= {"Conv", "Gemm", "MaxPool"}
    assert all(o["calls"] == 100 for o in ops if o["op_type"] == "Conv")
    assert [o["total_us"] for o in ops] == sorted((o["total_us"] for o in ops), reverse=True)


def test_trace_export_is_chrome_trace_event_format(profiled: tuple[dict[str, str], Path],
                                                   tmp_path: Path) -> None:
    env, db = profiled
    out = tmp_path / "run.trace.json"
    res = _dl(env, "sessions", "export", "1", "--format", "trace", "-o", str(out), "--db",
              str(db))
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    for e in events:  # the Trace Event Format's required fields, with their types
        assert isinstance(e["name"], str) and e["ph"] in ("X", "M", "C")
        assert isinstance(e["ts"], (int, float)) and isinstance(e["pid"], int)
        assert isinstance(e["tid"], int)
        if e["ph"] == "X":
            assert isinstance(e["dur"], (int, float)) and e["dur"] >= 0
        if e["ph"] in ("M", "C"):
            assert isinstance(e["args"], dict)
    frames = [e for e in events if e["ph"] == "X" and e.get("cat") == "frame"]
    assert len(frames) == 360
    stages = [e for e in events if e.get("cat") == "stage"]
    assert len(stages) == 3 * 360
    f0 = frames[0]
    inner = [e for e in stages if f0["ts"] <= e["ts"] <= f0["ts"] + f0["dur"] + 1e-3][:3]
    assert [e["name"] for e in inner] == ["pre", "infer", "post"]
    assert sum(e["dur"] for e in inner) == pytest.approx(f0["dur"], abs=0.01)
    ops = [e for e in events if e["ph"] == "X" and e["pid"] == 2]
    js = json.loads(_dl(env, "sessions", "show", "1", "--json", "--db", str(db)).stdout)
    assert sorted(e["name"] for e in ops) == sorted(o["node"] for o in js["operators"]["ops"])
    # the operators follow one another in run order, without overlap
    ordered = sorted(ops, key=lambda e: e["ts"])
    for a, b in itertools.pairwise(ordered):
        assert b["ts"] >= a["ts"] + a["dur"] - 1e-3
    assert doc["otherData"]["runtime"] == "onnxruntime"


def test_html_report_has_the_profile_section(profiled: tuple[dict[str, str], Path],
                                             tmp_path: Path) -> None:
    env, db = profiled
    out = tmp_path / "r.html"
    assert _dl(env, "sessions", "export", "2", "--format", "html", "-o", str(out), "--db",
               str(db)).returncode == 0
    html = out.read_text()
    sec = html[html.index("<h2>Operator profile</h2>"):html.index("<h2>Bookmarks</h2>")]
    assert "Slowest operators" in sec and "Time by operator type" in sec
    assert "QLinearConv" in sec and sec.count("<svg") == 2 and "<table>" in sec


def test_compare_of_two_profiled_sessions_lists_the_slower_operators(
        profiled: tuple[dict[str, str], Path]) -> None:
    env, db = profiled
    res = _dl(env, "sessions", "compare", "1", "2", "--db", str(db))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    k = next(i for i, x in enumerate(lines) if x.startswith("operators (µs per profiled frame"))
    assert lines[k + 1].split() == ["operator", "kind", "A", "B", "B/A", "verdict"]
    js = json.loads(_dl(env, "sessions", "compare", "1", "2", "--json", "--db", str(db)).stdout)
    ops = js["operators"]
    assert {d["verdict"] for d in ops} <= {"slower", "faster", "same", "only in A", "only in B"}
    # the quantized model's own operators are only in B; the convolutions are compared
    only_b = {d["key"] for d in ops if d["verdict"] == "only in B"}
    assert {"QuantizeLinear", "DequantizeLinear"} <= only_b
    assert any(d["key"] == "Conv" and d["kind"] == "op type" and d["a_us"] and d["b_us"]
               for d in ops)
    slower = [d["key"] for d in ops if d["verdict"] == "slower"]
    tail = next(x for x in lines if x.startswith("  slower in B: "))
    assert tail == "  slower in B: " + (", ".join(slower) if slower else "none")


def test_compare_rules_on_known_profiles() -> None:
    meta = {"runtime": "onnxruntime", "status": "ok", "frames": 10, "infer_ms": 1.0}
    a = build_profile(meta, [("conv1", "Conv", "CPU", 10, 200.0, 0),
                             ("fc", "Gemm", "CPU", 10, 100.0, 1),
                             ("flat", "Flatten", "CPU", 10, 50.0, 2)])
    b = build_profile(meta, [("conv1_q", "QLinearConv", "CPU", 10, 100.0, 0),
                             ("fc", "Gemm", "CPU", 10, 300.0, 1),
                             ("flat", "Flatten", "CPU", 10, 52.0, 2),
                             ("q", "QuantizeLinear", "CPU", 10, 30.0, 3)])
    got = {d.key: (d.kind, d.a_us, d.b_us, d.verdict) for d in compare_profiles(a, b)}
    assert got == {"fc": ("node", 10.0, 30.0, "slower"), "flat": ("node", 5.0, 5.2, "same"),
                   "Conv": ("op type", 20.0, 10.0, "faster"),
                   "QuantizeLinear": ("op type", None, 3.0, "only in B")}
    assert [op_family(t) for t in ("QLinearConv", "QGemm", "NhwcMaxPool", "Conv", "Quantize")
            ] == ["Conv", "Gemm", "MaxPool", "Conv", "Quantize"]
    assert a.ops[0].share == pytest.approx(0.2) and a.ops[0].mean_us == 20.0


def test_comparison_report_has_the_operator_table(profiled: tuple[dict[str, str], Path],
                                                  tmp_path: Path) -> None:
    env, db = profiled
    out = tmp_path / "cmp.html"
    res = _dl(env, "sessions", "compare", "1", "2", "-o", str(out), "--db", str(db))
    assert res.returncode == 0, res.stderr
    html = out.read_text()
    sec = html[html.index("<h2>Operators</h2>"):html.index("<h2>Latency distribution")]
    assert "QuantizeLinear" in sec and "only in B" in sec and "<table>" in sec
