"""Model package manifest, format ``devicelab-package/1``.

Shipped to devices inside the agent bundle (the agent checks hashes again
before it loads a model), so: standard library only, Python 3.8+, nothing
here ever executes content from a package.

A package is a directory (or a ``.zip`` of one) holding ``manifest.json``,
the ONNX model and optional extra files such as labels. ``manifest.json``::

    {
      "format": "devicelab-package/1",
      "name": "digits-cnn",            # [a-z0-9._-], shown everywhere
      "version": "1.0.0",
      "description": "free text",
      "task": "classification",        # classification | detection | raw
      "model": "model.onnx",           # a key of "files"
      "files": {                        # EVERY file of the package but the manifest
        "model.onnx": {"sha256": "<64 hex>", "size": 12345},
        "labels.txt": {"sha256": "...", "size": 20}
      },
      "input": {
        "name": "input",               # the model's input tensor
        "layout": "NCHW",              # NCHW | NHWC
        "height": 8, "width": 8,
        "color": "GRAY",               # RGB | BGR | GRAY (channels follow)
        "dtype": "float32",            # float32 | float16 | uint8 | int8
        "scale": 0.0627,               # x = pixel * scale, then (x - mean) / std
        "mean": [0.0], "std": [1.0],   # one value or one per channel
        "resize": "area",              # area | linear | nearest
        "max_tensor_bytes": 536870912  # optional: raise the input tensor cap (see below)
      },
      "output": {
        "labels": "labels.txt",        # optional, one label per line
        "top_k": 3,                    # classification
        "softmax": true,               # classification: apply softmax to logits
        "layout": "rows",              # detection: rows [N, 6]=x1,y1,x2,y2,score,class
                                       #            or yolo [1, 4+C, N] cx,cy,w,h,scores...
        "box_format": "xyxy",          # detection rows: xyxy | xywh | cxcywh
        "normalized": false,           # detection: boxes in 0..1 of the input size
        "score_threshold": 0.25,       # detection
        "nms_iou": 0.45                # detection
      },
      "min_onnxruntime": "1.16",
      "budgets": {"p95_ms": 5.0, "cold_start_s": 1.5, "memory_mb": 300,
                  "max_temp_c": 80, "energy_mj": 20},     # optional
      "runtime": "onnxruntime",        # optional: onnxruntime | litert | openvino
      "runtime_settings": {"threads": 2}                  # optional, see below
    }

The input tensor (channels x height x width x dtype size) may not exceed
:data:`MAX_INPUT_TENSOR_BYTES` (256 MiB: a 4K RGB float32 frame is 95 MiB)
unless ``input.max_tensor_bytes`` raises it for that package: with a
dynamic-shape model nothing else bounds it, and a typo in height/width would
otherwise be deployed and fail on the device allocating gigabytes.

``runtime`` names what runs the model on the device: ``onnxruntime`` (the
default, a ``.onnx`` model), ``litert`` (a ``.tflite`` model) or ``openvino``
(OpenVINO IR: ``model`` is the ``.xml`` and the ``.bin`` of the same stem must
be listed in ``files``; or an ``.onnx`` read by OpenVINO). A manifest without
the key is an onnxruntime package, byte for byte as before. ``runtime_settings``
holds the runtime's knobs under one set of names (:data:`RUNTIME_SETTINGS`);
one the runtime does not have is refused, never ignored.

The package's identity (``package sha256``) is the sha256 of the exact
``manifest.json`` bytes: the manifest pins every other file by hash, so one
digest names the whole content. A signature (``manifest.sig``) is over those
same bytes and is therefore the only file not listed in ``files``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from console.core.errors import UserError

FORMAT = "devicelab-package/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
TASKS = ("classification", "detection", "raw")
LAYOUTS = ("NCHW", "NHWC")
COLORS = {"RGB": 3, "BGR": 3, "GRAY": 1}
DTYPES = ("float32", "float16", "uint8", "int8")
RESIZES = ("area", "linear", "nearest")
DET_LAYOUTS = ("rows", "yolo")
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
BUDGET_KEYS = ("p95_ms", "p99_ms", "cold_start_s", "memory_mb", "max_temp_c", "energy_mj",
               "min_fps")
#: Input tensors larger than this are refused unless ``input.max_tensor_bytes`` raises it.
MAX_INPUT_TENSOR_BYTES = 256 * 1024 * 1024
DTYPE_BYTES = {"float32": 4, "float16": 2, "uint8": 1, "int8": 1}
#: What can run a package's model on the device (``manifest.runtime``).
RUNTIMES = ("onnxruntime", "litert", "openvino")
DEFAULT_RUNTIME = "onnxruntime"
#: The settings each runtime takes, and what they become there. One name per knob
#: for the user (``threads`` everywhere); each backend maps it to its own.
RUNTIME_SETTINGS = {
    "onnxruntime": {
        "threads": "SessionOptions.intra_op_num_threads (0: onnxruntime's default)",
        "provider": "the execution provider, e.g. CPUExecutionProvider",
        "spin": "session.intra_op.allow_spinning: on | off | auto",
        "graph_opt": "SessionOptions.graph_optimization_level: disabled | basic | extended | all",
    },
    "litert": {
        "threads": "Interpreter(num_threads=...) (0: LiteRT's default)",
    },
    "openvino": {
        "threads": "INFERENCE_NUM_THREADS (0: OpenVINO's default)",
        "device": "CPU | GPU | NPU | AUTO (also GPU.1, AUTO:GPU,CPU, ...)",
        "performance_hint": "PERFORMANCE_HINT: LATENCY | THROUGHPUT | CUMULATIVE_THROUGHPUT",
    },
}
#: The model file's suffixes each runtime reads.
RUNTIME_MODEL_SUFFIXES = {"onnxruntime": (".onnx", ".ort"), "litert": (".tflite",),
                          "openvino": (".xml", ".onnx")}
_OV_DEVICE_RE = re.compile(r"^(CPU|GPU|NPU|AUTO|HETERO|MULTI)([.:][A-Za-z0-9_.,:]*)?$")
_OV_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class PackageError(UserError):
    """One precise reason a package is refused: where, and what was expected."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__("%s: %s" % (where, message))
        self.where = where
        self.message = message


