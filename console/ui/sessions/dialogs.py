"""The Sessions tab's dialogs: export a session, reproduce it, bookmark a moment of it.

They ask; they write nothing themselves (the view runs the job).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from console.session.browse import SessionRow
from console.ui.live.summary_panel import STATUS_COLORS
from console.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from console.ui.widgets import button, ok_cancel, open_file

EXPORT_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("html", "HTML report — facts, summary, plots; opens offline", ".html"),
    ("csv", "CSV — frames, and telemetry beside it", ".csv"),
    ("json", "JSON — one document with everything", ".json"),
    ("mcap", "MCAP — for Foxglove Studio and PlotJuggler", ".mcap"),
    ("bundle", "Portable bundle — import into another log and replay", ".dlbundle"),
)


class ExportDialog(QDialog):
    """Format, file and (bundles) what to pack. Writes nothing itself."""

    def __init__(self, row: SessionRow, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export session {row.id}")
        self.setObjectName("exportDialog")
        self.row = row
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Session {row.id}: {row.package} on {row.device} — {row.input}"))
        form = QFormLayout()
        self.format_combo = QComboBox()
        for key, text, _ext in EXPORT_FORMATS:
            self.format_combo.addItem(text, key)
        form.addRow("Format", self.format_combo)
        path_row = QHBoxLayout()
        self.path_edit = QLineEdit(str(folder / f"session-{row.id}.html"))
        self.path_edit.setMinimumWidth(380)
        path_row.addWidget(self.path_edit, 1)
        button("Browse…", self._browse, into=path_row)
        form.addRow("File", path_row)
        self.with_package = QCheckBox("include the model package (checked against the "
                                      "recorded sha256)")
        self.with_input = QCheckBox("include the recording and its ground truth")
        form.addRow("", self.with_package)
        form.addRow("", self.with_input)
        lay.addLayout(form)
        self.error_label = QLabel("")
        self.error_label.setStyleSheet(f"color: {STATUS_COLORS['failed']}")
        self.error_label.setWordWrap(True)
        lay.addWidget(self.error_label)
        lay.addWidget(ok_cancel(self._accept, self.reject, "Export"))
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self._format_changed()

    def fmt(self) -> str:
        return str(self.format_combo.currentData())

    def set_format(self, fmt: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(fmt))

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def _format_changed(self) -> None:
        fmt = self.fmt()
        bundle = fmt == "bundle"
        for box in (self.with_package, self.with_input):
            box.setEnabled(bundle)
            box.setVisible(bundle)
        ext = dict((k, x) for k, _t, x in EXPORT_FORMATS)[fmt]
        text = self.path_edit.text().strip()
        if text:
            p = Path(text)
            known = {x for _k, _t, x in EXPORT_FORMATS}
            if p.suffix in known and p.suffix != ext:
                self.path_edit.setText(str(p.with_suffix(ext)))

    def _browse(self) -> None:
        ext = dict((k, x) for k, _t, x in EXPORT_FORMATS)[self.fmt()]
        path, _f = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(),
                                               f"{self.fmt()} (*{ext});;All files (*)")
        if path:
            self.path_edit.setText(path)

    def _accept(self) -> None:
        text = self.path_edit.text().strip()
        if not text:
            self.error_label.setText("choose a file to write")
            return
        p = self.path()
        if p.is_dir():
            self.error_label.setText(f"{p} is a folder: name a file")
            return
        if not p.parent.is_dir():
            self.error_label.setText(f"folder {p.parent} does not exist")
            return
        self.accept()


class ReproduceDialog(QDialog):
    """Which device the replay runs on, and copies of the package and the recording to
    use when the recorded paths are gone or changed; says what will be checked first.

    The copies are checked against the recorded sha256 exactly like the recorded
    paths: choosing another file never makes a replay of something else.
    """

    def __init__(self, row: SessionRow, devices: Sequence[tuple[str, str]],
                 parent: QWidget | None = None, folder: Path | None = None,
                 package: str = "", input: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Reproduce session {row.id}")
        self.setObjectName("reproduceDialog")
        #: where the file dialogs open (the last folder a copy was chosen in)
        self.folder = folder or Path.home()
        lay = QVBoxLayout(self)
        text = QLabel(
            f"Run session {row.id} again: <b>{html.escape(row.package)}</b> on "
            f"<b>{html.escape(row.input)}</b> with its recorded settings.<br>"
            "Before anything runs, the package and the recording available now are checked "
            "against the sha256 the session recorded; the new session links to this one.")
        text.setWordWrap(True)
        lay.addWidget(text)
        form = QFormLayout()
        self.device_combo = QComboBox()
        self.device_combo.addItem(f"the recorded device — {row.device}", None)
        for name, spec in devices:
            self.device_combo.addItem(name, spec)
        form.addRow("Run on", self.device_combo)

        self.package_edit = QLineEdit(package)
        self.package_edit.setObjectName("reproducePackage")
        self.package_edit.setPlaceholderText("optional: the recorded package is used")
        self.package_edit.setClearButtonEnabled(True)
        self.package_edit.setMinimumWidth(360)
        prow = QHBoxLayout()
        prow.addWidget(self.package_edit, 1)
        self.package_folder_button = button("Folder…", self.choose_package_folder,
                                            "A copy of the package as a folder", into=prow)
        self.package_zip_button = button(".zip…", self.choose_package_zip,
                                         "A copy of the package as a .zip", into=prow)
        form.addRow("Package copy", prow)

        self.input_edit = QLineEdit(input)
        self.input_edit.setObjectName("reproduceInput")
        self.input_edit.setPlaceholderText("optional: the recorded clip is used (or a stream's "
                                           "full URL)")
        self.input_edit.setClearButtonEnabled(True)
        irow = QHBoxLayout()
        irow.addWidget(self.input_edit, 1)
        self.input_button = button("Choose…", self.choose_input,
                                   "A copy of the recording the session ran", into=irow)
        form.addRow("Recording copy", irow)
        lay.addLayout(form)
        hint = QLabel("Use the copies when the recorded files moved or this computer never had "
                      "them; they must have the recorded sha256 all the same.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: gray")
        lay.addWidget(hint)
        lay.addWidget(ok_cancel(self.accept, self.reject, "Reproduce"))

    def device_spec(self) -> str | None:
        """None: the recorded device; otherwise the spec ``open_device`` takes."""
        v = self.device_combo.currentData()
        return str(v) if v is not None else None

    def choose(self, spec: str | None) -> bool:
        k = self.device_combo.findData(spec) if spec is not None else 0
        if k < 0:
            return False
        self.device_combo.setCurrentIndex(k)
        return True

    def package_copy(self) -> str | None:
        """The package copy to check and run instead of the recorded path (None: none)."""
        return self.package_edit.text().strip() or None

    def input_copy(self) -> str | None:
        """The recording copy (or a stream's full URL) instead of the recorded input."""
        return self.input_edit.text().strip() or None

    def _file_dialog(self, title: str, name_filter: str, directory: bool) -> str | None:
        chosen = open_file(self, title, str(self.folder), "reproduceFileDialog", name_filter,
                           directory)
        if chosen is not None:
            self.folder = Path(chosen).parent
        return chosen

    def choose_package_folder(self) -> None:
        p = self._file_dialog("A copy of the package (folder)", "", directory=True)
        if p:
            self.package_edit.setText(p)

    def choose_package_zip(self) -> None:
        p = self._file_dialog("A copy of the package (.zip)",
                              "Model packages (*.zip);;All files (*)", directory=False)
        if p:
            self.package_edit.setText(p)

    def choose_input(self) -> None:
        p = self._file_dialog("A copy of the recording",
                              "Videos (*.avi *.mp4 *.mkv *.mov *.webm);;"
                              "All files (*)", directory=False)
        if p:
            self.input_edit.setText(p)


class BookmarkDialog(QDialog):
    """A frame or a time (seconds from the first frame) and a note."""

    def __init__(self, title: str, frame: int, last_frame: int, t: float, duration: float,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("bookmarkDialog")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.at_frame = QRadioButton("frame")
        self.at_time = QRadioButton("time (s from the first frame)")
        self.frame_spin = QSpinBox()
        self.frame_spin.setRange(0, max(0, last_frame))
        self.frame_spin.setValue(frame)
        self.time_spin = QDoubleSpinBox()
        self.time_spin.setDecimals(3)
        self.time_spin.setRange(0.0, max(0.0, duration))
        self.time_spin.setValue(t)
        self.at_frame.setChecked(True)
        form.addRow(self.at_frame, self.frame_spin)
        form.addRow(self.at_time, self.time_spin)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("what happens there")
        form.addRow("Note", self.note_edit)
        lay.addLayout(form)
        lay.addWidget(ok_cancel(self._accept, self.reject, "Add bookmark"))
        self.note_edit.setFocus()

    def _accept(self) -> None:
        if not self.note_edit.text().strip():
            self.note_edit.setPlaceholderText("a note is needed: what happens there?")
            return
        self.accept()

    def moment(self) -> tuple[int | None, float | None]:
        """(frame, None) or (None, time)."""
        if self.at_frame.isChecked():
            return self.frame_spin.value(), None
        return None, self.time_spin.value()

    def note(self) -> str:
        return self.note_edit.text().strip()
