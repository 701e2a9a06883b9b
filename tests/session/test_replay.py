"""Replaying a recorded session, and refusing when the files changed since.

Every refusal case changes a real file on disk (package manifest, model,
recording) and checks the one-line reason names the file and the figure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import DEVICELAB, PKG, PKG_INT8, TRUTH, VIDEO, copy_db, record
from helpers.sessions import add_session

from console.core.manifest import sha256_file
from console.core.package import open_package
from console.core.store import SessionStore
from console.devices.local import LocalDevice
from console.session.replay import (
    ReplayRefused,
    load_timeline,
    plan_replay,
    recorded_device_spec,
    resolve_moment,
    verify_replayed,
)
from console.session.run import Run


def copies(d: Path) -> tuple[Path, Path, Path]:
    """Private copies of the demo package, clip and truth (tests change them)."""
    pkg = d / "pkg"
    shutil.copytree(PKG, pkg)
    video = d / "clip.avi"
    shutil.copyfile(VIDEO, video)
    truth = d / "truth.csv"
    shutil.copyfile(TRUTH, truth)
    return pkg, video, truth


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("replay")
    pkg, video, truth = copies(d)
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, pkg, str(video), truth=str(truth), note="customer run",
                     tags=("field",), budgets={"p95_ms": 1000.0})
    return {"db": db, "id": sid, "pkg": pkg, "video": video, "truth": truth, "dir": d}


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, Any]:
    """A short recording of our own, whose files a test may damage."""
    pkg, video, _ = copies(tmp_path)
    db = tmp_path / "sessions.db"
    sid = record(db, pkg, str(video), frames=20)
    return {"db": db, "id": sid, "pkg": pkg, "video": video}


def plan(ctx: dict[str, Any], **kw: Any) -> Any:
    with SessionStore(ctx["db"]) as st:
        return plan_replay(st, ctx["id"], **kw)


def test_replay_reruns_the_recorded_run_and_links_to_it(recorded: dict[str, Any],
                                                        tmp_path: Path) -> None:
    db = copy_db(recorded["db"], tmp_path / "s.db")
    ctx = dict(recorded, db=db)
    p = plan(ctx)
    assert p.original_id == recorded["id"] and p.device == "local"
    assert Path(p.package_path) == recorded["pkg"]
    assert p.input_spec == str(recorded["video"].resolve())
    req = p.request
    assert req.replay_of == recorded["id"]
    assert req.truth == str(recorded["truth"]) and req.budgets == {"p95_ms": 1000.0}
    assert req.tags == ("field",) and req.note == f"replay of session {recorded['id']}: " \
                                                  "customer run"
    result = Run(LocalDevice(), req, db).execute()
    assert result.status == "completed", result.error
    with SessionStore(db) as st:
        a, b = st.get_session(recorded["id"]), st.get_session(result.session_id)
        assert b["replay_of"] == a["id"]
        for key in ("package_digest", "package_model_sha256", "input_sha256"):
            assert a[key] == b[key]
        assert a["settings"] == b["settings"]
        assert a["frames_received"] == b["frames_received"]
        assert b["summary"]["accuracy"]["top1"] == a["summary"]["accuracy"]["top1"]
        assert verify_replayed(st, a["id"], b["id"]) == []


def test_changed_manifest_is_refused_naming_it(fresh: dict[str, Any]) -> None:
    mf = fresh["pkg"] / "manifest.json"
    m = json.loads(mf.read_text())
    m["input"]["scale"] = 0.5
    mf.write_text(json.dumps(m, indent=2))
    with pytest.raises(ReplayRefused) as err:
        plan(fresh)
    msg = str(err.value)
    assert str(fresh["pkg"]) in msg and "manifest.json sha256 is" in msg
    assert "same model" in msg and "\n" not in msg


def test_changed_model_is_refused_naming_it(fresh: dict[str, Any]) -> None:
    """A consistent package (hashes match its own manifest) with another model."""
    pkg = fresh["pkg"]
    shutil.copyfile(PKG_INT8 / "model.onnx", pkg / "model.onnx")
    mf = pkg / "manifest.json"
    m = json.loads(mf.read_text())
    m["files"]["model.onnx"] = {"sha256": sha256_file(str(pkg / "model.onnx")),
                                "size": (pkg / "model.onnx").stat().st_size}
    mf.write_text(json.dumps(m, indent=2))
    with pytest.raises(ReplayRefused) as err:
        plan(fresh)
    msg = str(err.value)
    want_now = sha256_file(str(PKG_INT8 / "model.onnx"))[:12]
    assert f"model.onnx sha256 is {want_now}… now, recorded " in msg
    assert str(pkg) in msg and "pass --package" in msg


def test_damaged_package_is_refused(fresh: dict[str, Any]) -> None:
    model = fresh["pkg"] / "model.onnx"
    data = bytearray(model.read_bytes())
    data[200] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ReplayRefused, match=r"fails its own hash check \(model\.onnx: sha256"):
        plan(fresh)


def test_changed_recording_is_refused_naming_it(fresh: dict[str, Any]) -> None:
    with open(fresh["video"], "ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(ReplayRefused) as err:
        plan(fresh)
    msg = str(err.value)
    assert f"input {fresh['video'].resolve()}" in msg and "sha256" in msg
    assert "recorded" in msg and "pass --input" in msg


def test_missing_files_say_what_to_pass(fresh: dict[str, Any], tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.move(str(fresh["pkg"]), str(moved))
    with pytest.raises(ReplayRefused, match=r"not found .*pass --package with a copy"):
        plan(fresh)
    # the copy, passed explicitly, is checked and accepted
    p = plan(fresh, package=str(moved))
    assert p.package_path == str(moved)
    clip = tmp_path / "copy-of-clip.avi"
    shutil.move(str(fresh["video"]), str(clip))
    with pytest.raises(ReplayRefused, match=r"not found .*pass --input with a copy"):
        plan(fresh, package=str(moved))
    p = plan(fresh, package=str(moved), input=str(clip))
    assert p.input_spec == str(clip.resolve())


def test_wrong_explicit_copies_are_refused(fresh: dict[str, Any]) -> None:
    with pytest.raises(ReplayRefused, match=r"it is digits-cnn-int8@1\.0\.0, the session ran "
                                            r"digits-cnn@1\.0\.0"):
        plan(fresh, package=str(PKG_INT8))
    with pytest.raises(ReplayRefused, match="--input synthetic: not a file"):
        plan(fresh, input="synthetic")
    missing = fresh["db"].parent / "no-such-package"
    with pytest.raises(ReplayRefused, match=f"--package {missing}: no such file"):
        plan(fresh, package=str(missing))


def _row(st: SessionStore, **kw: Any) -> int:
    """A recorded session row for inputs this VM has no device for (camera, stream)."""
    base: dict[str, Any] = {
        "status": "completed", "device_kind": "local", "device_name": "This computer",
        "device_address": "local", "package_name": "digits-cnn", "package_version": "1.0.0",
        "package_source": str(PKG), "settings": {"fps": 5.0, "frames": 10}}
    pkg = open_package(PKG)
    base.update(package_digest=pkg.digest,
                package_model_sha256=pkg.manifest.files["model.onnx"].sha256,
                package_manifest={"source": str(PKG), "task": "classification"})
    base.update(kw)
    return add_session(st, **base)


def test_live_inputs(db_path: Path) -> None:
    with SessionStore(db_path) as st:
        synth = _row(st, input_kind="synthetic", input_desc="synthetic 64x48")
        cam = _row(st, input_kind="camera", input_desc="camera /dev/video2")
        secret = _row(st, input_kind="stream", input_desc="rtsp://admin:***@10.0.0.9/live")
        open_stream = _row(st, input_kind="stream", input_desc="rtsp://10.0.0.9/live")
        running = _row(st, input_kind="synthetic", input_desc="synthetic 64x48",
                       status="running")
        p = plan_replay(st, synth)
        assert p.input_spec == "synthetic:64x48" and p.notes == ()
        assert p.request.options.fps == 5.0 and p.request.options.frames == 10
        with pytest.raises(ReplayRefused, match="ran synthetic:64x48"):
            plan_replay(st, synth, input="synthetic:32x32")
        p = plan_replay(st, cam)
        assert p.input_spec == "camera:2" and "live camera" in p.notes[0]
        with pytest.raises(ReplayRefused, match="password is never stored; pass --input"):
            plan_replay(st, secret)
        p = plan_replay(st, secret, input="rtsp://admin:hunter2@10.0.0.9/live")
        assert p.input_spec == "rtsp://admin:hunter2@10.0.0.9/live"
        with pytest.raises(ReplayRefused, match="another stream"):
            plan_replay(st, secret, input="rtsp://admin:x@10.0.0.10/live")
        assert plan_replay(st, open_stream).input_spec == "rtsp://10.0.0.9/live"
        with pytest.raises(ReplayRefused, match="still recording"):
            plan_replay(st, running)
        with pytest.raises(ReplayRefused, match="no session '77'"):
            plan_replay(st, "77")


def test_recorded_device_spec() -> None:
    assert recorded_device_spec({"device_kind": "local"}) == "local"
    ssh = {"device_kind": "ssh", "device_name": "gw-3", "device_address": "pi@10.0.0.7:22"}
    assert recorded_device_spec(ssh) == "pi@10.0.0.7:22"
    assert recorded_device_spec({**ssh, "device_address": "lab-pi"}) == "lab-pi"  # an alias
    assert recorded_device_spec(ssh, ["gw-3"]) == "gw-3"
    assert recorded_device_spec({**ssh, "device_address": "ssh://pi@h"}) == "ssh://pi@h"


def test_timeline_and_moments(recorded: dict[str, Any]) -> None:
    with SessionStore(recorded["db"]) as st:
        tl = load_timeline(st, recorded["id"])
        n = st.frame_count(recorded["id"])
        n_tel = len(st.telemetry(recorded["id"]))
    fr = tl.frames
    assert fr["i"].size == n and fr["t"][0] == 0.0 and (fr["t"][1:] >= fr["t"][:-1]).all()
    assert tl.telemetry["t"].size == n_tel and "cpu_agent" in tl.telemetry
    assert tl.duration_s >= fr["t"][-1]
    m = resolve_moment(tl, frame=100)
    assert m.frame_i == 100 and m.t == pytest.approx(fr["t"][100])
    assert m.ts == pytest.approx(tl.t0 + m.t)
    # a time resolves to the frame on screen then; and back
    back = resolve_moment(tl, time_s=m.t)
    assert back.frame_i == 100 and back.t == pytest.approx(m.t)
    mid = resolve_moment(tl, time_s=(fr["t"][100] + fr["t"][101]) / 2)
    assert mid.frame_i == 100
    frames_so_far, tel_so_far = tl.until(m.t)
    assert frames_so_far["i"][-1] == 100
    assert (tel_so_far["t"] <= m.t).all()
    with pytest.raises(ValueError, match=f"has frames 0–{n - 1}; frame {n + 5} is not"):
        resolve_moment(tl, frame=n + 5)
    with pytest.raises(ValueError, match="is outside it"):
        resolve_moment(tl, time_s=tl.duration_s + 10)
    with pytest.raises(ValueError, match="either a frame or a time"):
        resolve_moment(tl)


def test_cli_replay_and_refusal(recorded: dict[str, Any], tmp_path: Path) -> None:
    db = copy_db(recorded["db"], tmp_path / "s.db")
    res = subprocess.run([DEVICELAB, "sessions", "replay", str(recorded["id"]), "--json",
                          "--db", str(db)], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "completed"
    assert f"replaying session {recorded['id']} on local" in res.stderr
    with SessionStore(db) as st:
        assert st.get_session(out["session_id"])["replay_of"] == recorded["id"]
    bad = subprocess.run([DEVICELAB, "sessions", "replay", str(recorded["id"]), "--package",
                          str(PKG_INT8), "--db", str(db)], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("devicelab: error: replay refused: package")
    assert "Traceback" not in bad.stderr + bad.stdout
