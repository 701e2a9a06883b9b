"""The three backends in-process, on the real demo packages: same signature reading, same
answers, the runtime's own profiler, and a runtime the Python lacks named with its fix."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from console.agent.pipeline import Pipeline, PipelineError
from console.agent.profiling import ProfileWindow
from console.core.manifest import read_manifest

from .conftest import DEMO, VIDEO


def _pipe(runtime: str, profile: bool = False, settings: dict | None = None) -> Pipeline:
    m, _ = read_manifest(str(DEMO[runtime]))
    return Pipeline(str(DEMO[runtime]), m, settings or {}, profile=profile)


def _frames(n: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


def test_each_runtime_runs_the_demo_and_names_what_runs_it() -> None:
    seen = {}
    for rt in ("onnxruntime", "litert", "openvino"):
        p = _pipe(rt, settings={"threads": 1})
        assert p.runtime == rt and p.runtime_version[0].isdigit()
        assert p.input_name == "input" and len(p.output_names) == 1
        seen[rt] = [int(np.asarray(p.infer(p.pre(f))[0]).argmax()) for f in _frames(60)]
        assert p.provider  # the EP / device / delegate
    assert seen["litert"] == seen["onnxruntime"] == seen["openvino"]
    assert _pipe("openvino").provider == "CPU"
    assert _pipe("litert").provider == "CPU (XNNPACK)"


def test_swapped_ir_weights_are_refused_like_a_swapped_model(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    shutil.copytree(DEMO["openvino"], root)
    m, _ = read_manifest(str(root))
    data = bytearray((root / "model.bin").read_bytes())
    data[64] ^= 0xFF
    (root / "model.bin").write_bytes(bytes(data))
    with pytest.raises(PipelineError) as ei:
        Pipeline(str(root), m)
    assert ei.value.code == "package_invalid"
    assert ei.value.text.startswith("package refused on the device: model.bin: sha256 is ")


def test_a_runtime_the_python_lacks_is_named_with_its_pip_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(PipelineError) as ei:
        _pipe("openvino")
    assert ei.value.code == "runtime_missing"
    assert ei.value.text.endswith(f"install it with: {sys.executable} -m pip install openvino")
    assert "\n" not in ei.value.text
    # onnxruntime packages are untouched by the missing runtime
    assert _pipe("onnxruntime").runtime == "onnxruntime"


def test_litert_tries_ai_edge_litert_then_tflite_runtime_then_tensorflow(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                "tflite_runtime.interpreter", "tensorflow"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(PipelineError) as ei:
        _pipe("litert")
    assert ei.value.code == "runtime_missing"
    assert "pip install ai-edge-litert" in ei.value.text
    for name in ("ai_edge_litert", "tflite_runtime", "tensorflow"):
        assert name in ei.value.text


def _profile(runtime: str, frames: int, after: int, total: int):
    p = _pipe(runtime, profile=True)
    p.warmup()
    win = ProfileWindow(p.backend, frames, after)
    x = p.pre(_frames(1)[0])
    result = None
    for n in range(total):
        p.infer(x)
        result = win.after_frame(n, 0.5) or result
    return result if result is not None else win.result(True)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_the_runtime_profiler_counts_only_the_profiled_frames(runtime: str) -> None:
    prof = _profile(runtime, frames=7, after=5, total=20)
    assert prof.status == "ok" and prof.runtime == runtime
    assert (prof.first_frame, prof.frames) == (5, 7)
    assert prof.infer_ms == pytest.approx(3.5)
    assert prof.ops and all(o.calls == 7 for o in prof.ops if o.op_type in
                            ("Conv", "Convolution", "Gemm", "FullyConnected"))
    assert sorted(o.order for o in prof.ops) == list(range(len(prof.ops)))
    assert all(o.total_us >= 0 for o in prof.ops)


def test_a_run_ending_inside_the_window_reports_what_it_profiled() -> None:
    prof = _profile("onnxruntime", frames=50, after=2, total=10)
    assert prof.status == "partial" and prof.frames == 8
    assert "the input ended after 8 of the 50 profiled frames" in prof.text


def test_a_run_ending_before_the_window_says_nothing_was_profiled() -> None:
    prof = _profile("onnxruntime", frames=5, after=30, total=10)
    assert (prof.status, prof.frames, prof.ops) == ("partial", 0, [])
    assert prof.text.startswith("the run ended before frame 30, the first to profile")


def test_litert_says_unavailable_and_why() -> None:
    prof = _profile("litert", frames=5, after=0, total=5)
    assert prof.status == "unavailable" and prof.ops == []
    assert "the LiteRT Python API (ai-edge-litert" in prof.text


def test_backends_are_python38_and_import_no_runtime_until_asked() -> None:
    """Shipped to devices with the agent: Python 3.8 syntax; importing a backend module
    imports no runtime (a device without OpenVINO still runs ONNX packages)."""
    import ast
    import subprocess

    root = Path(__file__).resolve().parents[2] / "console" / "agent"
    for path in [*sorted((root / "runtimes").glob("*.py")), root / "profiling.py"]:
        ast.parse(path.read_text(), feature_version=(3, 8))
    code = ("import sys\nfrom console.agent import runtimes\n"
            "from console.agent.runtimes import onnxruntime_backend, litert_backend, "
            "openvino_backend\n"
            "print(sorted(m for m in ('onnxruntime', 'openvino', 'ai_edge_litert', "
            "'tflite_runtime', 'tensorflow') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(root.parents[1]))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_loading_openvino_sends_no_telemetry() -> None:
    """OpenVINO's import would start a sender thread for its usage telemetry; the backend
    keeps openvino_telemetry unimportable, so none starts (run in a fresh interpreter)."""
    import subprocess

    code = ("import threading\nfrom console.agent.runtimes import openvino_backend as b\n"
            "ov = b.import_library()\nimport sys\n"
            "print(sys.modules.get('openvino_telemetry', 'absent'), "
            "[t.name for t in threading.enumerate()])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=str(Path(__file__).resolve().parents[2]))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "None ['MainThread']"


def test_an_onnx_model_can_run_on_openvino(tmp_path: Path) -> None:
    from console.core.package import build_package, verify_package

    src = DEMO["onnxruntime"]
    out = build_package(src / "model.onnx", tmp_path / "ov-onnx", task="classification",
                        labels=src / "labels.txt", runtime="openvino",
                        input_overrides={"scale": 1 / 255, "resize": "area"},
                        output_overrides={"softmax": True, "top_k": 3},
                        runtime_settings={"device": "CPU", "performance_hint": "latency"})
    ver = verify_package(out)
    assert ver.ok and not ver.warnings, ver.problems
    m, _ = read_manifest(str(out))
    assert (m.runtime, m.model) == ("openvino", "model.onnx")
    assert m.runtime_settings == {"device": "CPU", "performance_hint": "LATENCY"}
    p = Pipeline(str(out), m, dict(m.runtime_settings))
    onnx = _pipe("onnxruntime")
    for f in _frames(20):
        a = np.asarray(p.infer(p.pre(f))[0])
        b = np.asarray(onnx.infer(onnx.pre(f))[0])
        assert int(a.argmax()) == int(b.argmax())


def test_a_console_without_the_runtime_verifies_hashes_and_says_it_did_not_load(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from console.core.package import verify_package

    monkeypatch.setitem(sys.modules, "openvino", None)
    ver = verify_package(DEMO["openvino"])
    assert ver.ok and ver.model_inputs == []
    assert len(ver.warnings) == 1 and ver.warnings[0].startswith(
        "model not checked against its manifest: ")
    assert "lacks openvino to read the model with; install it with: " in ver.warnings[0]
