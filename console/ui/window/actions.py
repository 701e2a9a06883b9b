"""The window's commands (QActions with their shortcuts and tips), menus and toolbar.

Every shortcut is application-wide (it works whichever dock has the focus)
and named in its tooltip; F1 lists them (``console.ui.window.help``). The
commands call the window's public methods: the window is the only thing
that knows which dock does what.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.ui import theme as themes
from console.ui.qt import QAction, QActionGroup, QDockWidget, QKeySequence, Qt
from console.ui.window import help as helpbox
from console.ui.window.log_settings import log_settings_action

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow

TABS = ("Live graphs", "Sessions", "Playback", "Compare", "Matrix", "Plan")
Shortcut = QKeySequence | QKeySequence.StandardKey | str | None


def make_action(parent: Any, text: str, slot: Callable[..., Any], shortcut: Shortcut = None,
                tip: str = "") -> QAction:
    act = QAction(text, parent)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
        act.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
    if tip:
        act.setToolTip(tip + (f" ({act.shortcut().toString()})" if shortcut else ""))
        act.setStatusTip(tip)
    act.triggered.connect(slot)
    return act


@dataclass
class WindowCommands:
    start: QAction
    stop: QAction
    probe: QAction
    open_dir: QAction
    open_zip: QAction
    open_video: QAction
    pause: QAction
    quit: QAction
    help: QAction
    reset_layout: QAction
    trust: QAction
    bookmark: QAction
    #: Ctrl+1 … Ctrl+6: one per tab of :data:`TABS`
    tabs: list[QAction]

    def __post_init__(self) -> None:
        self._start_tip = self.start.toolTip()

    def allow_start(self, allowed: bool, why_not: str | None = None) -> None:
        """Start is enabled when ``allowed`` and nothing else stops it; otherwise its
        tooltip says ``why_not`` (another run uses the device), when that is the reason."""
        self.start.setEnabled(allowed and why_not is None)
        self.start.setToolTip(why_not or self._start_tip)


def build_commands(w: MainWindow) -> WindowCommands:
    def act(text: str, slot: Callable[..., Any], shortcut: Shortcut = None, tip: str = "",
            name: str = "") -> QAction:
        a = make_action(w, text, slot, shortcut, tip)
        if name:
            a.setObjectName(name)
        return a

    return WindowCommands(
        start=act("▶  Start", w.start_run, "F5", "Run the package on the device", "startAction"),
        stop=act("■  Stop", w.stop_run, "Shift+F5", "Stop the run cleanly; the session is kept",
                 "stopAction"),
        probe=act("Probe device", lambda: w.devices.probe(), "Ctrl+P",
                  "Connect to the selected device and read its card"),
        open_dir=act("Open package folder…", lambda: w.package.choose_folder(), "Ctrl+O"),
        open_zip=act("Open package .zip…", lambda: w.package.choose_zip(), "Ctrl+Shift+O"),
        open_video=act("Open recording…", lambda: w.input.choose_video(), "Ctrl+I"),
        pause=act("Pause graphs", w.toggle_pause, "Ctrl+Space",
                  "Freeze the graphs to inspect them"),
        quit=act("Quit", w.close, QKeySequence.StandardKey.Quit),
        help=act("Keyboard shortcuts", lambda: helpbox.show_shortcuts(w), "F1"),
        reset_layout=act("Reset layout", w.reset_layout),
        trust=act("Package signing…", w.show_trust_dialog, "Ctrl+Shift+K",
                  "Trusted signing keys and what happens to unsigned packages", "trustAction"),
        bookmark=act("Bookmark this moment…", w.bookmark_now, "Ctrl+B",
                     "Store a note at the current frame of the run (or of the playback)",
                     "bookmarkAction"),
        tabs=[act(name, lambda _c=False, k=k: w.tabs.setCurrentIndex(k), f"Ctrl+{k + 1}",
                  f"Show the {name} tab") for k, name in enumerate(TABS)])


def build_menus(w: MainWindow, c: WindowCommands, docks: Sequence[QDockWidget]) -> None:
    """The menu bar and the toolbar."""
    mb = w.menuBar()
    m = mb.addMenu("&File")
    for a in (c.open_dir, c.open_zip, c.open_video):
        m.addAction(a)
    m.addSeparator()
    m.addAction(c.quit)
    m = mb.addMenu("&Run")
    for a in (c.start, c.stop, c.probe):
        m.addAction(a)
    m.addSeparator()
    m.addAction(c.bookmark)
    m.addSeparator()
    m.addAction(make_action(w, "Sweep runtime settings…", lambda: w.plan_desk.show_sweep_dialog(),
                            tip="Try threads, providers, graph optimization and spin on a "
                                "device and rank them (like devicelab sweep)"))
    sv = w.sessions_view
    m = mb.addMenu("&Sessions")
    for a in (sv.reproduce_action, sv.compare_action, sv.play_action):
        m.addAction(a)
    m.addSeparator()
    for a in (sv.export_action, sv.import_action, sv.delete_action):
        m.addAction(a)
    m.addSeparator()
    m.addAction(sv.refresh_action)
    m = mb.addMenu("&View")
    for d in docks:
        m.addAction(d.toggleViewAction())
    m.addSeparator()
    for a in c.tabs:
        m.addAction(a)
    m.addSeparator()
    m.addAction(c.pause)
    m.addAction(c.reset_layout)
    tm = m.addMenu("Theme")
    themes_group = QActionGroup(w)
    for choice in themes.CHOICES:
        act = QAction(choice.capitalize() if choice != "system" else "Follow the system", w)
        act.setCheckable(True)
        act.setChecked(choice == w.theme_choice)
        act.triggered.connect(lambda _c=False, ch=choice: w.set_theme_choice(ch))
        themes_group.addAction(act)
        tm.addAction(act)
    m = mb.addMenu("Se&ttings")
    m.addAction(c.trust)
    m.addAction(log_settings_action(w))
    m = mb.addMenu("&Help")
    m.addAction(c.help)
    m.addAction(make_action(w, "Where are my files?", lambda: helpbox.show_paths(w, w.db_path)))
    m.addAction(make_action(w, "About", lambda: helpbox.show_about(w)))
    tb = w.addToolBar("Main")
    tb.setObjectName("mainToolBar")
    tb.setMovable(False)
    for a in (c.start, c.stop):
        tb.addAction(a)
    tb.addSeparator()
    for a in (c.probe, c.pause, c.bookmark):
        tb.addAction(a)
