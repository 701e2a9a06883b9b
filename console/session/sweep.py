"""Recommending runtime settings: a sweep runs every combination on one device and ranks them.

``devicelab sweep`` (and the window's Sweep dialog) names one device, one
package and one input, and lists the values of the settings to try —
onnxruntime intra-op threads, execution provider, graph optimization
level, spin. :class:`Sweep` runs **every combination** as an ordinary
session (tagged ``sweep:UUID``, its ``sweep_id`` set), in **rounds**: each
round runs every setting once, the order rotated by one each round, so a
drift of the device (heat, a neighbour, the page cache) hits all settings
alike instead of the ones that happened to run last. The package is
verified once and deployed once.

Then :func:`console.session.sweep_rank.rank` ranks the settings on the
objective (``p95``, ``fps`` or ``energy``) and names the group that is
statistically indistinguishable from the best. The sweep is one row of the
log (``sweeps``: what was swept, the ranking, the best setting and its group),
and with ``save`` the winner becomes the device's default for that package
(``console.session.run_defaults``), used by ``run`` and plans unless told
otherwise. Exit status (:attr:`SweepResult.exit_code`): 0 a best setting was
found, 1 no setting could be ranked, 3 the device could not be used, 130
stopped. No Qt, nothing printed.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.core.inputs import InputError, parse_input
from console.core.package import Verification, verify_package
from console.core.protocol import GRAPH_OPT_LEVELS
from console.core.settings import SettingsError
from console.core.stats import DEFAULT_WARMUP, Warmup
from console.core.store import StoreError
from console.core.store.target import LogTarget, open_store, parse_target
from console.core.verdicts import DEFAULT_LEVEL, DEFAULT_RELATIVE
from console.devices.base import AgentOptions, DeployProgress, Device, DeviceError
from console.session import run_defaults, trust
from console.session.plan_run import DeployOnce
from console.session.run import Run, RunError, RunListener, RunRequest, RunResult
from console.session.sweep_rank import BEST, OBJECTIVES, Ranked, rank

EXIT_BEST = 0
EXIT_NONE = 1
EXIT_DEVICE = 3
EXIT_STOPPED = 130
#: most combinations one sweep runs (× rounds sessions)
MAX_SETTINGS = 256
MAX_ROUNDS = 50
SPIN_VALUES = ("auto", "on", "off")
#: a sweep run's frame limit when neither frames nor duration is given
DEFAULT_FRAMES = 1000


class SweepError(UserError):
    """The sweep cannot be made as asked: one line naming the option."""


@dataclass(frozen=True)
class Setting:
    """One combination of the swept run settings."""

    threads: int = 0
    provider: str | None = None
    graph_opt: str = "all"
    spin: str = "auto"

    def record(self) -> dict[str, Any]:
        return {"threads": self.threads, "provider": self.provider,
                "graph_opt": self.graph_opt, "spin": self.spin}

    @property
    def label(self) -> str:
        return (f"threads={self.threads or 'default'} provider={self.provider or 'default'} "
                f"graph_opt={self.graph_opt} spin={self.spin}")

    def options(self, base: AgentOptions) -> AgentOptions:
        return replace(base, **self.record())


@dataclass(frozen=True)
class SweepGrid:
    threads: tuple[int, ...] = (0,)
    providers: tuple[str | None, ...] = (None,)
    graph_opts: tuple[str, ...] = ("all",)
    spins: tuple[str, ...] = ("auto",)

    def settings(self) -> list[Setting]:
        return [Setting(t, p, g, s) for t, p, g, s in itertools.product(
            self.threads, self.providers, self.graph_opts, self.spins)]

    def to_dict(self) -> dict[str, Any]:
        return {"threads": list(self.threads), "provider": list(self.providers),
                "graph_opt": list(self.graph_opts), "spin": list(self.spins)}


def _items(text: str | None, option: str) -> list[str]:
    if text is None:
        return []
    items = [x.strip() for x in text.split(",")]
    if not all(items):
        raise SweepError(f"{option} {text!r}: an empty value; list values with commas, "
                         f"e.g. {option} 1,2,4")
    if len(set(items)) != len(items):
        raise SweepError(f"{option} {text!r}: a value is listed twice")
    return items


def parse_grid(threads: str | None = None, providers: str | None = None,
               graph_opts: str | None = None, spins: str | None = None) -> SweepGrid:
    """The grid from the command line's comma lists (an option not given: its default)."""
    th: list[int] = []
    for t in _items(threads, "--threads"):
        if not t.isdigit() or int(t) > 256:
            raise SweepError(f"--threads {threads!r}: {t!r} is not a thread count (0..256, "
                             "0 = onnxruntime's default)")
        th.append(int(t))
    go = _items(graph_opts, "--graph-opt")
    bad = [g for g in go if g not in GRAPH_OPT_LEVELS]
    if bad:
        raise SweepError(f"--graph-opt: unknown level {bad[0]!r}; use "
                         f"{', '.join(GRAPH_OPT_LEVELS)}")
    sp = _items(spins, "--spin")
    bad = [s for s in sp if s not in SPIN_VALUES]
    if bad:
        raise SweepError(f"--spin: unknown value {bad[0]!r}; use {', '.join(SPIN_VALUES)}")
    grid = SweepGrid(tuple(th) or (0,), tuple(_items(providers, "--provider")) or (None,),
                     tuple(go) or ("all",), tuple(sp) or ("auto",))
    n = len(grid.settings())
    if n > MAX_SETTINGS:
        raise SweepError(f"{n} combinations is more than a sweep runs ({MAX_SETTINGS}): "
                         "sweep fewer values")
    return grid


