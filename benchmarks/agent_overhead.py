"""What the agent costs: the same frames through a bare loop and through the agent.

(1) bare loop: OpenCV decodes the recording, the agent's own pre-processing
    (``console.agent.pipeline.Preprocessor``), ``InferenceSession.run``;
    nothing else — no decoding of outputs, no protocol, no telemetry.
(2) the agent on the built-in device, through ``console.session.run.Run``
    (protocol, telemetry at 10 Hz, previews at 10 fps, SQLite recording).

Prints frames/s of both, their ratio and the agent's added milliseconds per
frame, for the demo model and a heavier one (>= 5 ms per inference).
Targets (issue 2): ratio >= 0.97 on the heavier model, added < 0.3 ms/frame.

    .venv/bin/python benchmarks/agent_overhead.py [--frames 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.core.package import open_package  # noqa: E402


def bare_loop(pkg_dir: Path, video: Path, frames: int) -> float:
    import cv2
    import onnxruntime as ort

    from console.agent.pipeline import Preprocessor

    pkg = open_package(pkg_dir)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(pkg.model_path), opts, providers=["CPUExecutionProvider"])
    pre = Preprocessor(pkg.manifest.input)
    name = pkg.manifest.input.name
    outs = [o.name for o in sess.get_outputs()]
    cap = cv2.VideoCapture(str(video))
    sess.run(outs, {name: pre(cap.read()[1])})  # warm-up, like the agent's cold start
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    n = 0
    t0 = time.perf_counter()
    while n < frames:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        sess.run(outs, {name: pre(frame)})
        n += 1
    return n / (time.perf_counter() - t0)


def agent_run(pkg_dir: Path, video: Path, frames: int, db: Path) -> tuple[float, int]:
    from console.devices.base import AgentOptions
    from console.devices.local import LocalDevice
    from console.session.run import Run, RunRequest

    req = RunRequest(str(pkg_dir), str(video), AgentOptions(
        frames=frames, loop=True, preview_fps=10.0, telemetry_ms=100.0))
    res = Run(LocalDevice(), req, db).execute()
    assert res.status == "completed", res.error
    s = res.summary or {}
    return float(s["fps"]), int(s["frames"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    video = ROOT / "resources" / "recordings" / "digits-demo.avi"
    models = [("demo digits-cnn", ROOT / "resources" / "packages" / "digits-cnn", args.frames),
              ("heavy digits-cnn-wide", ROOT / "benchmarks" / "models" / "digits-cnn-wide",
               max(200, args.frames // 10))]
    with tempfile.TemporaryDirectory() as tmp:
        for title, pkg, n in models:
            if not pkg.is_dir():
                print(f"{title}: package {pkg} missing, skipped")
                continue
            bare, agent = [], []
            for r in range(args.repeats):  # interleaved so drift hits both alike
                bare.append(bare_loop(pkg, video, n))
                fps, got = agent_run(pkg, video, n, Path(tmp) / f"b{r}.db")
                assert got == n, f"agent recorded {got} of {n} frames"
                agent.append(fps)
            b, a = statistics.median(bare), statistics.median(agent)
            added = 1000.0 / a - 1000.0 / b
            print(f"{title}: {n} frames x {args.repeats}")
            print(f"  bare loop      {b:10.1f} frames/s  ({1000 / b:.3f} ms/frame)")
            print(f"  through agent  {a:10.1f} frames/s  ({1000 / a:.3f} ms/frame)")
            print(f"  ratio agent/bare {a / b:.3f}   added {added:+.3f} ms/frame")


if __name__ == "__main__":
    main()
