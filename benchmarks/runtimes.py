"""The three runtimes on this CPU: a bare loop, the agent, and the profiler's cost.

For the demo (digits-cnn) and the heavier benchmark model (digits-cnn-wide),
each in onnxruntime, LiteRT and OpenVINO — the same weights: the LiteRT and
OpenVINO twins of the wide model are built into a temporary folder first
(``tools/build_runtime_twins.write_twin``), the demo's are the shipped ones:

(1) bare loop (in a fresh interpreter, pinned like the agent): OpenCV decodes
    the recording, the agent's own pre-processing
    (``console.agent.pipeline.Preprocessor``), the runtime's own API called
    directly (``InferenceSession.run``; LiteRT ``set_tensor/invoke/get_tensor``;
    OpenVINO ``InferRequest.infer`` on an input tensor sharing numpy memory) —
    nothing else;
(2) through the agent: ``console.session.run.Run`` on the built-in device
    (protocol, telemetry at 10 Hz, previews at 10 fps, SQLite recording);
(3) profiled: (2) with ``--profile`` over every frame after a 10-frame warm-up
    (the runtime's own profiler: onnxruntime's trace, OpenVINO's PERF_COUNT;
    LiteRT has none, so nothing to measure).

Prints frames/s of each, the agent/bare ratio per runtime (target >= 0.97 on
the heavy model for every runtime) and the profiler's overhead (profiled/plain
frames per second). Placement as ``benchmarks/agent_overhead.py``'s
``isolated``: the "device" is the last CPU, one inference thread, the console
on the others — how a board sees it when the console is another computer
(``--placement shared`` runs everything on all CPUs, each runtime's own thread
count). Runs are interleaved (bare, agent, profiled, bare, …); medians with
the spread; the load average is printed, so a noisy machine shows as noise.

    .venv/bin/python benchmarks/runtimes.py [--frames 2000] [--repeats 3]
                                            [--placement isolated|shared]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "tools"), str(ROOT / "benchmarks")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from agent_overhead import pinned, pinned_python, spread  # noqa: E402

from console.core.package import open_package  # noqa: E402

RUNTIMES = ("onnxruntime", "litert", "openvino")


def _infer_fn(runtime: str, pkg: Any, threads: int) -> Callable[[Any], Any]:
    """One inference with the runtime's own API, on a loaded model."""
    model = pkg.model_path
    if runtime == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        name, outs = pkg.manifest.input.name, [o.name for o in sess.get_outputs()]
        return lambda x: sess.run(outs, {name: x})
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(model), num_threads=threads or None)
        it.allocate_tensors()
        i = it.get_input_details()[0]["index"]
        o = [d["index"] for d in it.get_output_details()]

        def run(x: Any) -> Any:
            it.set_tensor(i, x)
            it.invoke()
            return [it.get_tensor(k) for k in o]

        return run
    from console.agent.runtimes.openvino_backend import block_telemetry

    block_telemetry()
    import numpy as np
    import openvino as ov

    cfg = {"INFERENCE_NUM_THREADS": threads} if threads else {}
    req = ov.Core().compile_model(str(model), "CPU", cfg).create_infer_request()
    shape = pkg.manifest.input.shape()
    buf = np.zeros(shape, np.float32)
    req.set_input_tensor(0, ov.Tensor(buf, shared_memory=True))  # the fastest way in

    def infer(x: Any) -> Any:
        buf[...] = x
        req.infer()
        return req.get_output_tensor(0).data

    return infer


def bare_loop(runtime: str, pkg_dir: Path, video: Path, frames: int, threads: int,
              python: str | None) -> float:
    """The bare loop in a fresh interpreter (``python``: pinned like the agent's), so each
    runtime's thread pool is born where the agent's is, and no runtime loaded earlier in
    this process shares it."""
    import subprocess

    res = subprocess.run([python or sys.executable, __file__, "--bare", runtime, str(pkg_dir),
                          str(video), str(frames), str(threads)], capture_output=True,
                         text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"bare loop {runtime} {pkg_dir.name} failed: {res.stderr[-500:]}")
    return float(res.stdout.strip().splitlines()[-1])


def _bare_loop_here(runtime: str, pkg_dir: Path, video: Path, frames: int,
                    threads: int) -> float:
    import cv2

    from console.agent.pipeline import Preprocessor

    pkg = open_package(pkg_dir)
    infer = _infer_fn(runtime, pkg, threads)
    pre = Preprocessor(pkg.manifest.input)
    cap = cv2.VideoCapture(str(video))
    infer(pre(cap.read()[1]))  # warm-up, like the agent's cold start
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    n = 0
    t0 = time.perf_counter()
    while n < frames:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        infer(pre(frame))
        n += 1
    return n / (time.perf_counter() - t0)