@dataclass(frozen=True)
class SweepRequest:
    device: str
    package: str
    input: str
    grid: SweepGrid
    objective: str = "p95"
    rounds: int = 3
    #: everything but the swept settings (frames, duration, fps, loop, telemetry)
    base: AgentOptions = field(default_factory=lambda: AgentOptions(frames=DEFAULT_FRAMES,
                                                                    preview_fps=0.0))
    warmup: Warmup = DEFAULT_WARMUP
    tolerance: float = DEFAULT_RELATIVE
    level: float = DEFAULT_LEVEL
    save: bool = False

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise SweepError(f"--objective {self.objective!r}: use one of "
                             f"{', '.join(OBJECTIVES)}")
        if not 1 <= self.rounds <= MAX_ROUNDS:
            raise SweepError(f"--rounds {self.rounds}: use 1..{MAX_ROUNDS}")


@dataclass(frozen=True)
class SweepResult:
    sweep_id: int
    uuid: str
    status: str  # completed | stopped | failed
    exit_code: int
    objective: str
    ranking: list[Ranked]
    reason: str = ""
    saved: bool = False

    @property
    def best(self) -> Ranked | None:
        return next((r for r in self.ranking if r.verdict == BEST), None)

    @property
    def group(self) -> list[Ranked]:
        """The best and every setting the data cannot tell from it."""
        return [r for r in self.ranking if r.in_best_group]

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {"format": "devicelab-sweep/1", "sweep_id": self.sweep_id, "uuid": self.uuid,
                "status": self.status, "exit_code": self.exit_code,
                "objective": self.objective, "unit": OBJECTIVES[self.objective].unit,
                "better": OBJECTIVES[self.objective].better, "reason": self.reason,
                "best": dict(best.setting) if best else None,
                "group": [r.label for r in self.group], "saved": self.saved,
                "ranking": [r.to_dict() for r in self.ranking]}


class SweepListener:
    """Callbacks from the sweep's thread. Override what you need; keep them fast."""

    def sweep_started(self, sweep_id: int, uuid: str, settings: Sequence[Setting],
                      rounds: int) -> None: ...
    def state(self, text: str) -> None: ...
    def deploy_progress(self, p: DeployProgress) -> None: ...
    def run_started(self, round_no: int, index: int, total: int, setting: Setting) -> None: ...
    def run_finished(self, round_no: int, setting: Setting, result: RunResult) -> None: ...
    def event(self, level: str, code: str, text: str) -> None: ...
    def sweep_finished(self, result: SweepResult) -> None: ...


