"""LiteRT (TensorFlow Lite): ``.tflite`` models with the interpreter the device has.

Tried in order: ai-edge-litert's interpreter (LiteRT, the successor of
tflite-runtime), tflite_runtime's, tensorflow.lite's. Setting: ``threads``
(``Interpreter(num_threads=...)``). On CPU the interpreter applies its
built-in XNNPACK delegate. Per-operator timings: the LiteRT Python API
(interpreter and CompiledModel, ai-edge-litert 2.x) exposes no profiler — the
C++ one is not bound — so a profile says "unavailable" and the run goes on.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from console.agent.runtimes.base import (
    Backend,
    BackendError,
    ProfileResult,
    TensorInfo,
    first_line,
    short_version,
)


class _Lib:
    """The interpreter module found, and what to call it in messages."""

    def __init__(self, module: Any, package: str, version: str) -> None:
        self.Interpreter = module.Interpreter
        self.package = package
        self.version = version


def import_library() -> Any:
    errors = []
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter as litert

        return _Lib(litert, "ai-edge-litert", getattr(ai_edge_litert, "__version__", "?"))
    except ImportError as exc:
        errors.append(first_line(exc, 80))
    try:
        import tflite_runtime
        from tflite_runtime import interpreter as tfl

        return _Lib(tfl, "tflite_runtime", getattr(tflite_runtime, "__version__", "?"))
    except ImportError as exc:
        errors.append(first_line(exc, 80))
    try:
        import tensorflow as tf

        return _Lib(tf.lite, "tensorflow.lite", tf.__version__)
    except ImportError as exc:
        errors.append(first_line(exc, 80))
    raise ImportError("; ".join(errors))


def _dtype(d: Dict[str, Any]) -> str:
    t = d["dtype"]
    return str(getattr(t, "__name__", t))


class LiteRtBackend(Backend):
    name = "litert"

    def __init__(self, lib: Any, model: bytes, weights: Optional[bytes], root: str,
                 model_name: str, settings: Dict[str, Any], profile: bool) -> None:
        super().__init__(lib, model, weights, root, model_name, settings, profile)
        self.version = short_version(lib.version)
        self.package = lib.package
        threads = int(settings.get("threads") or 0) or None
        try:
            self.interpreter = lib.Interpreter(model_content=model, num_threads=threads)
            self.interpreter.allocate_tensors()
        except Exception as exc:
            raise BackendError("model_load", "LiteRT (%s %s) cannot load %s: %s"
                               % (lib.package, lib.version, model_name, first_line(exc)),
                               first_line(exc)) from None
        self.device = "CPU (XNNPACK)"
        self.available = ["CPU (XNNPACK, built in)"]
        self._in = self.interpreter.get_input_details()
        self._out = self.interpreter.get_output_details()
        self.input_name = self._in[0]["name"]
        self._in_index = self._in[0]["index"]
        self._out_index = [d["index"] for d in self._out]

    def inputs(self) -> List[TensorInfo]:
        return [TensorInfo(d["name"], [int(v) for v in d["shape"]], _dtype(d)) for d in self._in]

    def outputs(self) -> List[TensorInfo]:
        return [TensorInfo(d["name"], [int(v) for v in d["shape"]], _dtype(d))
                for d in self._out]

    def select_input(self, name: str) -> None:
        self.input_name = name
        self._in_index = next(d["index"] for d in self._in if d["name"] == name)

    def run(self, x: Any) -> List[Any]:
        it = self.interpreter
        it.set_tensor(self._in_index, x)
        it.invoke()
        return [it.get_tensor(i) for i in self._out_index]

    def profile_result(self) -> ProfileResult:
        return ProfileResult(
            "unavailable", "per-operator timings unavailable: the LiteRT Python API (%s %s) "
            "exposes no profiler; the run went on unprofiled" % (self.package, self.version), [])


BACKEND = LiteRtBackend
