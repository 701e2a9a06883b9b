"""The Sweep dialog: try runtime settings on one device and rank them, like ``devicelab sweep``.

The user names the device, package and input (the window's current ones to
start with), the values to try — threads as a comma list, providers, graph
optimization levels, spin — the objective and the rounds, and presses *Run
sweep*. The sweep (``console.session.sweep.Sweep``: every combination a
session, interleaved in rounds) runs in a :class:`SweepWorker` thread; the
ranked table fills in when it ends: rank, setting, the figure with its 95 %
interval, the verdict against the best (``best``, ``no change``,
``inconclusive``, ``regression`` = worse than the best) and whether it is in
the group the data cannot tell from the best. *Save the best* stores the
winner as the device's default for the package. Nothing here waits on a
device in the GUI thread.
"""

from __future__ import annotations

from typing import Any

from console.core.errors import UserError
from console.core.protocol import GRAPH_OPT_LEVELS
from console.devices.base import AgentOptions
from console.session.run import RunResult
from console.session.sweep import (
    DEFAULT_FRAMES,
    Setting,
    Sweep,
    SweepListener,
    SweepRequest,
    SweepResult,
    parse_grid,
)
from console.session.sweep_rank import BEST, OBJECTIVES
from console.ui.busy_devices import SWEEP, BusyDevices
from console.ui.qt import (
    QAbstractItemView,
    QBrush,
    QCheckBox,
    QCloseEvent,
    QColor,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QObject,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    Signal,
    Slot,
)
from console.ui.stoppable import Stoppable
from console.ui.widgets import button, text_label
from console.ui.worker_thread import WorkerThread, reported

COLUMNS = ("Rank", "Setting", "Figure", "95 % interval", "Verdict vs the best", "Best group",
           "Sessions")
RUN_TIP = "Run every combination, interleaved in rounds, then rank them"
ROW_COLORS = {BEST: "#d3f9d8", "in": "#ebfbee", "regression": "#fff5f5",
              "inconclusive": "#fff9db"}


class _Listener(SweepListener):
    def __init__(self, w: SweepWorker) -> None:
        self.w = w

    def sweep_started(self, sweep_id: int, uuid: str, settings: Any, rounds: int) -> None:
        self.w.progress.emit(f"sweep {sweep_id} ({uuid[:12]}): {len(settings)} setting(s) × "
                             f"{rounds} round(s) = {len(settings) * rounds} runs")

    def state(self, text: str) -> None:
        self.w.progress.emit(text)

    def run_started(self, round_no: int, index: int, total: int, setting: Setting) -> None:
        self.w.progress.emit(f"run {index}/{total} (round {round_no}): {setting.label}")

    def run_finished(self, round_no: int, setting: Setting, result: RunResult) -> None:
        self.w.runFinished.emit(result)

    def event(self, level: str, code: str, text: str) -> None:
        self.w.eventReceived.emit(level, text)


class SweepWorker(Stoppable, QObject):
    """One sweep in one QThread; signals are queued to the GUI thread."""

    progress = Signal(str)
    runFinished = Signal(RunResult)
    #: level, text
    eventReceived = Signal(str, str)
    finished = Signal(SweepResult)
    refused = Signal(str)
    done = Signal()

    def __init__(self, request: SweepRequest, db_path: Any) -> None:
        super().__init__()
        self.request = request
        self.db_path = db_path
        self._init_stoppable()

    @Slot()
    def execute(self) -> None:
        with reported(self, "sweep worker", refusals=(UserError,)):
            sw = Sweep(self.request, self.db_path, _Listener(self))
            self.attach(sw)
            self.finished.emit(sw.execute())


