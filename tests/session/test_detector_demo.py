"""The detector demo through the real local agent: NanoDet-g on OpenCV's vtest footage.

What the agent must find comes from ``opencv-vtest.reference.csv``, which
``tools/build_detector_package.py`` computed with its own numpy decoding of the
model's raw head outputs (not with the decoding appended to the graph, nor with
the agent). Scores near the package's threshold may land either side of it
between two float paths, so a reference box must be found only when it is
clearly above the threshold, and an agent box must match a reference box that
is at least near it.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from console.core import protocol as P
from console.core.manifest import read_labels, read_manifest
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunListener, RunRequest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "resources" / "packages" / "nanodet-g-coco"
CLIP = ROOT / "resources" / "recordings" / "opencv-vtest.mp4"
REFERENCE = ROOT / "resources" / "recordings" / "opencv-vtest.reference.csv"
FRAMES = 12
MARGIN = 0.05  # score band around the threshold where either answer is right
MIN_IOU = 0.9

Box = tuple[int, float, tuple[float, float, float, float]]  # class, score, x1 y1 x2 y2


class Frames(RunListener):
    def __init__(self) -> None:
        self.frames: list[P.Frame] = []

    def frame(self, msg: P.Frame) -> None:
        self.frames.append(msg)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def reference() -> dict[int, list[Box]]:
    out: dict[int, list[Box]] = defaultdict(list)
    with open(REFERENCE, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            out[int(r["frame"])].append((int(r["class"]), float(r["score"]),
                                         (float(r["x1"]), float(r["y1"]),
                                          float(r["x2"]), float(r["y2"]))))
    return out


def matched(box: Box, among: list[Box]) -> bool:
    return any(c == box[0] and iou(xy, box[2]) >= MIN_IOU for c, _, xy in among)


def test_detector_finds_the_people_the_reference_decode_finds(db_path: Path) -> None:
    manifest, _ = read_manifest(str(PACKAGE))
    labels = read_labels(str(PACKAGE), manifest)
    assert labels is not None
    person = labels.index("person")
    thr = manifest.output.score_threshold
    ref = reference()
    # Not vacuous: people are clearly visible on every frame the test runs.
    for i in range(FRAMES):
        assert any(c == person and s >= thr + MARGIN for c, s, _ in ref[i]), i

    ls = Frames()
    req = RunRequest(str(PACKAGE), str(CLIP), AgentOptions(frames=FRAMES, preview_fps=0))
    result = Run(LocalDevice(), req, db_path, ls).execute()
    assert result.status == "completed", result.error
    assert [f.i for f in ls.frames] == list(range(FRAMES))

    for f in ls.frames:
        got: list[Box] = [(int(b[4]), float(b[5]), (b[0], b[1], b[2], b[3]))
                          for b in f.out["boxes"]]
        must = [b for b in ref[f.i] if b[1] >= thr + MARGIN]
        may = [b for b in ref[f.i] if b[1] >= thr - MARGIN]
        missing = [b for b in must if not matched(b, got)]
        extra = [b for b in got if not matched(b, may)]
        assert not missing, f"frame {f.i}: the agent missed {missing} (it found {got})"
        assert not extra, f"frame {f.i}: the agent found {extra}, not in the reference"
        assert all(s >= thr for _, s, _ in got)
