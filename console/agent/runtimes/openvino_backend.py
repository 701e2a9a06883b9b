"""OpenVINO: IR (``.xml`` + ``.bin``) or ``.onnx`` models on CPU, GPU, NPU or AUTO.

Settings: ``device`` (default CPU), ``threads`` (``INFERENCE_NUM_THREADS``),
``performance_hint`` (``PERFORMANCE_HINT``). The IR's weights come in as bytes
checked by the pipeline, like the model, and reach OpenVINO as a tensor: the
files are read once. Profiling is OpenVINO's own ``PERF_COUNT`` with
``InferRequest.get_profiling_info()`` after each profiled inference; the
property is fixed when the model is compiled, so a profiled run compiles
with it on. OpenVINO's usage telemetry is kept from sending anything
(:func:`block_telemetry`).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from console.agent.runtimes.base import (
    Backend,
    BackendError,
    OpAccumulator,
    ProfileResult,
    TensorInfo,
    first_line,
    short_version,
    split_device,
)

#: devices that pick among the others rather than being one
_META_DEVICES = ("AUTO", "HETERO", "MULTI")


def block_telemetry() -> None:
    """Keep OpenVINO from phoning home. Importing ``openvino`` imports its converter,
    which sends a usage event (``openvino_telemetry``, to Google Analytics) unless the
    user opted out; a lab device or console must send nothing anywhere. Without that
    module importable, OpenVINO uses its own no-op stub (``telemetry_stub``)."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


def import_library() -> Any:
    block_telemetry()
    import openvino

    return openvino


def _dims(port: Any) -> List[Any]:
    return [d.get_length() if d.is_static else None for d in port.get_partial_shape()]


def _info(port: Any) -> TensorInfo:
    try:
        dtype = str(port.get_element_type().to_dtype().name)
    except Exception:  # an element type numpy has no name for
        dtype = str(port.get_element_type())
    return TensorInfo(port.get_any_name(), _dims(port), dtype)


class OpenVinoBackend(Backend):
    name = "openvino"

    def __init__(self, lib: Any, model: bytes, weights: Optional[bytes], root: str,
                 model_name: str, settings: Dict[str, Any], profile: bool) -> None:
        super().__init__(lib, model, weights, root, model_name, settings, profile)
        ov = lib
        import numpy as np

        self.version = short_version(getattr(ov, "__version__", None) or ov.get_version())
        core = ov.Core()
        self.available = list(core.available_devices)
        device = str(settings.get("device") or "CPU")
        base, _ = split_device(device)
        if base not in _META_DEVICES and not any(split_device(a)[0] == base
                                                 for a in self.available):
            raise BackendError("device_unavailable",
                               "OpenVINO device %s is not available on this device "
                               "(available: %s)" % (device, ", ".join(self.available)))
        config: Dict[str, Any] = {}
        if settings.get("threads"):
            config["INFERENCE_NUM_THREADS"] = int(settings["threads"])
        if settings.get("performance_hint"):
            config["PERFORMANCE_HINT"] = str(settings["performance_hint"])
        if profile:
            config["PERF_COUNT"] = True
        try:
            if weights is not None:
                ov_model = core.read_model(model=model.decode("utf-8"),
                                           weights=ov.Tensor(np.frombuffer(weights, np.uint8)))
            else:
                ov_model = core.read_model(model=model)
            self.compiled = core.compile_model(ov_model, device, config)
        except Exception as exc:
            raise BackendError("model_load", "OpenVINO cannot load %s on %s: %s"
                               % (model_name, device, first_line(exc)), first_line(exc)) from None
        try:
            ran_on = [str(d) for d in self.compiled.get_property("EXECUTION_DEVICES")]
        except Exception:
            ran_on = []
        self.device = device if not ran_on or ran_on == [device] else \
            "%s (%s)" % (device, ", ".join(ran_on))
        self.request = self.compiled.create_infer_request()
        self._inputs = [_info(p) for p in self.compiled.inputs]
        self._outputs = [_info(p) for p in self.compiled.outputs]
        self.input_name = self._inputs[0].name
        self._input_index = 0
        self._n_out = len(self._outputs)
        self._ov, self._np = ov, np
        #: the input's memory, shared with OpenVINO (set_input_tensor once, then written in
        #: place): half the cost of infer({index: x}) per frame on a small model
        self._buf: Any = None
        self._profiling = profile
        self._acc: Optional[OpAccumulator] = None

    def inputs(self) -> List[TensorInfo]:
        return list(self._inputs)

    def outputs(self) -> List[TensorInfo]:
        return list(self._outputs)

    def select_input(self, name: str) -> None:
        self.input_name = name
        self._input_index = [i.name for i in self._inputs].index(name)
        self._buf = None

    def run(self, x: Any) -> List[Any]:
        req, buf = self.request, self._buf
        if buf is None or buf.shape != x.shape or buf.dtype != x.dtype:
            buf = self._buf = self._np.empty(x.shape, x.dtype)
            req.set_input_tensor(self._input_index, self._ov.Tensor(buf, shared_memory=True))
        buf[...] = x
        req.infer()
        return [req.get_output_tensor(i).data.copy() for i in range(self._n_out)]

    def profile_mark(self) -> None:
        if self._profiling:
            self._acc = OpAccumulator()

    def profile_frame(self) -> None:
        if self._acc is None:
            return
        for p in self.request.profiling_info:
            if str(p.status).rsplit(".", 1)[-1] != "EXECUTED":
                continue  # fused into a neighbour, or optimised out
            self._acc.add(p.node_name, p.node_type, "%s:%s" % (self.device, p.exec_type),
                          p.real_time.total_seconds() * 1e6)

    def profile_result(self) -> ProfileResult:
        if self._acc is None:
            return ProfileResult("unavailable", "the model was not compiled for profiling", [])
        rows, self._acc = self._acc.rows(), None
        return ProfileResult("ok", "OpenVINO %s profiler (PERF_COUNT, get_profiling_info)"
                             % self.version, rows)


BACKEND = OpenVinoBackend
