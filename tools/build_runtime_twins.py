"""The demo (and the benchmark model) for LiteRT and OpenVINO, from the very same weights.

Reads the ONNX models ``tools/build_demo_model.py`` trained and packaged and
writes beside them:

* ``resources/packages/digits-cnn-litert/``    the demo as LiteRT ``.tflite`` (NHWC)
* ``resources/packages/digits-cnn-openvino/``  the demo as OpenVINO IR ``.xml`` + ``.bin``
* with ``--wide``: ``benchmarks/models/digits-cnn-wide-{litert,openvino}/`` (the
  benchmark model; ``benchmarks/runtimes.py`` builds these in a temporary folder
  itself, so the repository does not carry 7 MB of copies)

OpenVINO's own ``convert_model`` writes the IR from the ONNX file (weights
kept fp32: ``compress_to_fp16=False``); the ``.tflite`` is written by
``tools/onnx_to_tflite.py``. Each package is built with ``build_package``
(so its input spec is read from the converted model by its own runtime) and
verified; then all three runtimes classify every frame of the demo
recording and the build fails unless they agree on the top-1 class of at
least 99 % of the frames. Build-time needs: openvino, ai-edge-litert, onnx
(the ``runtimes`` and ``build-demo`` extras); no torch, no retraining::

    .venv/bin/python tools/build_runtime_twins.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _p in (str(REPO), str(REPO / "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

MIN_AGREEMENT = 0.99


class BuildError(Exception):
    pass


def _manifest(pkg: Path) -> Any:
    from console.core.manifest import read_manifest

    return read_manifest(str(pkg))[0]


def write_twin(src_pkg: Path, out: Path, runtime: str, work: Path) -> None:
    """``src_pkg`` (an onnxruntime package) rebuilt for ``runtime`` with the same weights,
    pre-processing, decoding and labels."""
    from console.core.package import build_package, verify_package

    m = _manifest(src_pkg)
    onnx_model = src_pkg / m.model
    if runtime == "openvino":
        from console.agent.runtimes.openvino_backend import block_telemetry

        block_telemetry()  # convert_model would send a usage event otherwise
        import openvino as ov

        model = work / "model.xml"
        ov.save_model(ov.convert_model(str(onnx_model)), str(model), compress_to_fp16=False)
        via = f"OpenVINO IR written by openvino {ov.__version__.split('-')[0]} convert_model"
    else:
        from onnx_to_tflite import convert

        model = work / "model.tflite"
        convert(onnx_model, model)
        via = "LiteRT flatbuffer written by tools/onnx_to_tflite.py"
    i = m.input
    pre = {"color": i.color, "layout": "NHWC" if runtime == "litert" else i.layout,
           "scale": i.scale, "mean": list(i.mean), "std": list(i.std), "resize": i.resize}
    o = m.output
    if out.exists():
        shutil.rmtree(out)
    build_package(model, out, task=m.task, labels=src_pkg / o.labels if o.labels else None,
                  name=f"{m.name}-{runtime}", version=m.version,
                  description=f"{m.description} Same weights as {m.name}: {via}.",
                  input_overrides=pre,
                  output_overrides={"softmax": o.softmax, "top_k": o.top_k},
                  runtime=runtime)
    ver = verify_package(out)
    if not ver.ok or ver.warnings:
        raise BuildError(f"{out}: " + "; ".join([*map(str, ver.problems), *ver.warnings]))


def top1_on_video(pkg: Path, video: Path) -> np.ndarray:
    """Top-1 class of every frame of ``video``, pre-processed by the agent's own code and run
    by the agent's backend for the package's runtime (not through a session log)."""
    import cv2

    from console.agent.pipeline import Pipeline

    pipe = Pipeline(str(pkg), _manifest(pkg))
    cap = cv2.VideoCapture(str(video))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(int(np.asarray(pipe.infer(pipe.pre(frame))[0]).reshape(-1).argmax()))
    cap.release()
    return np.asarray(out)


def agreement(pkgs: list[Path], video: Path) -> tuple[float, int]:
    tops = [top1_on_video(p, video) for p in pkgs]
    same = np.all([t == tops[0] for t in tops[1:]], axis=0)
    return float(same.mean()), len(same)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the LiteRT and OpenVINO twins of the demo "
                                 "and benchmark packages from their ONNX models, and check "
                                 "that the three runtimes agree on the demo recording.")
    ap.add_argument("--root", type=Path, default=REPO)
    ap.add_argument("--wide", action="store_true",
                    help="also the benchmark model's twins, beside it in benchmarks/models")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    video = root / "resources/recordings/digits-demo.avi"
    jobs = [root / "resources/packages/digits-cnn"]
    if args.wide:
        jobs.append(root / "benchmarks/models/digits-cnn-wide")
    for src in jobs:
        made = [src]
        for rt in ("litert", "openvino"):
            out = src.with_name(f"{src.name}-{rt}")
            with tempfile.TemporaryDirectory(prefix="twin-") as tmp:
                write_twin(src, out, rt, Path(tmp))
            size = sum(p.stat().st_size for p in out.iterdir())
            print(f"wrote {out} ({size} B)")
            made.append(out)
        agree, n = agreement(made, video)
        print(f"{src.name}: onnxruntime, LiteRT and OpenVINO agree on the top-1 class of "
              f"{agree:.2%} of {n} frames of {video.name}")
        if agree < MIN_AGREEMENT:
            raise BuildError(f"{src.name}: the runtimes agree on only {agree:.2%} of the frames "
                             f"(need {MIN_AGREEMENT:.0%})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"build_runtime_twins: {exc}", file=sys.stderr)
        sys.exit(1)
