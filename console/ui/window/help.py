"""The Help menu's boxes: keyboard shortcuts, where the files are, about."""

from __future__ import annotations

from console import __version__
from console.core.paths import config_dir, log_dir
from console.session.browse import LogRef
from console.ui.qt import QMessageBox, QWidget

SHORTCUTS = (
    ("F5", "Start the run"), ("Shift+F5", "Stop the run (the session is kept)"),
    ("Ctrl+P", "Probe the selected device"), ("Ctrl+O", "Open a package folder"),
    ("Ctrl+Shift+O", "Open a package .zip"), ("Ctrl+I", "Open a recording"),
    ("Ctrl+Space", "Pause / resume the graphs"),
    ("Ctrl+B", "Bookmark the current frame of the run (or of the playback)"),
    ("Ctrl+1 … Ctrl+6", "Live graphs, Sessions, Playback, Compare, Matrix, Plan"),
    ("Del", "Delete the selected sessions (asks first; in the sessions table)"),
    ("Ctrl+Shift+K", "Package signing: trusted keys, unsigned-package policy"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit (stops a run cleanly first)"),
)


def show_shortcuts(parent: QWidget) -> None:
    QMessageBox.information(parent, "Keyboard shortcuts",
                            "<table>" + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td>"
                                                f"<td>{v}</td></tr>" for k, v in SHORTCUTS)
                            + "</table>")


def show_paths(parent: QWidget, db_path: LogRef) -> None:
    QMessageBox.information(
        parent, "Where are my files?",
        f"Session log: {db_path}\nSettings: {config_dir() / 'settings.json'}\n"
        f"Window layout: {config_dir() / 'window.ini'}\n"
        f"Log file (tracebacks): {log_dir() / 'devicelab.log'}")


def show_about(parent: QWidget) -> None:
    QMessageBox.about(parent, "About Device Lab Console",
                      f"Device Lab Console {__version__}\nRun ONNX model packages on lab "
                      "devices, watch latency and telemetry live, keep an exact session log.")
