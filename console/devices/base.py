"""The one interface every device transport implements (built-in, SSH, …).

A :class:`Device` connects, probes, deploys a package (+ recording + agent
bundle) and starts an :class:`AgentProcess`: a byte stream of protocol
lines out and commands in. The run controller (``console.session.run``)
only ever talks to these two classes, so a new transport (adb, serial) is
one new module and no change anywhere else. Nothing here imports Qt; the
window wraps devices in its own thin adapter.

Errors are :class:`DeviceError` subclasses whose message is the one line a
user sees: what failed, on which device, what to do.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.core.errors import UserError
from console.core.inputs import InputSource, redact_url
from console.core.manifest import Manifest, run_settings
from console.core.package import Package

if TYPE_CHECKING:
    from console.devices.spec import DeviceSpec


#: agent error codes that mean "the package on the device is not what was verified":
#: the run controller then calls :meth:`Device.invalidate_deployment`
REFUSAL_CODES = ("package_invalid", "package_changed")


class DeviceError(UserError):
    """Base for device failures; ``str(exc)`` is the user-facing line."""


class DeviceUnreachable(DeviceError):
    pass


class AuthenticationFailed(DeviceError):
    pass


class HostKeyUnknown(DeviceError):
    """The host's key is not known; ``fingerprint`` is what a user must confirm."""

    def __init__(self, message: str, host: str, key_type: str, fingerprint: str) -> None:
        super().__init__(message)
        self.host = host
        self.key_type = key_type
        self.fingerprint = fingerprint


class HostKeyChanged(DeviceError):
    pass


class DeployError(DeviceError):
    pass


class DeployCancelled(DeployError):
    pass


class DiskFull(DeployError):
    pass


class LinkLost(DeviceError):
    """The connection to the device dropped; the run is ``interrupted``."""


@dataclass(frozen=True)
class DeployProgress:
    stage: str  # "agent" | "package" | "input"
    name: str
    done: int
    total: int
    rate_bps: float = 0.0
    cached: bool = False


ProgressFn = Callable[[DeployProgress], None]


@dataclass(frozen=True)
class Deployment:
    """Where things are on the device, ready for :meth:`Device.start_agent`."""

    package_dir: str
    input_spec: str
    bundle_path: str
    #: sha256 of the manifest the console verified; the agent refuses any other
    package_digest: str = ""


@dataclass(frozen=True)
class AgentOptions:
    """Run settings the agent receives (all of them are recorded in the session)."""

    frames: int = 0
    duration: float = 0.0
    fps: float = 0.0
    loop: bool = False
    provider: str | None = None
    threads: int = 0
    #: onnxruntime busy-waiting: "auto" (off when paced by fps), "on", "off"
    spin: str = "auto"
    #: onnxruntime graph optimization: disabled | basic | extended | all (its default)
    graph_opt: str = "all"
    preview_fps: float = 10.0
    preview_width: int = 320
    telemetry_ms: float = 100.0
    #: frames profiled with the runtime's own profiler (0: none), after ``profile_after``
    profile: int = 0
    profile_after: int = 10
    #: runtime settings over the manifest's, as (key, value) pairs (``--runtime-setting``)
    runtime_settings: tuple[tuple[str, Any], ...] = ()

    def args(self) -> list[str]:
        a = ["--frames", str(int(self.frames)), "--duration", repr(float(self.duration)),
             "--fps", repr(float(self.fps)), "--threads", str(int(self.threads)),
             "--spin", self.spin,
             "--preview-fps", repr(float(self.preview_fps)),
             "--preview-width", str(int(self.preview_width)),
             "--telemetry-ms", repr(float(self.telemetry_ms))]
        if self.loop:
            a.append("--loop")
        if self.provider:
            a += ["--provider", self.provider]
        if self.profile:
            a += ["--profile", str(int(self.profile)), "--profile-after",
                  str(int(self.profile_after))]
        for k, v in self.runtime_settings:
            a += ["--runtime-setting", f"{k}={v}"]
        if self.graph_opt != "all":  # the agent's default: older agents need not know it
            a += ["--graph-opt", self.graph_opt]
        return a

    def settings_for(self, manifest: Manifest) -> dict[str, Any]:
        """The runtime settings this run gives ``manifest``'s runtime (the manifest's,
        then these options); a setting that runtime lacks raises RuntimeSettingError."""
        extra = dict(self.runtime_settings)
        if self.graph_opt != "all":
            extra.setdefault("graph_opt", self.graph_opt)
        return run_settings(manifest, self.provider, self.threads, self.spin, extra)

    def record(self) -> dict[str, Any]:
        return {"frames": self.frames, "duration": self.duration, "fps": self.fps,
                "loop": self.loop, "provider": self.provider, "threads": self.threads,
                "spin": self.spin, "graph_opt": self.graph_opt,
                "preview_fps": self.preview_fps, "preview_width": self.preview_width,
                "telemetry_ms": self.telemetry_ms, "profile": self.profile,
                "profile_after": self.profile_after,
                "runtime_settings": dict(self.runtime_settings)}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> AgentOptions:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if isinstance(known.get("runtime_settings"), dict):
            known["runtime_settings"] = tuple(sorted(known["runtime_settings"].items()))
        return cls(**known)


