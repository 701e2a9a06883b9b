"""The model package dock: open a directory or .zip, see what it is and whether it verifies.

Verification (file hashes, the model loaded in onnxruntime, labels against
outputs, the signature against the trust policy) is the same
``verify_package`` + ``check_signature`` the CLI and every run use; it runs
in a job thread and its result is shown as a green check or the exact
failure line. The execution-provider choice lists what the selected
device's probe reported. Recent packages live in the settings file's
``preferences.recent_packages``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from console.core.package import Verification
from console.session.trust import UNSIGNED_WARNING
from console.ui.jobs import JobRunner, error_text
from console.ui.path_field import PathField
from console.ui.qt import (
    QComboBox,
    QDragEnterEvent,
    QDropEvent,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from console.ui.widgets import button, text_label
from console.ui.wording import SIGNING, for_window

MAX_RECENT = 8
OK_COLOR = "#2f9e44"
BAD_COLOR = "#e03131"
WARN_COLOR = "#d99a00"
#: what the dock says about an unsigned package the policy (warn) lets run
UNSIGNED_INFO = "unsigned: allowed by the signing policy (warn)"


def verify_for_window(path: str) -> Verification:
    """The check every run makes, plus the signature policy (job thread)."""
    from console.core.package import verify_package

    ver = verify_package(path)
    if ver.package is not None:
        try:
            from console.session.trust import check_signature
        except ImportError:  # pragma: no cover - trust is part of the product
            return ver
        check_signature(ver)
    return ver


def input_text(ver: Verification) -> str:
    pkg = ver.package
    if pkg is None:
        return "-"
    i = pkg.manifest.input
    return f"{i.name}: {i.layout} {i.color} {i.height}×{i.width} {i.dtype}"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


class PackagePanel(QWidget):
    #: a verification finished for the current path (Verification) or it was cleared (None)
    verified = Signal(object)
    #: the user opened a package (path), for the recent list
    opened = Signal(str)

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.verification: Verification | None = None
        self._token = 0
        #: a verification job is running for the current path
        self.pending = False
        self._recent: list[str] = []
        self.setAcceptDrops(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        row = QHBoxLayout()
        self.path_edit = PathField("packagePath", "package folder or .zip — or drop it here")
        self.path_edit.returnPressed.connect(lambda: self.set_path(self.path_edit.text()))
        lay.addWidget(self.path_edit)
        self.open_dir_button = button("Folder…", self.choose_folder,
                                      "Open a package folder (Ctrl+O)", into=row)
        self.open_zip_button = button(".zip…", self.choose_zip,
                                      "Open a package .zip (Ctrl+Shift+O)", into=row)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_button.setMenu(self.recent_menu)
        row.addWidget(self.recent_button)
        row.addStretch(1)
        lay.addLayout(row)

        self.status = text_label("No package yet.", "packageStatus")
        lay.addWidget(self.status)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(1)
        self.fields: dict[str, QLabel] = {}
        for key, label in (("name", "Name"), ("task", "Task"), ("input", "Input"),
                           ("labels", "Labels"), ("size", "Size"), ("signature", "Signature")):
            w = text_label("-")
            self.fields[key] = w
            form.addRow(label, w)
        self.provider_combo = QComboBox()
        self.provider_combo.setObjectName("providerCombo")
        self.provider_combo.setToolTip("onnxruntime execution provider on the device "
                                       "(from the device's probe)")
        self.set_providers(None)
        form.addRow("Provider", self.provider_combo)
        lay.addLayout(form)

    def set_editable(self, editable: bool) -> None:
        """While a run goes, the choice is locked (the information stays readable)."""
        for w in (self.path_edit, self.open_dir_button, self.open_zip_button,
                  self.recent_button, self.provider_combo):
            w.setEnabled(editable)
        self.setAcceptDrops(editable)

    # -- recent -----------------------------------------------------------------
    def set_recent(self, paths: Sequence[str]) -> None:
        self._recent = list(paths)[:MAX_RECENT]
        self.recent_menu.clear()
        for p in self._recent:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.set_path(p))
        self.recent_button.setEnabled(bool(self._recent))

    def recent(self) -> list[str]:
        return list(self._recent)

    # -- choosing ---------------------------------------------------------------------
    def _start_dir(self) -> str:
        cur = self.path_edit.text().strip()
        return str(Path(cur).parent) if cur else str(Path.cwd())

    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a model package folder",
                                             self._start_dir())
        if d:
            self.set_path(d)

    def choose_zip(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Open a model package .zip", self._start_dir(),
                                           "Model packages (*.zip);;All files (*)")
        if f:
            self.set_path(f)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        p = dropped_path(event.mimeData())
        if p is not None:
            event.acceptProposedAction()
            self.set_path(p)

    def current_path(self) -> str:
        """The package path as shown ('' when none is chosen)."""
        return self.path_edit.text().strip()

    def reverify(self) -> None:
        """Verify the current package again (the trusted keys or the policy changed)."""
        if self.current_path():
            self.set_path(self.current_path())

    def set_path(self, path: str) -> None:
        """Show ``path`` and verify it in a job; ``verified`` fires with the result."""
        path = path.strip()
        self.path_edit.setText(path)
        self._token += 1
        token = self._token
        self.verification = None
        for w in self.fields.values():
            w.setText("-")
        if not path:
            self.pending = False
            self.status.setText("No package yet.")
            self.verified.emit(None)
            return
        self.status.setText("verifying…")
        self.pending = True
        self.opened.emit(path)
        self.jobs.submit("verify", lambda: verify_for_window(path),
                         lambda ver: self._on_verified(token, ver),
                         lambda exc: self._on_failed(token, exc))

    def _on_verified(self, token: int, ver: Verification) -> None:
        if token != self._token:
            return  # an older request
        self.pending = False
        self.verification = ver
        pkg = ver.package
        if pkg is not None:
            m = pkg.manifest
            self.fields["name"].setText(f"{m.name}  {m.version}")
            self.fields["task"].setText(m.task)
            self.fields["input"].setText(input_text(ver))
            self.fields["labels"].setText(str(len(pkg.labels)) if pkg.labels else "none")
            self.fields["size"].setText(_size(pkg.size_bytes))
        sig = ver.signature + (f" by {ver.signer}" if ver.signer else "")
        self.fields["signature"].setText(sig)
        if ver.ok:
            # an unsigned package under the default `warn` policy is information (one
            # neutral line), not an alarm; other warnings stay amber
            warn = "".join(f"<br><span style='color:{WARN_COLOR}'>⚠ "
                           f"{html.escape(for_window(w, SIGNING))}</span>" for w in ver.warnings
                           if w != UNSIGNED_WARNING)
            if UNSIGNED_WARNING in ver.warnings:
                warn += f"<br>{UNSIGNED_INFO}"
            self.status.setText(f"<span style='color:{OK_COLOR}'><b>✔ verified</b></span> — "
                                f"hashes, model and labels check out{warn}")
        else:
            self.status.setText(f"<span style='color:{BAD_COLOR}'><b>✘ refused:</b> "
                                f"{html.escape(for_window(ver.first_line(), SIGNING))}</span>")
        self.verified.emit(ver)

    def _on_failed(self, token: int, exc: BaseException) -> None:
        if token != self._token:
            return
        self.pending = False
        self.status.setText(f"<span style='color:{BAD_COLOR}'><b>✘ cannot verify:</b> "
                            f"{html.escape(error_text(exc))}</span>")
        self.verified.emit(None)

    # -- providers ----------------------------------------------------------------------
    def set_providers(self, providers: Sequence[str] | None) -> None:
        current = self.provider()
        self.provider_combo.clear()
        self.provider_combo.addItem("Default (the device's first)", None)
        for p in providers or []:
            self.provider_combo.addItem(p, p)
        if current is not None:
            k = self.provider_combo.findData(current)
            if k >= 0:
                self.provider_combo.setCurrentIndex(k)
        if providers is None:
            self.provider_combo.setToolTip("probe the device to list its providers")
        self.provider_combo.setEnabled(True)

    def provider(self) -> str | None:
        data: Any = self.provider_combo.currentData()
        return data if isinstance(data, str) else None


def dropped_path(mime: Any) -> str | None:
    """The package a drop carries (a folder, a .zip, or a manifest.json's folder), or None."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            p = Path(url.toLocalFile())
            if p.is_dir() or p.suffix.lower() == ".zip" or p.name == "manifest.json":
                return str(p.parent if p.name == "manifest.json" else p)
    return None
