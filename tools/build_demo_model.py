"""Build the bundled demo: digit classifiers as model packages, plus a recorded video.

What this writes (paths relative to the repository root):

* ``resources/packages/digits-cnn/``       fp32 2-conv CNN on 8x8 GRAY digits
* ``resources/packages/digits-cnn-int8/``  the same model, static QDQ int8
* ``resources/recordings/digits-demo.avi`` the held-out test digits, one per frame
* ``resources/recordings/digits-demo.truth.csv``  ``frame,label`` ground truth
* ``benchmarks/models/digits-cnn-wide/``   a heavier 3-conv CNN at 64x64 for benchmarks
* ``resources/packages/digits-cnn-{litert,openvino}/``  digits-cnn's weights for LiteRT
  and OpenVINO (``tools/build_runtime_twins.py``, which also runs on its own)

The data is scikit-learn's ``load_digits`` (ships with the package, no
download). A digit pixel v in 0..16 is written to the video as
round(v * 255 / 16), so every model is trained on v / 16 == pixel / 255 and its
manifest says ``scale = 1/255``: the console's own pre-processing (grey,
``area`` resize, scale) turns a video frame back into what the model saw in
training. The script checks exactly that by reading the video back.

Deterministic: fixed seeds, a fixed torch thread count, deterministic algorithms.
Inference times are measured with onnxruntime's default session options and
vary with machine load; accuracies do not.

Needs the ``build-demo`` extra (torch, onnx, scikit-learn)::

    .venv/bin/pip install -e '.[build-demo]'
    .venv/bin/python tools/build_demo_model.py
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _p in (str(REPO), str(REPO / "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

SEED = 20240611  # data split, torch init, shuffling: everything derives from this
VERSION = "1.0.0"
FRAME_SIZE = 240  # video frames are FRAME_SIZE x FRAME_SIZE, 8x8 blocks of 30 px
FPS = 30
WIDE_SIZE = 64  # input side of the benchmark model (240 -> 64 area keeps 8-px blocks)
WIDE_CHANNELS = (128, 192, 384)  # ~7 ms per frame on a 2-core AVX-512 EPYC VM
TORCH_THREADS = 2  # fixed, not os.cpu_count(): the thread count changes the float sums
LABELS = [str(i) for i in range(10)]
PREPROCESS = {
    "color": "GRAY",
    "layout": "NCHW",
    "scale": 1 / 255,
    "mean": [0.0],
    "std": [1.0],
    "resize": "area",
}
OUTPUT = {"softmax": True, "top_k": 3}


class BuildError(Exception):
    """A check on the built artefacts failed; the message says which and why."""


# ---------------------------------------------------------------------------
# data


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """80/20 stratified split of load_digits; images as float32 v/16 in [0, 1], (N, 8, 8)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)
    return x_tr, x_te, y_tr, y_te


def upscale(x: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale of (N, h, w) images by an integer factor."""
    return np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)


# ---------------------------------------------------------------------------
# models


def make_small() -> Any:
    """2 conv + linear on 1x1x8x8: ~6 k parameters, ~0.99 test accuracy."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 4 x 4
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(32 * 4 * 4, 10),
    )


def make_wide(channels: tuple[int, int, int] = WIDE_CHANNELS) -> Any:
    """3 conv (widths ``channels``) at 64x64, 4x4 average pool, linear.

    The first two convolutions run at the full 64x64, which is where the
    inference time goes. BatchNorm and a 4x4 (not global) pool make a short
    training enough: with neither, two epochs left a narrower net at chance
    level. The exporter folds BatchNorm into the convolutions.
    """
    from torch import nn

    c1, c2, c3 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1),
        nn.BatchNorm2d(c1),
        nn.ReLU(),  # 64
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.BatchNorm2d(c2),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32
        nn.Conv2d(c2, c3, 3, padding=1),
        nn.BatchNorm2d(c3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),  # c3 x 4 x 4
        nn.Linear(c3 * 16, 10),
    )


