"""One run, end to end: verify -> record -> deploy -> stream -> summarize.

:class:`Run` is the only place that turns an agent's stream into a session:
the CLI calls :meth:`Run.execute` directly, the window calls it from a
worker thread and receives the :class:`RunListener` callbacks as signals.
It holds no Qt and draws nothing.

Truthful endings (the ``status`` of the session):

============  ==============================================================
completed     the agent reached its end (input ended, frame or time limit)
stopped       the user stopped it (Ctrl-C, Stop button, window closed)
failed        the agent reported a fatal error, crashed or was killed
interrupted   the link to the device dropped (or the console itself died,
              found at the next start by ``LogStore.recover_interrupted``)
============  ==============================================================

Every frame received before the end is in the log whatever the ending.

Memory stays flat however long a run lasts: nothing per frame or per
telemetry sample is kept here. The summary is computed from the session
log once the recorder has flushed it (so it always equals a recomputation
from the rows, and frames the log failed to keep show up as missing).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console import __version__
from console.core import protocol as P
from console.core.inputs import InputError, InputSource, parse_input
from console.core.op_profile import OpProfile
from console.core.package import Package, Verification, manifest_summary, verify_package
from console.core.records import DeviceFacts, InputFacts, NewSession, PackageFacts
from console.core.stats import Warmup, load_truth, summarize
from console.core.store import (
    DatabaseLocked,
    LogStore,
    LogUnreachable,
    StoreError,
    frame_row,
    telemetry_row,
)
from console.core.store.spool import Spool
from console.core.store.target import LogTarget, open_store, parse_target
from console.devices.base import (
    REFUSAL_CODES,
    AgentProcess,
    DeployCancelled,
    Deployment,
    Device,
    DeviceError,
    LinkLost,
)
from console.session import trust
from console.session.finalize import summarize_session
from console.session.profiles import check_settings, on_profile, runtime_fields, save_profile
from console.session.recorder import Recorder
from console.session.run_types import (  # noqa: F401  (re-exported: the run's vocabulary)
    TAG_RE,
    RunError,
    RunListener,
    RunRequest,
    RunResult,
    note_with_tags,
    session_tags,
)

#: Time the agent gets to answer "stop" with its summary before signals.
STOP_GRACE_S = 5.0
#: Silence after which the link is checked (telemetry flows at >= 1 Hz).
SILENCE_CHECK_S = 3.0
#: Silence after which a running agent (past its cold start, so telemetry flows at its
#: period) counts as stopped responding: at least this, or 5 telemetry periods.
AGENT_SILENT_S = 8.0
#: The same before the cold start ends (loading a large model can take a while).
COLD_SILENT_S = 120.0
#: Consecutive unparseable lines after which the agent is declared broken.
MAX_PROTOCOL_ERRORS = 50

#: how long the final status write waits for a log another console holds locked
STATUS_LOCKED_GIVE_UP_S = 60.0


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit status {code}"


class Run:
    def __init__(self, device: Device, request: RunRequest, db_path: str | Path | LogTarget,
                 listener: RunListener | None = None,
                 package_policy: Callable[[Verification], str | None] | None = None,
                 verification: Verification | None = None) -> None:
        self.device = device
        #: a verification of ``request.package`` made earlier (a plan verifies each package
        #: once for all its cells); None: verified here. The policy is applied either way.
        self.verification = verification
        self.request = request
        self.target = db_path if isinstance(db_path, LogTarget) else parse_target(db_path)
        #: the log as messages name it (a path, or a server URL without its password)
        self.db_path = self.target.display
        self.listener = listener or RunListener()
        #: callable(Verification) -> str|None (the refusal line): the settings' signing
        #: policy unless the caller brings its own — never skipped by default
        self.package_policy = package_policy or trust.package_policy()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._cancel_deploy = threading.Event()
        self.session_id: int | None = None
        self.proc: AgentProcess | None = None
        #: frames received from the agent (the rows themselves go straight to the recorder)
        self.frames_received = 0
        self._cold: dict[str, Any] | None = None
        self._agent_sent: int | None = None
        self._profile: OpProfile | None = None
        #: wall time the run really ended when that was before now (the last data of an
        #: agent that stopped answering or a link that dropped)
        self._ended_at: float | None = None

    # -- control (any thread) -------------------------------------------------
    def stop(self) -> None:
        """Ask for a clean stop: the agent finishes its frame and sends a summary."""
        self._stop.set()
        self._cancel_deploy.set()

    def abort(self) -> None:
        """Stop now: kill the agent (a second Ctrl-C)."""
        self._abort.set()
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- preparation ----------------------------------------------------------
    def _prepare(self) -> tuple[Package, InputSource, dict[int, int] | None, dict[str, Any]]:
        ls = self.listener
        ls.state("verifying", f"verifying {self.request.package}")
        ver = self.verification or verify_package(self.request.package)
        if not ver.ok:
            raise RunError(f"package refused: {ver.first_line()}")
        refusal = self.package_policy(ver)
        if refusal:
            raise RunError(refusal)
        # After the policy: it is what fills in the signer.
        extra: dict[str, Any] = {"signature": ver.signature, "signer": ver.signer,
                                 "warnings": list(ver.warnings)}
        assert ver.package is not None
        check_settings(self.request.options, ver.package.manifest, RunError)
        for w in ver.warnings:
            ls.event("warning", "package", w)
        try:
            source = parse_input(self.request.input)
        except InputError as exc:
            raise RunError(str(exc)) from None
        truth = None
        if self.request.truth:
            try:
                truth = load_truth(self.request.truth)
            except FileNotFoundError:
                raise RunError(f"ground-truth file not found: {self.request.truth}; give the "
                               "path of a 'frame,label' CSV, or run without ground truth"
                               ) from None
            except OSError as exc:  # a folder, no permission: in words, not [Errno N]
                raise RunError(f"ground-truth file {self.request.truth} cannot be read "
                               f"({exc.strerror or type(exc).__name__}); give a readable "
                               "'frame,label' CSV") from None
            except ValueError as exc:
                raise RunError(f"ground-truth file unusable: {exc}") from None
        return ver.package, source, truth, extra

    def _open_store(self) -> LogStore:
        try:
            store = open_store(self.target)
            store.check_writable()
            store.recover_interrupted()
        except StoreError as exc:
            raise RunError(str(exc)) from None
        return store

    # -- the run ----------------------------------------------------------------
    def execute(self) -> RunResult:
        """Blocking. Raises :class:`RunError` only for refusals before a session exists."""
        try:
            result = self._execute()
        except RunError as exc:
            self.listener.state("refused", str(exc))
            raise
        self.listener.finished(result)
        return result

    def _execute(self) -> RunResult:
        pkg, source, truth, sig = self._prepare()
        store = self._open_store()
        ls = self.listener
        try:
            ls.state("connecting", f"connecting to {self.device.describe()}")
            try:
                self.device.connect()
                identity = self.device.identity()
            except DeviceError as exc:
                raise RunError(str(exc), cause=exc) from None
            settings = self.request.options.record()
            # Paths as absolute: a replay or an export may run from another folder.
            truth_path = str(Path(self.request.truth).resolve()) if self.request.truth else None
            settings.update(input=source.desc, truth=truth_path,
                            budgets=dict(self.request.budgets),
                            warmup=self.request.warmup.setting)
            session_uuid = uuid.uuid4().hex
            try:
                sid = store.create_session(NewSession(
                    device=DeviceFacts(self.device.kind, self.device.address, self.device.name,
                                       identity),
                    package=PackageFacts(
                        pkg.manifest.name, pkg.manifest.version, pkg.digest,
                        pkg.manifest.files[pkg.manifest.model].sha256,
                        str(Path(pkg.source).resolve()),
                        manifest_summary(pkg) | {"manifest": pkg.manifest.to_dict()},
                        sig.get("signer")),
                    input=InputFacts(source.kind, source.desc, source.sha256, source.record()),
                    settings=settings, provider=self.request.options.provider,
                    console_version=__version__, protocol_version=P.PROTOCOL_VERSION,
                    started_unix_s=time.time(), note=self.request.note,
                    tags=tuple(session_tags(self.request.note, self.request.tags)),
                    replay_of=self.request.replay_of, uuid=session_uuid,
                    plan_run_id=self.request.plan_run_id, sweep_id=self.request.sweep_id))
            except StoreError as exc:
                raise RunError(str(exc)) from None
        finally:
            store.close()
        self.session_id = sid
        ls.session_created(sid)
        rec = Recorder(self.target, sid, session_uuid=session_uuid,
                       on_offline=lambda off, text: ls.event("warning" if off else "info",
                                                             "log_offline", text))
        rec.start()
        for w in sig.get("warnings", []):  # e.g. "unsigned package": kept in the log too
            rec.event("warning", "package", w)
        status, error = "failed", None
        try:
            status, error = self._run_agent(pkg, source, rec)
        except Exception as exc:  # a bug here must still close the session truthfully
            status, error = "failed", f"console error: {type(exc).__name__}: {exc}"
            rec.event("error", "console_exception", error)
        finally:
            if self.proc is not None:
                self._ensure_dead(self.proc)
        # Flush every row first: the summary is computed from the log itself.
        write_err = rec.finish(ended_unix_s=self._ended_at or time.time(), cold_start=self._cold)
        if write_err is not None and str(write_err) not in (error or ""):
            error = (error + "; " if error else "") + f"recording stopped: {write_err}"
            if status == "completed":
                status = "failed"
        if rec.offline:
            return leave_in_spool(self.target, self.listener, sid, session_uuid, status, error,
                                  self._agent_sent)
        summary, read_err = summary_of(self.target, sid, truth, self._cold, self._agent_sent,
                                         self.request.warmup)
        if read_err is not None:
            error = (error + "; " if error else "") + read_err
        from console.session.budgets import add_budget_verdicts

        budgets = {**pkg.manifest.budgets, **self.request.budgets}
        verdicts = add_budget_verdicts(summary, budgets, sid, lambda: open_store(self.target))
        # status, error and summary in one statement: a session is never "completed"
        # without its summary (dying before this leaves it "running" -> "interrupted").
        # Another console holding the log (a large import or delete) only delays it.
        deadline = time.monotonic() + STATUS_LOCKED_GIVE_UP_S
        while True:
            try:
                with open_store(self.target) as st:
                    save_profile(st, sid, self._profile)
                    st.update_session(sid, status=status, error=error, summary=summary,
                                      agent_sent=self._agent_sent)
                break
            except DatabaseLocked as exc:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                if write_err is None:
                    error = (error + "; " if error else "") + f"session status not saved: {exc}"
                break
            except LogUnreachable:
                return leave_in_spool(self.target, self.listener, sid, session_uuid, status,
                                      error, self._agent_sent)
            except StoreError as exc:
                if write_err is None:  # otherwise already said
                    error = (error + "; " if error else "") + f"session status not saved: {exc}"
                break
        self.listener.state("finished", status)
        return RunResult(sid, status, error, summary, verdicts, profile=self._profile)

    def _run_agent(self, pkg: Package, source: InputSource, rec: Recorder
                   ) -> tuple[str, str | None]:
        ls = self.listener
        ls.state("deploying", f"deploying to {self.device.describe()}")
        try:
            dep = self.device.deploy(pkg, source, ls.deploy_progress, self._cancel_deploy)
        except DeployCancelled:
            rec.event("info", "deploy_cancelled", "deploy cancelled by the user")
            return "stopped", "stopped during deploy"
        except LinkLost as exc:
            rec.event("error", "link_lost", str(exc))
            return "interrupted", str(exc)
        except DeviceError as exc:
            rec.event("error", "deploy_failed", str(exc))
            return "failed", str(exc)
        if self._stop.is_set():
            return "stopped", None
        ls.state("starting", "starting the agent")
        try:
            proc = self.device.start_agent(dep, self.request.options)
        except LinkLost as exc:
            return "interrupted", str(exc)
        except DeviceError as exc:
            rec.event("error", "agent_start", str(exc))
            return "failed", str(exc)
        self.proc = proc
        return self._stream(proc, rec, dep)

    def _stream(self, proc: AgentProcess, rec: Recorder, dep: Deployment
                ) -> tuple[str, str | None]:
        ls = self.listener
        reader = P.LineReader()
        fatal: str | None = None
        end_reason: str | None = None
        stop_sent_at: float | None = None
        signalled = 0
        last_data = time.monotonic()
        last_wall = time.time()
        bad_lines = 0
        got_hello = False
        ls.state("running", "waiting for the agent")
        while True:
            if self._abort.is_set() and signalled < 2:
                proc.kill()
                signalled = 2
            elif self._stop.is_set() and stop_sent_at is None:
                proc.send(P.encode_command("stop"))
                stop_sent_at = time.monotonic()
                ls.state("stopping", "stopping the agent")
            elif stop_sent_at is not None:
                waited = time.monotonic() - stop_sent_at
                if waited > STOP_GRACE_S and signalled == 0:
                    proc.terminate()
                    signalled = 1
                    rec.event("warning", "stop_timeout", "agent did not stop in time; "
                              "sent SIGTERM")
                elif waited > STOP_GRACE_S + 3 and signalled == 1:
                    proc.kill()
                    signalled = 2
            data = proc.read(0.2)
            if data is None:
                silent = time.monotonic() - last_data
                if silent > SILENCE_CHECK_S and not proc.link_ok():
                    lost = (f"connection to {self.device.describe()} lost (no data for "
                            f"{silent:.1f} s)")
                    rec.event("error", "link_lost", lost)
                    self._ended_at = last_wall
                    return "interrupted", lost
                if silent > self._silence_limit():
                    # The link answers but the agent does not (stopped, frozen, swapping):
                    # end now rather than wait for a user, keeping every frame received.
                    frozen = (f"the agent stopped responding (no frame or telemetry for "
                              f"{silent:.0f} s on {self.device.describe()})")
                    rec.event("error", "agent_unresponsive", frozen)
                    proc.kill()
                    self._ended_at = last_wall
                    return "interrupted", frozen
                continue
            last_data = time.monotonic()
            last_wall = time.time()
            if data == b"":
                break
            for line in reader.feed(data):
                if isinstance(line, P.ProtocolError):
                    bad_lines += 1
                    rec.event("error", "protocol", str(line))
                    continue
                try:
                    msg = P.decode(line)
                except P.ProtocolError as exc:
                    bad_lines += 1
                    if bad_lines <= 5 or bad_lines % 100 == 0:
                        rec.event("error", "protocol", f"protocol error: {exc}")
                    if bad_lines >= MAX_PROTOCOL_ERRORS and not got_hello:
                        fatal = ("the agent does not speak protocol v1 (garbage on its output: "
                                 f"{exc})")
                        proc.kill()
                    continue
                if isinstance(msg, P.Frame):
                    self._on_frame(msg, rec)
                    ls.frame(msg)
                elif isinstance(msg, P.Telemetry):
                    rec.telemetry(telemetry_row(msg.ts, msg.sample))
                    ls.telemetry(msg)
                elif isinstance(msg, P.Preview):
                    ls.preview(msg)
                elif isinstance(msg, P.Hello):
                    got_hello = True
                    if msg.v != P.PROTOCOL_VERSION:
                        fatal = (f"the agent speaks protocol v{msg.v}, this console "
                                 f"v{P.PROTOCOL_VERSION}; update the console or the agent")
                        proc.kill()
                    rec.update(device_facts=msg.device, agent_version=msg.agent_version)
                    ls.hello(msg)
                elif isinstance(msg, P.ColdStart):
                    self._cold = msg.to_wire()
                    self._cold.pop("t", None)
                    rec.update(cold_start=self._cold, **runtime_fields(msg))
                    rec.event("info", "cold_start", f"cold start {msg.total_ms:.1f} ms "
                              f"(package {msg.package_ms:.1f} ms, session {msg.session_ms:.1f} ms, "
                              f"first inference {msg.first_infer_ms:.1f} ms) on {msg.provider}")
                    ls.state("running", "running")
                    ls.cold(msg)
                elif isinstance(msg, P.Profile):
                    self._profile = on_profile(msg, rec, ls)
                elif isinstance(msg, P.Event):
                    rec.event(msg.level, msg.code, msg.text)
                    ls.event(msg.level, msg.code, msg.text)
                elif isinstance(msg, P.Error):
                    rec.event("error", msg.code, msg.text)
                    ls.event("error", msg.code, msg.text)
                    if msg.code in REFUSAL_CODES:  # the cached copy is damaged: replace it
                        self.device.invalidate_deployment(dep)
                    if msg.fatal:
                        fatal = msg.text
                elif isinstance(msg, P.Summary):
                    end_reason = msg.reason
                    self._agent_sent = msg.sent
            if rec.error is not None and stop_sent_at is None:
                fatal = fatal or str(rec.error)
                ls.event("error", "store", str(rec.error))
                self._stop.set()
        # End of stream: why?
        tail = reader.pending()
        if tail:
            rec.event("error", "protocol", f"truncated last line ({len(tail)} bytes) discarded")
        code = proc.wait(3.0)
        if fatal:
            return "failed", fatal
        if end_reason in ("end_of_input", "frame_limit", "duration"):
            return "completed", None
        if end_reason == "stopped" or (self._stop.is_set() and signalled):
            return "stopped", None
        if end_reason == "error":
            return "failed", "the agent reported an error"
        if not proc.link_ok():
            lost = f"connection to {self.device.describe()} lost during the run"
            rec.event("error", "link_lost", lost)
            return "interrupted", lost
        err = proc.stderr_text().strip().splitlines()
        detail = f": {err[-1][:300]}" if err else ""
        died = f"the agent ended without a summary ({_exit_text(code)}){detail}"
        rec.event("error", "agent_died", died)
        return "failed", died

    def _silence_limit(self) -> float:
        if self._cold is None:
            return COLD_SILENT_S
        return max(AGENT_SILENT_S, 5 * self.request.options.telemetry_ms / 1000.0)

    def _on_frame(self, msg: P.Frame, rec: Recorder) -> None:
        self.frames_received += 1
        rec.frame(frame_row(msg.i, msg.ts, msg.pre, msg.infer, msg.post, msg.e2e, msg.out,
                            read_ms=msg.read_ms))

    def _ensure_dead(self, proc: AgentProcess) -> None:
        """The agent never outlives the run: stop, then TERM, then KILL."""
        if proc.wait(0.0) is None and proc.link_ok():
            proc.send(P.encode_command("stop"))
            if proc.wait(2.0) is None:
                proc.terminate()
                if proc.wait(2.0) is None:
                    proc.kill()
                    proc.wait(2.0)
        proc.close()


def leave_in_spool(target: LogTarget, listener: RunListener, sid: int, session_uuid: str,
               status: str, error: str | None, agent_sent: Any) -> RunResult:
    """The server log is away at the end: the final fields wait in the spool with the
    last rows; whichever console reaches the server next pushes them and computes the
    summary there (the session shows ``running`` until then, never a summary of part
    of its rows)."""
    try:
        with Spool(target) as sp:
            sp.add(session_uuid, [], [], [], session_fields={
                "status": status, "error": error, "agent_sent": agent_sent})
            waiting = sp.rows_waiting(session_uuid)
    except StoreError as exc:
        error = (error + "; " if error else "") + f"session status not saved: {exc}"
        waiting = 0
    pending = (f"the session log {target.display} is offline: {waiting} rows of "
               f"session {sid} wait in the local spool and are pushed, with its summary, "
               "when the server answers (any devicelab command does it)")
    listener.state("finished", status)
    return RunResult(sid, status, error, None, [], pending=pending)


def summary_of(target: LogTarget, sid: int, truth: dict[int, int] | None,
               cold: Any, agent_sent: Any, warmup: Warmup
               ) -> tuple[dict[str, Any], str | None]:
    """The summary of what the log holds; on a read failure, an empty one and why."""
    try:
        with open_store(target) as st:
            return summarize_session(st, sid, truth=truth, cold=cold, agent_sent=agent_sent,
                                     warmup=warmup), None
    except StoreError as exc:
        return (summarize({}, [], cold=cold, agent_sent=agent_sent),
                f"summary unavailable: cannot read the session log back ({exc})")