class _RunListener(RunListener):
    """One run's news for the sweep's listener: warnings and errors once per sweep (every
    run of an unsigned package says so)."""

    def __init__(self, sweep: Sweep) -> None:
        self.ls = sweep.listener
        self.seen = sweep.seen_events

    def deploy_progress(self, p: DeployProgress) -> None:
        self.ls.deploy_progress(p)

    def event(self, level: str, code: str, text: str) -> None:
        if level in ("warning", "error") and (level, text) not in self.seen:
            self.seen.add((level, text))
            self.ls.event(level, code, text)


class Sweep:
    def __init__(self, request: SweepRequest, db_path: str | Path | LogTarget,
                 listener: SweepListener | None = None, *,
                 open_device: Callable[[str], Device] | None = None,
                 package_policy: Callable[[Verification], str | None] | None = None) -> None:
        request.check()
        self.request = request
        self.target = db_path if isinstance(db_path, LogTarget) else parse_target(db_path)
        self.listener = listener or SweepListener()
        self.open_device = open_device or _default_open
        self.package_policy = package_policy if package_policy is not None else \
            trust.package_policy()
        self.settings = request.grid.settings()
        self.sweep_id = 0
        self.uuid = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._active: Run | None = None
        self.seen_events: set[tuple[str, str]] = set()

    # -- control (any thread) -----------------------------------------------------------
    def stop(self) -> None:
        """The current run stops cleanly; no further run starts; what ran is ranked."""
        self._stop.set()
        with self._lock:
            run = self._active
        if run is not None:
            run.stop()

    def abort(self) -> None:
        self.stop()
        with self._lock:
            run = self._active
        if run is not None:
            run.abort()

    # -- the sweep -----------------------------------------------------------------------
    def _verify(self) -> Verification:
        ver = verify_package(self.request.package)
        if not ver.ok:
            raise RunError(f"package refused: {ver.first_line()}")
        refusal = self.package_policy(ver)
        if refusal:
            raise RunError(refusal)
        try:
            parse_input(self.request.input, hash_file=False)
        except InputError as exc:
            raise RunError(str(exc)) from None
        return ver

    def execute(self) -> SweepResult:
        """Blocking. Raises :class:`RunError` for refusals before anything ran."""
        rq = self.request
        ver = self._verify()
        assert ver.package is not None
        grid = rq.grid.to_dict() | {"rounds": rq.rounds, "tolerance": rq.tolerance,
                                    "level": rq.level, "base": rq.base.record()}
        try:
            with open_store(self.target) as st:
                st.check_writable()
                self.sweep_id, self.uuid = st.create_sweep(
                    device=rq.device, package=str(Path(rq.package).resolve()),
                    input=rq.input, objective=rq.objective,
                    grid_json=json.dumps(grid, sort_keys=True))
        except StoreError as exc:
            raise RunError(str(exc)) from None
        self.listener.sweep_started(self.sweep_id, self.uuid, self.settings, rq.rounds)
        sessions: dict[int, list[int]] = {k: [] for k in range(len(self.settings))}
        status, reason, device_lost = self._run_rounds(ver, sessions)
        try:
            with open_store(self.target) as st:
                ranking = rank(st, [(s.label, s.record(), sessions[k])
                                    for k, s in enumerate(self.settings)], rq.objective,
                               tolerance=rq.tolerance, level=rq.level)
        except StoreError as exc:
            ranking, reason = [], f"{reason + '; ' if reason else ''}not ranked: {exc}"
        best = next((r for r in ranking if r.verdict == BEST), None)
        if status == "stopped":
            code = EXIT_STOPPED
        elif best is not None:
            code = EXIT_BEST
        elif device_lost:
            code = EXIT_DEVICE
        else:
            code = EXIT_NONE
            reason = reason or next((r.reason for r in ranking), "nothing ran")
        result = SweepResult(self.sweep_id, self.uuid, status, code, rq.objective, ranking,
                             reason)
        if rq.save and best is not None and status == "completed":
            result = self._save(result, best, ver)
        try:
            with open_store(self.target) as st:
                st.end_sweep(self.sweep_id, status, json.dumps(result.to_dict(), default=str))
                if result.saved:
                    st.mark_sweep_saved(self.sweep_id)
        except StoreError as exc:
            self.listener.event("error", "store", f"sweep {self.sweep_id} end not saved: {exc}")
        self.listener.sweep_finished(result)
        return result

    def _save(self, result: SweepResult, best: Ranked, ver: Verification) -> SweepResult:
        assert ver.package is not None
        m = ver.package.manifest
        try:
            run_defaults.save(self.request.device, m.name, best.setting,
                              {"sweep": self.uuid, "objective": self.request.objective,
                               "estimate": best.estimate, "package_version": m.version})
        except SettingsError as exc:
            self.listener.event("error", "settings", f"the best setting was not saved: {exc}")
            return result
        return replace(result, saved=True)

    def _run_rounds(self, ver: Verification, sessions: dict[int, list[int]]
                    ) -> tuple[str, str, bool]:
        """Every round; (status, why it ended early, whether the device was lost)."""
        rq, ls = self.request, self.listener
        ls.state(f"connecting to {rq.device}")
        try:
            dev = DeployOnce(self.open_device(rq.device))
            dev.connect()
        except DeviceError as exc:
            return "failed", f"device unusable: {exc}", True
        n = len(self.settings)
        done = 0
        try:
            for r in range(1, rq.rounds + 1):
                order = [(k + r - 1) % n for k in range(n)]  # rotated: drift hits all alike
                for k in order:
                    if self._stop.is_set():
                        return "stopped", "stopped by the user", False
                    setting = self.settings[k]
                    done += 1
                    ls.run_started(r, done, n * rq.rounds, setting)
                    result, lost = self._one(dev, ver, r, setting)
                    if result is not None:
                        if result.session_id is not None:
                            sessions[k].append(result.session_id)
                        ls.run_finished(r, setting, result)
                    if lost:
                        return "failed", f"device lost: {lost}", True
                    if result is not None and rq.objective == "energy" and \
                            result.status == "completed" and \
                            ((result.summary or {}).get("power") or {}).get(
                                "energy_per_inference_mj") is None:
                        return ("failed", "the device has no power or energy sensor: "
                                "--objective energy cannot be measured on it (use p95 or fps)",
                                False)
        finally:
            dev.close()
        return ("stopped", "stopped by the user", False) if self._stop.is_set() else \
            ("completed", "", False)

    def _one(self, dev: Device, ver: Verification, round_no: int, setting: Setting
             ) -> tuple[RunResult | None, str | None]:
        rq = self.request
        short = self.uuid[:12]
        req = RunRequest(package=rq.package, input=rq.input, options=setting.options(rq.base),
                         note=f"sweep {short} round {round_no}/{rq.rounds}: {setting.label}",
                         tags=(f"sweep:{short}",), warmup=rq.warmup, sweep_id=self.sweep_id)
        run = Run(dev, req, self.target, _RunListener(self), package_policy=self.package_policy,
                  verification=replace(ver, problems=list(ver.problems),
                                       warnings=list(ver.warnings)))
        with self._lock:
            self._active = run
        if self._stop.is_set():
            run.stop()
        try:
            result = run.execute()
        except RunError as exc:
            if isinstance(exc.cause, DeviceError):
                return None, str(exc)
            self.listener.event("error", "refused", f"{setting.label}: {exc}")
            return None, None
        finally:
            with self._lock:
                self._active = None
        if result.status == "interrupted":
            return result, result.error or "the link to the device dropped"
        return result, None


def _default_open(spec: str) -> Device:
    from console.devices.registry import open_device

    return open_device(spec, interactive=False)
