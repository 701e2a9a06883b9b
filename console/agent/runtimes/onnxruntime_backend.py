"""onnxruntime: ``.onnx`` models on a chosen execution provider.

Settings: ``threads`` (intra-op threads), ``provider`` (an EP the device has),
``spin`` (the intra-op pool's busy-waiting). Profiling uses onnxruntime's own
``SessionOptions.enable_profiling`` trace: it can only be switched on when the
session is built and ends with ``end_profiling()``, so a profiled session
records from its first run and the backend keeps only the runs from the mark
on (the trace's ``model_run`` spans say which operator events belong to which
run). After ``end_profiling()`` the session runs on unprofiled.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional

from console.agent.runtimes.base import (
    Backend,
    BackendError,
    OpAccumulator,
    ProfileResult,
    TensorInfo,
    first_line,
    short_version,
)

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
              "tensor(double)": "float64", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
              "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(bool)": "bool"}


def import_library() -> Any:
    import onnxruntime

    return onnxruntime


def _infos(nodes: Any) -> List[TensorInfo]:
    return [TensorInfo(n.name, list(n.shape), _ORT_TYPES.get(n.type, n.type)) for n in nodes]


#: ``graph_opt`` (console.core.protocol.GRAPH_OPT_LEVELS) -> onnxruntime's level name
_GRAPH_OPT_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                     "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, lib: Any, model: bytes, weights: Optional[bytes], root: str,
                 model_name: str, settings: Dict[str, Any], profile: bool) -> None:
        super().__init__(lib, model, weights, root, model_name, settings, profile)
        ort = lib
        self.version = short_version(ort.__version__)
        self.available = list(ort.get_available_providers())
        provider = settings.get("provider")
        if provider and provider not in self.available:
            raise BackendError("provider_unavailable",
                               "execution provider %s is not available on this device "
                               "(available: %s)" % (provider, ", ".join(self.available)))
        self.device = provider or "CPUExecutionProvider"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if settings.get("threads"):
            opts.intra_op_num_threads = int(settings["threads"])
        level = _GRAPH_OPT_LEVELS[settings.get("graph_opt") or "all"]
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        spin = settings.get("spin")
        if spin in ("on", "off"):
            # onnxruntime's pool busy-waits after each run; on a paced run that
            # burns a core between frames and inflates the agent's CPU figure.
            opts.add_session_config_entry("session.intra_op.allow_spinning",
                                          "1" if spin == "on" else "0")
        self._trace_dir: Optional[str] = None
        if profile:
            self._trace_dir = tempfile.mkdtemp(prefix="devicelab-ort-profile-")
            atexit.register(self.close)  # a run that fails first leaves no trace behind
            opts.enable_profiling = True
            opts.profile_file_prefix = os.path.join(self._trace_dir, "ort")
        #: runs so far, and the run the profile starts at
        self._runs = 0
        self._mark: Optional[int] = None
        try:
            # A model loaded from bytes finds weights kept beside it (external data,
            # needed over 2 GB) relative to the working directory, and only below it:
            # inside the package root, those are the files just hashed, never a stray
            # file wherever the agent happened to start.
            try:
                cwd: Optional[str] = os.getcwd()
            except OSError:
                cwd = None
            os.chdir(root)
            try:
                self.session = ort.InferenceSession(model, sess_options=opts,
                                                    providers=[self.device])
            finally:
                if cwd is not None:
                    os.chdir(cwd)
        except Exception as exc:
            self.close()
            raise BackendError("model_load", "onnxruntime cannot load %s: %s"
                               % (model_name, first_line(exc)), first_line(exc)) from None
        self._output_names = [o.name for o in self.session.get_outputs()]
        self.input_name = self.session.get_inputs()[0].name

    def inputs(self) -> List[TensorInfo]:
        return _infos(self.session.get_inputs())

    def outputs(self) -> List[TensorInfo]:
        return _infos(self.session.get_outputs())

    def run(self, x: Any) -> List[Any]:
        self._runs += 1
        return self.session.run(self._output_names, {self.input_name: x})

    def profile_mark(self) -> None:
        self._mark = self._runs

    def profile_result(self) -> ProfileResult:
        if self._trace_dir is None or self._mark is None:
            return ProfileResult("unavailable", "the session was not built for profiling", [])
        path = self.session.end_profiling()
        try:
            with open(path, encoding="utf-8") as fh:
                events = json.load(fh)
        except (OSError, ValueError) as exc:
            return ProfileResult("unavailable", "onnxruntime's profile trace %s cannot be "
                                 "read: %s" % (path, first_line(exc)), [])
        finally:
            self.close()
        return ProfileResult("ok", "onnxruntime %s profiler (SessionOptions.enable_profiling)"
                             % self.version, ops_from_trace(events, self._mark))

    def close(self) -> None:
        if self._trace_dir is not None:
            shutil.rmtree(self._trace_dir, ignore_errors=True)
            self._trace_dir = None


def ops_from_trace(events: List[Dict[str, Any]], skip_runs: int) -> List[Any]:
    """Per-node sums of an onnxruntime trace, leaving out its first ``skip_runs`` runs.

    Node events (``cat: Node``, ``<node>_kernel_time``) fall inside the span of
    the ``model_run`` they belong to; fences and session events are left out."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    kept = runs[skip_runs:]
    if not kept:
        return []
    acc = OpAccumulator()
    nodes = sorted((e for e in events if e.get("cat") == "Node"
                    and str(e.get("name", "")).endswith("_kernel_time")),
                   key=lambda e: e["ts"])
    j = 0
    for e in nodes:
        while j < len(kept) and e["ts"] > kept[j][1]:
            j += 1
        if j >= len(kept):
            break
        if e["ts"] < kept[j][0]:
            continue  # a run before the mark
        args = e.get("args") or {}
        acc.add(e["name"][: -len("_kernel_time")], str(args.get("op_name", "?")),
                str(args.get("provider", "")), float(e.get("dur", 0)))
    return acc.rows()


BACKEND = OnnxRuntimeBackend
