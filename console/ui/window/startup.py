"""What the window starts with: the command line's choices, else the last ones, else the demo.

First start: This computer, the demo package and the demo recording (with
its ground truth), so Start works at once. Later: what was used last
(the settings file's preferences), unless the command line says otherwise
(``--fps recording`` paces a recording at its own rate once the Input dock
has read it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.core.paths import resources_dir
from console.session.browse import LogRef
from console.ui.live.input_panel import truth_for

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow

DEMO_PACKAGE = ("packages", "digits-cnn")
DEMO_VIDEO = ("recordings", "digits-demo.avi")
#: the demo recording's own rate: watchable
DEMO_FPS = 30.0


@dataclass
class StartupChoices:
    """What the command line asked for (anything None falls back to preferences/demo)."""

    db_path: LogRef
    package: str | None = None
    input: str | None = None
    truth: str | None = None
    device: str | None = None
    start: bool = False
    #: target FPS: a number (0: as fast as possible), "recording" (the recording's own
    #: rate), or None (the last run's, else the demo's)
    fps: float | str | None = None
    #: loop a recording (None: the last run's choice)
    loop: bool | None = None


def demo_package() -> Path:
    return resources_dir().joinpath(*DEMO_PACKAGE)


def demo_video() -> Path:
    return resources_dir().joinpath(*DEMO_VIDEO)


def input_exists(text: str) -> bool:
    """Whether a remembered input can still be used (a file that is gone cannot)."""
    if text.startswith(("synthetic", "camera:", "/dev/video")) or "://" in text:
        return True
    return Path(text).expanduser().exists()


def preselect(w: MainWindow) -> None:
    """Fill the docks with what the window starts with, and probe This computer."""
    c, p = w.choices, w.prefs
    recent = [r for r in p.get("recent_packages") or [] if isinstance(r, str)]
    w.package.set_recent(recent)
    device = c.device or p.get("last_device") or "local"
    if not w.devices.select(str(device)):
        if c.device:
            w.report("error", f"device {c.device!r} is not in the device list; using "
                              "This computer (add it in the Devices dock)")
        w.devices.select("local")
    current = w.devices.current()
    if current is not None:
        w.show_device(current)
    pkg = c.package or p.get("last_package")
    if not pkg or (not c.package and not Path(str(pkg)).exists()):
        pkg = str(demo_package()) if demo_package().exists() else ""
    limits: Any = p.get("last_limits") if isinstance(p.get("last_limits"), dict) else None
    problem = None
    if c.input:
        problem = w.input.set_input_text(c.input, c.truth)
    elif p.get("last_input") and input_exists(str(p.get("last_input"))):
        problem = w.input.set_input_text(str(p.get("last_input")), p.get("last_truth"))
    elif demo_video().exists():
        w.input.set_video(str(demo_video()), truth_for(str(demo_video())) or "")
        if limits is None:
            w.input.set_fps(DEMO_FPS)
    if problem:
        w.report("error", problem)
    if limits:
        w.input.set_limits(limits)
    if c.fps == "recording":
        w.input.follow_recording_fps()
    elif c.fps is not None:
        w.input.set_fps(float(c.fps))
    if c.loop is not None:
        w.input.loop_check.setChecked(c.loop)
    if pkg:
        w.package.set_path(str(pkg))
    local = w.devices.current()
    if local is not None and local.kind == "local":
        w.devices.probe(local)
