"""The run the set-up docks describe (Devices, Model package, Input, Run), or why there is none.

The docks only answer questions (``current_path()``, ``spec()``,
``limits()``…); this module puts the answers together into the
:class:`~console.session.run.RunRequest` the window starts, with the
window's preview settings, and the one line that says what is missing
when the docks do not describe a run yet. Like ``devicelab run``, a window
run takes the settings a sweep saved for its device and package
(``console.session.run_defaults``) for whatever the docks do not set — the
provider the Model package dock names explicitly wins — and its start line
says which were used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.devices.base import AgentOptions
from console.session import run_defaults
from console.session.run import RunRequest
from console.ui.devices.panel import DeviceEntry, DevicesPanel
from console.ui.live.input_panel import InputPanel
from console.ui.live.run_panel import RunPanel
from console.ui.packages.panel import PackagePanel
from console.ui.wording import SIGNING, for_window

#: the window's preview request: enough to look smooth, cheap on a board
PREVIEW_FPS = 15.0
PREVIEW_WIDTH = 480
TELEMETRY_MS = 100.0
#: what is missing when the Input dock has nothing to run, per input kind
NO_INPUT = {"video": "choose a recording first (Input dock, Ctrl+I)",
            "camera": "no camera chosen: probe the device (Ctrl+P) and pick one",
            "stream": "enter a stream URL first (Input dock)"}


@dataclass(frozen=True)
class RunChoice:
    entry: DeviceEntry
    request: RunRequest
    #: the Input dock's limits (remembered as the next start's)
    limits: dict[str, Any]
    #: what the run is (the package's title), for the summary
    title: str
    #: the log line that says what starts
    line: str
    #: the verified package (console.core.package.Package), None while it verifies
    package: Any = None


def run_choice(package: PackagePanel, inputs: InputPanel, devices: DevicesPanel,
               run_panel: RunPanel) -> RunChoice | str:
    """The run the docks describe, or the one line that says what to choose first."""
    pkg_path = package.current_path()
    ver = package.verification
    if not pkg_path:
        return "choose a model package first (Model package dock, Ctrl+O)"
    if ver is not None and not ver.ok and str(ver.source) == pkg_path:
        return f"package refused: {for_window(ver.first_line(), SIGNING)}"
    spec = inputs.spec()
    if not spec:
        return NO_INPUT.get(inputs.kind(), "choose an input first")
    refusal = inputs.refusal()
    if refusal:  # the Input dock already read it and said why it cannot run
        return refusal
    entry = devices.current()
    if entry is None:
        return "choose a device first (Devices dock)"
    limits = inputs.limits()
    opts = AgentOptions(frames=int(limits["frames"]), duration=float(limits["duration"]),
                        fps=float(limits["fps"]), loop=bool(limits["loop"]),
                        provider=package.provider(), preview_fps=PREVIEW_FPS,
                        preview_width=PREVIEW_WIDTH, telemetry_ms=TELEMETRY_MS,
                        profile=run_panel.profile_frames())
    opts, saved = with_saved_defaults(opts, entry.spec, pkg_path,
                                      {"provider"} if package.provider() else set())
    note = run_panel.note()
    request = RunRequest(package=pkg_path, input=spec, options=opts, note=note,
                         truth=inputs.truth())
    pkg = ver.package if ver is not None and ver.ok else None
    line = (f"starting {Path(pkg_path).name} on {entry.name} with {inputs.describe()}"
            + (f" — {saved}" if saved else "") + (f" — note: {note}" if note else ""))
    return RunChoice(entry, request, limits, pkg.title if pkg else Path(pkg_path).name, line,
                     pkg)


def with_saved_defaults(opts: AgentOptions, device: str, package_path: str,
                        given: set[str]) -> tuple[AgentOptions, str]:
    """``opts`` with the device's saved defaults for the package, and the words that
    say which were used ("" when none). A settings file or package that cannot be read
    costs the defaults, never the run (the run refuses a bad package in its own words)."""
    try:
        opts, applied, why = run_defaults.apply_saved(opts, device, package_path, given)
    except UserError:
        return opts, ""
    return opts, run_defaults.applied_words(applied, why)
