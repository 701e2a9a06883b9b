"""``devicelab`` with no arguments: start Qt, show the window, run the event loop.

Command-line options preselect what the window starts with (``--db``,
``--package``, ``--input``, ``--truth``, ``--device``, ``--fps``, ``--loop``);
``--start`` starts
the run as soon as the window is up (kiosk demos, screenshots). Tracebacks
go to the log file; an exception that escapes a slot is shown as one line
in the window's log pane instead of killing the window.

Startup is kept short: the window is built and shown first; onnxruntime,
OpenCV and the device probe are loaded by jobs after it is on screen.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from console.core.logfile import log_file, setup_logging

T_START = time.perf_counter()
log = logging.getLogger("devicelab.ui")
#: the GIL switch interval of the window's process (Python's default: 5 ms)
GUI_SWITCH_INTERVAL_S = 0.001



def _app_icon() -> Any:
    """The app icon at every size shipped in resources/icons (missing sizes are skipped)."""
    from console.core.paths import resources_dir
    from console.ui.qt import QIcon

    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        png = resources_dir() / "icons" / f"devicelab-{size}.png"
        if png.is_file():
            icon.addFile(str(png))
    return icon

EXAMPLE = """example:
  devicelab gui                                   # the demo package and recording, ready: F5
  devicelab gui --package resources/packages/digits-cnn-int8 \\
      --input resources/recordings/digits-demo.avi --start
  devicelab gui --package resources/packages/nanodet-g-coco \\
      --input resources/recordings/opencv-vtest.mp4 --fps recording --loop --start
  devicelab gui --device lab-pi --package model.zip --input camera:0
  devicelab gui --db lab.db --theme dark          # another session log, dark theme

'devicelab --package …' (without 'gui') takes the same options. Closing the window
during a run stops it cleanly and keeps the session."""


def _fps_choice(text: str) -> float | str:
    """``--fps``: frames per second, or ``recording`` (the recording's own rate)."""
    if text.strip().lower() in ("recording", "native", "source"):
        return "recording"
    try:
        fps = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate: give a number "
                                         "(0: as fast as possible) or 'recording'") from None
    if not 0 <= fps <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r}: a frame rate is 0 to 10000")
    return fps


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="devicelab gui",
                                 description="Open the Device Lab Console window.\n(For the "
                                 "command line give a COMMAND instead: devicelab --help.)",
                                 epilog=EXAMPLE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", metavar="PATH|URL",
                    help="session log: a SQLite file or postgresql://user@host:port/dbname "
                         "(default: $DEVICELAB_DB, the one chosen in Settings, or the user "
                         "data folder)")
    ap.add_argument("--package", help="package directory or .zip to preselect")
    ap.add_argument("--input", help="video file, camera:N, stream URL or synthetic[:WxH]")
    ap.add_argument("--truth", metavar="CSV", help="ground truth 'frame,label' for the video")
    ap.add_argument("--device", help="local, or a saved device name")
    ap.add_argument("--fps", type=_fps_choice, metavar="F|recording",
                    help="target frame rate: a number (0: as fast as possible) or 'recording' "
                         "for the recording's own rate")
    ap.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None,
                    help="loop a recording at its end (--no-loop: play it once)")
    ap.add_argument("--start", action="store_true", help="start the run once the window is up")
    ap.add_argument("--theme", choices=("system", "light", "dark"),
                    help="override the theme preference for this start")
    return ap.parse_args(list(argv))


def _install_excepthook(window: Any) -> None:
    """A bug in a slot becomes one line in the window (traceback in the log file)."""
    previous = sys.excepthook

    def hook(etype: type[BaseException], value: BaseException,
             tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            previous(etype, value, tb)
            return
        log.error("unhandled exception\n%s", "".join(traceback.format_exception(etype, value,
                                                                                  tb)))
        try:
            window.report("error", f"internal error: {etype.__name__}: {value} (traceback in "
                                   f"{log_file()})")
        except Exception:
            pass

    sys.excepthook = hook


def _install_signal_handlers(window: Any) -> Any:
    """SIGTERM / Ctrl-C close the window like the user would: a run is stopped cleanly
    and its session kept. A second signal kills the agent. Qt's loop runs in C++, so
    the signal wakes it through a socket (``signal.set_wakeup_fd``)."""
    import signal
    import socket

    from console.ui.qt import QSocketNotifier, QTimer

    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    signal.set_wakeup_fd(wsock.fileno())
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read, window)

    def drain() -> None:
        try:
            rsock.recv(64)  # the Python-level handler runs right after this slot
        except OSError:
            pass

    notifier.activated.connect(drain)
    count = {"n": 0}

    def handler(signum: int, _frame: Any) -> None:
        count["n"] += 1
        name = signal.Signals(signum).name
        if count["n"] == 1:
            log.info("%s: closing the window (stopping any run cleanly)", name)
            QTimer.singleShot(0, window.close)
        else:
            log.warning("%s again: killing the agent", name)
            window.runs.abort()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return (notifier, rsock, wsock)  # kept alive by the caller


def _remembered_log() -> object:
    """The session log chosen in Settings (the settings file keeps it without password)."""
    from console.core.settings import SettingsError, load_settings
    from console.session.log_choice import PREF_KEY

    try:
        return load_settings().preferences.get(PREF_KEY)
    except SettingsError:
        return None  # the window says so once it is up (Preferences reads it again)


def build_window(args: argparse.Namespace) -> Any:
    """Create the QApplication (if needed) and the main window, themed, not yet shown."""
    from console.session.log_choice import window_log
    from console.ui import theme as themes
    from console.ui.main_window import MainWindow, StartupChoices
    from console.ui.qt import QApplication

    # The run's worker thread parses every frame in Python; each time the GUI thread wants
    # the GIL back (every event handler written in Python) it waited up to the switch
    # interval, 5 ms by default. 1 ms cut the event-loop lag's tail under a flat-out run
    # (benchmarks/gui_load.py, measured in docs/benchmarks.md).
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Device Lab Console")
    app.setOrganizationName("devicelab")
    app.setDesktopFileName("devicelab")
    app.setWindowIcon(_app_icon())
    db = window_log(args.db, _remembered_log())
    choices = StartupChoices(db_path=db, package=args.package, input=args.input,
                             truth=args.truth, device=args.device, start=args.start,
                             fps=args.fps, loop=args.loop)
    window = MainWindow(choices, theme_choice=args.theme)
    themes.apply(app, window.theme)
    return app, window


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logfile = setup_logging()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith("linux"):
        print("devicelab: error: no display to open the window on (DISPLAY is not set); use "
              "the command line (devicelab --help) or run under xvfb-run", file=sys.stderr)
        return 2
    try:
        app, window = build_window(args)
    except Exception as exc:
        log.error("the window could not start\n%s", traceback.format_exc())
        print(f"devicelab: error: the window could not start: {type(exc).__name__}: {exc} "
              f"(traceback in {logfile})", file=sys.stderr)
        return 70
    _install_excepthook(window)
    keep = _install_signal_handlers(window)
    window.show()
    shown_ms = (time.perf_counter() - T_START) * 1000.0
    log.info("window shown %.0f ms after the app module was imported", shown_ms)
    if args.start:
        from console.ui.qt import QTimer

        # after the demo package has verified (a job) so Start is not refused for nothing
        QTimer.singleShot(0, window.start_when_ready)
    code = int(app.exec())
    del keep
    return code


if __name__ == "__main__":
    sys.exit(main())
