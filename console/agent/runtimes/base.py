"""The one interface every runtime backend implements, and the pieces they share.

A backend turns model bytes (already checked against the manifest's sha256 by
the pipeline) into something that runs one input tensor and returns the
outputs; it says which device/EP runs it and what else it could have used, and
it reads the runtime's own per-operator profiler. Nothing here imports a
runtime: each backend module imports its library only when a package asks for
it, so a device without OpenVINO still runs ONNX packages.

Shipped to devices inside the agent bundle: standard library + numpy only,
Python 3.8+.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from console.agent.errors import AgentError


class RuntimeMissing(AgentError):
    """The package's runtime is not importable by the device's Python."""


class BackendError(AgentError):
    """The runtime cannot load or run the model, or lacks what the run asks of it.

    ``detail``: the runtime's own words alone (for callers that say the rest)."""

    def __init__(self, code: str, text: str, detail: Optional[str] = None) -> None:
        super().__init__(code, text)
        self.detail = detail if detail is not None else text


class TensorInfo(NamedTuple):
    """One model input or output: dims are ints, or None/str where dynamic."""

    name: str
    shape: List[Any]
    #: numpy's name of the element type: float32, uint8, int64, ...
    dtype: str


class OpTime(NamedTuple):
    """One operator's time over the profiled frames, as the runtime's profiler saw it."""

    node: str
    op_type: str
    #: the execution provider / device (and kernel, where the runtime says) that ran it
    device: str
    calls: int
    total_us: float
    #: position of its first run within one inference (0 first): the trace's order
    order: int


class ProfileResult(NamedTuple):
    #: "ok", or "unavailable" when the runtime exposes no per-operator profiler
    status: str
    #: one line: what was profiled with what, or why nothing was
    text: str
    ops: List[OpTime]


def first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def short_version(v: Any) -> str:
    """``2026.4.1`` from ``2026.4.1-22982-e213a147257-releases/2026/4``."""
    m = re.match(r"\d+(\.\d+)*", str(v or ""))
    return m.group(0) if m else str(v or "unknown")


class OpAccumulator:
    """Sums per-operator times by node, keeping the order nodes first ran in."""

    def __init__(self) -> None:
        self._rows: Dict[str, List[Any]] = {}

    def add(self, node: str, op_type: str, device: str, us: float) -> None:
        row = self._rows.get(node)
        if row is None:
            self._rows[node] = [op_type, device, 1, float(us), len(self._rows)]
        else:
            row[2] += 1
            row[3] += float(us)

    def rows(self) -> List[OpTime]:
        return [OpTime(node, r[0], r[1], r[2], r[3], r[4]) for node, r in self._rows.items()]


class Backend:
    """A model loaded in one runtime, ready to run frames.

    Subclasses set :attr:`version`, :attr:`device` (what runs the model: an EP, an
    OpenVINO device, a LiteRT delegate) and :attr:`available` (what the device
    offers) while loading. ``lib`` is the runtime's module, imported by
    :func:`console.agent.runtimes.load`. ``profile`` is known at load time because some runtimes
    (onnxruntime) can only profile a session built for it.
    """

    #: the manifest's name of the runtime
    name = "abstract"

    def __init__(self, lib: Any, model: bytes, weights: Optional[bytes], root: str,
                 model_name: str, settings: Dict[str, Any], profile: bool) -> None:
        self.version = "unknown"
        self.device = "unknown"
        self.available: List[str] = []
        self.settings = dict(settings)
        self.input_name = ""

    def inputs(self) -> List[TensorInfo]:
        raise NotImplementedError

    def select_input(self, name: str) -> None:
        """Feed :meth:`run`'s tensor to the input ``name`` (the manifest's)."""
        self.input_name = name

    def outputs(self) -> List[TensorInfo]:
        raise NotImplementedError

    def run(self, x: Any) -> List[Any]:
        """Outputs of one inference on the model's (single) input ``x``."""
        raise NotImplementedError

    # -- the runtime's profiler ---------------------------------------------------
    def profile_mark(self) -> None:
        """The next :meth:`run` is the first profiled one."""

    def profile_frame(self) -> None:
        """A profiled :meth:`run` just ended (called outside the timed stages)."""

    def profile_result(self) -> ProfileResult:
        """What the profiler saw from the mark on; stops profiling where it can."""
        return ProfileResult("unavailable", "%s has no per-operator profiler" % self.name, [])

    def close(self) -> None:
        """Release what profiling left behind (files, buffers)."""


def split_device(device: str) -> Tuple[str, str]:
    """``("GPU", ".1")`` from ``GPU.1``; ``("AUTO", ":GPU,CPU")`` from ``AUTO:GPU,CPU``."""
    m = re.match(r"^([A-Z]+)(.*)$", device)
    return (m.group(1), m.group(2)) if m else (device, "")
