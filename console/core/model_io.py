"""Reading a model's real input/output signature with the runtime that will run it.

``package build`` and ``package verify`` load the model exactly as a device
would — with the agent's own backend for its runtime
(:mod:`console.agent.runtimes`): onnxruntime for ``.onnx``, LiteRT for
``.tflite``, OpenVINO for IR ``.xml`` + ``.bin`` — and describe its tensors
in one spelling (onnxruntime's ``tensor(float)``, what ``package verify
--json`` has always printed), whatever the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.core.manifest import DEFAULT_RUNTIME, RUNTIME_MODEL_SUFFIXES, PackageError

#: numpy's name of an element type -> the one spelling signatures use
_TYPE_NAMES = {"float32": "tensor(float)", "float16": "tensor(float16)",
               "float64": "tensor(double)", "uint8": "tensor(uint8)", "int8": "tensor(int8)",
               "int32": "tensor(int32)", "int64": "tensor(int64)", "bool": "tensor(bool)"}


class RuntimeUnavailable(UserError):
    """This console's Python lacks the runtime a model needs (the line says how to get it)."""


def runtime_for(model: str | Path, runtime: str | None = None) -> str:
    """The runtime a model file is for: as asked, else by its suffix (``.onnx``:
    onnxruntime, ``.tflite``: litert, ``.xml``: openvino)."""
    suffix = Path(model).suffix.lower()
    if runtime:
        if suffix not in RUNTIME_MODEL_SUFFIXES.get(runtime, (suffix,)):
            raise PackageError(str(model), f"{runtime} reads "
                               f"{' or '.join(RUNTIME_MODEL_SUFFIXES[runtime])} models, not "
                               f"{suffix or 'a file without a suffix'}")
        return runtime
    for rt in (DEFAULT_RUNTIME, "litert", "openvino"):
        if suffix in RUNTIME_MODEL_SUFFIXES[rt]:
            return rt
    raise PackageError(str(model), f"unknown model format {suffix or '(no suffix)'}: packages "
                       "take .onnx (onnxruntime, or OpenVINO with --runtime openvino), "
                       ".tflite (LiteRT) or OpenVINO IR .xml with its .bin")


def weights_for(model: str | Path, runtime: str) -> Path | None:
    """The ``.bin`` an OpenVINO IR reads its weights from (beside the ``.xml``)."""
    p = Path(model)
    return p.with_suffix(".bin") if runtime == "openvino" and p.suffix.lower() == ".xml" \
        else None


def _describe(infos: Any) -> list[dict[str, Any]]:
    return [{"name": i.name, "shape": list(i.shape), "type": _TYPE_NAMES.get(i.dtype, i.dtype)}
            for i in infos]


def read_signature(model: str | Path, runtime: str, root: str | Path | None = None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(inputs, outputs) of ``model`` as ``runtime`` loads it on this computer.

    Raises :class:`RuntimeUnavailable` when this Python lacks the runtime and
    :class:`PackageError` when the runtime refuses the model."""
    from console.agent import runtimes

    model_p = Path(model)
    weights = weights_for(model_p, runtime)
    try:
        data = model_p.read_bytes()
        wdata = weights.read_bytes() if weights is not None else None
    except OSError as exc:
        raise PackageError(str(exc.filename or model_p), f"cannot be read: "
                           f"{exc.strerror or exc}") from None
    try:
        backend = runtimes.load(runtime, data, wdata, str(root or model_p.parent), model_p.name,
                                {}, False)
    except runtimes.RuntimeMissing:
        raise RuntimeUnavailable(
            f"{model_p}: this console's Python lacks {runtime} to read the model with; install "
            f"it with: {runtimes.install_line(runtime)} (or the console's 'runtimes' extra)"
        ) from None
    except runtimes.BackendError as exc:
        what = {"onnxruntime": "onnxruntime", "litert": "LiteRT", "openvino": "OpenVINO"}[runtime]
        raise PackageError(model_p.name, f"{what} cannot load the model: {exc.detail}") from None
    try:
        return _describe(backend.inputs()), _describe(backend.outputs())
    finally:
        backend.close()