class RuntimeSettingError(PackageError):
    """A runtime setting the package's runtime does not have, or a bad value for one.

    A :class:`PackageError` (so every reader of a manifest refuses it as one) whose
    ``where`` is the manifest field or the run option that asked for it."""


def check_runtime_setting(runtime: str, key: str, value: Any, where: str) -> Any:
    """The value of one runtime setting, checked; :class:`RuntimeSettingError` otherwise.

    ``where`` names what set it (``manifest.json: runtime_settings.threads``,
    ``--provider``) so the refusal says which line to change."""
    known = RUNTIME_SETTINGS.get(runtime)
    if known is None:
        raise RuntimeSettingError(where, "unknown runtime %r (known: %s)"
                                  % (runtime, ", ".join(RUNTIMES)))
    if key not in known:
        raise RuntimeSettingError(
            where, "%s has no setting %r (it takes: %s); remove it or run the package "
            "with another runtime" % (runtime, key, ", ".join(sorted(known))))
    if key == "threads":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RuntimeSettingError(where, "threads must be a whole number >= 0, got %r"
                                      % (value,))
        return value
    if not isinstance(value, str) or not value:
        raise RuntimeSettingError(where, "%s must be a non-empty string, got %r"
                                  % (key, value))
    if key == "graph_opt" and value not in ("disabled", "basic", "extended", "all"):
        raise RuntimeSettingError(where, "graph_opt must be disabled, basic, extended or all, "
                                  "got %r" % (value,))
    if key == "spin" and value not in ("on", "off", "auto"):
        raise RuntimeSettingError(where, "spin must be on, off or auto, got %r" % (value,))
    if key == "device" and not _OV_DEVICE_RE.match(value):
        raise RuntimeSettingError(where, "OpenVINO device must be CPU, GPU, NPU or AUTO (or "
                                  "GPU.1, AUTO:GPU,CPU, ...), got %r" % (value,))
    if key == "performance_hint" and value.upper() not in _OV_HINTS:
        raise RuntimeSettingError(where, "performance_hint must be one of %s, got %r"
                                  % (", ".join(_OV_HINTS), value))
    return value.upper() if key == "performance_hint" else value


