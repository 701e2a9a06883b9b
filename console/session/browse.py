"""Browsing the session log for the window: one function per question a view asks.

Each function opens the log itself (one connection per thread: they run
in the window's job threads), answers one question with plain dataclasses
and closes it again. The log is a SQLite file or a team's PostgreSQL server
(``console.core.store.target``): every function takes either, by path, URL or
target, and asks it the same. The window never imports the store: what it reads or
writes in the log goes through here (an import-linter contract holds it).

A question about a log that does not exist yet answers "nothing" (browsing
must not create an empty log file); a refusal a user should read (no log,
a session no longer there) raises a :class:`~console.core.errors.UserError`
with its one line, as the session layer's own refusals (a changed package,
a bad bundle) do.

What must not live here: Qt, HTML, the window's own wording.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from console.core import protocol as P
from console.core.errors import UserError
from console.core.store import LogStore, StoreError
from console.core.store.target import LogTarget, open_store, parse_target
from console.session.profiles import load_profile

#: sessions a list holds at most (newest first); the CLI lists the rest
MAX_ROWS = 100_000
#: what playback keeps of each telemetry sample (what the live graphs draw)
PLAYBACK_SAMPLE_KEYS = (P.CPU_SYS, P.CPU_AGENT, P.RSS, P.MEM_USED, P.MEM_TOTAL, P.MEM_AVAIL,
                        P.THERMAL, P.FREQ, P.POWER, P.THROTTLE, P.SAMPLER_CPU)
#: progress(fraction, text), called from the job's thread
Progress = Callable[[float, str], None]


class BrowseError(UserError):
    """A question about the log that has no answer (no log, no such session)."""


#: the log as the window holds it: a file path, a URL, or a parsed target
LogRef = str | Path | LogTarget


def target_of(db: LogRef) -> LogTarget:
    return db if isinstance(db, LogTarget) else parse_target(db)


def _open(db: LogRef) -> LogStore:
    """The log (a file or a server), opened for one question of this thread."""
    return open_store(target_of(db))


def existing_log(db_path: LogRef) -> LogStore | None:
    """The log, or None when nothing was recorded yet (browsing creates no file; a
    server's database is made on first use, as any console does)."""
    t = target_of(db_path)
    if not t.is_server and not t.path.exists():
        return None
    return open_store(t)


def _required(db_path: LogRef) -> LogStore:
    st = existing_log(db_path)
    if st is None:
        raise BrowseError(f"no session log at {target_of(db_path).display}")
    return st


def log_exists(db: LogRef) -> bool:
    """Whether there is a log to read (a server always counts: it is asked)."""
    t = target_of(db)
    return t.is_server or t.path.exists()


# -- the sessions list --------------------------------------------------------------------
@dataclass(frozen=True)
class SessionRow:
    """One line of the sessions list, read from a session row of the log."""

    id: int
    uuid: str
    started: float | None
    device: str
    package: str
    input: str
    frames: int
    fps: float | None
    p95_ms: float | None
    max_temp_c: float | None
    status: str
    note: str
    tags: tuple[str, ...]
    replay_of: int | None
    budget: str

    @cached_property  # read on every repaint of the cell
    def note_tags(self) -> str:
        """The note, then the tags the note does not already show as ``#word``."""
        from console.session.run import note_with_tags

        return note_with_tags(self.note, self.tags)


def session_row(s: Mapping[str, Any]) -> SessionRow:
    from console.session.budgets import overall_verdict

    summ = s.get("summary") or {}
    e2e = (summ.get("latency_ms") or {}).get("e2e") or {}
    return SessionRow(
        id=int(s["id"]), uuid=str(s.get("uuid") or ""),
        started=s.get("started_at") or s.get("created_at"),
        device=str(s.get("device_name") or s.get("device_address") or "?"),
        package=f"{s.get('package_name')}@{s.get('package_version')}",
        input=str(s.get("input_desc") or "?"),
        frames=int(s.get("frames_received") or 0), fps=summ.get("fps"),
        p95_ms=e2e.get("p95"), max_temp_c=(summ.get("thermal") or {}).get("max_c"),
        status=str(s.get("status") or "?"), note=str(s.get("note") or ""),
        tags=tuple(str(t) for t in (s.get("tags") or ())),
        replay_of=s.get("replay_of"), budget=overall_verdict(summ.get("budgets")))


def list_rows(db_path: LogRef) -> list[SessionRow]:
    """Every session, newest first (stale 'running' rows of a dead console are marked
    interrupted first, as the CLI does)."""
    st = existing_log(db_path)
    if st is None:
        return []
    with st:
        try:
            st.recover_interrupted()
        except StoreError:
            pass  # a read-only log still lists
        return [session_row(s) for s in st.list_sessions(limit=MAX_ROWS)]


@dataclass(frozen=True)
class SessionDetails:
    """Everything the details pane shows about one session."""

    session: dict[str, Any]
    events: list[dict[str, Any]]
    bookmarks: list[dict[str, Any]]
    telemetry_samples: int
    #: device time of the first frame (bookmark times count from it); None without frames
    first_ts: float | None
    #: the operator profile of a ``--profile`` run (console.core.op_profile.OpProfile)
    profile: Any = None


def load_details(db_path: LogRef, session_id: int) -> SessionDetails:
    with _required(db_path) as st:
        s = st.get_session(session_id)
        if s is None:
            raise BrowseError(f"session {session_id} is no longer in the log")
        return SessionDetails(s, st.events(session_id), st.bookmarks(session_id),
                              st.telemetry_count(session_id), st.first_frame_ts(session_id),
                              load_profile(st, session_id, s.get("profile")))


# -- bookmarks --------------------------------------------------------------------------
def add_bookmark(db_path: LogRef, session_id: int, note: str, frame: int | None,
                 time_s: float | None) -> tuple[int, Any]:
    """Resolve frame/time to one moment of the session (as the CLI does) and store a
    bookmark there; returns its id and the moment (``console.session.replay.Moment``)."""
    from console.session.replay import load_timeline, resolve_moment

    with _open(db_path) as st:
        moment = resolve_moment(load_timeline(st, session_id), frame=frame, time_s=time_s)
        bid = st.add_bookmark(session_id, note, frame_i=moment.frame_i, ts=moment.ts)
    return bid, moment


def add_live_bookmark(db_path: LogRef, session_id: int, note: str, frame_i: int,
                      ts: float) -> int:
    """A bookmark at a frame of the session being recorded; returns its id."""
    with _open(db_path) as st:
        return st.add_bookmark(session_id, note, frame_i=frame_i, ts=ts)


# -- replays ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayStart:
    """A replay checked against the recorded hashes, ready for the window to run."""

    plan: Any  # console.session.replay.ReplayPlan
    labels: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    #: package name@version (for the window's summary)
    title: str = ""


def plan_replay_start(db_path: LogRef, session_id: int, device: str | None,
                      package: str | None = None, input: str | None = None) -> ReplayStart:
    """Check session ``session_id`` against the files available now (or the copies the
    user chose) and plan its replay; refusals keep the session layer's wording."""
    from console.core.package import open_package
    from console.core.settings import SettingsError, load_settings
    from console.session.replay import plan_replay

    try:
        saved = [str(d.get("name")) for d in load_settings().devices if d.get("name")]
    except SettingsError:
        saved = []
    with _open(db_path) as st:
        plan = plan_replay(st, session_id, device=device, package=package, input=input,
                           saved_device_names=saved)
    labels, title = None, Path(plan.package_path).name
    try:
        pkg = open_package(plan.package_path)
        labels, title = list(pkg.labels or []) or None, pkg.title
    except Exception:  # only decorations: the plan already checked the package
        pass
    return ReplayStart(plan, labels, list(plan.notes), title)


def replay_problems(db_path: LogRef, original_id: int, replay_id: int) -> list[str]:
    """After a replay: what the new session recorded that differs from the original
    (a file replaced while it ran); empty when it reproduces it exactly."""
    from console.session.replay import verify_replayed

    with _open(db_path) as st:
        return verify_replayed(st, original_id, replay_id)


# -- export, import, delete ---------------------------------------------------------------
def export(db_path: LogRef, session_id: int, fmt: str, path: Path, *, with_package: bool = False,
           with_input: bool = False, progress: Progress | None = None,
           cancel: Any = None) -> Any:
    """Export a session as ``fmt`` (csv/json/html/mcap, or ``bundle``: a portable bundle
    with the package and the recording if asked); returns the exporter's result."""
    with _open(db_path) as st:
        if fmt == "bundle":
            from console.session.bundle import export_bundle

            return export_bundle(st, session_id, path, with_package=with_package,
                                 with_input=with_input, progress=progress, cancel=cancel)
        from console.session.export import export_session

        return export_session(st, session_id, fmt, path, progress=progress, cancel=cancel)


def import_bundle(db_path: LogRef, path: Path, progress: Progress | None = None,
                  cancel: Any = None) -> Any:
    from console.session.bundle import import_bundle as import_one

    with _open(db_path) as st:
        return import_one(st, path, progress=progress, cancel=cancel)


def delete_sessions(db_path: LogRef, ids: Sequence[int]) -> tuple[list[int], list[str]]:
    """Delete sessions one by one; returns the ids deleted and the one-line refusals."""
    from console.session.bundle import BundleError, delete_session

    done: list[int] = []
    problems: list[str] = []
    with _open(db_path) as st:
        for sid in ids:
            try:
                delete_session(st, sid)
                done.append(sid)
            except BundleError as exc:
                problems.append(str(exc))
    return done, problems


# -- compare, playback, matrix ------------------------------------------------------------
@dataclass(frozen=True)
class CompareData:
    comparison: Any  # console.session.compare.Comparison
    #: stage -> (A's per-frame latencies, B's), ms, NaN dropped
    latency: dict[str, tuple[np.ndarray, np.ndarray]]


def load_comparison(db_path: LogRef, a: int, b: int, tolerance: float,
                    with_latency: bool = True) -> CompareData:
    """Compare B against A and (optionally) read both sessions' latencies per stage."""
    from console.session.compare import CompareError, compare_sessions

    if not log_exists(db_path):
        raise CompareError(f"no session log at {target_of(db_path).display}")
    with _open(db_path) as st:
        cmp = compare_sessions(st, a, b, tolerance=tolerance)
        lat: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if with_latency:
            for stage in P.STAGES:
                va, vb = st.frame_column(a, stage), st.frame_column(b, stage)
                lat[stage] = (va[np.isfinite(va)], vb[np.isfinite(vb)])
    return CompareData(cmp, lat)


def export_comparison(db_path: LogRef, a: int, b: int, path: Path, tolerance: float) -> Any:
    from console.session.export import export_comparison as export_one

    with _open(db_path) as st:
        return export_one(st, a, b, path, tolerance=tolerance)[1]


@dataclass(frozen=True)
class PlaybackData:
    """A recorded session ready to scrub: its timeline plus the raw telemetry samples."""

    session: dict[str, Any]
    timeline: Any  # console.session.replay.Timeline
    #: (device ts, sample) oldest first, as the live feed hands them to the plots
    samples: list[tuple[float, dict[str, Any]]]
    #: sample times in s from the first frame (for searchsorted)
    sample_t: np.ndarray
    #: frame rows (ts, pre, infer, post, e2e, i) in frame order, as the live feed's batches
    rows: np.ndarray

    @property
    def session_id(self) -> int:
        return int(self.session["id"])

    @property
    def duration_s(self) -> float:
        return float(self.timeline.duration_s)


def load_playback(db_path: LogRef, session_id: int) -> PlaybackData:
    """Everything playback needs, read once."""
    from console.session.replay import load_timeline

    with _required(db_path) as st:
        s = st.get_session(session_id)
        if s is None:
            raise BrowseError(f"session {session_id} is not in the log")
        tl = load_timeline(st, session_id)
        raw = st.telemetry(session_id, keys=PLAYBACK_SAMPLE_KEYS)
    samples = []
    for x in raw:
        ts = float(x.pop("ts"))
        samples.append((ts, x))
    sample_t = np.array([ts - tl.t0 for ts, _x in samples], dtype=np.float64)
    fr = tl.frames
    rows = (np.column_stack([fr["ts"], fr["pre"], fr["infer"], fr["post"], fr["e2e"],
                             fr["i"].astype(np.float64)])
            if fr["ts"].size else np.empty((0, 6)))
    return PlaybackData(s, tl, samples, sample_t, rows)


def load_matrix(db_path: LogRef, since_s: float | None) -> Any:
    """The device × package matrix (``console.session.matrix.Matrix``) of the sessions
    of the last ``since_s`` seconds (None: all)."""
    from console.session.matrix import Matrix, build_matrix

    st = existing_log(db_path)
    if st is None:
        return Matrix([], [], {})
    with st:
        return build_matrix(st, since=(time.time() - since_s) if since_s else None)
