"""The devices dock: "This computer" and the saved SSH devices, their state and their card.

The list comes from the settings file (``console.devices.device_list``);
add / edit / remove write it there in a job (the GUI thread never writes the
file; each job reads the list back, so the dock shows what was saved). The
first read happens when the dock is built, before the window is shown: the
window's preselection needs the saved names. Probe opens the device in a job thread
(``console.devices.registry.open_device``), connects, reads its facts and
closes it; the card shows OS, CPU, RAM, Python, onnxruntime and its
providers, thermal zones and cameras, plus what the device lacks and the
command that fixes it. A dot in front of each name tells its state at a
glance.

An SSH host the console has never seen is never trusted silently: the
probe stops with ``HostKeyUnknown``, :class:`HostKeyDialog` shows the
SHA256 fingerprint, and only when the user accepts is the probe repeated
with exactly that fingerprint (a key swapped in between is still refused).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.devices.base import DeviceError, HostKeyUnknown
from console.ui.devices.dialogs import DeviceDialog, HostKeyDialog
from console.ui.devices.prompts import PasswordPrompt
from console.ui.jobs import JobRunner, error_text
from console.ui.qt import (
    QColor,
    QDialog,
    QHBoxLayout,
    QIcon,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPainter,
    QPixmap,
    QSize,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
    Signal,
)
from console.ui.widgets import button

LOCAL_SPEC = "local"
STATE_COLORS = {"unknown": "#9aa0a6", "probing": "#f59f00", "ready": "#2f9e44",
                "problem": "#f08c00", "error": "#e03131", "running": "#1c7ed6"}
STATE_TEXT = {"unknown": "not probed yet", "probing": "probing…", "ready": "ready",
              "problem": "reachable, but lacks something", "error": "unreachable or refused",
              "running": "running"}


@dataclass
class DeviceEntry:
    """One row of the list. ``spec`` is what ``open_device`` takes."""

    name: str
    spec: str
    address: str
    kind: str  # "local" | "ssh"
    saved: dict[str, Any] = field(default_factory=dict)
    state: str = "unknown"
    facts: dict[str, Any] | None = None
    error: str | None = None
    #: a fingerprint the user accepted in the dialog this session (for the next connect)
    accepted_fingerprint: str | None = None


def _dot(color: str) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setBrush(QColor(color))
    p.setPen(QColor(color).darker(130))
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pm)


def open_for_window(entry: DeviceEntry, prompt: Callable[[str], str | None] | None = None
                    ) -> Any:
    """Open (not connect) the device of ``entry`` with the window's SSH options.

    Never ``accept_new_host_key``: an unknown key raises ``HostKeyUnknown`` and
    only a fingerprint the user confirmed in :class:`HostKeyDialog` is passed.
    """
    from console.devices.registry import open_device

    if entry.kind == "local":
        return open_device(LOCAL_SPEC)
    opts: dict[str, Any] = {"interactive": False, "password_prompt": prompt}
    if entry.accepted_fingerprint:
        opts["accept_host_key_fingerprint"] = entry.accepted_fingerprint
    return open_device(entry.spec, **opts)


def probe_device(entry: DeviceEntry, prompt: Callable[[str], str | None] | None = None
                 ) -> dict[str, Any]:
    """Job thread: open, connect, probe, close."""
    dev = open_for_window(entry, prompt)
    try:
        dev.connect()
        facts: dict[str, Any] = dev.probe()
        return facts
    finally:
        dev.close()


def card_html(entry: DeviceEntry) -> str:
    """The device card: what the probe found, and what is missing."""
    e = html.escape
    head = (f"<b>{e(entry.name)}</b> <span style='color:gray'>{e(entry.address)}</span><br>"
            f"<span style='color:{STATE_COLORS[entry.state]}'>● {e(STATE_TEXT[entry.state])}"
            "</span>")
    if entry.error:
        head += f"<br><span style='color:#e03131'>{e(entry.error)}</span>"
    f = entry.facts
    if not f:
        return head + ("<br><span style='color:gray'>Probe (Ctrl+P) to see this device's "
                       "card.</span>")
    libs = f.get("libraries") or {}
    ram = f.get("ram_bytes")
    zones = f.get("thermal_zones") or []
    cams = f.get("cameras") or []
    rows = [
        ("Host", f.get("hostname")),
        ("OS", f"{f.get('os')} · kernel {f.get('kernel')} · {f.get('arch')}"),
        ("Board", f.get("board")),
        ("CPU", f"{f.get('cpu_model')} × {f.get('cores')}"),
        ("RAM", f"{ram / 2**30:.1f} GiB" if ram else "unknown"),
        ("Python", f"{f.get('python')} ({f.get('python_executable')})"),
        ("Libraries", f"numpy {libs.get('numpy') or 'MISSING'} · onnxruntime "
                      f"{libs.get('onnxruntime') or 'MISSING'} · opencv "
                      f"{libs.get('opencv') or 'MISSING'}"),
        ("Providers", ", ".join(f.get("providers") or []) or "none"),
        ("Thermal", ", ".join(f"{z.get('name')} ({z.get('zone')})" for z in zones)
         or "no thermal zones"),
        ("Cameras", ", ".join(str(c.get("device")) + (f" ({c['name']})" if c.get("name") else "")
                              for c in cams) or "none found"),
    ]
    body = "".join(f"<tr><td style='color:gray'>{e(k)}</td><td>{e(str(v))}</td></tr>"
                   for k, v in rows if v)
    req = "".join(f"<br><span style='color:#e8590c'>missing: {e(r)}</span>"
                  for r in f.get("requirements") or [])
    return f"{head}<table cellspacing='0' cellpadding='1'>{body}</table>{req}"


def remove_device_job(name: str) -> list[Any]:
    """Job: remove the saved device ``name``; returns the saved list as it is now."""
    from console.devices.device_list import list_devices, remove_device

    remove_device(name)
    return list_devices()


class DevicesPanel(QWidget):
    #: the selected device changed (DeviceEntry)
    selected = Signal(object)
    #: a device's facts arrived (DeviceEntry)
    probed = Signal(object)
    #: a line for the log pane: level, text
    message = Signal(str, str)

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.entries: list[DeviceEntry] = []
        #: SSH passwords / key passphrases, asked in a dialog (never stored)
        self.prompt = PasswordPrompt(self)
        #: how dialogs are shown; tests may replace it (returns True to trust)
        self.ask_host_key: Callable[[DeviceEntry, HostKeyUnknown], bool] = self._ask_host_key
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        self.list = QListWidget()
        self.list.setObjectName("deviceList")
        self.list.setIconSize(QSize(12, 12))
        self.list.currentRowChanged.connect(self._on_row)
        lay.addWidget(self.list)
        row = QHBoxLayout()
        self.add_button = button("Add…", self.add_device, into=row)
        self.edit_button = button("Edit…", self.edit_device, into=row)
        self.remove_button = button("Remove", self.remove_device, into=row)
        self.probe_button = button("Probe", lambda: self.probe(),
                                   "Connect and read what the device has (Ctrl+P)",
                                   "probeButton", row)
        lay.addLayout(row)
        self.card = QTextBrowser()
        self.card.setObjectName("deviceCard")
        self.card.setMinimumHeight(80)
        lay.addWidget(self.card, 1)
        self.show_devices(self._read_now())

    # -- list -------------------------------------------------------------------------
    def _read_now(self) -> list[Any]:
        """The saved devices, read in this thread (only when the dock is built)."""
        from console.devices.device_list import list_devices

        try:
            return list_devices()
        except DeviceError as exc:
            self.message.emit("error", f"saved devices unavailable: {exc}")
            return []

    def show_devices(self, saved: list[Any], select: str | None = None) -> None:
        """Show ``saved`` (SavedDevice list) after This computer; keeps what is known
        about devices whose address did not change (state, facts, trusted key)."""
        from console.devices.local import LOCAL_NAME

        keep = {e.spec: e for e in self.entries}
        cur = self.current()
        current = select or (cur.spec if cur is not None else LOCAL_SPEC)
        entries = [keep.get(LOCAL_SPEC) or DeviceEntry(LOCAL_NAME, LOCAL_SPEC, "this computer",
                                                       "local")]
        for d in saved:
            old = keep.get(d.name)
            entry = DeviceEntry(d.name, d.name, d.address, "ssh", d.to_dict())
            if old is not None and old.address == d.address:
                entry.state, entry.facts, entry.error = old.state, old.facts, old.error
                entry.accepted_fingerprint = old.accepted_fingerprint
            entries.append(entry)
        self.entries = entries
        self.list.blockSignals(True)
        self.list.clear()
        for e in entries:
            self.list.addItem(QListWidgetItem(""))
            self._refresh_item(e)
        self.list.blockSignals(False)
        self._fit_list()
        idx = next((k for k, e in enumerate(entries) if e.spec == current), 0)
        self.list.setCurrentRow(idx)
        self._on_row(idx)

    def _refresh_item(self, entry: DeviceEntry) -> None:
        k = self.entries.index(entry)
        item = self.list.item(k)
        if item is None:
            return
        label = entry.name if entry.kind == "local" else f"{entry.name}  —  {entry.address}"
        item.setText(label)
        item.setIcon(_dot(STATE_COLORS[entry.state]))
        item.setToolTip(STATE_TEXT[entry.state] + (f": {entry.error}" if entry.error else ""))
        if self.current() is entry:
            self.card.setHtml(card_html(entry))

    def current(self) -> DeviceEntry | None:
        k = self.list.currentRow()
        return self.entries[k] if 0 <= k < len(self.entries) else None

    def entry_for(self, spec: str) -> DeviceEntry:
        """The entry for ``spec`` (a name, spec or SSH address), or a new one for a
        recorded SSH address that is not saved (a replay on the recorded device)."""
        for e in self.entries:
            if spec in (e.spec, e.name) or (e.kind == "ssh" and spec == e.address):
                return e
        if spec == LOCAL_SPEC:
            return self.entries[0]
        return DeviceEntry(spec, spec, spec, "ssh")

    def replay_choices(self) -> list[tuple[str, str]]:
        """(label, spec) of every device a replay may run on."""
        return [(e.name if e.kind == "local" else f"{e.name} — {e.address}", e.spec)
                for e in self.entries]

    def confirm_host_key(self, entry: DeviceEntry, host: str, key_type: str,
                         fingerprint: str) -> bool:
        """Ask whether to trust an unknown host key; an accepted one is used for the next
        connect to ``entry``, a refused one leaves the device marked refused."""
        dlg = HostKeyDialog(entry.name, host, key_type, fingerprint, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            entry.accepted_fingerprint = fingerprint
            return True
        self.set_state(entry, "error", f"host key refused ({fingerprint})")
        return False

    def select(self, spec: str) -> bool:
        for k, e in enumerate(self.entries):
            if spec in (e.spec, e.name):
                self.list.setCurrentRow(k)
                return True
        return False

    def _on_row(self, k: int) -> None:
        e = self.current()
        if e is None:
            return
        self.edit_button.setEnabled(e.kind != "local")
        self.remove_button.setEnabled(e.kind != "local")
        self.card.setHtml(card_html(e))
        self.selected.emit(e)

    def set_state(self, entry: DeviceEntry, state: str, error: str | None = None) -> None:
        entry.state = state
        entry.error = error
        self._refresh_item(entry)

    def set_editable(self, editable: bool) -> None:
        """While a run goes the device cannot change (its card stays readable)."""
        self.list.setEnabled(editable)
        self.add_button.setEnabled(editable)
        e = self.current()
        saved = editable and e is not None and e.kind != "local"
        self.edit_button.setEnabled(saved)
        self.remove_button.setEnabled(saved)
        self.probe_button.setEnabled(editable)

    def _fit_list(self) -> None:
        rows = max(1, min(5, self.list.count()))
        h = self.list.sizeHintForRow(0) if self.list.count() else 18
        self.list.setFixedHeight(rows * max(h, 18) + 2 * self.list.frameWidth() + 4)

    # -- add / edit / remove ---------------------------------------------------------------
    def add_device(self) -> None:
        self._device_dialog(None)

    def edit_device(self) -> None:
        e = self._current_saved()
        if e is not None:
            self._device_dialog(e.saved)

    def _current_saved(self) -> DeviceEntry | None:
        """The selected device when it is a saved one (this computer cannot be edited)."""
        e = self.current()
        return None if e is None or e.kind == "local" else e

    def _device_dialog(self, saved: Any) -> None:
        """The device dialog for a new device (``saved`` None) or a saved one."""
        dlg = DeviceDialog(saved, self, self.jobs)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.saved is not None:
            self.message.emit("info", f"device {dlg.saved.name} saved")
            self.show_devices(dlg.saved_list, select=dlg.saved.name)

    def remove_device(self) -> None:
        e = self._current_saved()
        if e is None:
            return
        answer = QMessageBox.question(self, "Remove device",
                                      f"Remove {e.name} from the saved devices? Its sessions "
                                      "stay in the log.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        name = e.name
        self.remove_button.setEnabled(False)

        def done(saved: list[Any]) -> None:
            self.message.emit("info", f"device {name} removed")
            self.show_devices(saved, select=LOCAL_SPEC)

        def failed(exc: BaseException) -> None:
            self.message.emit("error", f"device {name} not removed: {error_text(exc)}")
            cur = self.current()
            self.remove_button.setEnabled(cur is not None and cur.kind != "local")

        self.jobs.submit("remove-device", lambda: remove_device_job(name), done, failed)

    # -- probe ------------------------------------------------------------------------
    def probe(self, entry: DeviceEntry | None = None) -> None:
        e = entry or self.current()
        if e is None or e.state == "probing":
            return
        self.set_state(e, "probing")
        self.jobs.submit("probe", lambda: probe_device(e, self.prompt),
                         lambda facts: self._on_probed(e, facts),
                         lambda exc: self._on_probe_failed(e, exc))

    def _on_probed(self, e: DeviceEntry, facts: dict[str, Any]) -> None:
        e.facts = facts
        problems = facts.get("requirements") or []
        blocking = [r for r in problems if "missing numpy" in r or "missing onnxruntime" in r
                    or "too old" in r]
        if e.state == "running":  # a run started while the probe went: it still runs
            self._refresh_item(e)
        else:
            self.set_state(e, "problem" if blocking else "ready")
        self.message.emit("info", f"probed {e.name}: {facts.get('os')}, python "
                                  f"{facts.get('python')}, providers "
                                  f"{', '.join(facts.get('providers') or []) or 'none'}")
        for r in problems:
            self.message.emit("warning", f"{e.name}: {r}")
        self.probed.emit(e)

    def _on_probe_failed(self, e: DeviceEntry, exc: BaseException) -> None:
        if isinstance(exc, HostKeyUnknown):
            self.set_state(e, "unknown", "host key not trusted yet")
            if self.ask_host_key(e, exc):
                e.accepted_fingerprint = exc.fingerprint
                self.message.emit("info", f"{e.name}: trusting host key {exc.fingerprint}")
                self.probe(e)
            else:
                self.set_state(e, "error", f"host key refused ({exc.fingerprint})")
                self.message.emit("warning", f"{e.name}: host key {exc.fingerprint} refused; "
                                             "not connected")
            return
        text = error_text(exc)
        if e.state != "running":  # the run says for itself how the device is
            self.set_state(e, "error", text)
        self.message.emit("error", f"probe of {e.name} failed: {text}")

    def _ask_host_key(self, e: DeviceEntry, exc: HostKeyUnknown) -> bool:
        dlg = HostKeyDialog(e.name, exc.host, exc.key_type, exc.fingerprint, self)
        return dlg.exec() == QDialog.DialogCode.Accepted

    def sizeHint(self) -> QSize:
        return QSize(360, 240)