def run_settings(manifest: "Manifest", provider: Optional[str] = None, threads: int = 0,
                 spin: str = "auto", extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The runtime settings a run uses: the manifest's, then the run's options on top.

    The run options keep their names across runtimes: ``--threads`` is every
    runtime's thread count, ``--provider`` is onnxruntime's execution provider and
    OpenVINO's device (LiteRT has neither: refused), ``--spin on|off`` is
    onnxruntime's only (``auto`` leaves every runtime at its default). The console
    checks this before it deploys, the agent again before it loads."""
    rt = manifest.runtime
    out = dict(manifest.runtime_settings)
    if threads:
        out["threads"] = check_runtime_setting(rt, "threads", threads, "--threads")
    if provider:
        key = {"onnxruntime": "provider", "openvino": "device"}.get(rt, "provider")
        out[key] = check_runtime_setting(rt, key, provider, "--provider")
    if spin and spin != "auto":
        out["spin"] = check_runtime_setting(rt, "spin", spin, "--spin")
    for k, v in sorted((extra or {}).items()):
        out[k] = check_runtime_setting(rt, k, v, "--runtime-setting %s" % k)
    return out


def model_weights(manifest: "Manifest") -> Optional[str]:
    """The weights file an OpenVINO IR model reads beside it (``model.bin``), else None."""
    if manifest.runtime == "openvino" and manifest.model.lower().endswith(".xml"):
        return manifest.model[:-4] + ".bin"
    return None


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class InputSpec:
    name: str
    layout: str
    height: int
    width: int
    color: str
    dtype: str = "float32"
    scale: float = 1.0 / 255.0
    mean: Tuple[float, ...] = (0.0,)
    std: Tuple[float, ...] = (1.0,)
    resize: str = "linear"
    max_tensor_bytes: Optional[int] = None

    @property
    def tensor_bytes(self) -> int:
        return self.channels * self.height * self.width * DTYPE_BYTES[self.dtype]

    @property
    def channels(self) -> int:
        return COLORS[self.color]

    def shape(self) -> Tuple[int, int, int, int]:
        if self.layout == "NCHW":
            return (1, self.channels, self.height, self.width)
        return (1, self.height, self.width, self.channels)


@dataclass(frozen=True)
class OutputSpec:
    labels: Optional[str] = None
    top_k: int = 5
    softmax: bool = False
    layout: str = "rows"
    box_format: str = "xyxy"
    normalized: bool = False
    score_threshold: float = 0.25
    nms_iou: float = 0.45


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str
    task: str
    model: str
    files: Dict[str, FileEntry]
    input: InputSpec
    output: OutputSpec
    min_onnxruntime: str = "1.16"
    budgets: Dict[str, float] = field(default_factory=dict)
    format: str = FORMAT
    runtime: str = DEFAULT_RUNTIME
    runtime_settings: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        inp = self.input
        out = self.output
        d: Dict[str, Any] = {
            "format": self.format,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "task": self.task,
            "model": self.model,
            "files": {k: {"sha256": v.sha256, "size": v.size}
                      for k, v in sorted(self.files.items())},
            "input": {
                "name": inp.name, "layout": inp.layout, "height": inp.height, "width": inp.width,
                "color": inp.color, "dtype": inp.dtype, "scale": inp.scale,
                "mean": list(inp.mean), "std": list(inp.std), "resize": inp.resize,
            },
            "output": {
                "labels": out.labels, "top_k": out.top_k, "softmax": out.softmax,
                "layout": out.layout, "box_format": out.box_format,
                "normalized": out.normalized, "score_threshold": out.score_threshold,
                "nms_iou": out.nms_iou,
            },
            "min_onnxruntime": self.min_onnxruntime,
        }
        if inp.max_tensor_bytes is not None:
            d["input"]["max_tensor_bytes"] = inp.max_tensor_bytes
        if self.budgets:
            d["budgets"] = dict(self.budgets)
        # Written only when not the default: an onnxruntime package's bytes (and so
        # its digest) are what they were before runtimes had a name.
        if self.runtime != DEFAULT_RUNTIME:
            d["runtime"] = self.runtime
        if self.runtime_settings:
            d["runtime_settings"] = dict(self.runtime_settings)
        return d

    def to_bytes(self) -> bytes:
        """Canonical manifest.json bytes (what gets hashed and signed)."""
        return (json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n").encode("utf-8")


def _req(d: Dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise PackageError("manifest.json: %s%s" % (where, key), "required field is missing")
    return d[key]


def _typed(value: Any, types: Any, where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise PackageError("manifest.json: " + where, "expected %s, got %r" % (what, value))
    if not isinstance(value, types):
        raise PackageError("manifest.json: " + where, "expected %s, got %r" % (what, value))
    return value


def _choice(value: Any, choices: Any, where: str) -> str:
    if value not in choices:
        raise PackageError("manifest.json: " + where,
                           "expected one of %s, got %r" % (", ".join(choices), value))
    return str(value)


def check_relative_name(name: str, where: str) -> None:
    """Refuse names that could leave the package root (``..``, absolute, odd)."""
    if not isinstance(name, str) or not name:
        raise PackageError(where, "file name must be a non-empty string")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise PackageError(where, "absolute path %r is not allowed in a package" % name)
    parts = name.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PackageError(where, "path %r escapes or is not normalised (no '..', '.', '//')"
                           % name)
    if "\x00" in name:
        raise PackageError(where, "NUL byte in file name")


def _floats(value: Any, where: str) -> Tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value),)
    if isinstance(value, list) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return tuple(float(v) for v in value)
    raise PackageError("manifest.json: " + where, "expected a number or a list of numbers, got %r"
                       % (value,))


def _size_text(n: int) -> str:
    if n >= 1024 ** 3:
        return "%.1f GiB" % (n / 1024 ** 3)
    return "%.1f MiB" % (n / 1024 ** 2)


def _max_tensor_bytes(i: Dict[str, Any]) -> Optional[int]:
    if "max_tensor_bytes" not in i:
        return None
    v = _typed(i["max_tensor_bytes"], int, "input.max_tensor_bytes", "an integer (bytes)")
    if v <= 0:
        raise PackageError("manifest.json: input.max_tensor_bytes", "must be positive")
    return int(v)


def parse_manifest(d: Any) -> Manifest:
    """Validate a decoded manifest.json; raise :class:`PackageError` on the first problem."""
    if not isinstance(d, dict):
        raise PackageError("manifest.json", "must hold a JSON object")
    fmt = _req(d, "format", "")
    if fmt != FORMAT:
        raise PackageError("manifest.json: format",
                           "expected %r, got %r (a newer console may read it)" % (FORMAT, fmt))
    name = _typed(_req(d, "name", ""), str, "name", "a string")
    if not _NAME_RE.match(name):
        raise PackageError("manifest.json: name", "use letters, digits, '.', '_' or '-' (got %r)"
                           % name)
    version = _typed(_req(d, "version", ""), str, "version", "a string")
    description = _typed(d.get("description", ""), str, "description", "a string")
    task = _choice(_req(d, "task", ""), TASKS, "task")

    files_raw = _typed(_req(d, "files", ""), dict, "files", "an object of file entries")
    files: Dict[str, FileEntry] = {}
    for fname, entry in files_raw.items():
        where = "files.%s" % fname
        check_relative_name(fname, "manifest.json: " + where)
        if fname in (MANIFEST_NAME, SIGNATURE_NAME):
            raise PackageError("manifest.json: " + where, "the manifest cannot list itself")
        _typed(entry, dict, where, "an object with sha256 and size")
        digest = _typed(_req(entry, "sha256", where + "."), str, where + ".sha256", "hex string")
        if not _HEX64.match(digest):
            raise PackageError("manifest.json: %s.sha256" % where,
                               "expected 64 lowercase hex digits, got %r" % digest)
        size = _typed(_req(entry, "size", where + "."), int, where + ".size", "an integer")
        if size < 0:
            raise PackageError("manifest.json: %s.size" % where, "must not be negative")
        files[fname] = FileEntry(digest, size)

    model = _typed(_req(d, "model", ""), str, "model", "a file name")
    if model not in files:
        raise PackageError("manifest.json: model", "%r is not listed in 'files'" % model)

    i = _typed(_req(d, "input", ""), dict, "input", "an object")
    color = _choice(_req(i, "color", "input."), tuple(COLORS), "input.color")
    height = _typed(_req(i, "height", "input."), int, "input.height", "an integer")
    width = _typed(_req(i, "width", "input."), int, "input.width", "an integer")
    if height <= 0 or width <= 0:
        raise PackageError("manifest.json: input.height/width", "must be positive")
    mean = _floats(i.get("mean", [0.0]), "input.mean")
    std = _floats(i.get("std", [1.0]), "input.std")
    for label, vals in (("mean", mean), ("std", std)):
        if len(vals) not in (1, COLORS[color]):
            raise PackageError("manifest.json: input.%s" % label,
                               "expected 1 or %d values for %s, got %d"
                               % (COLORS[color], color, len(vals)))
    if any(s == 0 for s in std):
        raise PackageError("manifest.json: input.std", "must not contain 0")
    scale = i.get("scale", 1.0 / 255.0)
    _typed(scale, (int, float), "input.scale", "a number")
    inp = InputSpec(
        name=_typed(_req(i, "name", "input."), str, "input.name", "a string"),
        layout=_choice(_req(i, "layout", "input."), LAYOUTS, "input.layout"),
        height=height,
        width=width,
        color=color,
        dtype=_choice(i.get("dtype", "float32"), DTYPES, "input.dtype"),
        scale=float(scale),
        mean=mean,
        std=std,
        resize=_choice(i.get("resize", "linear"), RESIZES, "input.resize"),
        max_tensor_bytes=_max_tensor_bytes(i),
    )
    cap = inp.max_tensor_bytes or MAX_INPUT_TENSOR_BYTES
    if inp.tensor_bytes > cap:
        raise PackageError("manifest.json: input",
                           "%s %dx%d %s makes a %s input tensor, over the %s cap; check "
                           "input.height/width, or raise input.max_tensor_bytes (bytes) if "
                           "the device really has the memory"
                           % (inp.color, inp.height, inp.width, inp.dtype,
                              _size_text(inp.tensor_bytes), _size_text(cap)))

    o = _typed(d.get("output", {}), dict, "output", "an object")
    labels = o.get("labels")
    if labels is not None:
        _typed(labels, str, "output.labels", "a file name")
        if labels not in files:
            raise PackageError("manifest.json: output.labels", "%r is not listed in 'files'"
                               % labels)
    top_k = _typed(o.get("top_k", 5), int, "output.top_k", "an integer")
    if top_k < 1:
        raise PackageError("manifest.json: output.top_k", "must be at least 1")
    thr = _typed(o.get("score_threshold", 0.25), (int, float), "output.score_threshold", "a number")
    iou = _typed(o.get("nms_iou", 0.45), (int, float), "output.nms_iou", "a number")
    out = OutputSpec(
        labels=labels,
        top_k=top_k,
        softmax=bool(_typed(o.get("softmax", False), bool, "output.softmax", "true or false")),
        layout=_choice(o.get("layout", "rows"), DET_LAYOUTS, "output.layout"),
        box_format=_choice(o.get("box_format", "xyxy"), BOX_FORMATS, "output.box_format"),
        normalized=bool(_typed(o.get("normalized", False), bool, "output.normalized",
                               "true or false")),
        score_threshold=float(thr),
        nms_iou=float(iou),
    )
    min_ort = _typed(d.get("min_onnxruntime", "1.16"), str, "min_onnxruntime", "a version string")
    if not re.match(r"^\d+(\.\d+)*$", min_ort):
        raise PackageError("manifest.json: min_onnxruntime", "expected a version like 1.16, got %r"
                           % min_ort)
    budgets_raw = _typed(d.get("budgets", {}), dict, "budgets", "an object")
    budgets: Dict[str, float] = {}
    for k, v in budgets_raw.items():
        if k not in BUDGET_KEYS:
            raise PackageError("manifest.json: budgets.%s" % k,
                               "unknown budget; known: %s" % ", ".join(BUDGET_KEYS))
        budgets[k] = float(_typed(v, (int, float), "budgets.%s" % k, "a number"))
    runtime = _choice(d.get("runtime", DEFAULT_RUNTIME), RUNTIMES, "runtime")
    suffixes = RUNTIME_MODEL_SUFFIXES[runtime]
    # onnxruntime packages predate the check: any name is theirs, as before.
    if runtime != DEFAULT_RUNTIME and not model.lower().endswith(suffixes):
        raise PackageError("manifest.json: model", "%s reads %s models, got %r"
                           % (runtime, " or ".join(suffixes), model))
    settings_raw = _typed(d.get("runtime_settings", {}), dict, "runtime_settings", "an object")
    settings = {k: check_runtime_setting(runtime, k, v, "manifest.json: runtime_settings.%s" % k)
                for k, v in settings_raw.items()}
    manifest = Manifest(name=name, version=version, description=description, task=task,
                        model=model, files=files, input=inp, output=out,
                        min_onnxruntime=min_ort, budgets=budgets, runtime=runtime,
                        runtime_settings=settings)
    weights = model_weights(manifest)
    if weights is not None and weights not in files:
        raise PackageError("manifest.json: files", "the OpenVINO IR %s needs its weights %s "
                           "listed in 'files'" % (model, weights))
    return manifest


def read_manifest(root: str) -> Tuple[Manifest, bytes]:
    """Read and validate ``root/manifest.json``; returns the manifest and its exact bytes."""
    path = os.path.join(root, MANIFEST_NAME)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4 * 1024 * 1024 + 1)
    except FileNotFoundError:
        raise PackageError(MANIFEST_NAME, "not found in %s (is this a model package?)"
                           % root) from None
    except OSError as exc:
        raise PackageError(MANIFEST_NAME, "cannot be read: %s" % exc.strerror) from None
    if len(raw) > 4 * 1024 * 1024:
        raise PackageError(MANIFEST_NAME, "larger than 4 MiB; refusing to parse")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackageError(MANIFEST_NAME, "is not valid JSON (%s)" % exc) from None
    return parse_manifest(data), raw


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_join(root: str, name: str) -> str:
    """``root/name`` after checking the result (symlinks resolved) stays inside root."""
    check_relative_name(name, name)
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, name))
    if not (full == real_root or full.startswith(real_root + os.sep)):
        raise PackageError(name, "resolves outside the package directory (symlink?)")
    return full


def content_problem(fname: str, entry: FileEntry, size: int,
                    digest: Callable[[], str]) -> Optional[PackageError]:
    """The one wording for a file whose size or sha256 is not the manifest's.
    ``digest`` is called only when the size matches: hashing is the slow part."""
    if size != entry.size:
        return PackageError(fname, "size is %d bytes, manifest.json says %d" % (size, entry.size))
    got = digest()
    if got != entry.sha256:
        return PackageError(fname, "sha256 is %s…, manifest.json says %s… (file changed or "
                                   "corrupt)" % (got[:12], entry.sha256[:12]))
    return None


def verify_files(root: str, manifest: Manifest, skip: Sequence[str] = ()) -> List[PackageError]:
    """Check every listed file's size and sha256. Returns all problems found.

    ``skip``: files the caller hashes itself (the agent hashes the model from the
    very bytes it hands to onnxruntime, so reading it here too would be twice).
    """
    problems: List[PackageError] = []
    for fname, entry in sorted(manifest.files.items()):
        if fname in skip:
            continue
        try:
            path = safe_join(root, fname)
        except PackageError as exc:
            problems.append(exc)
            continue
        if not os.path.isfile(path):
            problems.append(PackageError(fname, "listed in manifest.json but missing"))
            continue
        problem = content_problem(fname, entry, os.path.getsize(path),
                                  functools.partial(sha256_file, path))
        if problem is not None:
            problems.append(problem)
    return problems


def read_labels(root: str, manifest: Manifest) -> Optional[List[str]]:
    if not manifest.output.labels:
        return None
    with open(safe_join(root, manifest.output.labels), encoding="utf-8") as fh:
        return [line.rstrip("\r\n") for line in fh if line.strip()]


def version_tuple(v: str) -> Tuple[int, ...]:
    out = []
    for part in v.split("."):
        m = re.match(r"\d+", part)
        out.append(int(m.group(0)) if m else 0)
    return tuple(out)
