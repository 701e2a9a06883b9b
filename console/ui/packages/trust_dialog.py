"""The "Package signing" preferences dialog: trusted public keys and the unsigned-package policy.

The window's face of ``devicelab keys add/list/remove/policy``: the same
:mod:`console.session.trust` functions change the same ``settings.json``, so
the dialog and the CLI can never disagree about which keys are trusted or
what the policy is. Every read and write of the settings runs as a job
(:class:`~console.ui.jobs.JobRunner`), never in the GUI thread; a refused
change (a private key offered, a damaged file, a name already taken, an
unreadable settings file) is shown in the dialog as one line and nothing is
changed.

Adding a key shows its SHA256 fingerprint (the one ``ssh-keygen -lf`` and
``devicelab keys list`` print) and asks for the name to show before anything
is trusted, so the user can compare it with the publisher's. Only public
keys are ever read into the settings; the dialog never opens a private key
beyond what :func:`~console.core.signing.load_public_key` needs to refuse it.

:attr:`TrustDialog.changed` fires after each change that was saved, so the
window can verify its current package again under the new keys or policy.
What is *not* here: a switch to run badly signed or untrusted-signed
packages. There is none, on purpose (docs/signing.md).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.ui.jobs import JobRunner, error_text
from console.ui.qt import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QRadioButton,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
    is_alive,
)
from console.ui.widgets import button, open_file, text_label
from console.ui.wording import SIGNING, for_window

BAD_COLOR = "#e03131"
WARN_COLOR = "#d99a00"
ALWAYS_REFUSED = ("A package with a bad signature, or signed by a key that is not in this "
                  "list, is always refused, whatever the policy below.")
POLICY_TEXT = {
    "warn": "Warn: run unsigned packages, with a warning (default)",
    "refuse": "Refuse: never run unsigned packages",
}


@dataclass(frozen=True)
class KeyRow:
    name: str
    fingerprint: str
    added: str


@dataclass(frozen=True)
class TrustView:
    """What the settings hold now (read in a job)."""

    keys: list[KeyRow] = field(default_factory=list)
    #: one line per trusted_keys entry that is ignored (edited by hand, damaged)
    damaged: list[str] = field(default_factory=list)
    #: "warn" / "refuse", or None when the stored value is unusable (see policy_error)
    policy: str | None = None
    policy_error: str | None = None
    settings_file: str = ""


@dataclass(frozen=True)
class Outcome:
    """The result of a change job: the settings after it, and what to tell the user.

    Refusals the user can act on (a private key offered, a name taken…) come
    back as ``error`` rather than as an exception: they are the expected
    answer, not a fault to log with a traceback.
    """

    view: TrustView | None
    error: str | None = None
    note: str = ""
    changed: bool = False


@dataclass(frozen=True)
class KeyCandidate:
    """A public key read from a file, waiting for the user to confirm its name."""

    path: str
    public_key: bytes
    fingerprint: str
    default_name: str


# -- job functions (run in job threads: no widgets here) --------------------------------

def read_view() -> TrustView:
    """The trusted keys and the policy, as ``devicelab keys list`` reads them."""
    from console.core.settings import load_settings, settings_path
    from console.session.trust import TrustError, policy_of, trusted_keys

    s = load_settings()
    keys, damaged = trusted_keys(s)
    added = {e.get("fingerprint"): e.get("added") for e in s.trusted_keys
             if isinstance(e, dict)}
    policy: str | None
    policy_error: str | None = None
    try:
        policy = policy_of(s)
    except TrustError as exc:
        policy, policy_error = None, str(exc)
    return TrustView(keys=[KeyRow(k.name, k.fingerprint, str(added.get(k.fingerprint) or "?"))
                           for k in keys],
                     damaged=damaged, policy=policy, policy_error=policy_error,
                     settings_file=str(settings_path()))


def _changed_then_view(change: Any, note: Any) -> Outcome:
    """Run ``change()``; refusals become ``error``; the settings are re-read either way."""
    from console.core.signing import SigningError
    from console.session.trust import TrustError

    try:
        result = change()
    except (TrustError, SigningError) as exc:
        error = for_window(str(exc), SIGNING)
        try:
            return Outcome(read_view(), error=error)
        except Exception:  # the settings themselves are the problem: the refusal says so
            return Outcome(None, error=error)
    text, changed = note(result)
    return Outcome(read_view(), note=text, changed=changed)


def read_candidate(path: str) -> KeyCandidate | str:
    """The public key in ``path``, or the one line saying why it is refused."""
    from console.core.signing import SigningError, fingerprint, load_public_key

    try:
        raw, comment = load_public_key(path)
    except SigningError as exc:
        return str(exc)
    name = comment or Path(path).name.removesuffix(".pub")
    return KeyCandidate(path, raw, fingerprint(raw), name)


def add_key(candidate: KeyCandidate, name: str) -> Outcome:
    from console.core.signing import TrustedKey
    from console.session.trust import add_trusted_key

    def note(result: tuple[dict[str, Any], bool]) -> tuple[str, bool]:
        entry, added = result
        if added:
            return f"trusted {entry['name']}  {entry['fingerprint']}", True
        return f"already trusted as {entry['name']}  {entry['fingerprint']}", False

    return _changed_then_view(lambda: add_trusted_key(TrustedKey(name, candidate.public_key)),
                              note)


def remove_key(fingerprint: str) -> Outcome:
    from console.session.trust import remove_trusted_key

    def note(removed: list[dict[str, Any]]) -> tuple[str, bool]:
        return ("no longer trusted: " + ", ".join(
            f"{e.get('name')}  {e.get('fingerprint')}" for e in removed)), bool(removed)

    return _changed_then_view(lambda: remove_trusted_key(fingerprint), note)


def change_policy(policy: str, before: str | None) -> Outcome:
    from console.session.trust import set_policy

    def note(_result: None) -> tuple[str, bool]:
        what = ("unsigned packages run with a warning" if policy == "warn"
                else "unsigned packages are refused")
        return f"policy {policy}: {what}", policy != before

    return _changed_then_view(lambda: set_policy(policy), note)


# -- the dialog -------------------------------------------------------------------------

class TrustDialog(QDialog):
    """Package signing preferences. Give it the window's ``jobs``; without one it makes
    its own runner and waits for it when it closes."""

    #: a key was added or removed, or the policy changed (saved in the settings)
    changed = Signal()

    def __init__(self, jobs: JobRunner | None = None, parent: QWidget | None = None,
                 folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Package signing")
        self.setObjectName("trustDialog")
        self._own_jobs = jobs is None
        self.jobs = jobs if jobs is not None else JobRunner(self)
        #: where the Add… file dialog opens (the last folder a key was chosen in)
        self.folder = folder or Path.home()
        self.view: TrustView | None = None
        #: a job of this dialog is running (the controls are locked meanwhile)
        self.pending = False
        self._token = 0
        #: Close pressed while a save was running: close once it has answered, so its
        #: ``changed`` still reaches the window
        self._close_result: int | None = None

        lay = QVBoxLayout(self)
        intro = QLabel("Packages signed by one of these public keys are trusted; a run "
                       "records the signer.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        always = QLabel(f"<b>{html.escape(ALWAYS_REFUSED)}</b>")
        always.setObjectName("alwaysRefused")
        always.setWordWrap(True)
        lay.addWidget(always)

        self.key_list = QTreeWidget()
        self.key_list.setObjectName("trustedKeys")
        self.key_list.setHeaderLabels(["Name", "Fingerprint", "Added"])
        self.key_list.setRootIsDecorated(False)
        self.key_list.setUniformRowHeights(True)
        self.key_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.key_list.header().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        self.key_list.setMinimumWidth(640)
        self.key_list.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.key_list)
        self.empty_label = QLabel("No trusted keys yet: every signed package is refused until "
                                  "you add its publisher's public key (.pub).")
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: gray")
        lay.addWidget(self.empty_label)
        self.damaged_label = QLabel()
        self.damaged_label.setObjectName("damagedKeys")
        self.damaged_label.setWordWrap(True)
        self.damaged_label.setVisible(False)
        lay.addWidget(self.damaged_label)

        row = QHBoxLayout()
        self.add_button = button("Add…", self.choose_key,
                                 "Trust a public key file (.pub, or a PEM public key). "
                                 "Never a private key.", into=row)
        self.remove_button = button("Remove", self.remove_selected,
                                    "Stop trusting the selected key (asks first)", into=row)
        row.addStretch(1)
        lay.addLayout(row)

        box = QGroupBox("Unsigned packages")
        bl = QVBoxLayout(box)
        self.policy_group = QButtonGroup(self)
        self.policy_buttons: dict[str, QRadioButton] = {}
        for policy in ("warn", "refuse"):
            b = QRadioButton(POLICY_TEXT[policy])
            b.setObjectName(f"policy_{policy}")
            self.policy_group.addButton(b)
            self.policy_buttons[policy] = b
            b.toggled.connect(lambda on, p=policy: self._policy_toggled(p, on))
            bl.addWidget(b)
        lay.addWidget(box)

        self.error_label = text_label("", "trustError")
        lay.addWidget(self.error_label)
        self.status_label = text_label("", "trustStatus")
        lay.addWidget(self.status_label)
        self.file_label = text_label("reading the settings…", "trustFile")
        self.file_label.setStyleSheet("color: gray")
        lay.addWidget(self.file_label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.show_error("")
        self._update_buttons()
        self.reload()

    # -- jobs --------------------------------------------------------------------------
    def _submit(self, name: str, fn: Any, on_result: Any) -> None:
        self._token += 1
        token = self._token
        self.pending = True
        self._update_buttons()

        def ok(value: Any) -> None:
            if is_alive(self) and token == self._token:
                self.pending = False
                on_result(value)
                self._update_buttons()
                self._close_if_asked()

        def failed(exc: BaseException) -> None:
            if is_alive(self) and token == self._token:
                self.pending = False
                self.show_error(error_text(exc))
                self._update_buttons()
                self._close_if_asked()

        self.jobs.submit(name, fn, ok, failed)

    def reload(self) -> None:
        """Read the settings again (a job); the list and the policy follow."""
        self._submit("trust-read", read_view, self._show_view)

    def _apply(self, outcome: Outcome) -> None:
        self.show_error("")
        if outcome.view is not None:
            self._show_view(outcome.view)  # shows an unusable stored policy, if any
        if outcome.error:
            self.status_label.setText("")
            self.show_error(outcome.error)
        else:
            self.status_label.setText(outcome.note)
        if outcome.changed:
            self.changed.emit()

    # -- showing -------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """One line: what failed and what to do ('' clears it)."""
        line = " ".join(text.split())
        #: the line shown now, as plain text
        self.error_line = line
        self.error_label.setText(f"<span style='color:{BAD_COLOR}'>✘ {html.escape(line)}"
                                 "</span>" if line else "")
        self.error_label.setVisible(bool(line))

    def _show_view(self, view: TrustView) -> None:
        self.view = view
        selected = self.selected_fingerprint()
        self.key_list.clear()
        for k in view.keys:
            item = QTreeWidgetItem([k.name, k.fingerprint, k.added])
            item.setData(0, Qt.ItemDataRole.UserRole, k.fingerprint)
            item.setToolTip(1, k.fingerprint)
            self.key_list.addTopLevelItem(item)
            if k.fingerprint == selected:
                item.setSelected(True)
        self.key_list.resizeColumnToContents(0)
        self.empty_label.setVisible(not view.keys)
        self.damaged_label.setText("<br>".join(
            f"<span style='color:{WARN_COLOR}'>⚠ ignored: {html.escape(d)}</span>"
            for d in view.damaged))
        self.damaged_label.setVisible(bool(view.damaged))
        self.policy_group.blockSignals(True)
        for b in self.policy_buttons.values():
            b.blockSignals(True)
        # an unusable stored policy checks neither (exclusive groups cannot be emptied)
        self.policy_group.setExclusive(False)
        for policy, b in self.policy_buttons.items():
            b.setChecked(policy == view.policy)
        self.policy_group.setExclusive(True)
        for b in self.policy_buttons.values():
            b.blockSignals(False)
        self.policy_group.blockSignals(False)
        if view.policy_error:
            self.show_error(f"{view.policy_error} (or choose a policy here)")
        self.file_label.setText(f"Kept in {view.settings_file} (public keys only), shared with "
                                "`devicelab keys`.")

    def _update_buttons(self) -> None:
        idle = not self.pending
        self.add_button.setEnabled(idle)
        self.remove_button.setEnabled(idle and self.selected_fingerprint() is not None)
        for b in self.policy_buttons.values():
            b.setEnabled(idle)

    def selected_fingerprint(self) -> str | None:
        items = self.key_list.selectedItems()
        if not items:
            return None
        value = items[0].data(0, Qt.ItemDataRole.UserRole)
        return str(value) if value else None

    def _items(self) -> list[QTreeWidgetItem]:
        items = (self.key_list.topLevelItem(i) for i in range(self.key_list.topLevelItemCount()))
        return [item for item in items if item is not None]

    def keys(self) -> list[tuple[str, str]]:
        """(name, fingerprint) of every listed key, top to bottom."""
        return [(item.text(0), item.text(1)) for item in self._items()]

    def select(self, fingerprint: str) -> bool:
        for item in self._items():
            if item.text(1) == fingerprint:
                self.key_list.setCurrentItem(item)
                return True
        return False

    # -- adding --------------------------------------------------------------------------
    def choose_key(self) -> None:
        """Add…: pick a public key file, see its fingerprint, name it, trust it."""
        path = open_file(self, "Trust a public key", str(self.folder), "trustKeyFileDialog",
                         "Public keys (*.pub *.pem);;All files (*)")
        if path is None:
            return
        self.folder = Path(path).parent
        self.add_key_file(path)

    def add_key_file(self, path: str) -> None:
        """Read ``path`` in a job; a refused file is one line here, a key asks for its name."""
        self.show_error("")
        self.status_label.setText(f"reading {path}…")
        self._submit("trust-read-key", lambda: read_candidate(path), self._on_candidate)

    def _on_candidate(self, candidate: KeyCandidate | str) -> None:
        if isinstance(candidate, str):
            self.status_label.setText("")
            self.show_error(candidate)
            return
        self.status_label.setText("")
        name = self._ask_name(candidate)
        if name is None:
            self.status_label.setText("nothing added")
            return
        self._submit("trust-add", lambda: add_key(candidate, name), self._apply)

    def _ask_name(self, candidate: KeyCandidate) -> str | None:
        dlg = QInputDialog(self)
        dlg.setObjectName("trustKeyNameDialog")
        dlg.setWindowTitle("Trust this key?")
        dlg.setInputMode(QInputDialog.InputMode.TextInput)
        dlg.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dlg.setLabelText(f"{candidate.path}\n\nFingerprint: {candidate.fingerprint}\n\n"
                         "Compare it with the one the publisher gives you (by another channel) "
                         "before trusting it.\n\nName shown for this key:")
        dlg.setTextValue(candidate.default_name)
        dlg.setOkButtonText("Trust")
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return dlg.textValue().strip()

    # -- removing ------------------------------------------------------------------------
    def remove_selected(self) -> None:
        fp = self.selected_fingerprint()
        if fp is None or self.view is None:
            return
        name = next((k.name for k in self.view.keys if k.fingerprint == fp), fp)
        answer = QMessageBox.question(
            self, "Stop trusting a key",
            f"Stop trusting {name} ({fp})?\n\nPackages signed by it will be refused.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.show_error("")
        self._submit("trust-remove", lambda: remove_key(fp), self._apply)

    # -- the policy ----------------------------------------------------------------------
    def _policy_toggled(self, policy: str, on: bool) -> None:
        if on:
            self._policy_chosen(policy)

    def _policy_chosen(self, policy: str) -> None:
        before = self.view.policy if self.view is not None else None
        if policy == before:
            return
        self.show_error("")
        self._submit("trust-policy", lambda: change_policy(policy, before), self._apply)

    # -- closing -------------------------------------------------------------------------
    def done(self, result: int) -> None:
        if self._own_jobs:
            self.jobs.wait_all()  # its threads must not outlive the dialog
        elif self.pending:
            self._close_result = result
            self.status_label.setText("saving… the dialog closes when it is done")
            return
        super().done(result)

    def _close_if_asked(self) -> None:
        if self._close_result is not None and not self.pending:
            result, self._close_result = self._close_result, None
            super().done(result)


def open_trust_dialog(jobs: Any, parent: Any, changed: Any) -> None:
    """Settings → Package signing: modal; ``changed`` is called when keys or the policy
    changed (the window re-verifies its package then)."""
    dlg = TrustDialog(jobs, parent)
    dlg.changed.connect(changed)
    dlg.exec()
    dlg.deleteLater()
