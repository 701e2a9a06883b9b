"""Dark and light themes that follow the system (``console.ui.qt.system_color_scheme``).

The Fusion style with an explicit palette looks the same on every
platform and in Xvfb; "system" follows the desktop's colour scheme and
changes with it while the window is open. The user's choice (system,
light, dark) is kept in the settings file's ``preferences.theme``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from console.ui.qt import QApplication, QColor, QPalette, system_color_scheme

CHOICES = ("system", "light", "dark")


def resolve(choice: str) -> str:
    return system_color_scheme() if choice not in ("light", "dark") else choice


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1b1e23"), QColor("#24282e"), QColor("#d7dae0")
    disabled = QColor("#7a808a")
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor("#2a2f36"))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor("#2f343b"))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, disabled)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, QColor("#2d3238"))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor("#ff6b6b"))
    p.setColor(QPalette.ColorRole.Link, QColor("#6cb4ff"))
    p.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fb3"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.Mid, QColor("#3a3f46"))
    p.setColor(QPalette.ColorRole.Dark, QColor("#15181c"))
    p.setColor(QPalette.ColorRole.Light, QColor("#3c424a"))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def apply(app: QApplication, theme: str) -> None:
    """Set the Fusion style and the palette of ``theme`` ('light' or 'dark')."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(_dark_palette() if theme == "dark" else app.style().standardPalette())


def apply_choice(choice: str, views: Iterable[Any]) -> str:
    """Resolve ``choice`` ("light", "dark", "system"), apply it to the application and to
    each view that draws its own colours (plots); returns the theme applied."""
    theme = resolve(choice)
    app = QApplication.instance()
    if isinstance(app, QApplication):
        apply(app, theme)
    for view in views:
        view.set_theme(theme)
    return theme
