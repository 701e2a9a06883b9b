"""The Devices dock's dialogs: trust an unknown SSH host key; add or edit a saved device.

Saving writes the settings file in a job (``console.devices.device_list``);
the dialog closes when the file has it, or shows the job's one-line error.
No password is ever stored: a key file path at most.
"""

from __future__ import annotations

import html
from typing import Any

from console.devices.base import DeviceError
from console.ui.jobs import JobRunner, error_text
from console.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class HostKeyDialog(QDialog):
    """Unknown SSH host key: show the fingerprint, let the user trust it or refuse."""

    def __init__(self, device: str, host: str, key_type: str, fingerprint: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hostKeyDialog")
        self.setWindowTitle("Unknown SSH host key")
        self.fingerprint = fingerprint
        lay = QVBoxLayout(self)
        text = QLabel(
            f"<p>The console has never connected to <b>{html.escape(host)}</b> "
            f"({html.escape(device)}) before. Its {html.escape(key_type)} host key has the "
            "fingerprint:</p>")
        text.setWordWrap(True)
        lay.addWidget(text)
        fp = QLineEdit(fingerprint)
        fp.setObjectName("fingerprint")
        fp.setReadOnly(True)
        fp.setMinimumWidth(fp.fontMetrics().horizontalAdvance(fingerprint) + 24)
        lay.addWidget(fp)
        how = QLabel("<p>Compare it with what the device itself reports, e.g. on its console: "
                     "<code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code>. Trust it "
                     "only if they are identical; otherwise someone may be between you and the "
                     "device.</p>")
        how.setWordWrap(True)
        lay.addWidget(how)
        buttons = QDialogButtonBox()
        self.trust_button = buttons.addButton("Trust this key and connect",
                                              QDialogButtonBox.ButtonRole.AcceptRole)
        self.refuse_button = buttons.addButton("Refuse", QDialogButtonBox.ButtonRole.RejectRole)
        self.refuse_button.setDefault(True)
        self.refuse_button.setAutoDefault(True)
        self.trust_button.setAutoDefault(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


def save_device_job(dev: Any, existing: dict[str, Any]) -> list[Any]:
    """Job: write ``dev`` (replacing ``existing``, renamed or not) to the settings file;
    returns the saved list as it is now."""
    from console.devices.device_list import add_device, list_devices, remove_device

    renamed = bool(existing) and existing.get("name") != dev.name
    add_device(dev, replace=bool(existing) and not renamed)
    if renamed:
        remove_device(str(existing.get("name")))
    return list_devices()


class DeviceDialog(QDialog):
    """Add or edit a saved SSH device (no passwords: a key file path at most).

    Save checks the fields at once (no IO), then writes the settings file in a
    job; the dialog closes when the file has it, or shows the job's one-line error.
    """

    def __init__(self, existing: dict[str, Any] | None = None,
                 parent: QWidget | None = None, jobs: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit device" if existing else "Add an SSH device")
        self.existing = existing or {}
        self.jobs = jobs or JobRunner(self)
        #: a save job is running
        self.busy = False
        #: the saved devices as the file holds them after the save
        self.saved_list: list[Any] = []
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit(self.existing.get("name", ""))
        self.name.setPlaceholderText("jetson-1")
        self.address = QLineEdit(self.existing.get("address", ""))
        self.address.setPlaceholderText("ssh://user@host[:port] or a ~/.ssh/config alias")
        self.python = QLineEdit(self.existing.get("python", "python3"))
        self.python.setToolTip("The interpreter that has numpy and onnxruntime, "
                               "e.g. /opt/venv/bin/python")
        self.workdir = QLineEdit(self.existing.get("workdir", ""))
        self.workdir.setPlaceholderText("default: ~/.cache/devicelab")
        krow = QHBoxLayout()
        self.key_file = QLineEdit(self.existing.get("key_file", ""))
        self.key_file.setPlaceholderText("optional private key file (path only)")
        kb = QPushButton("…")
        kb.clicked.connect(self._choose_key)
        krow.addWidget(self.key_file, 1)
        krow.addWidget(kb)
        self.notes = QLineEdit(self.existing.get("notes", ""))
        form.addRow("Name", self.name)
        form.addRow("Address", self.address)
        form.addRow("Python", self.python)
        form.addRow("Work dir", self.workdir)
        form.addRow("Key file", krow)
        form.addRow("Notes", self.notes)
        lay.addLayout(form)
        self.error = QLabel("")
        self.error.setStyleSheet("color:#e03131")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.saved: Any = None

    def reject(self) -> None:
        if not self.busy:  # a save being written finishes first (milliseconds)
            super().reject()

    def _choose_key(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Private key file", "", "All files (*)")
        if f:
            self.key_file.setText(f)

    def _save(self) -> None:
        from console.devices.device_list import SavedDevice, validate

        if self.busy:
            return
        dev = SavedDevice.from_dict({
            **self.existing, "name": self.name.text().strip(),
            "address": self.address.text().strip(), "python": self.python.text().strip(),
            "workdir": self.workdir.text().strip(), "key_file": self.key_file.text().strip(),
            "notes": self.notes.text().strip()})
        try:
            validate(dev)  # the fields' one-line reasons at once, no IO
        except DeviceError as exc:
            self.error.setText(str(exc))
            return
        self._set_busy(True)
        existing = dict(self.existing)
        self.jobs.submit("save-device", lambda: save_device_job(dev, existing),
                         lambda saved: self._on_saved(dev, saved), self._on_save_failed)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.buttons.setEnabled(not busy)
        if busy:
            self.error.setStyleSheet("color: gray")
            self.error.setText("saving…")
        else:
            self.error.setStyleSheet("color:#e03131")

    def _on_saved(self, dev: Any, saved: list[Any]) -> None:
        self._set_busy(False)
        self.error.setText("")
        self.saved, self.saved_list = dev, saved
        self.accept()

    def _on_save_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.error.setText(error_text(exc))
