"""The MCAP export as Foxglove and PlotJuggler read it, checked with the ``mcap`` reader.

- annotated preview frames as ``foxglove.CompressedImage`` on their own channel,
  every message valid against Foxglove's published schema (tests/data/foxglove),
  decodable JPEGs of the recording's frames with the model's answer drawn on them;
- telemetry flat (numbers only, no nested maps), named by the log's columns with
  their units, equal to what the log holds;
- events valid ``foxglove.Log`` messages;
- a session without a recording (synthetic input) has no image channel, and says so.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from helpers.recording import PKG, TRUTH, VIDEO, record
from jsonschema import Draft202012Validator

from console.core import protocol as P
from console.core.store import SessionStore
from console.session.export import export_session
from console.session.export.mcap_images import PREVIEW_HZ

FOXGLOVE = Path(__file__).resolve().parents[1] / "data" / "foxglove"
IMAGES, TELEMETRY, EVENTS = "/devicelab/images", "/devicelab/telemetry", "/devicelab/events"


def _published(name: str) -> dict[str, Any]:
    return json.loads((FOXGLOVE / f"{name}.schema.json").read_text())


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("mcap")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, PKG, str(VIDEO), truth=str(TRUTH), fps=60)  # 6 s of clip
        syn = record(db, PKG, "synthetic:64x64", frames=40)
    return {"db": db, "id": sid, "syn": syn}


def _read(path: Path) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    from mcap.reader import make_reader

    with open(path, "rb") as fh:
        reader = make_reader(fh, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None
        schemas = {c.topic: summary.schemas[c.schema_id] for c in summary.channels.values()}
        msgs: dict[str, list[Any]] = {}
        for _s, channel, m in reader.iter_messages():
            msgs.setdefault(channel.topic, []).append((m.log_time, json.loads(m.data)))
    return schemas, msgs


def _agrees(ours: dict[str, Any], published: dict[str, Any]) -> None:
    """Our registered schema is Foxglove's: its name, required fields and every field's
    type and bounds (our text may describe more)."""
    assert ours["title"] == published["title"]
    assert ours.get("required") == published["required"]
    for name, spec in published["properties"].items():
        assert name in ours["properties"], name
        mine = ours["properties"][name]
        for k, v in spec.items():
            if k == "properties":
                for sub, subspec in v.items():
                    assert {a: mine[k][sub].get(a) for a in subspec} == subspec, (name, sub)
            elif k == "oneOf":
                assert [{a: o.get(a) for a in ("title", "const")} for o in mine[k]] == v
            else:
                assert mine.get(k) == v, (name, k)


def test_images_are_foxglove_compressed_images_of_the_recording(rec: dict[str, Any],
                                                                tmp_path: Path) -> None:
    out = tmp_path / "run.mcap"
    with SessionStore(rec["db"]) as st:
        res = export_session(st, rec["id"], "mcap", out)
        frames = {f["i"]: f for f in st.iter_frames(rec["id"])}
    schemas, msgs = _read(out)
    sch = schemas[IMAGES]
    assert sch.name == "foxglove.CompressedImage" and sch.encoding == "jsonschema"
    published = _published("CompressedImage")
    _agrees(json.loads(sch.data), published)
    check = Draft202012Validator(published)
    by_ns = {round(f["ts"] * 1e9): f for f in frames.values()}
    images = msgs[IMAGES]
    assert any("annotated preview frames" in n for n in res.notes)
    # the frames drawn: the first, then each one at least 1/PREVIEW_HZ after the last drawn
    want, next_t = [], None
    for f in sorted(frames.values(), key=lambda f: f["i"]):
        if next_t is None or f["ts"] >= next_t:
            want.append(f["i"])
            next_t = f["ts"] + 1.0 / PREVIEW_HZ
    assert [by_ns[t]["i"] for t, _m in images] == want
    clip = cv2.VideoCapture(str(VIDEO))
    raw = []
    while True:
        ok, fr = clip.read()
        if not ok:
            break
        raw.append(fr)
    clip.release()
    last = None
    for log_time, m in images:
        check.validate(m)
        assert m["format"] == "jpeg" and m["frame_id"]
        assert m["timestamp"]["sec"] * 10**9 + m["timestamp"]["nsec"] == log_time
        f = by_ns[log_time]  # an image is one of the session's frames, at its time
        if last is not None:  # (a unix time in a float64 is exact to ~0.24 µs, not 1 ns)
            assert f["ts"] - last >= 1.0 / PREVIEW_HZ - 1e-6
        last = f["ts"]
        jpeg = base64.b64decode(m["data"], validate=True)
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        src = raw[f["i"]]
        assert img is not None and img.shape == src.shape
        # the model's answer is drawn in a band at the top; the rest is the frame itself
        band = max(18, img.shape[0] // 8)
        diff = np.abs(img.astype(np.int16) - src.astype(np.int16))
        assert diff[band + 2:].mean() < 8, "the picture is not the recording's frame"
        assert diff[:band].mean() > 20, "nothing drawn on the frame"
        assert (img[:band] < 40).mean() > 0.5 and (img[:band] > 200).any()  # text on black


def test_telemetry_is_flat_numbers_with_units_in_the_names(rec: dict[str, Any],
                                                           tmp_path: Path) -> None:
    out = tmp_path / "run.mcap"
    with SessionStore(rec["db"]) as st:
        export_session(st, rec["id"], "mcap", out)
        db = st._read("SELECT * FROM telemetry WHERE session_id = ? ORDER BY ts_unix_s",
                      [rec["id"]])
    schemas, msgs = _read(out)
    schema = json.loads(schemas[TELEMETRY].data)
    check = Draft202012Validator(schema)
    columns = {f.column for f in P.TELEMETRY_FIELDS}
    assert set(schema["properties"]) == columns | {"t_s"}
    tele = msgs[TELEMETRY]
    assert len(tele) == len(db) > 10
    for (_t, m), row in zip(tele, db, strict=True):
        check.validate(m)
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in m.values()), m  # flat: no maps, no lists, no text
        for k in m:
            assert k in columns or k == "t_s" or any(
                k.startswith(prefix + "_") for prefix, _u in P.TELEMETRY_MAPS.values()), k
        for c in ("rss_mib", "mem_used_mib", "cpu_agent_pct_core", "cpu_sys_pct"):
            if row[c] is not None:
                assert m[c] == pytest.approx(row[c]), c
    assert any("cpu_agent_pct_core" in m for _t, m in tele)
    assert all("rss_mib" in m and "rss_mb" not in m for _t, m in tele)


def test_events_are_foxglove_logs(rec: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "run.mcap"
    with SessionStore(rec["db"]) as st:
        export_session(st, rec["id"], "mcap", out)
        n = len(st.events(rec["id"]))
    schemas, msgs = _read(out)
    published = _published("Log")
    _agrees(json.loads(schemas[EVENTS].data), published)
    check = Draft202012Validator(published)
    assert len(msgs[EVENTS]) == n >= 2
    for _t, m in msgs[EVENTS]:
        check.validate(m)
    assert {m["level"] for _t, m in msgs[EVENTS]} >= {2, 3}  # info and warning


def test_no_recording_no_image_channel(rec: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "syn.mcap"
    with SessionStore(rec["db"]) as st:
        res = export_session(st, rec["syn"], "mcap", out)
    schemas, msgs = _read(out)
    assert IMAGES not in schemas and IMAGES not in msgs
    assert len(msgs["/devicelab/frames"]) == 40
    assert any("no preview frames" in n and "synthetic" in n for n in res.notes)
