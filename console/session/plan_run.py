"""Running a plan: every device at once, each device's cells one after another.

:class:`PlanRun` takes a checked plan (``console.session.plan_check``) and
runs it: one worker thread per device opens ONE :class:`Device`, connects,
deploys every package × recording of its cells once (later deploys of the
same pair are answered from memory, see :class:`DeployOnce`), then runs its
cells in order — each an ordinary :class:`~console.session.run.Run`, so each
cell is an ordinary session, tagged ``plan:NAME`` and ``plan-run:UUID``,
reusing the package verification made once by the check. Devices never wait
for each other: the device's CPU is what is measured, so cells on one device
never overlap and cells on different devices always may.

A device that cannot be opened, or is lost mid-plan (the session ends
``interrupted``: link dropped, device rebooted; or the agent died without a
summary), marks its remaining cells ``not run: device lost …``; the others
carry on, and every frame already received stays in its session.
:meth:`PlanRun.stop` stops every device's current run cleanly (the sessions
end ``stopped``), :meth:`PlanRun.abort` kills the agents.

Verdicts are data: budget verdict words come from ``Run`` (a budget fails
only on ``fail``, or on anything but ``pass`` with ``strict_budgets``), a
baseline comparison is a regression when ``console.session.compare`` calls
any figure a ``regression``. Exit status: :func:`exit_code`.

Listeners (:class:`PlanListener`) are called from the device threads: keep
them fast and thread-safe (the window's adapter re-emits them as queued
signals; the CLI draws them with ``rich``). The plan run itself is kept in
the log through :mod:`console.session.plan_log`. No Qt, nothing printed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core import protocol as P
from console.core.inputs import InputError, InputSource, parse_input
from console.core.package import Package, Verification
from console.core.plan import Cell
from console.core.settings import Settings, SettingsError, load_settings
from console.core.store import LogStore, StoreError
from console.core.store.target import LogTarget, open_store, parse_target
from console.devices.base import (
    AgentOptions,
    AgentProcess,
    Deployment,
    DeployProgress,
    Device,
    DeviceError,
    LinkLost,
    ProgressFn,
)
from console.session import plan_log, run_defaults
from console.session.plan_check import CheckedPlan
from console.session.plan_verdicts import Check, cell_checks
from console.session.run import Run, RunError, RunListener, RunRequest, RunResult

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_DEVICE = 3
EXIT_STOPPED = 130
#: at most this many progress snapshots a second per device
PROGRESS_HZ = 4.0
#: e2e latencies the rolling p95 of the live progress is taken over
ROLLING_FRAMES = 300
#: session event codes after which the device is not used again in this plan
LOST_CODES = ("link_lost", "agent_died")


@dataclass(frozen=True)
class DeviceProgress:
    """A live snapshot of one device (at most :data:`PROGRESS_HZ` a second)."""

    device: str
    state: str
    cell: Cell | None
    #: 1-based position of the current cell among the device's cells
    index: int
    total: int
    frames: int = 0
    fps: float | None = None
    p95_ms: float | None = None
    session_id: int | None = None


@dataclass(frozen=True)
class CellOutcome:
    cell: Cell
    #: pass | fail | not run
    verdict: str
    reason: str
    session_id: int | None = None
    #: the session's ending (completed, stopped, failed, interrupted), None if none
    status: str | None = None
    checks: tuple[Check, ...] = ()
    warmup_session_id: int | None = None


@dataclass(frozen=True)
class PlanResult:
    run_id: int
    uuid: str
    status: str
    exit_code: int
    outcomes: list[CellOutcome] = field(default_factory=list)


class PlanListener:
    """Callbacks from the device threads. Override what you need; keep them fast."""

    def plan_started(self, run_id: int, uuid: str, cells: Sequence[Cell]) -> None: ...
    def device_state(self, device: str, state: str, text: str) -> None: ...
    def deploy_progress(self, device: str, p: DeployProgress) -> None: ...
    def cell_started(self, cell: Cell) -> None: ...
    def cell_session(self, cell: Cell, session_id: int) -> None: ...
    def progress(self, p: DeviceProgress) -> None: ...
    def frame(self, device: str, msg: P.Frame) -> None:
        """Every frame of every cell (the window's live curves): an append, nothing more."""
    def event(self, device: str, level: str, code: str, text: str) -> None: ...
    def cell_finished(self, outcome: CellOutcome) -> None: ...
    def plan_finished(self, result: PlanResult) -> None: ...


def exit_code(outcomes: Iterable[CellOutcome], stopped: bool = False) -> int:
    """0 every cell passed; 1 a product failure (budget, regression, run failed);
    130 stopped by the user; 3 no product failure but a device could not be used."""
    verdicts = [o.verdict for o in outcomes]
    if "fail" in verdicts:
        return EXIT_FAILED
    if stopped:
        return EXIT_STOPPED
    if "not run" in verdicts:
        return EXIT_DEVICE
    return EXIT_PASSED


STATUS_OF_EXIT = {EXIT_PASSED: "passed", EXIT_FAILED: "failed", EXIT_DEVICE: "incomplete",
                  EXIT_STOPPED: "stopped"}


class DeployOnce(Device):
    """The plan's one device, answering a deploy of a package × input it already made
    from memory: deployed once per plan, not once per cell. A run that fails forgets
    the pair, so the next cell's deploy goes to the device again (and re-checks its
    cache, replacing anything the agent found damaged)."""

    def __init__(self, inner: Device) -> None:
        super().__init__(inner.spec)
        self.inner = inner
        self.kind = inner.kind
        self._done: dict[tuple[str, str, str | None], Deployment] = {}

    @staticmethod
    def _key(package: Package, source: InputSource) -> tuple[str, str, str | None]:
        return (package.digest, source.spec, source.sha256)

    def connect(self) -> None:
        self.inner.connect()

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def probe(self) -> dict[str, Any]:
        return self.inner.probe()

    def deploy(self, package: Package, source: InputSource, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Deployment:
        key = self._key(package, source)
        if key not in self._done:
            self._done[key] = self.inner.deploy(package, source, progress, cancel)
        elif progress is not None:
            progress(DeployProgress("package", package.title, 1, 1, 0.0, cached=True))
        return self._done[key]

    def forget(self, package: Package | None, input_spec: str) -> None:
        """The next deploy of ``package`` with that input goes to the device again."""
        for key in [k for k in self._done if package is not None and k[0] == package.digest
                    and k[1] == input_spec]:
            del self._done[key]

    def start_agent(self, deployment: Deployment, options: AgentOptions) -> AgentProcess:
        return self.inner.start_agent(deployment, options)

    def invalidate_deployment(self, deployment: Deployment) -> None:
        for key in [k for k, d in self._done.items() if d == deployment]:
            del self._done[key]
        self.inner.invalidate_deployment(deployment)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()


class _CellListener(RunListener):
    """One cell's run, turned into the plan's events (throttled progress)."""

    def __init__(self, plan_run: PlanRun, cell: Cell, index: int, total: int) -> None:
        self.pr, self.cell, self.index, self.total = plan_run, cell, index, total
        self.frames = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.recent: deque[float] = deque(maxlen=ROLLING_FRAMES)
        self.state_word = "starting"
        self.warmup = False
        self.session_id: int | None = None
        self._last_emit = 0.0

    def snapshot(self) -> DeviceProgress:
        fps = None
        if self.t_first is not None and self.t_last is not None and self.t_last > self.t_first:
            fps = (self.frames - 1) / (self.t_last - self.t_first)
        p95 = None
        if self.recent:
            rec = sorted(self.recent)
            p95 = rec[min(len(rec) - 1, int(0.95 * len(rec)))]
        return DeviceProgress(self.cell.device, self.state_word, self.cell, self.index,
                              self.total, self.frames, fps, p95, self.session_id)

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_emit >= 1.0 / PROGRESS_HZ:
            self._last_emit = now
            self.pr.listener.progress(self.snapshot())

    def state(self, state: str, text: str) -> None:
        self.state_word = state
        self._emit(force=True)

    def deploy_progress(self, p: DeployProgress) -> None:
        self.pr.listener.deploy_progress(self.cell.device, p)

    def session_created(self, session_id: int) -> None:
        self.session_id = session_id
        if not self.warmup:  # a console killed now leaves the cell linked to its session
            self.pr._pending_session(self.cell, session_id)
        self.pr.listener.cell_session(self.cell, session_id)

    def frame(self, msg: P.Frame) -> None:
        self.frames += 1
        if self.t_first is None:
            self.t_first = msg.ts
        self.t_last = msg.ts
        self.recent.append(msg.e2e)
        self.pr.listener.frame(self.cell.device, msg)
        self._emit()

    def event(self, level: str, code: str, text: str) -> None:
        self.pr.listener.event(self.cell.device, level, code, text)


class PlanRun:
    def __init__(self, checked: CheckedPlan, db_path: str | Path | LogTarget,
                 listener: PlanListener | None = None, *,
                 open_device: Callable[[str], Device] | None = None,
                 strict_budgets: bool = False,
                 package_policy: Callable[[Verification], str | None] | None = None) -> None:
        """``open_device(spec)`` makes an unconnected device (default: the registry's,
        never interactive); ``package_policy`` as for :class:`Run`."""
        if not checked.ok or checked.plan is None:
            raise RunError(f"plan {checked.path} has problems: check it with devicelab plan "
                           f"check {checked.path}")
        self.checked = checked
        self.plan = checked.plan
        self.target = db_path if isinstance(db_path, LogTarget) else parse_target(db_path)
        self.db_path = self.target.value
        self.listener = listener or PlanListener()
        self.open_device = open_device or _default_open
        self.strict_budgets = strict_budgets
        self.package_policy = package_policy
        self.cells = checked.cells
        self.run_id = 0
        self.uuid = ""
        self._stop = threading.Event()
        self._abort = threading.Event()
        #: set by stop(): a device's first deploys (before its first cell) end early
        self._cancel_deploy = threading.Event()
        #: guards ``_active`` (taken by stop() from a signal handler: never held long)
        self._lock = threading.Lock()
        #: one plan-log write at a time (SessionStore connections are per thread)
        self._log_lock = threading.Lock()
        self._active: dict[str, Run] = {}
        #: the settings file as the plan started (saved run defaults); None: unreadable
        self._settings: Settings | None = None
        self._outcomes: dict[int, CellOutcome] = {}

    # -- control (any thread) -------------------------------------------------------
    def stop(self) -> None:
        """Stop every device's current run cleanly; the remaining cells are not run."""
        self._stop.set()
        self._cancel_deploy.set()
        with self._lock:
            runs = list(self._active.values())
        for r in runs:
            r.stop()

    def abort(self) -> None:
        """Kill every device's agent (a second Ctrl-C)."""
        self._abort.set()
        self.stop()
        with self._lock:
            runs = list(self._active.values())
        for r in runs:
            r.abort()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the log ------------------------------------------------------------------------
    def _log(self, fn: Callable[[LogStore], Any]) -> Any:
        with self._log_lock, open_store(self.target) as st:
            return fn(st)

    # -- the plan ------------------------------------------------------------------------
    def execute(self) -> PlanResult:
        """Blocking: every device to its end. Raises :class:`RunError` only when the log
        cannot be opened (nothing ran)."""
        try:
            self.run_id = self._log(self._start)
            self.uuid = self._log(lambda st: plan_log.get_plan_run(st, self.run_id))["uuid"]
        except StoreError as exc:
            raise RunError(str(exc)) from None
        try:
            self._settings = load_settings()
        except SettingsError as exc:
            self.listener.event("", "warning", "settings",
                                f"saved run defaults not used: {exc}")
        self.listener.plan_started(self.run_id, self.uuid, self.cells)
        by_device: dict[str, list[Cell]] = {}
        for c in self.cells:
            by_device.setdefault(c.device, []).append(c)
        threads = [threading.Thread(target=self._device_main, args=(dev, cells),
                                    name=f"plan-{dev}", daemon=True)
                   for dev, cells in by_device.items()]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # a short wait: the main thread stays free for Ctrl-C
        outcomes = [self._outcomes[c.idx] for c in self.cells]
        code = exit_code(outcomes, self._stop.is_set())
        status = STATUS_OF_EXIT[code]
        try:
            self._log(lambda st: plan_log.record_plan_end(st, self.run_id, status, code))
        except StoreError as exc:
            self.listener.event("", "error", "store", f"plan run end not saved: {exc}")
        result = PlanResult(self.run_id, self.uuid, status, code, outcomes)
        self.listener.plan_finished(result)
        return result

    def _start(self, st: LogStore) -> int:
        """Close what killed consoles left running (sessions, then plan runs), then
        record this plan run: its id."""
        st.recover_interrupted()
        plan_log.recover_interrupted_plan_runs(st)
        return plan_log.record_plan_start(st, self.plan, self.cells)

    def _pending_session(self, cell: Cell, session_id: int) -> None:
        try:
            self._log(lambda st: plan_log.record_cell(st, self.run_id, cell, session_id,
                                                      "pending", None))
        except StoreError as exc:
            self.listener.event(cell.device, "warning", "store",
                                f"cell {cell.idx} session not linked yet: {exc}")

    def _finish(self, outcome: CellOutcome) -> None:
        self._outcomes[outcome.cell.idx] = outcome
        try:
            self._log(lambda st: plan_log.record_cell(
                st, self.run_id, outcome.cell, outcome.session_id, outcome.verdict,
                outcome.reason, [c.to_dict() for c in outcome.checks]))
        except StoreError as exc:
            self.listener.event(outcome.cell.device, "error", "store",
                                f"cell {outcome.cell.idx} not saved in the plan run: {exc}")
        self.listener.cell_finished(outcome)

    def _not_run(self, cells: Iterable[Cell], reason: str) -> None:
        for c in cells:
            self._finish(CellOutcome(c, "not run", reason))

    def _device_main(self, spec: str, cells: list[Cell]) -> None:
        ls = self.listener
        try:
            self._device_cells(spec, cells)
        except Exception as exc:  # a bug here must not hang the plan or lose the cells
            ls.event(spec, "error", "console_exception", f"{type(exc).__name__}: {exc}")
            self._not_run([c for c in cells if c.idx not in self._outcomes],
                          f"console error on this device ({type(exc).__name__}: "
                          f"{exc})")
        verdicts = [self._outcomes[c.idx].verdict for c in cells if c.idx in self._outcomes]
        ls.device_state(spec, "done", ", ".join(f"{verdicts.count(v)} {v}" for v in
                                                ("pass", "fail", "not run") if v in verdicts))

    def _device_cells(self, spec: str, cells: list[Cell]) -> None:
        ls = self.listener
        ls.device_state(spec, "connecting", f"connecting to {spec}")
        try:
            inner = self.open_device(spec)
            dev = DeployOnce(inner)
            dev.connect()
        except DeviceError as exc:
            ls.device_state(spec, "unreachable", str(exc))
            self._not_run(cells, f"device unreachable at start: {exc}")
            return
        try:
            lost = self._deploy_all(dev, spec, cells)
            for k, cell in enumerate(cells, 1):
                if lost is None and not self._stop.is_set():
                    outcome, lost = self._cell(dev, cell, k, len(cells))
                    self._finish(outcome)
                elif lost is not None:
                    self._finish(CellOutcome(cell, "not run", f"device lost ({lost})"))
                else:
                    self._finish(CellOutcome(cell, "not run", "the plan was stopped"))
            if lost is not None:
                ls.device_state(spec, "lost", lost)
        finally:
            dev.close()

    def _deploy_all(self, dev: DeployOnce, spec: str, cells: list[Cell]) -> str | None:
        """Every package × input of the device's cells onto it, once; the reason the
        device is lost when that fails on the link (a deploy refusal is left to the
        cell's run, which records it)."""
        ls = self.listener
        done: set[tuple[str, str]] = set()
        for c in cells:
            pair = (c.package, c.input.spec)
            if pair in done or self._stop.is_set():
                continue
            done.add(pair)
            ver = self.checked.verifications[c.package]
            assert ver.package is not None
            try:
                source = parse_input(c.input.spec)
            except InputError:
                continue  # the cell's run says why
            ls.device_state(spec, "deploying", f"deploying {ver.package.title} and "
                                               f"{source.desc}")
            try:
                dev.deploy(ver.package, source, lambda p: ls.deploy_progress(spec, p),
                           self._cancel_deploy)
            except LinkLost as exc:
                return f"during deploy: {exc}"
            except DeviceError:
                continue  # refused (disk full…): the cell's run records why
        return None

    def _saved_defaults(self, cell: Cell) -> dict[str, Any]:
        """What ``devicelab sweep --save`` stored for the cell's device and package, for
        the tuned settings the plan's ``[run]`` does not give."""
        if self._settings is None:
            return {}
        ver = self.checked.verifications.get(cell.package)
        if ver is None or ver.package is None:
            return {}
        default = run_defaults.saved(cell.device, ver.package.manifest.name, self._settings)
        return {k: v for k, v in (default or {}).items()
                if k in run_defaults.TUNED_KEYS and k not in self.plan.run}

    def _request(self, cell: Cell, frames: int | None = None, warmup: bool = False
                 ) -> RunRequest:
        st = dict(cell.settings) | self._saved_defaults(cell)
        if frames is not None:
            st.update(frames=frames, duration=0.0)
        opts = AgentOptions(**{k: st[k] for k in AgentOptions.__dataclass_fields__ if k in st})
        tags = (f"plan:{self.plan.name}", f"plan-run:{self.uuid[:12]}") + \
            (("warmup",) if warmup else ())
        n = len(self.cells)
        note = (f"plan {self.plan.name} cell {cell.idx + 1}/{n}: {cell.label}"
                + (" (warm-up)" if warmup else ""))
        return RunRequest(package=cell.package, input=cell.input.spec, options=opts, note=note,
                          tags=tags, truth=None if warmup else cell.input.truth,
                          budgets={} if warmup else dict(self.checked.budgets),
                          plan_run_id=self.run_id or None)

    def _execute(self, dev: DeployOnce, cell: Cell, request: RunRequest,
                 listener: RunListener) -> tuple[RunResult | None, RunError | None]:
        """One run of the cell's package on the device: (result, None), or (None, the
        refusal) when it was refused before a session existed."""
        run = Run(dev, request, self.db_path, listener, package_policy=self.package_policy,
                  verification=self.checked.verification(cell.package))
        with self._lock:
            self._active[cell.device] = run
        if self._stop.is_set():
            run.stop()
        try:
            return run.execute(), None
        except RunError as exc:
            return None, exc
        finally:
            with self._lock:
                self._active.pop(cell.device, None)

    def _cell(self, dev: DeployOnce, cell: Cell, index: int, total: int
              ) -> tuple[CellOutcome, str | None]:
        """Run one cell (after its warm-up): its outcome, and why the device is lost."""
        ls = self.listener
        ls.cell_started(cell)
        ls.device_state(cell.device, "running", cell.label)
        warm_sid = None
        if self.plan.warmup > 0:
            wl = _CellListener(self, cell, index, total)
            wl.state_word, wl.warmup = "warm-up", True
            res, refused = self._execute(dev, cell, self._request(cell, self.plan.warmup, True),
                                         wl)
            warm_sid = res.session_id if res else None
            lost = self._lost_reason(res, refused)
            if lost is not None or self._stop.is_set():
                why = f"device lost during the warm-up ({lost})" if lost else \
                    "the plan was stopped during the warm-up"
                return CellOutcome(cell, "not run", f"{why}",
                                   warmup_session_id=warm_sid), lost
        cl = _CellListener(self, cell, index, total)
        result, refused = self._execute(dev, cell, self._request(cell), cl)
        lost = self._lost_reason(result, refused)
        if result is None:
            if lost is not None:
                return CellOutcome(cell, "not run", f"device lost ({lost})",
                                   warmup_session_id=warm_sid), lost
            return CellOutcome(cell, "fail", f"refused: {refused}",
                               warmup_session_id=warm_sid), None
        if result.status != "completed":
            dev.forget(self.checked.verifications[cell.package].package, cell.input.spec)
        cl._emit(force=True)
        checks = self._log(lambda st: cell_checks(
            st, self.plan, cell, self.run_id, result, strict_budgets=self.strict_budgets,
            tolerance=self.checked.tolerance, lost=lost is not None))
        if lost is not None:
            return CellOutcome(cell, "not run", f"device lost ({lost}); "
                               f"{result.summary.get('frames', 0) if result.summary else 0} "
                               f"frames kept in session {result.session_id}",
                               result.session_id, result.status, tuple(checks), warm_sid), lost
        if result.status == "stopped":
            return CellOutcome(cell, "not run", "stopped by the user "
                               f"(session {result.session_id})", result.session_id,
                               result.status, tuple(checks), warm_sid), None
        failed = [c for c in checks if c.failed]
        verdict = "fail" if failed else "pass"
        reason = "; ".join(c.text for c in failed) if failed else "all checks passed"
        return CellOutcome(cell, verdict, reason, result.session_id, result.status,
                           tuple(checks), warm_sid), None

    def _lost_reason(self, result: RunResult | None, refused: RunError | None) -> str | None:
        """Why the device cannot be used for the rest of the plan, or None."""
        if result is None:  # refused: by the device (unreachable now) or by the console
            return str(refused) if refused is not None and \
                isinstance(refused.cause, DeviceError) else None
        if result.status == "interrupted":
            return result.error or "the link to the device dropped"
        if result.status == "failed" and result.session_id is not None:
            codes = {e.get("code") for e in self._log(lambda st: st.events(
                int(result.session_id or 0)))}
            if codes & set(LOST_CODES):
                return result.error or "the agent died"
        return None


def _default_open(spec: str) -> Device:
    from console.devices.registry import open_device

    return open_device(spec, interactive=False)
