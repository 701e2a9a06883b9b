"""Exports of a real recorded session, read back with independent readers.

CSV with the csv module, JSON with json, MCAP with the ``mcap`` package's
own reader, HTML by checking it fetches nothing and carries its plots.
"""

from __future__ import annotations

import csv
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.recording import PKG, PKG_INT8, TRUTH, VIDEO, record

from console.core.store import SessionStore
from console.session.export import (
    ExportCancelled,
    ExportError,
    _fmt_tick,
    _nice_ticks,
    cdf_chart,
    export_comparison,
    export_session,
    histogram_chart,
    line_chart,
    telemetry_csv_path,
)
from console.session.export.charts import MAX_LINE_POINTS

EVIL = "<script>alert('x')</script> & \"quotes\""


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("export")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, PKG, str(VIDEO), truth=str(TRUTH), note=EVIL,
                     budgets={"p95_ms": 1000.0, "max_temp_c": 90.0})
        other = record(db, PKG_INT8, str(VIDEO), truth=str(TRUTH))
    with SessionStore(db) as st:
        st.add_bookmark(sid, "first bookmark", frame_i=10, ts=None)
        st.add_bookmark(sid, EVIL, frame_i=200,
                        ts=st.conn.execute("SELECT ts_unix_s FROM frames WHERE "
                                           "session_id=? AND i=200", [sid]).fetchone()[0])
    return {"db": db, "id": sid, "other": other}


@pytest.fixture
def store(rec: dict[str, Any]) -> Any:
    with SessionStore(rec["db"]) as st:
        yield st