class SweepDialog(QDialog):
    """Non-modal: the window stays usable while a sweep runs."""

    #: level, one line (to the window's report)
    message = Signal(str, str)
    #: a sweep's thread ended (the log holds new sessions)
    ended = Signal()

    def __init__(self, db_path: Any, device: str = "local", package: str = "",
                 input_spec: str = "", parent: QWidget | None = None,
                 busy_devices: BusyDevices | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sweepDialog")
        self.setWindowTitle("Sweep runtime settings")
        self.db_path = db_path
        #: the devices the window's runs use (the window's own; a sweep waits for them)
        self.busy_devices = busy_devices if busy_devices is not None else BusyDevices()
        self.sweep_result: SweepResult | None = None
        self._thread = WorkerThread("sweep-worker", self)
        self._thread.threadEnded.connect(self._on_thread_finished)
        self._close_when_done = False
        self._runs = 0
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.device_edit = QLineEdit(device)
        self.package_edit = QLineEdit(package)
        self.input_edit = QLineEdit(input_spec)
        self.threads_edit = QLineEdit("1,2,4")
        self.threads_edit.setToolTip("intra-op thread counts, comma-separated (0 = "
                                     "onnxruntime's default)")
        self.provider_edit = QLineEdit("")
        self.provider_edit.setPlaceholderText("the default provider (or e.g. "
                                              "CPUExecutionProvider,OpenVINOExecutionProvider)")
        form.addRow("Device", self.device_edit)
        form.addRow("Package", self.package_edit)
        form.addRow("Input", self.input_edit)
        form.addRow("Threads", self.threads_edit)
        form.addRow("Providers", self.provider_edit)
        self.graph_checks = {g: QCheckBox(g) for g in GRAPH_OPT_LEVELS}
        self.graph_checks["all"].setChecked(True)
        self.spin_checks = {s: QCheckBox(s) for s in ("auto", "on", "off")}
        self.spin_checks["auto"].setChecked(True)
        for label, checks in (("Graph optimization", self.graph_checks),
                              ("Spin", self.spin_checks)):
            row = QHBoxLayout()
            for c in checks.values():
                row.addWidget(c)
            row.addStretch(1)
            holder = QWidget()
            holder.setLayout(row)
            form.addRow(label, holder)
        self.objective_combo = QComboBox()
        for key, obj in OBJECTIVES.items():
            self.objective_combo.addItem(f"{obj.name} ({obj.better} is better)", key)
        self.rounds_spin = QSpinBox()
        self.rounds_spin.setRange(1, 50)
        self.rounds_spin.setValue(3)
        self.rounds_spin.setToolTip("each setting runs this many times, interleaved; 3 or more "
                                    "lets the ranking see the run-to-run spread")
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(1, 10_000_000)
        self.frames_spin.setValue(DEFAULT_FRAMES)
        self.save_check = QCheckBox("Save the best as this device's default for this package")
        form.addRow("Objective", self.objective_combo)
        form.addRow("Rounds", self.rounds_spin)
        form.addRow("Frames per run", self.frames_spin)
        form.addRow("", self.save_check)
        lay.addLayout(form)
        buttons = QHBoxLayout()
        self.run_button = button("▶  Run sweep", self.start, RUN_TIP, into=buttons)
        self.stop_button = button("■  Stop", self.stop, into=buttons)
        buttons.addStretch(1)
        self.close_button = button("Close", self.close, into=buttons)
        lay.addLayout(buttons)
        self.status = text_label("", "sweepStatus")
        lay.addWidget(self.status)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("sweepRanking")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, width in enumerate((44, 330, 90, 170, 140, 80)):
            self.table.setColumnWidth(col, width)
        lay.addWidget(self.table, 1)
        self.resize(980, 620)
        self.device_edit.textChanged.connect(lambda _t: self._update())
        self.busy_devices.on_change(self._update)
        self._update()

    @property
    def running(self) -> bool:
        return self._thread.running

    def _update(self) -> None:
        in_use = self._device_in_use()
        self.run_button.setEnabled(not self.running and in_use is None)
        self.run_button.setToolTip(in_use or RUN_TIP)
        self.stop_button.setEnabled(self.running)

    def _device_in_use(self) -> str | None:
        """Why the device named cannot be swept now (another run uses it), or None."""
        device = self.device_edit.text().strip()
        if not device or self.running:
            return None
        return self.busy_devices.refusal([device], SWEEP)

    def request(self) -> SweepRequest:
        """The sweep the fields describe (a one-line UserError when they do not)."""
        def picked(checks: dict[str, QCheckBox]) -> str | None:
            on = [k for k, c in checks.items() if c.isChecked()]
            return ",".join(on) if on else None

        grid = parse_grid(self.threads_edit.text().strip() or None,
                          self.provider_edit.text().strip() or None,
                          picked(self.graph_checks), picked(self.spin_checks))
        for what, edit in (("device", self.device_edit), ("package", self.package_edit),
                           ("input", self.input_edit)):
            if not edit.text().strip():
                raise UserError(f"no {what}: name one")
        rq = SweepRequest(self.device_edit.text().strip(), self.package_edit.text().strip(),
                          self.input_edit.text().strip(), grid,
                          str(self.objective_combo.currentData()), self.rounds_spin.value(),
                          AgentOptions(frames=self.frames_spin.value(), preview_fps=0.0),
                          save=self.save_check.isChecked())
        rq.check()
        return rq

    def start(self) -> None:
        if self.running:
            return
        try:
            rq = self.request()
        except UserError as exc:
            self.status.setText(f"not started: {exc}")
            return
        refusal = self.busy_devices.claim(SWEEP, [rq.device])
        if refusal is not None:
            self.status.setText(f"not started: {refusal}")
            self.message.emit("error", f"sweep not started: {refusal}")
            return
        self.sweep_result = None
        self._runs = 0
        self.table.setRowCount(0)
        worker = SweepWorker(rq, self.db_path)
        worker.progress.connect(self._on_progress)
        worker.runFinished.connect(self._on_run)
        worker.eventReceived.connect(self._on_event)
        worker.finished.connect(self._on_finished)
        worker.refused.connect(self._on_refused)
        self.status.setText("starting the sweep (verifying the package)…")
        self._thread.start(worker)
        self._update()

    def stop(self) -> None:
        if self.running:
            self._thread.stop()
            self.status.setText("stopping after the current run (its session is kept)…")

    def _on_progress(self, text: str) -> None:
        self.status.setText(text)

    def _on_run(self, result: RunResult) -> None:
        self._runs += 1

    def _on_event(self, level: str, text: str) -> None:
        self.message.emit(level, f"sweep: {text}")

    def _on_refused(self, text: str) -> None:
        self.status.setText(f"sweep not run: {text}")
        self.message.emit("error", f"sweep not run: {text}")

    def _on_finished(self, result: SweepResult) -> None:
        self.sweep_result = result
        self.show_ranking(result)

    def show_ranking(self, result: SweepResult) -> None:
        obj = OBJECTIVES[result.objective]
        unit = obj.unit

        def fmt(v: float | None) -> str:
            return "unavailable" if v is None else f"{v:.3f} {unit}" if unit != "fps" \
                else f"{v:.1f} fps"

        t = self.table
        t.setRowCount(len(result.ranking))
        for row, r in enumerate(result.ranking):
            iv = "" if r.low is None or r.high is None else \
                f"[{'range ' if r.method == 'range' else ''}{fmt(r.low)}, {fmt(r.high)}]"
            cells = (str(r.rank), r.label, fmt(r.estimate), iv, r.verdict,
                     "yes" if r.in_best_group else "no", ", ".join(map(str, r.sessions)))
            key = BEST if r.verdict == BEST else ("in" if r.in_best_group else r.verdict)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(r.reason)
                item.setBackground(QBrush(QColor(ROW_COLORS.get(key, "#ffffff"))))
                item.setForeground(QBrush(QColor("#212529")))
                t.setItem(row, c, item)
        best = result.best
        if best is None:
            line = f"sweep {result.sweep_id} {result.status}: no best setting ({result.reason})"
        else:
            n = len(result.group) - 1
            line = (f"sweep {result.sweep_id} {result.status}: best {best.label} "
                    f"({obj.name} {fmt(best.estimate)})"
                    + (f"; {n} other setting{'s' * (n != 1)} indistinguishable from it"
                       if n else "; every other setting is worse beyond the threshold")
                    + ("; saved as this device's default for this package"
                       if result.saved else ""))
        self.status.setText(line)
        self.message.emit("info", line)

    def _on_thread_finished(self) -> None:
        self.busy_devices.release(SWEEP)
        self._update()
        self.ended.emit()
        if self._close_when_done:
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:  # stop first; close when the thread has ended
            event.ignore()
            self._close_when_done = True
            self.stop()
            return
        super().closeEvent(event)
