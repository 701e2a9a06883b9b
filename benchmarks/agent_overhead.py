"""What the agent costs: the same frames through a bare loop and through the agent.

(1) bare loop: OpenCV decodes the recording, the agent's own pre-processing
    (``console.agent.pipeline.Preprocessor``), ``InferenceSession.run``;
    nothing else — no decoding of outputs, no protocol, no telemetry.
(2) the agent on the built-in device, through ``console.session.run.Run``
    (protocol, telemetry at 10 Hz, previews at 10 fps, SQLite recording).

Prints frames/s of both, their ratio and the agent's added milliseconds per
frame, for the demo model and a heavier one (>= 5 ms per inference).
Targets (issue 2): ratio >= 0.97 on the heavier model, added < 0.3 ms/frame.

Two placements, because on the built-in device the console (reading the
protocol, writing SQLite) shares the machine's cores with the model:

* ``shared``: everything on all cores, onnxruntime's own thread count — what
  ``devicelab run --device local`` does here. On a 2-core machine the
  console's work and any other load land on the cores the model's threads
  use, so this figure also measures the neighbours.
* ``isolated``: the "device" is the last CPU (bare loop and agent pinned
  there with one onnxruntime thread), the console runs on the others — how a
  real board sees it, where the console is another computer. This is the
  figure the targets are about.

Runs are interleaved (bare, agent, bare, …) and the median is printed with the
spread, together with the load average, so a noisy machine shows as noise.

    .venv/bin/python benchmarks/agent_overhead.py [--frames 2000] [--repeats 5]
                                                  [--placement both|shared|isolated]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.core.package import open_package  # noqa: E402


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """This thread (and the threads it starts) on ``cpus``; None: unchanged."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def bare_loop(pkg_dir: Path, video: Path, frames: int, threads: int = 0) -> float:
    import cv2
    import onnxruntime as ort

    from console.agent.pipeline import Preprocessor

    pkg = open_package(pkg_dir)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
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


def pinned_python(tmp: Path, cpu: int) -> str:
    """An interpreter that runs on ``cpu`` only (the agent inherits it)."""
    wrapper = tmp / f"python-cpu{cpu}"
    wrapper.write_text(f"#!/bin/sh\nexec taskset -c {cpu} {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    return str(wrapper)


def agent_run(pkg_dir: Path, video: Path, frames: int, db: Path, threads: int = 0,
              python: str | None = None) -> tuple[float, int]:
    from console.devices.base import AgentOptions
    from console.devices.local import LocalDevice
    from console.session.run import Run, RunRequest

    req = RunRequest(str(pkg_dir), str(video), AgentOptions(
        frames=frames, loop=True, threads=threads, preview_fps=10.0, telemetry_ms=100.0))
    res = Run(LocalDevice(python=python), req, db).execute()
    assert res.status == "completed", res.error
    s = res.summary or {}
    return float(s["fps"]), int(s["frames"])


def spread(xs: list[float]) -> str:
    return f"{min(xs):.1f}–{max(xs):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--placement", choices=("both", "shared", "isolated"), default="both")
    args = ap.parse_args()
    video = ROOT / "resources" / "recordings" / "digits-demo.avi"
    models = [("demo digits-cnn", ROOT / "resources" / "packages" / "digits-cnn", args.frames),
              ("heavy digits-cnn-wide", ROOT / "benchmarks" / "models" / "digits-cnn-wide",
               max(200, args.frames // 10))]
    cpus = sorted(os.sched_getaffinity(0))
    placements = ["shared", "isolated"] if args.placement == "both" else [args.placement]
    if "isolated" in placements and (len(cpus) < 2 or not shutil.which("taskset")):
        print("isolated placement needs 2 CPUs and taskset; skipped")
        placements.remove("isolated")
    print(f"{len(cpus)} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        for placement in placements:
            if placement == "isolated":
                dev_cpu, console_cpus = cpus[-1], set(cpus[:-1])
                where = f"device = CPU {dev_cpu}, 1 onnxruntime thread; console on the rest"
                threads, python = 1, pinned_python(Path(tmp), dev_cpu)
            else:
                dev_cpu, console_cpus = None, None
                where = "all CPUs, onnxruntime's own thread count"
                threads, python = 0, None
            print(f"\n== {placement}: {where}")
            for title, pkg, n in models:
                if not pkg.is_dir():
                    print(f"{title}: package {pkg} missing, skipped")
                    continue
                bare, agent = [], []
                for r in range(args.repeats):  # interleaved so drift hits both alike
                    with pinned({dev_cpu} if dev_cpu is not None else None):
                        bare.append(bare_loop(pkg, video, n, threads))
                    with pinned(console_cpus):
                        fps, got = agent_run(pkg, video, n, Path(tmp) / f"{placement}{r}.db",
                                             threads, python)
                    assert got == n, f"agent recorded {got} of {n} frames"
                    agent.append(fps)
                b, a = statistics.median(bare), statistics.median(agent)
                added = 1000.0 / a - 1000.0 / b
                print(f"{title}: {n} frames x {args.repeats}")
                print(f"  bare loop      {b:10.1f} frames/s  ({1000 / b:.3f} ms/frame)"
                      f"  runs {spread(bare)}")
                print(f"  through agent  {a:10.1f} frames/s  ({1000 / a:.3f} ms/frame)"
                      f"  runs {spread(agent)}")
                print(f"  ratio agent/bare {a / b:.3f}   added {added:+.3f} ms/frame")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
