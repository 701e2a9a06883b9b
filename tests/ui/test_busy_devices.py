"""One run at a time on a device (issue #14): while the window's run, a plan run or a sweep
uses "This computer", starting another of them there is refused with one line, and the
Start buttons say so. Real window, real agent on this computer, the bundled demo
package and recording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from console.ui.busy_devices import BusyDevices, busy_line

ROOT = Path(__file__).resolve().parents[2]
DEMO_PACKAGE = ROOT / "resources" / "packages" / "digits-cnn"
DEMO_VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"

BUSY_WITH_RUN = ("This computer is busy with the run (Run dock); "
                 "wait for it or stop it")
BUSY_WITH_SWEEP = ("This computer is busy with the sweep (Sweep dialog); "
                   "wait for it or stop it")


def wait_ready(qtbot: Any, w: Any) -> None:
    qtbot.waitUntil(lambda: not w.package.pending, timeout=30_000)
    qtbot.waitUntil(lambda: w.devices.current().state not in ("probing", "unknown"),
                    timeout=30_000)
    assert w.devices.current().name == "This computer"
    assert Path(w.package.path_edit.text()) == DEMO_PACKAGE
    assert Path(w.input.spec()) == DEMO_VIDEO


def log_text(w: Any) -> str:
    return str(w.log_pane.text.toPlainText())


def stop_everything(qtbot: Any, w: Any) -> None:
    """Whatever a failed assertion left running (the window run, a plan, a sweep) stops."""
    dlg = w.plan_desk.sweep_dialog
    if dlg is not None and dlg.running:
        dlg.stop()
    w.plan_view.stop()
    w.stop_run()
    qtbot.waitUntil(lambda: not w.plan_desk.busy and not w.running, timeout=60_000)


def write_plan(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "plan.toml"
    p.write_text(f'''name = "busy-device"
devices = ["local"]
packages = [{json.dumps(str(DEMO_PACKAGE))}]
inputs = [{json.dumps(str(DEMO_VIDEO))}]
[run]
frames = 20
''')
    return p


@pytest.mark.slow
def test_a_sweep_or_a_plan_waits_for_the_run_on_the_same_device(
        make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    w = make_window(db_path=tmp_path / "sessions.db")
    wait_ready(qtbot, w)
    pv = w.plan_view
    with qtbot.waitSignal(pv.checked, timeout=60_000):
        pv.open_path(write_plan(tmp_path / "plans"))
    assert pv.run_button.isEnabled()
    try:
        w.input.loop_check.setChecked(True)  # the run goes until Stop
        qtbot.mouseClick(w.run_panel.start_button, Qt.MouseButton.LeftButton)
        assert w.running
        qtbot.waitUntil(lambda: w.frames_received >= 5, timeout=30_000)

        # the Sweep dialog, on the window's device: Run sweep says why it cannot run
        w.plan_desk.show_sweep_dialog()
        dlg = w.plan_desk.sweep_dialog
        assert dlg.device_edit.text() == "local"
        assert not dlg.run_button.isEnabled() and dlg.run_button.toolTip() == BUSY_WITH_RUN
        dlg.start()  # what Run sweep does
        assert not dlg.running
        assert dlg.status.text() == f"not started: {BUSY_WITH_RUN}"
        assert f"sweep not started: {BUSY_WITH_RUN}" in log_text(w)
        # another device is not busy
        dlg.device_edit.setText("ssh://nobody@198.51.100.7")
        assert dlg.run_button.isEnabled()
        dlg.device_edit.setText("local")
        assert not dlg.run_button.isEnabled()

        # the Plan tab: Run plan says so too, and a run asked for anyway is refused
        assert not pv.run_button.isEnabled() and pv.run_button.toolTip() == BUSY_WITH_RUN
        with qtbot.waitSignal(pv.checked, timeout=60_000):
            pv.run()  # what Run plan does: check again, then start
        assert not pv.running
        assert pv.status.text() == f"plan not run: {BUSY_WITH_RUN}"
        assert f"plan not run: {BUSY_WITH_RUN}" in log_text(w)
    finally:
        stop_everything(qtbot, w)
    assert w.last_result is not None and w.last_result.status == "stopped"
    # the device is free again
    assert dlg.run_button.isEnabled() and pv.run_button.isEnabled()
    dlg.close()


@pytest.mark.slow
def test_the_window_run_waits_for_a_sweep_on_the_same_device(
        make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    w = make_window(db_path=tmp_path / "sessions.db")
    wait_ready(qtbot, w)
    assert w.commands.start.isEnabled()
    w.plan_desk.show_sweep_dialog()
    dlg = w.plan_desk.sweep_dialog
    dlg.threads_edit.setText("1")
    dlg.rounds_spin.setValue(50)
    dlg.frames_spin.setValue(1_000_000)  # runs until stopped
    try:
        dlg.run_button.click()
        assert dlg.running

        # F5 and the Start button say why the run cannot start; a start asked for is refused
        assert not w.commands.start.isEnabled()
        assert w.commands.start.toolTip() == BUSY_WITH_SWEEP
        assert not w.run_panel.start_button.isEnabled()
        w.start_run()
        assert not w.running
        assert f"cannot start: {BUSY_WITH_SWEEP}" in log_text(w)

        with qtbot.waitSignal(dlg.ended, timeout=60_000):
            dlg.stop_button.click()
    finally:
        stop_everything(qtbot, w)
    assert not dlg.running
    assert w.commands.start.isEnabled()
    assert w.commands.start.toolTip() != BUSY_WITH_SWEEP
    dlg.close()


def test_one_device_by_two_names_is_one_device_and_release_frees_it() -> None:
    busy = BusyDevices()
    changes: list[int] = []
    busy.on_change(lambda: changes.append(1))
    assert busy.claim("the sweep (Sweep dialog)", ["local"]) is None
    # the built-in device under another of its names is the same device
    assert busy.refusal(["This computer"], "the run (Run dock)") == busy_line(
        "This computer", "the sweep (Sweep dialog)")
    # a holder is never refused by itself, another device is free
    assert busy.refusal(["local"], "the sweep (Sweep dialog)") is None
    assert busy.refusal(["ssh://me@203.0.113.9:2222"], "the run (Run dock)") is None
    assert busy.claim("the run (Run dock)", ["localhost-agent"]) is not None
    busy.release("the sweep (Sweep dialog)")
    assert busy.claim("the run (Run dock)", ["local"]) is None
    assert len(changes) == 3