def test_csv_frames_and_telemetry(rec: dict[str, Any], store: SessionStore,
                                  tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    res = export_session(store, rec["id"], "csv", out)
    assert res.paths == [out, tmp_path / "run.telemetry.csv"]
    assert telemetry_csv_path(out) == tmp_path / "run.telemetry.csv"
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    frames = list(store.iter_frames(rec["id"]))
    assert len(rows) == len(frames) == res.frames
    for r, f in zip(rows[::37], frames[::37]):
        assert int(r["i"]) == f["i"]
        assert float(r["e2e_ms"]) == pytest.approx(f["e2e"])
        assert int(r["top1"]) == f["top1"]
        assert json.loads(r["output_json"]) == f["out"]
    assert float(rows[0]["t_s"]) == 0.0
    with open(res.paths[1], newline="") as fh:
        tel = list(csv.DictReader(fh))
    samples = store.telemetry(rec["id"])
    assert len(tel) == len(samples) == res.telemetry > 0
    assert "cpu_agent_pct_core" in tel[0] and "rss_mib" in tel[0]
    last = samples[-1]
    assert float(tel[-1]["rss_mib"]) == pytest.approx(last["rss_mb"])


def test_json_holds_everything(rec: dict[str, Any], store: SessionStore, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    res = export_session(store, rec["id"], "json", out)
    doc = json.loads(out.read_text())
    assert doc["format"] == "devicelab-session/2"
    s = store.get_session(rec["id"])
    assert doc["session"]["uuid"] == s["uuid"] and doc["session"]["summary"] == s["summary"]
    assert len(doc["frames"]) == store.frame_count(rec["id"]) == res.frames
    assert doc["frames"][5]["out"]["top"][0][0] == doc["frames"][5]["top1"]
    assert len(doc["telemetry"]) == len(store.telemetry(rec["id"]))
    assert [b["note"] for b in doc["bookmarks"]] == ["first bookmark", EVIL]
    assert len(doc["events"]) == len(store.events(rec["id"])) == res.events


def test_mcap_reads_back_with_the_reference_reader(rec: dict[str, Any], store: SessionStore,
                                                   tmp_path: Path) -> None:
    from mcap.reader import make_reader

    out = tmp_path / "run.mcap"
    export_session(store, rec["id"], "mcap", out)
    sid = rec["id"]
    with open(out, "rb") as fh:
        reader = make_reader(fh, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None
        topics = {c.topic: c for c in summary.channels.values()}
        counts = {c.topic: summary.statistics.channel_message_counts.get(c.id, 0)
                  for c in summary.channels.values()}
        assert counts["/devicelab/frames"] == store.frame_count(sid)
        assert counts["/devicelab/telemetry"] == len(store.telemetry(sid))
        assert counts["/devicelab/events"] == len(store.events(sid))
        assert counts["/devicelab/bookmarks"] == 2
        for topic, ch in topics.items():
            schema = summary.schemas[ch.schema_id]
            assert ch.message_encoding == "json" and schema.encoding == "jsonschema"
            assert json.loads(schema.data)["type"] == "object", topic
        assert summary.schemas[topics["/devicelab/events"].schema_id].name == "foxglove.Log"
        db_frames = {f["i"]: f for f in store.iter_frames(sid)}
        last_time = 0
        seen = 0
        for _schema, channel, message in reader.iter_messages(log_time_order=False):
            assert message.log_time >= last_time  # written in time order
            last_time = message.log_time
            if channel.topic == "/devicelab/frames":
                m = json.loads(message.data)
                f = db_frames[m["i"]]
                assert m["e2e_ms"] == pytest.approx(f["e2e"]) and m["out"] == f["out"]
                assert message.log_time == round(f["ts"] * 1e9)
                seen += 1
        assert seen == len(db_frames)
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        assert meta["devicelab.session"]["uuid"] == store.get_session(sid)["uuid"]
        assert json.loads(meta["devicelab.session"]["summary"])["frames"] == len(db_frames)


def test_html_report_is_self_contained(rec: dict[str, Any], store: SessionStore,
                                       tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    export_session(store, rec["id"], "html", out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # nothing to fetch: no scripts, stylesheets, images, fonts or links
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"@import", r"url\(",
                    r"\bsrc=", r"\bhref="):
        assert not re.search(pattern, text, re.I), pattern
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert "default-src 'none'" in text  # and the page forbids fetching anyway
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", text, re.S)
    titles = [re.search(r'aria-label="([^"]*)"', s)[1] for s in svgs]
    assert "latency per frame (ms)" in titles
    for stage in ("pre", "infer", "post", "e2e"):
        for kind in ("histogram", "CDF"):
            assert any(t.startswith(f"{stage} latency {kind}") for t in titles), (stage, kind)
    # real curves: the latency plot has a point per frame (fewer than the decimation limit)
    lat = svgs[titles.index("latency per frame (ms)")]
    first_path = re.search(r'<path d="([^"]+)"', lat)[1]
    assert first_path.count("L") == store.frame_count(rec["id"]) - 1
    summ = store.get_session(rec["id"])["summary"]
    temp = svgs[titles.index("temperature (°C)")] if "temperature (°C)" in titles else \
        svgs[titles.index("temperature (°C): unavailable")]
    if summ["thermal"] is None:
        assert "unavailable — the device reports no thermal zones" in temp
    else:
        assert "<path" in temp
    assert "CPU over time" in text and "Memory over time" in text
    # facts, summary, budgets, bookmarks, events
    s = store.get_session(rec["id"])
    assert s["uuid"] in text and s["package_digest"] in text and s["input_sha256"] in text
    assert "p99.9" in text and "first bookmark" in text and "cold_start" in text
    assert "p95_ms" in text and ("PASS" in text or "FAIL" in text)
    # user text is escaped, never markup
    assert EVIL not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text


def test_progress_and_cancel(rec: dict[str, Any], store: SessionStore, tmp_path: Path) -> None:
    seen: list[float] = []
    export_session(store, rec["id"], "json", tmp_path / "a.json",
                   progress=lambda f, t: seen.append(f))
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    cancel = threading.Event()
    cancel.set()
    out = tmp_path / "b.html"
    with pytest.raises(ExportCancelled):
        export_session(store, rec["id"], "html", out, cancel=cancel)
    assert list(tmp_path.glob("b.html*")) == [] and list(tmp_path.glob(".b.html*")) == []


def test_export_errors_are_one_line(store: SessionStore, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no session 4242 in"):
        export_session(store, 4242, "csv", tmp_path / "x.csv")
    with pytest.raises(ExportError, match="unknown export format 'xlsx'"):
        export_session(store, 1, "xlsx", tmp_path / "x.xlsx")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ExportError, match=r"cannot write .*file/x\.json") as err:
        export_session(store, 1, "json", blocker / "x.json")
    assert "\n" not in str(err.value)


def test_comparison_exports(rec: dict[str, Any], store: SessionStore, tmp_path: Path) -> None:
    cmp, res = export_comparison(store, rec["id"], rec["other"], tmp_path / "cmp.html")
    text = res.paths[0].read_text()
    assert "top-1 agreement" in text and cmp.verdict_line() in text
    assert "A: session" in text and "B: session" in text
    assert not re.search(r"<script|\bsrc=|\bhref=", text)
    _, res2 = export_comparison(store, rec["id"], rec["other"], tmp_path / "cmp.json")
    doc = json.loads(res2.paths[0].read_text())
    assert doc["format"] == "devicelab-comparison/2"
    assert doc["agreement"]["frames_compared"] == store.frame_count(rec["id"])
    assert {f["name"] for f in doc["figures"]} >= {"e2e p95", "fps", "top-1 agreement"}
    with pytest.raises(ExportError, match="html or json"):
        export_comparison(store, rec["id"], rec["other"], tmp_path / "cmp.csv")


def test_plots_say_unavailable_instead_of_drawing_nothing() -> None:
    empty = np.zeros(0)
    assert "unavailable — no samples" in line_chart("cpu", [("cpu", empty, empty)])
    nan = np.full(5, np.nan)
    assert "unavailable — nothing" in line_chart("t", [("t", np.arange(5.0), nan)],
                                                 unavailable="nothing")
    assert "unavailable — no frames" in histogram_chart("h", [("a", empty)])
    assert "unavailable — no frames" in cdf_chart("c", [("a", empty)])


def test_exported_files_get_normal_permissions(rec: dict[str, Any], store: SessionStore,
                                               tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    out = tmp_path / "r.json"
    export_session(store, rec["id"], "json", out)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_tick_labels_match_their_positions() -> None:
    ticks, step = _nice_ticks(0.0, 11.97)
    assert step == 2.5 and [_fmt_tick(t, step) for t in ticks] == \
        ["0.0", "2.5", "5.0", "7.5", "10.0", "12.5"]
    ticks, step = _nice_ticks(0.05, 0.229)
    assert [_fmt_tick(t, step) for t in ticks] == ["0.05", "0.10", "0.15", "0.20", "0.25"]


def test_line_chart_keeps_spikes_and_nan_gaps_when_decimated() -> None:
    """The report draws through the live plots' decimator: a one-frame spike among
    100 000 frames still reaches the top of the plot, a run of NaN still breaks the line."""
    x = np.arange(100_000, dtype=np.float64)
    y = np.ones_like(x)
    y[54_321] = 50.0
    y[70_000:72_000] = np.nan
    svg = line_chart("lat", [("e2e", x, y)])
    d = re.search(r'<path d="([^"]+)"', svg)[1]
    pts = [(float(a), float(b)) for a, b in re.findall(r"[ML]([\d.]+),([\d.]+)", d)]
    assert 100 < len(pts) <= MAX_LINE_POINTS
    top = min(b for _, b in pts)
    assert top == 30.0  # the plot's top margin: y = 50, the axis maximum
    assert d.count("M") == 2  # one break, where the NaN run is
    xs = [a for a, _ in pts]
    assert xs == sorted(xs)


def test_histogram_counts_outliers_in_the_last_bin() -> None:
    v = np.concatenate([np.linspace(1.0, 2.0, 999), [500.0]])
    svg = histogram_chart("h", [("a", v)])
    over = int((v > np.percentile(v, 99.5)).sum())
    assert over >= 1 and f"{over} frames above" in svg
    bars = re.search(r'<path d="([^"]+)"', svg)[1]
    assert len(re.findall(r"L", bars)) == 2 * 60 + 1  # 60 bins, closed to the baseline


def test_csv_and_json_names_come_from_the_field_table(rec: dict[str, Any], store: SessionStore,
                                                      tmp_path: Path,
                                                      ) -> None:
    from console.core.protocol import FRAME_DERIVED, FRAME_FIELDS, TELEMETRY_FIELDS
    # the log's names, carrying their units, in every export
    res = export_session(store, rec["id"], "csv", tmp_path / "new.csv")
    with open(res.paths[0], newline="") as fh:
        header = next(csv.reader(fh))
    assert {f.column for f in (*FRAME_FIELDS, *FRAME_DERIVED)} <= set(header)
    with open(res.paths[1], newline="") as fh:
        theader = next(csv.reader(fh))
    present = {f.column for f in TELEMETRY_FIELDS} & set(theader)
    assert {"cpu_agent_pct_core", "rss_mib"} <= present and "cpu_agent" not in theader
    export_session(store, rec["id"], "json", tmp_path / "new.json")
    frame = json.loads((tmp_path / "new.json").read_text())["frames"][0]
    assert set(frame) == {f.column for f in (*FRAME_FIELDS, *FRAME_DERIVED)} | {"out"}