class AgentProcess(ABC):
    """A running agent. ``read`` returns bytes, ``b""`` at end of stream, None on timeout."""

    @abstractmethod
    def read(self, timeout: float) -> bytes | None: ...

    @abstractmethod
    def send(self, data: bytes) -> None: ...

    @abstractmethod
    def terminate(self) -> None:
        """Ask the agent to die (SIGTERM or equivalent)."""

    @abstractmethod
    def kill(self) -> None:
        """Kill the agent (SIGKILL) and close the stream."""

    @abstractmethod
    def wait(self, timeout: float) -> int | None:
        """Exit status (negative: killed by that signal), or None if unknown/still running."""

    @abstractmethod
    def stderr_text(self) -> str:
        """The last few KB the agent wrote to stderr (for error messages)."""

    def link_ok(self) -> bool:
        """False once the transport to the device is known to be gone."""
        return True

    def close(self) -> None:
        pass


class Device(ABC):
    """One device. ``spec`` says which (:class:`~console.devices.spec.DeviceSpec`);
    ``name`` and ``address`` are read from it, for the log and the window."""

    kind: str = "abstract"

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def address(self) -> str:
        return self.spec.address

    @abstractmethod
    def connect(self) -> None:
        """Open the connection (idempotent). Raises DeviceError subclasses."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What makes this device this device (host key fingerprint, machine id)."""

    @abstractmethod
    def probe(self) -> dict[str, Any]:
        """Device facts (see ``console.agent.facts``) plus ``requirements``: problems + fixes."""

    @abstractmethod
    def deploy(self, package: Package, source: InputSource, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Deployment: ...

    @abstractmethod
    def start_agent(self, deployment: Deployment, options: AgentOptions) -> AgentProcess: ...

    def invalidate_deployment(self, deployment: Deployment) -> None:
        """The agent refused what ``deployment`` points at (a ``REFUSAL_CODES`` error):
        a device that caches deployments drops that copy, so the next deploy puts a
        fresh one instead of every later run failing alike. Nothing is cached here."""

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.address})" if self.name != self.address else self.address


def agent_input_args(spec: str) -> tuple[list[str], bytes]:
    """How an agent is told its input: the arguments, and what to write to its stdin.

    A spec with a password (a stream's ``user:password@``) goes as stdin's first line
    behind ``--input-stdin``: a command line is readable by every user of the device
    and of this computer (``ps``, ``/proc/PID/cmdline``), stdin by nobody else."""
    if redact_url(spec) == spec:
        return ["--input", spec], b""
    return ["--input-stdin"], spec.encode("utf-8") + b"\n"


def requirement_problems(facts: dict[str, Any], python: str = "python3") -> list[str]:
    """What a device lacks to run the agent, each with the exact command that fixes it."""
    out = []
    py = facts.get("python") or ""
    try:
        major, minor = (int(x) for x in py.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if (major, minor) < (3, 8):
        out.append(f"Python {py or 'unknown'} at {python} is too old: the agent needs Python 3.8+"
                   " (set the device's interpreter to a newer python3)")
    libs = facts.get("libraries") or {}
    errs = facts.get("library_errors") or {}
    missing = [pip for key, pip in (("numpy", "numpy"), ("onnxruntime", "onnxruntime"))
               if not libs.get(key)]
    if missing:
        detail = "; ".join(f"{k}: {errs[k]}" for k in ("numpy", "onnxruntime") if k in errs)
        out.append(f"missing {', '.join(missing)} ({detail}); on the device run: "
                   f"{python} -m pip install {' '.join(missing)}")
    if not libs.get("opencv"):
        out.append("OpenCV missing: video/camera/stream inputs and previews need it; on the "
                   f"device run: {python} -m pip install opencv-python-headless "
                   "(synthetic input works without it)")
    for name, rt in sorted((facts.get("runtimes") or {}).items()):
        if name != "onnxruntime" and not rt.get("version"):  # onnxruntime: said above
            why = rt.get("error") or "not installed"
            out.append(f"{RUNTIME_LABELS.get(name, name)} missing ({why}): {name} packages "
                       f"cannot run here; on the device run: {python} -m pip install "
                       f"{rt.get('pip') or name}")
    return out


#: how messages name each runtime
RUNTIME_LABELS = {"onnxruntime": "onnxruntime", "litert": "LiteRT", "openvino": "OpenVINO"}
