"""Runtime backends: one small module per runtime behind :class:`~.base.Backend`.

``onnxruntime`` (``.onnx``), ``litert`` (``.tflite``, with ai-edge-litert's
interpreter, else tflite_runtime's or tensorflow.lite's) and ``openvino``
(OpenVINO IR ``.xml`` + ``.bin``, or ``.onnx``). :func:`load` imports a
backend's module, and its runtime library, only when a package asks for that
runtime; a runtime the device's Python lacks is refused with the exact
``pip install`` that fixes it.
"""

from __future__ import annotations

import importlib
import platform
import sys
from typing import Any, Dict, Optional

from console.agent.facts import RUNTIME_PACKAGES
from console.agent.runtimes.base import Backend, BackendError, RuntimeMissing, first_line

__all__ = ["BACKENDS", "Backend", "BackendError", "RuntimeMissing", "install_line", "load"]

#: runtime (the manifest's name) -> its backend module in this package
BACKENDS = {"onnxruntime": "onnxruntime_backend", "litert": "litert_backend",
            "openvino": "openvino_backend"}


def install_line(runtime: str, python: Optional[str] = None) -> str:
    """The command that installs ``runtime`` for the interpreter ``python``."""
    return "%s -m pip install %s" % (python or sys.executable or "python3",
                                     RUNTIME_PACKAGES[runtime][0])


def load(runtime: str, model: bytes, weights: Optional[bytes], root: str, model_name: str,
         settings: Dict[str, Any], profile: bool = False) -> Backend:
    """The model loaded in ``runtime``. Raises :class:`RuntimeMissing` (with the fix
    line) when the device's Python cannot import it, :class:`BackendError` when the
    runtime refuses the model or a setting."""
    if runtime not in BACKENDS:
        raise BackendError("runtime_unknown", "this agent knows no runtime %r (it knows: %s); "
                           "update the console" % (runtime, ", ".join(sorted(BACKENDS))))
    mod: Any = importlib.import_module("console.agent.runtimes." + BACKENDS[runtime])
    try:
        lib = mod.import_library()
    except ImportError as exc:
        raise RuntimeMissing(
            "runtime_missing",
            "the package runs on %s, which the device's Python %s (%s) lacks (%s); install "
            "it with: %s" % (runtime, platform.python_version(), sys.executable,
                             first_line(exc, 160), install_line(runtime))) from None
    return mod.BACKEND(lib, model, weights, root, model_name, settings, profile)