def train(
    model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, batch: int, log: str
) -> Any:
    """Adam + cosine schedule, fixed-seed shuffling. ``x`` is (N, H, W) float32."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(SEED)
    xt = torch.from_numpy(x[:, None])
    yt = torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(xt) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(
            f"  {log} epoch {epoch + 1}/{epochs}: loss {total / len(xt):.4f} "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    model.eval()
    return model


def torch_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        pred = model(torch.from_numpy(x[:, None])).argmax(1).numpy()
    return float((pred == y).mean())


def export_onnx(model: Any, side: int, path: Path) -> None:
    """One self-contained .onnx (TorchScript exporter, opset 17), dynamic batch."""
    import warnings

    import torch

    dummy = torch.zeros(1, 1, side, side)
    with warnings.catch_warnings():
        # dynamo=True would write a side .onnx.data file; the legacy exporter is on purpose.
        warnings.filterwarnings(
            "ignore", "You are using the legacy TorchScript", DeprecationWarning
        )
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )


def quantize_int8(fp32: Path, out: Path, calib: np.ndarray, work: Path) -> None:
    """Static QDQ int8 (MinMax over ``calib``); dynamic quantisation is 5-9x slower here."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, data: np.ndarray, batch: int = 64) -> None:
            self._batches = iter([data[i : i + batch, None] for i in range(0, len(data), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            b = next(self._batches, None)
            return None if b is None else {"input": np.ascontiguousarray(b)}

    pre = work / "pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(out),
        Reader(calib),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )


# ---------------------------------------------------------------------------
# onnxruntime checks


def session(path: Path) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def ort_predict(sess: Any, x: np.ndarray) -> np.ndarray:
    """Predicted classes for (N, H, W) inputs, one frame per run (as the console runs)."""
    return np.array(
        [int(sess.run(None, {"input": x[i][None, None]})[0].argmax()) for i in range(len(x))]
    )


def mean_ms(sess: Any, x: np.ndarray, runs: int) -> tuple[float, float]:
    """Mean and median single-frame latency in ms, after a warm-up."""
    feeds = [{"input": np.ascontiguousarray(x[i % len(x)][None, None])} for i in range(runs)]
    for f in feeds[:20]:
        sess.run(None, f)
    times = []
    for f in feeds:
        t0 = time.perf_counter()
        sess.run(None, f)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.mean(times)), float(np.median(times))


# ---------------------------------------------------------------------------
# packages and video


def write_package(model: Path, out: Path, labels: Path, *, name: str, description: str) -> None:
    from console.core.package import build_package, verify_package

    if out.exists():
        shutil.rmtree(out)  # build_package does not remove stale files
    build_package(
        model,
        out,
        task="classification",
        labels=labels,
        name=name,
        version=VERSION,
        description=description,
        input_overrides=PREPROCESS,
        output_overrides=OUTPUT,
    )
    ver = verify_package(out)
    if not ver.ok:
        raise BuildError(
            f"{out}: package verify failed: " + "; ".join(str(p) for p in ver.problems)
        )
    if ver.warnings:
        raise BuildError(f"{out}: package verify warned: " + "; ".join(ver.warnings))


def write_video(images: np.ndarray, labels: np.ndarray, video: Path, truth: Path) -> None:
    """One 240x240 frame per digit, grey as BGR, OpenCV's own MJPG writer at quality 95.

    OpenCV's built-in MJPEG encoder honours VIDEOWRITER_PROP_QUALITY; the
    FFmpeg backend ignores it. FFmpeg reads the file back fine.
    """
    import cv2

    video.parent.mkdir(parents=True, exist_ok=True)
    block = FRAME_SIZE // 8
    pixels = np.rint(images * 255.0).astype(np.uint8)  # v/16*255 rounded == round(v*255/16)
    writer = cv2.VideoWriter(
        str(video),
        cv2.CAP_OPENCV_MJPEG,
        cv2.VideoWriter.fourcc(*"MJPG"),
        FPS,
        (FRAME_SIZE, FRAME_SIZE),
    )
    if not writer.isOpened():
        raise BuildError(f"{video}: OpenCV cannot open an MJPG writer")
    if not writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95):
        print("  note: this OpenCV ignores VIDEOWRITER_PROP_QUALITY", flush=True)
    for img in upscale(pixels, block):
        writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    writer.release()
    with open(truth, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["frame", "label"])
        for i, lab in enumerate(labels):
            w.writerow([i, int(lab)])


