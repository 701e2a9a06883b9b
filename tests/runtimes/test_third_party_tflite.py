"""Real LiteRT models nobody here wrote, through package build -> verify -> run.

- Shipped: MediaPipe's BlazeFace short-range face detector (Apache-2.0, from the
  mediapipe 0.10.14 wheel; tests/data/third_party/mediapipe-face-detection/README.md
  records where it came from). Always runs.
- Fetched: the palm detector inside that very PyPI wheel, downloaded with pip at test
  time (nothing copied into the repository); skipped, with the reason, when the wheel
  cannot be fetched.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest

from .conftest import FACE, ROOT

WHEEL = "mediapipe==0.10.14"
PALM = "mediapipe/modules/palm_detection/palm_detection_lite.tflite"
FACE_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
VTEST = ROOT / "resources" / "recordings" / "opencv-vtest.mp4"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.launcher", *args],
                          capture_output=True, text=True, timeout=300)


def _build_verify_run(model: Path, out: Path, db: Path, side: int,
                      outputs: dict[str, list[int]]) -> None:
    # MediaPipe feeds RGB scaled to -1..1: x * 2/255 - 1
    res = _cli("package", "build", str(model), "--task", "raw", "-o", str(out), "--color", "RGB",
               "--scale", str(2 / 255), "--mean", "1.0", "--runtime-setting", "threads=2")
    assert res.returncode == 0, res.stderr
    res = _cli("package", "verify", str(out), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    ver = json.loads(res.stdout)
    assert ver["ok"] and ver["model_inputs"][0]["shape"] == [1, side, side, 3]
    assert ver["model_inputs"][0]["type"] == "tensor(float)"
    assert {o["name"]: o["shape"] for o in ver["model_outputs"]} == outputs
    man = json.loads((out / "manifest.json").read_text())
    assert man["runtime"] == "litert" and man["runtime_settings"] == {"threads": 2}
    assert man["input"]["layout"] == "NHWC"
    run = Run(LocalDevice(), RunRequest(str(out), str(VTEST), AgentOptions(
        frames=30, preview_fps=0)), db).execute()
    assert run.status == "completed", run.error
    with SessionStore(db) as st:
        row = st.get_session(run.session_id)
        frames = list(st.iter_frames(run.session_id))
    assert row["runtime"] == "litert" and len(frames) == 30
    out = frames[0]["out"]
    assert (json.loads(out) if isinstance(out, str) else out) == {"shapes": outputs}


def test_shipped_mediapipe_face_detector_builds_verifies_and_runs(tmp_path: Path) -> None:
    model = FACE / "face_detection_short_range.tflite"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == FACE_SHA256
    assert (FACE / "LICENSE-Apache-2.0").read_text().startswith(" " * 33 + "Apache License")
    _build_verify_run(model, tmp_path / "face", tmp_path / "s.db", 128,
                      {"regressors": [1, 896, 16], "classificators": [1, 896, 1]})


def test_palm_detector_from_the_mediapipe_wheel(tmp_path: Path) -> None:
    dl = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                         str(tmp_path / "wheel"), WHEEL], capture_output=True, text=True,
                        timeout=600)
    wheels = sorted((tmp_path / "wheel").glob("mediapipe-*.whl"))
    if dl.returncode != 0 or not wheels:
        pytest.skip(f"cannot fetch the {WHEEL} wheel: "
                    f"{(dl.stderr.strip().splitlines() or ['no wheel'])[-1][:200]}")
    with zipfile.ZipFile(wheels[0]) as zf:
        meta = zf.read("mediapipe-0.10.14.dist-info/METADATA").decode()
        assert "License: Apache 2.0" in meta  # what allows running (and shipping) it
        model = tmp_path / "palm_detection_lite.tflite"
        model.write_bytes(zf.read(PALM))
    _build_verify_run(model, tmp_path / "palm", tmp_path / "s.db", 192,
                      {"Identity": [1, 2016, 18], "Identity_1": [1, 2016, 1]})
