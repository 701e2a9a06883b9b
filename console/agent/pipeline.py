"""Pre-processing, inference and decoding for one model package, on the device.

The three stages are timed separately by the agent, so each is one method
with no hidden work in the others. Pre-processing folds ``scale``, ``mean``
and ``std`` into one multiply-add computed once; decoding returns class
indices (labels are resolved console-side, keeping frame lines short).

The model is read from disk exactly once: its bytes are checked against the
manifest's size and sha256 and the runtime (:mod:`console.agent.runtimes`)
builds the session from those very bytes, so a model file swapped after the
check can never be the one that runs (loading from the path would read the
file a second time). An OpenVINO IR's ``.bin`` weights are read and checked
the same way. A model whose weights live in files beside it (ONNX external
data, needed over 2 GB) is the one case to know: onnxruntime resolves those
relative to the working directory, so the session is built with the package
root as the working directory (those files are hashed with the rest of the
package).
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from console.agent.errors import AgentError
from console.agent.runtimes.base import first_line
from console.core.manifest import (
    InputSpec,
    Manifest,
    OutputSpec,
    PackageError,
    content_problem,
    model_weights,
    safe_join,
    sha256_bytes,
)

_NP_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int8": np.int8}


class PipelineError(AgentError):
    """The model cannot be loaded or run."""


def _cv2() -> Any:
    try:
        import cv2

        return cv2
    except ImportError:
        return None


class Preprocessor:
    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.cv2 = _cv2()
        ch = spec.channels
        scale = np.float32(spec.scale)
        mean = np.asarray(spec.mean, np.float32).reshape(-1)
        std = np.asarray(spec.std, np.float32).reshape(-1)
        if mean.size == 1:
            mean = np.repeat(mean, ch)
        if std.size == 1:
            std = np.repeat(std, ch)
        # x' = (x*scale - mean)/std  ==  x*mul + add
        self.mul = (scale / std).astype(np.float32)
        self.add = (-mean / std).astype(np.float32)
        self.identity = bool(np.all(self.mul == 1.0) and np.all(self.add == 0.0))
        self.np_dtype = _NP_DTYPES[spec.dtype]
        if self.cv2 is not None:
            self.interp = {"area": self.cv2.INTER_AREA, "linear": self.cv2.INTER_LINEAR,
                           "nearest": self.cv2.INTER_NEAREST}[spec.resize]

    def _color(self, frame: np.ndarray) -> np.ndarray:
        want = self.spec.color
        if frame.ndim == 2:
            if want == "GRAY":
                return frame
            return np.repeat(frame[:, :, None], 3, axis=2)
        if want == "GRAY":
            if self.cv2 is not None:
                return self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2GRAY)
            g = frame[:, :, 0] * 0.114 + frame[:, :, 1] * 0.587 + frame[:, :, 2] * 0.299
            return g.astype(np.uint8)
        if want == "RGB":
            return frame[:, :, ::-1]
        return frame

    def _resize(self, img: np.ndarray) -> np.ndarray:
        h, w = self.spec.height, self.spec.width
        if img.shape[0] == h and img.shape[1] == w:
            return img
        if self.cv2 is not None:
            return self.cv2.resize(np.ascontiguousarray(img), (w, h),
                                   interpolation=self.interp)
        ys = (np.arange(h) * img.shape[0] / h).astype(np.intp)
        xs = (np.arange(w) * img.shape[1] / w).astype(np.intp)
        return img[ys][:, xs]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        img = self._resize(self._color(frame))
        if img.ndim == 2:
            img = img[:, :, None]
        if self.np_dtype in (np.float32, np.float16):
            x = img.astype(np.float32)
            if not self.identity:
                x = x * self.mul + self.add
            x = x.astype(self.np_dtype, copy=False)
        else:
            x = img.astype(self.np_dtype, copy=False)
        if self.spec.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None])


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> List[int]:
    """Greedy non-maximum suppression over xyxy boxes; returns kept indices."""
    order = np.argsort(-scores)
    keep: List[int] = []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
        union = areas[i] + areas[rest] - inter
        ov = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[ov <= iou]
    return keep


def _to_xyxy(b: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "xyxy":
        return b
    out = np.empty_like(b)
    if fmt == "xywh":
        out[:, 0], out[:, 1] = b[:, 0], b[:, 1]
        out[:, 2], out[:, 3] = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    else:  # cxcywh
        out[:, 0], out[:, 1] = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2
        out[:, 2], out[:, 3] = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    return out


class Decoder:
    def __init__(self, task: str, spec: OutputSpec, input_spec: InputSpec) -> None:
        self.task = task
        self.spec = spec
        self.in_w, self.in_h = input_spec.width, input_spec.height

    def __call__(self, outputs: List[np.ndarray], names: List[str],
                 frame_shape: Tuple[int, ...]) -> Dict[str, Any]:
        if self.task == "classification":
            return self.classify(outputs[0])
        if self.task == "detection":
            return self.detect(outputs[0], frame_shape)
        return {"shapes": {n: list(o.shape) for n, o in zip(names, outputs)}}

    def classify(self, out: np.ndarray) -> Dict[str, Any]:
        v = np.asarray(out, np.float32).reshape(-1)
        if self.spec.softmax:
            v = _softmax(v)
        k = min(self.spec.top_k, v.size)
        idx = np.argpartition(-v, k - 1)[:k] if k < v.size else np.arange(v.size)
        idx = idx[np.argsort(-v[idx])]
        return {"top": [[int(i), round(float(v[i]), 6)] for i in idx]}

    def detect(self, out: np.ndarray, frame_shape: Tuple[int, ...]) -> Dict[str, Any]:
        a = np.asarray(out, np.float32)
        sp = self.spec
        if sp.layout == "yolo":
            a = a.reshape(a.shape[-2], a.shape[-1]).T  # -> [N, 4 + C]
            boxes = _to_xyxy(a[:, :4], "cxcywh")
            cls_scores = a[:, 4:]
            classes = cls_scores.argmax(axis=1)
            scores = cls_scores[np.arange(len(a)), classes]
        else:
            a = a.reshape(-1, a.shape[-1])
            if a.shape[1] < 6:
                raise PipelineError("output_shape", "detection 'rows' output needs >= 6 columns "
                                    "(x1,y1,x2,y2,score,class), got %d" % a.shape[1])
            boxes = _to_xyxy(a[:, :4], sp.box_format)
            scores = a[:, 4]
            classes = a[:, 5].astype(np.int64)
        m = scores >= sp.score_threshold
        boxes, scores, classes = boxes[m], scores[m], classes[m]
        if sp.normalized:
            boxes = boxes * np.array([self.in_w, self.in_h, self.in_w, self.in_h], np.float32)
        fh, fw = frame_shape[0], frame_shape[1]
        boxes = boxes * np.array([fw / self.in_w, fh / self.in_h] * 2, np.float32)
        keep: List[int] = []
        for c in np.unique(classes):
            idx = np.nonzero(classes == c)[0]
            keep.extend(int(idx[j]) for j in nms(boxes[idx], scores[idx], sp.nms_iou))
        keep.sort(key=lambda j: -float(scores[j]))
        return {"boxes": [[round(float(v), 1) for v in boxes[j]] + [int(classes[j]),
                                                                     round(float(scores[j]), 4)]
                          for j in keep[:100]]}


class Pipeline:
    """A loaded package ready to run frames. Construction is the cold start.

    ``settings`` are the runtime settings of the run (``manifest.run_settings``);
    the runtime itself is the manifest's, loaded by :mod:`console.agent.runtimes`
    only now. ``profile``: build the model so the runtime's profiler can be used.
    """

    def __init__(self, root: str, manifest: Manifest, settings: Optional[Dict[str, Any]] = None,
                 profile: bool = False) -> None:
        from console.agent import runtimes

        self.manifest = manifest
        t0 = time.perf_counter()
        model = self.read_model(root, manifest)
        weights_name = model_weights(manifest)
        weights = self.read_file(root, manifest, weights_name) if weights_name else None
        #: reading and hashing the model: part of the package check, not of the session
        self.model_check_ms = (time.perf_counter() - t0) * 1000.0
        t0 = time.perf_counter()
        try:
            self.backend = runtimes.load(manifest.runtime, model, weights, root, manifest.model,
                                         dict(settings or {}), profile)
        except AgentError as exc:  # the runtime missing, or refusing the model/a setting
            raise PipelineError(exc.code, exc.text) from None
        del model, weights  # the runtime holds its own copy; do not keep a second one
        self.session_ms = (time.perf_counter() - t0) * 1000.0
        b = self.backend
        self.runtime, self.runtime_version = b.name, b.version
        #: what runs the model (EP, OpenVINO device, LiteRT delegate), what else there is
        self.provider, self.providers_available = b.device, list(b.available)
        inputs = [i.name for i in b.inputs()]
        if manifest.input.name not in inputs:
            raise PipelineError("input_name", "model has no input %r (it has %s)"
                                % (manifest.input.name, ", ".join(inputs)))
        b.select_input(manifest.input.name)
        self.input_name = manifest.input.name
        self.output_names = [o.name for o in b.outputs()]
        self.pre = Preprocessor(manifest.input)
        self.decode = Decoder(manifest.task, manifest.output, manifest.input)
        self._run = b.run

    @staticmethod
    def read_model(root: str, manifest: Manifest) -> bytes:
        """The model's bytes, read once and checked against the manifest's size and sha256.

        These bytes, not the path, go to the runtime: what was checked is what runs.
        """
        return Pipeline.read_file(root, manifest, manifest.model)

    @staticmethod
    def read_file(root: str, manifest: Manifest, name: str) -> bytes:
        """One package file's bytes (the model, an IR's weights), checked as they are read."""
        path = safe_join(root, name)
        entry = manifest.files.get(name)
        if entry is None:
            raise PipelineError("package_invalid", "package refused on the device: the model "
                                "file %s has no sha256 in manifest.json" % name)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise PipelineError("package_invalid", "package refused on the device: %s"
                                % PackageError(name, "listed in manifest.json but "
                                               "missing")) from None
        except OSError as exc:
            raise PipelineError("model_load", "cannot read the model %s: %s"
                                % (path, exc.strerror or exc)) from None
        # The agent's only check of the model files (verify_files skips them).
        problem = content_problem(name, entry, len(data), lambda: sha256_bytes(data))
        if problem is not None:
            raise PipelineError("package_invalid", "package refused on the device: %s" % problem)
        return data

    def warmup(self) -> float:
        """First inference on a zero tensor, timed: part of the cold start, not of frame 0."""
        x = np.zeros(self.manifest.input.shape(), _NP_DTYPES[self.manifest.input.dtype])
        t0 = time.perf_counter()
        self.infer(x)
        return (time.perf_counter() - t0) * 1000.0

    def infer(self, x: np.ndarray) -> List[np.ndarray]:
        try:
            return self._run(x)
        except Exception as exc:
            raise PipelineError("inference", "inference failed: %s (input shape %s)"
                                % (first_line(exc), list(x.shape))) from None