def read_video_as(video: Path, side: int) -> np.ndarray:
    """Frames as the console pre-processes them: grey, area-resized, /255 -> (N, side, side)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        out.append(cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA))
    cap.release()
    return np.asarray(out, dtype=np.float32) / 255.0


def read_truth(path: Path) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if [int(r["frame"]) for r in rows] != list(range(len(rows))):
        raise BuildError(f"{path}: frame column is not 0..N-1")
    return np.array([int(r["label"]) for r in rows])


def size_of(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Train the digit CNNs on scikit-learn's load_digits, export them to ONNX "
        "(fp32 + static int8), write them as devicelab model packages, record the "
        "held-out digits as a demo video with a ground-truth CSV, and build a "
        "heavier 64x64 model for benchmarks. Deterministic (fixed seeds); about "
        "two minutes on 2 cores, most of it training the benchmark model.",
        epilog="Outputs: resources/packages/digits-cnn{,-int8}/, "
        "resources/recordings/digits-demo.{avi,truth.csv}, "
        "benchmarks/models/digits-cnn-wide/. Existing outputs are replaced.",
    )
    ap.add_argument(
        "--root",
        type=Path,
        default=REPO,
        help="repository root to write into (default: %(default)s)",
    )
    ap.add_argument(
        "--skip-wide", action="store_true", help="do not build the heavier benchmark model"
    )
    ap.add_argument(
        "--epochs",
        type=int,
        default=40,
        help="training epochs of the small model (default: %(default)s)",
    )
    ap.add_argument(
        "--wide-epochs",
        type=int,
        default=1,
        help="training epochs of the benchmark model; one (~0.94 test accuracy, "
        "~1.5 min) is enough for a benchmark (default: %(default)s)",
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=500,
        help="timed single-frame runs per model (default: %(default)s)",
    )
    args = ap.parse_args(argv)

    import torch

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(TORCH_THREADS)  # with the seeds: identical weights run to run
    torch.use_deterministic_algorithms(True)

    root: Path = args.root.resolve()
    pkg_small = root / "resources/packages/digits-cnn"
    pkg_int8 = root / "resources/packages/digits-cnn-int8"
    pkg_wide = root / "benchmarks/models/digits-cnn-wide"
    video = root / "resources/recordings/digits-demo.avi"
    truth = root / "resources/recordings/digits-demo.truth.csv"

    x_tr, x_te, y_tr, y_te = load_split()
    print(f"load_digits: {len(x_tr)} train / {len(x_te)} test (stratified, seed {SEED})")

    with tempfile.TemporaryDirectory(prefix="build-demo-") as tmp_s:
        tmp = Path(tmp_s)
        labels_txt = tmp / "labels.txt"
        labels_txt.write_text("\n".join(LABELS) + "\n", encoding="utf-8")

        # --- small fp32 + int8 --------------------------------------------------
        print("training digits-cnn (8x8)")
        torch.manual_seed(SEED)
        small = train(
            make_small(), x_tr, y_tr, epochs=args.epochs, lr=1e-2, batch=64, log="digits-cnn"
        )
        acc_torch = torch_accuracy(small, x_te, y_te)
        fp32 = tmp / "digits-cnn.onnx"
        int8 = tmp / "digits-cnn-int8.onnx"
        export_onnx(small, 8, fp32)
        quantize_int8(fp32, int8, x_tr, tmp)
        s32, s8 = session(fp32), session(int8)
        acc32 = float((ort_predict(s32, x_te) == y_te).mean())
        acc8 = float((ort_predict(s8, x_te) == y_te).mean())
        print(f"test accuracy: torch {acc_torch:.4f}, onnx fp32 {acc32:.4f}, int8 {acc8:.4f}")
        if acc32 < 0.97:
            raise BuildError(f"fp32 test accuracy {acc32:.4f} is below 0.97")
        if acc8 < acc32 - 0.02:
            raise BuildError(f"int8 test accuracy {acc8:.4f} is far below fp32 {acc32:.4f}")

        common = (
            "Handwritten digits 0-9 from scikit-learn load_digits (8x8 grey), "
            "2-conv CNN; bundled demo built by tools/build_demo_model.py"
        )
        write_package(
            fp32,
            pkg_small,
            labels_txt,
            name="digits-cnn",
            description=f"{common}. fp32, test accuracy {acc32:.3f}.",
        )
        write_package(
            int8,
            pkg_int8,
            labels_txt,
            name="digits-cnn-int8",
            description=f"{common}. int8 (static QDQ), test accuracy {acc8:.3f}.",
        )
        print(f"wrote {pkg_small} ({size_of(pkg_small)} B) and {pkg_int8} ({size_of(pkg_int8)} B)")

        # --- video --------------------------------------------------------------
        write_video(x_te, y_te, video, truth)
        frames = read_video_as(video, 8)
        y_video = read_truth(truth)
        if len(frames) != len(x_te) or len(y_video) != len(x_te):
            raise BuildError(
                f"{video}: read back {len(frames)} frames and {len(y_video)} "
                f"truth rows, wrote {len(x_te)}"
            )
        err = float(np.abs(frames - np.rint(x_te * 255) / 255).max() * 255)
        vid32 = float((ort_predict(s32, frames) == y_video).mean())
        vid8 = float((ort_predict(s8, frames) == y_video).mean())
        print(
            f"wrote {video} ({size_of(video)} B, {len(frames)} frames, max pixel error "
            f"after decode + area resize {err:.1f}/255) and {truth}"
        )
        print(f"video accuracy: fp32 {vid32:.4f}, int8 {vid8:.4f}")
        if vid32 < acc32 - 0.01:
            raise BuildError(
                f"fp32 accuracy on the video {vid32:.4f} is not close to the "
                f"test accuracy {acc32:.4f}"
            )
        ms32 = mean_ms(s32, frames, args.runs)
        ms8 = mean_ms(s8, frames, args.runs)
        print(
            f"inference (1 frame, default session): fp32 mean {ms32[0]:.3f} ms "
            f"(median {ms32[1]:.3f}), int8 mean {ms8[0]:.3f} ms (median {ms8[1]:.3f})"
        )

        # --- wide benchmark model ----------------------------------------------
        if not args.skip_wide:
            factor = WIDE_SIZE // 8
            print(f"training digits-cnn-wide ({WIDE_SIZE}x{WIDE_SIZE}, channels {WIDE_CHANNELS})")
            torch.manual_seed(SEED)
            wide = train(
                make_wide(),
                upscale(x_tr, factor),
                y_tr,
                epochs=args.wide_epochs,
                lr=3e-3,
                batch=16,
                log="digits-cnn-wide",
            )
            wide_onnx = tmp / "digits-cnn-wide.onnx"
            export_onnx(wide, WIDE_SIZE, wide_onnx)
            sw = session(wide_onnx)
            accw = float((ort_predict(sw, upscale(x_te, factor)) == y_te).mean())
            frames_w = read_video_as(video, WIDE_SIZE)
            vidw = float((ort_predict(sw, frames_w) == y_video).mean())
            print(f"digits-cnn-wide: test accuracy {accw:.4f}, video accuracy {vidw:.4f}")
            if accw < 0.9:
                raise BuildError(f"digits-cnn-wide test accuracy {accw:.4f} is below 0.9")
            write_package(
                wide_onnx,
                pkg_wide,
                labels_txt,
                name="digits-cnn-wide",
                description=(
                    "Heavier digits classifier for benchmarks: 3-conv CNN "
                    f"({'/'.join(map(str, WIDE_CHANNELS))} channels) on "
                    f"{WIDE_SIZE}x{WIDE_SIZE} grey upscaled load_digits, "
                    f"test accuracy {accw:.3f}. Built by "
                    "tools/build_demo_model.py."
                ),
            )
            msw = mean_ms(sw, frames_w, max(100, args.runs // 5))
            print(f"wrote {pkg_wide} ({size_of(pkg_wide)} B)")
            print(
                f"inference (1 frame, default session): wide mean {msw[0]:.3f} ms "
                f"(median {msw[1]:.3f})"
            )
            if not 5.0 <= msw[1] <= 15.0:
                print(
                    f"  WARNING: wide model median {msw[1]:.2f} ms is outside the 5-15 ms "
                    "target; adjust WIDE_CHANNELS",
                    flush=True,
                )
    # --- the same weights for LiteRT and OpenVINO -----------------------------
    import build_runtime_twins

    build_runtime_twins.main(["--root", str(root)])
    print("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"build_demo_model: {exc}", file=sys.stderr)
        sys.exit(1)
