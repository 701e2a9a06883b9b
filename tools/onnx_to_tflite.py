"""Write a small ONNX image CNN as a LiteRT (``.tflite``) model, same weights, NHWC.

The bundled demo ships in three runtimes built from one set of trained
weights (``tools/build_demo_model.py``). No ONNX-to-TFLite converter that
runs on this Python without TensorFlow is on the package index here
(onnx2tf's TensorFlow-free backend is newer than the index's onnx2tf), so
this lowers the few operators the demo and benchmark CNNs use — ``Conv``
(+ a following ``Relu`` fused, as TFLite converters do), ``Relu``,
``MaxPool``, ``AveragePool``, ``Flatten`` into ``Gemm`` — to TFLite builtins
and writes the flatbuffer with the schema classes ai-edge-litert itself
ships (``ai_edge_litert.schema_py_generated``). Anything else is refused by
name. Build time only: nothing at run time imports it.

Layout: ONNX is NCHW, TFLite NHWC. Convolution filters go OIHW -> OHWI; the
``Flatten`` before a ``Gemm`` flattens in NHWC order, so that Gemm's weight
columns are permuted from (C, H, W) to (H, W, C) order — the same numbers,
computed in another memory order. ``build_demo_model.py`` checks the result
against onnxruntime on every frame of the demo recording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class ConversionError(Exception):
    """The model uses something this lowering does not (the message says what)."""


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def convert(onnx_path: Path, out: Path) -> None:
    import onnx
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils
    from onnx import numpy_helper

    m = onnx.load(str(onnx_path))
    g = m.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_inputs = [i for i in g.input if i.name not in consts]
    if len(graph_inputs) != 1:
        raise ConversionError(f"{onnx_path}: {len(graph_inputs)} inputs; one image input only")
    inp = graph_inputs[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise ConversionError(f"{onnx_path}: input {inp.name} has rank {len(dims)}, not 4")
    _, c, h, w = dims

    tensors: list[Any] = []
    buffers: list[Any] = [fb.BufferT()]  # buffer 0: the empty one every model starts with
    opcodes: list[int] = []
    operators: list[Any] = []
    index: dict[str, int] = {}  # ONNX value name -> TFLite tensor index
    shapes: dict[str, list[int]] = {}  # NHWC (or [1, N]) shapes

    def tensor(name: str, shape: list[int], data: np.ndarray | None = None,
               dtype: int = fb.TensorType.FLOAT32) -> int:
        t = fb.TensorT()
        t.name = name
        t.shape = np.asarray(shape, np.int32)
        t.type = dtype
        if data is not None:
            b = fb.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        else:
            t.buffer = 0
        tensors.append(t)
        return len(tensors) - 1

    def op(code: int, ins: list[int], outs: list[int], opt_type: int, opts: Any) -> None:
        if code not in opcodes:
            opcodes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex = opcodes.index(code)
        o.inputs = np.asarray(ins, np.int32)
        o.outputs = np.asarray(outs, np.int32)
        o.builtinOptionsType = opt_type
        o.builtinOptions = opts
        operators.append(o)

    index[inp.name] = tensor(inp.name, [1, h, w, c])
    shapes[inp.name] = [1, h, w, c]
    flatten_from: dict[str, list[int]] = {}  # flattened value -> the NHWC shape before
    fused: set[str] = set()
    for n in g.node:
        a = _attrs(n)
        x = n.input[0] if n.input else ""
        if n.op_type == "Relu" and x in fused:
            index[n.output[0]] = index[x]
            shapes[n.output[0]] = shapes[x]
            continue
        if n.op_type in ("Conv", "MaxPool", "AveragePool"):
            k = list(a.get("kernel_shape", []))
            s = list(a.get("strides", [1, 1]))
            pads = list(a.get("pads", [0, 0, 0, 0]))
            if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
                raise ConversionError(f"{n.name}: grouped or dilated {n.op_type} not supported")
            if not any(pads):
                padding = fb.Padding.VALID
            elif s == [1, 1] and all(p == (k[i % 2] - 1) // 2 for i, p in enumerate(pads)) \
                    and all(kk % 2 for kk in k):
                padding = fb.Padding.SAME
            else:
                raise ConversionError(f"{n.name}: pads {pads} with strides {s} are neither "
                                      "VALID nor SAME")
            _, ih, iw, ic = shapes[x]
            if padding == fb.Padding.SAME:
                oh, ow = ih, iw
            else:
                oh, ow = (ih - k[0]) // s[0] + 1, (iw - k[1]) // s[1] + 1
            y = n.output[0]
            if n.op_type == "Conv":
                wgt = consts[n.input[1]].astype(np.float32)  # O, I, kh, kw
                bias = consts[n.input[2]].astype(np.float32) if len(n.input) > 2 else \
                    np.zeros(wgt.shape[0], np.float32)
                oc = wgt.shape[0]
                nxt = consumers.get(y, [])
                relu = len(nxt) == 1 and nxt[0].op_type == "Relu"
                yname = nxt[0].output[0] if relu else y
                t_w = tensor(n.input[1], [oc, k[0], k[1], ic], wgt.transpose(0, 2, 3, 1))
                t_b = tensor(n.input[2] if len(n.input) > 2 else f"{n.name}/bias", [oc], bias)
                t_y = tensor(yname, [1, oh, ow, oc])
                o = fb.Conv2DOptionsT()
                o.padding, o.strideH, o.strideW = padding, s[0], s[1]
                o.dilationHFactor = o.dilationWFactor = 1
                o.fusedActivationFunction = (fb.ActivationFunctionType.RELU if relu else
                                             fb.ActivationFunctionType.NONE)
                op(fb.BuiltinOperator.CONV_2D, [index[x], t_w, t_b], [t_y],
                   fb.BuiltinOptions.Conv2DOptions, o)
                index[y], shapes[y] = t_y, [1, oh, ow, oc]
                if relu:
                    fused.add(y)
            else:
                t_y = tensor(y, [1, oh, ow, ic])
                o = fb.Pool2DOptionsT()
                o.padding, o.strideH, o.strideW = padding, s[0], s[1]
                o.filterHeight, o.filterWidth = k[0], k[1]
                o.fusedActivationFunction = fb.ActivationFunctionType.NONE
                code = (fb.BuiltinOperator.MAX_POOL_2D if n.op_type == "MaxPool" else
                        fb.BuiltinOperator.AVERAGE_POOL_2D)
                op(code, [index[x]], [t_y], fb.BuiltinOptions.Pool2DOptions, o)
                index[y], shapes[y] = t_y, [1, oh, ow, ic]
        elif n.op_type == "Relu":
            t_y = tensor(n.output[0], shapes[x])
            op(fb.BuiltinOperator.RELU, [index[x]], [t_y], fb.BuiltinOptions.NONE, None)
            index[n.output[0]], shapes[n.output[0]] = t_y, shapes[x]
        elif n.op_type == "Flatten":
            if a.get("axis", 1) != 1:
                raise ConversionError(f"{n.name}: Flatten axis {a.get('axis')} not supported")
            size = int(np.prod(shapes[x][1:]))
            t_s = tensor(f"{n.name}/shape", [2], np.asarray([1, size], np.int32),
                         fb.TensorType.INT32)
            t_y = tensor(n.output[0], [1, size])
            o = fb.ReshapeOptionsT()
            o.newShape = np.asarray([1, size], np.int32)
            op(fb.BuiltinOperator.RESHAPE, [index[x], t_s], [t_y],
               fb.BuiltinOptions.ReshapeOptions, o)
            index[n.output[0]], shapes[n.output[0]] = t_y, [1, size]
            flatten_from[n.output[0]] = shapes[x]
        elif n.op_type == "Gemm":
            if a.get("transB", 0) != 1 or a.get("alpha", 1.0) != 1.0 or \
                    a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise ConversionError(f"{n.name}: only Gemm(transB=1, alpha=beta=1) supported")
            wgt = consts[n.input[1]].astype(np.float32)  # out, in (C, H, W order)
            if x in flatten_from:
                _, fh, fw, fc = flatten_from[x]
                wgt = wgt.reshape(-1, fc, fh, fw).transpose(0, 2, 3, 1).reshape(wgt.shape[0], -1)
            bias = consts[n.input[2]].astype(np.float32)
            t_w = tensor(n.input[1], list(wgt.shape), wgt)
            t_b = tensor(n.input[2], [wgt.shape[0]], bias)
            t_y = tensor(n.output[0], [1, wgt.shape[0]])
            o = fb.FullyConnectedOptionsT()
            o.fusedActivationFunction = fb.ActivationFunctionType.NONE
            op(fb.BuiltinOperator.FULLY_CONNECTED, [index[x], t_w, t_b], [t_y],
               fb.BuiltinOptions.FullyConnectedOptions, o)
            index[n.output[0]], shapes[n.output[0]] = t_y, [1, wgt.shape[0]]
        else:
            raise ConversionError(f"{n.name}: operator {n.op_type} is not supported by this "
                                  "lowering")
    outputs = [index[o.name] for o in g.output]

    sub = fb.SubGraphT()
    sub.tensors, sub.operators = tensors, operators
    sub.inputs = np.asarray([index[inp.name]], np.int32)
    sub.outputs = np.asarray(outputs, np.int32)
    sub.name = "main"
    model = fb.ModelT()
    model.version = 3
    model.description = f"converted from {onnx_path.name} by tools/onnx_to_tflite.py"
    model.subgraphs = [sub]
    model.buffers = buffers
    codes = []
    for code in opcodes:
        oc = fb.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        oc.version = 1
        codes.append(oc)
    model.operatorCodes = codes
    out.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