def agent_run(pkg_dir: Path, video: Path, frames: int, db: Path, threads: int,
              python: str | None, profile: int = 0) -> tuple[float, Any]:
    from console.devices.base import AgentOptions
    from console.devices.local import LocalDevice
    from console.session.run import Run, RunRequest

    req = RunRequest(str(pkg_dir), str(video), AgentOptions(
        frames=frames, loop=True, threads=threads, preview_fps=10.0, telemetry_ms=100.0,
        profile=profile, profile_after=10))
    res = Run(LocalDevice(python=python), req, db).execute()
    assert res.status == "completed", res.error
    s = res.summary or {}
    assert int(s["frames"]) == frames, f"agent recorded {s['frames']} of {frames} frames"
    return float(s["fps"]), res.profile


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--bare":  # the child of bare_loop
        rt, pkg, video, frames, threads = sys.argv[2:]
        print(_bare_loop_here(rt, Path(pkg), Path(video), int(frames), int(threads)))
        return
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000, help="frames per demo run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--placement", choices=("isolated", "shared"), default="isolated")
    args = ap.parse_args()
    from build_runtime_twins import write_twin

    video = ROOT / "resources" / "recordings" / "digits-demo.avi"
    cpus = sorted(os.sched_getaffinity(0))
    placement = args.placement
    if placement == "isolated" and (len(cpus) < 2 or not shutil.which("taskset")):
        print("isolated placement needs 2 CPUs and taskset; running shared")
        placement = "shared"
    print(f"{len(cpus)} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        wide = ROOT / "benchmarks" / "models" / "digits-cnn-wide"
        heavy = {"onnxruntime": wide}
        for rt in ("litert", "openvino"):
            out = tmp / f"digits-cnn-wide-{rt}"
            work = tmp / f"work-{rt}"
            work.mkdir()
            write_twin(wide, out, rt, work)
            heavy[rt] = out
        demo = {"onnxruntime": ROOT / "resources/packages/digits-cnn",
                "litert": ROOT / "resources/packages/digits-cnn-litert",
                "openvino": ROOT / "resources/packages/digits-cnn-openvino"}
        if placement == "isolated":
            dev_cpu, console_cpus = cpus[-1], set(cpus[:-1])
            threads, python = 1, pinned_python(tmp, dev_cpu)
            print(f"== isolated: device = CPU {dev_cpu}, 1 inference thread; console on the "
                  "rest")
        else:
            dev_cpu, console_cpus, threads, python = None, None, 0, None
            print("== shared: all CPUs, each runtime's own thread count")
        table = []
        for title, pkgs, n in (("demo digits-cnn", demo, args.frames),
                               ("heavy digits-cnn-wide", heavy, max(200, args.frames // 10))):
            print(f"\n{title}: {n} frames x {args.repeats} per figure")
            for rt in RUNTIMES:
                bare, agent, prof = [], [], []
                for r in range(args.repeats):  # interleaved so drift hits all alike
                    bare.append(bare_loop(rt, pkgs[rt], video, n, threads, python))
                    with pinned(console_cpus):
                        agent.append(agent_run(pkgs[rt], video, n, tmp / f"{rt}{r}.db",
                                               threads, python)[0])
                        fps, p = agent_run(pkgs[rt], video, n, tmp / f"{rt}{r}p.db", threads,
                                           python, profile=n - 10)
                    if p is not None and p.available:
                        prof.append(fps)
                b, a = statistics.median(bare), statistics.median(agent)
                pr = statistics.median(prof) if prof else None
                print(f"  {rt:<12} bare {b:9.1f} fps ({1000 / b:.3f} ms) runs {spread(bare)}"
                      f" | agent {a:9.1f} fps runs {spread(agent)} | ratio agent/bare "
                      f"{a / b:.3f}")
                print(f"  {'':<12} profiled {pr:9.1f} fps runs {spread(prof)} | profiler "
                      f"overhead: profiled/plain {pr / a:.3f} ({1000 / pr - 1000 / a:+.3f} "
                      "ms/frame)" if pr else f"  {'':<12} profiled: the runtime exposes no "
                      "per-operator profiler (nothing to measure)")
                table.append((title, rt, b, a, a / b, pr / a if pr else None))
        print("\nruntime        model                    bare fps   agent fps  agent/bare  "
              "profiled/plain")
        for title, rt, b, a, ratio, po in table:
            print(f"{rt:<14} {title:<24} {b:9.1f} {a:11.1f} {ratio:11.3f}  "
                  f"{f'{po:.3f}' if po else 'n/a':>14}")
        heavy_ok = all(r >= 0.97 for t, _rt, _b, _a, r, _p in table if t.startswith("heavy"))
        print(f"target agent/bare >= 0.97 on the heavy model for every runtime: "
              f"{'met' if heavy_ok else 'NOT met'}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
