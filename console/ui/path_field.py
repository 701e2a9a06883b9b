"""A one-line path field that, when it is too narrow, shows the file name end.

A plain QLineEdit shows as much of a long path as fits from wherever its
cursor last was, cut without a mark, so a narrow dock often shows
``/home/me/lab/recordi`` and hides which file it is. Unfocused, this field
draws the path elided on the left (``…/recordings/opencv-vtest.mp4``); the
full path is its tooltip, and editing (focus) shows and edits the whole text
as a normal line edit.
"""

from __future__ import annotations

from console.ui.qt import (
    QLineEdit,
    QPainter,
    QPaintEvent,
    QPalette,
    QStyle,
    QStyleOptionFrame,
    Qt,
    QWidget,
)

#: QLineEdit's own horizontal text margin inside its contents rectangle (qlineedit_p.h)
_MARGIN = 2


class PathField(QLineEdit):
    def __init__(self, name: str = "", placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.setPlaceholderText(placeholder)
        self.textChanged.connect(self.setToolTip)

    def _text_rect(self) -> object:
        opt = QStyleOptionFrame()
        self.initStyleOption(opt)
        r = self.style().subElementRect(QStyle.SubElement.SE_LineEditContents, opt, self)
        m = self.textMargins()
        return r.adjusted(m.left() + _MARGIN, m.top(), -(m.right() + _MARGIN), -m.bottom())

    def shown_text(self) -> str:
        """What the field shows now: the whole text while it is edited or when it fits,
        else the text with its beginning elided."""
        text = self.text()
        if self.hasFocus() or not text:
            return text
        width = self._text_rect().width()  # type: ignore[attr-defined]
        return self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideLeft, max(0, width))

    def paintEvent(self, event: QPaintEvent) -> None:
        shown = self.shown_text()
        if shown == self.text():
            super().paintEvent(event)
            return
        p = QPainter(self)
        try:
            opt = QStyleOptionFrame()
            self.initStyleOption(opt)
            self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelLineEdit, opt, p, self)
            group = (QPalette.ColorGroup.Normal if self.isEnabled()
                     else QPalette.ColorGroup.Disabled)
            p.setPen(self.palette().color(group, QPalette.ColorRole.Text))
            p.drawText(self._text_rect(),  # type: ignore[call-overload]
                       int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), shown)
        finally:
            p.end()
