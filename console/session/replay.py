"""Reproduce a recorded session: check what is on disk now, then run it again; play it back.

Two things live here because both answer "show me that session again":

* :func:`plan_replay` turns a recorded session into a :class:`RunRequest`
  for :class:`console.session.run.Run` — the recorded package, input and
  settings — after checking that the package and input files available
  *now* are the ones the session ran (manifest digest, model sha256, input
  sha256). Anything that differs refuses the replay with a
  :class:`ReplayRefused` whose message is the one line a user sees, naming
  the file and the figure that differs. The new session's ``replay_of``
  links to the original. Nothing runs here: the CLI (and later the window's
  Reproduce button) hands the plan to ``Run``.
* :func:`load_timeline` loads a recorded session as arrays on one time axis
  (seconds from its first frame) so a view can scrub through frames and
  telemetry as if they were arriving live, and so bookmarks given as
  "frame N" or "time S" resolve to the same moment everywhere
  (:func:`resolve_moment`).

Everything takes a :class:`SessionStore` (or a database path) and returns
dataclasses: safe to call from a worker thread, no Qt, no printing.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from console.core.errors import UserError
from console.core.inputs import redact_url
from console.core.manifest import PackageError, sha256_file
from console.core.package import Package, open_package
from console.core.store import LogStore
from console.devices.base import AgentOptions
from console.session.run import RunRequest

__all__ = [
    "Moment",
    "ReplayPlan",
    "ReplayRefused",
    "Timeline",
    "load_timeline",
    "locate_input",
    "locate_package",
    "plan_replay",
    "recorded_device_spec",
    "resolve_moment",
    "verify_replayed",
]


class ReplayRefused(UserError):
    """The replay cannot reproduce the session; ``str()`` is the one-line reason."""


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay will run, already checked against the recorded session."""

    original_id: int
    original_uuid: str
    #: what ``console.devices.registry.open_device`` gets (``local``, saved name, ssh://…)
    device: str
    request: RunRequest
    package_path: str
    input_spec: str
    #: facts a user should see before the run (other device, no ground truth, live input…)
    notes: tuple[str, ...] = ()


def _short(digest: str | None) -> str:
    return (digest or "?")[:12] + "…" if digest else "unknown"


def recorded_device_spec(session: Mapping[str, Any], saved_names: Iterable[str] = ()) -> str:
    """The device a session ran on, spelled for ``open_device``.

    A saved device is used by name (it carries the interpreter path and key
    file); otherwise the recorded SSH address, spelled as the user gave it
    (``ssh://`` URL, ``user@host`` or a ``~/.ssh/config`` alias).
    """
    if session.get("device_kind") == "local":
        return "local"
    name = session.get("device_name") or ""
    if name and name in set(saved_names):
        return str(name)
    addr = str(session.get("device_address") or name)
    if not addr:
        raise ReplayRefused(f"session {session.get('id')} recorded no device address; "
                            "pass --device")
    return addr  # ssh://user@host[:port], user@host or a ~/.ssh/config alias, as recorded


#: What a session uuid may look like (it names a folder on disk).
UUID_RE = re.compile(r"^[0-9A-Za-z-]{8,64}$")


def imported_dir(log: LogStore | str | Path, uuid: str) -> Path:
    """Where files imported with session ``uuid`` (bundles) live: beside a log file, or in
    the user data folder for a server log (``LogStore.files_root``)."""
    if not UUID_RE.match(uuid):
        raise ValueError(f"bad session uuid {uuid!r}")
    if isinstance(log, LogStore):
        return log.files_root / uuid
    return Path(str(log) + ".files") / uuid


def _imported_dir(store: LogStore, uuid: str) -> Path:
    return imported_dir(store, uuid)


def _package_problems(pkg: Package, session: Mapping[str, Any]) -> list[str]:
    diffs = []
    title = f"{session.get('package_name')}@{session.get('package_version')}"
    if pkg.title != title:
        diffs.append(f"it is {pkg.title}, the session ran {title}")
    model_sha = pkg.manifest.files[pkg.manifest.model].sha256
    if session.get("package_model_sha256") and model_sha != session["package_model_sha256"]:
        diffs.append(f"{pkg.manifest.model} sha256 is {_short(model_sha)} now, recorded "
                     f"{_short(session['package_model_sha256'])}")
    if session.get("package_digest") and pkg.digest != session["package_digest"]:
        what = ("" if diffs else " (same model: pre/post-processing, labels or budgets "
                "changed)")
        diffs.append(f"manifest.json sha256 is {_short(pkg.digest)} now, recorded "
                     f"{_short(session['package_digest'])}{what}")
    return diffs


def _first_matching(candidates: list[tuple[str, Path]], exists: Callable[[Path], bool],
                    problem: Callable[[str, Path], str | None], missing: Callable[[str], str]
                    ) -> Path:
    """The first of ``candidates`` (label, path) that exists and has no ``problem``.
    Otherwise refused with the first existing candidate's problem (the one the user most
    likely meant), or with ``missing(where)`` when none exists (``where``: the paths
    looked at, "" for none)."""
    refusal: str | None = None
    for label, path in candidates:
        if not exists(path):
            continue
        why = problem(label, path)
        if why is None:
            return path
        refusal = refusal or why
    if refusal:
        raise ReplayRefused(refusal)
    raise ReplayRefused(missing(", ".join(str(p) for _, p in candidates)))


def _check_package(session: Mapping[str, Any], candidates: list[tuple[str, Path]]) -> Path:
    """First candidate that exists and matches; otherwise the reason for the first existing."""
    sid = session.get("id")

    def problem(label: str, path: Path) -> str | None:
        try:
            pkg = open_package(path)
        except PackageError as exc:
            ran = _short(session.get("package_digest"))
            return (f"package {path} ({label}) fails its own hash check ({exc}); session {sid} "
                    f"ran digest {ran}; pass --package with an intact copy")
        diffs = _package_problems(pkg, session)
        if not diffs:
            return None
        return (f"package {path} ({label}) differs from the one session {sid} ran: "
                f"{'; '.join(diffs)}; pass --package with the recorded package")

    def missing(where: str) -> str:
        return (f"package {session.get('package_name')}@{session.get('package_version')} of "
                f"session {sid} not found (looked at {where or 'nowhere'}); pass --package "
                f"with a copy (manifest sha256 {_short(session.get('package_digest'))})")

    return _first_matching(candidates, Path.exists, problem, missing)


def _video_candidates(session: Mapping[str, Any], imported: Path) -> list[tuple[str, Path]]:
    info = session.get("input_info") or {}
    out = []
    if info.get("path"):
        out.append(("recorded path", Path(str(info["path"]))))
    ddir = imported / "input"
    if ddir.is_dir():
        out += [("imported with the bundle", p) for p in sorted(ddir.iterdir()) if p.is_file()]
    return out


def _check_input(session: Mapping[str, Any], explicit: str | None, imported: Path
                 ) -> tuple[str, list[str]]:
    """The input spec to run and notes; refuses a recording whose sha256 changed."""
    sid = session.get("id")
    kind = session.get("input_kind")
    desc = str(session.get("input_desc") or "")
    if kind == "video":
        want = session.get("input_sha256")
        if explicit is not None:
            p = Path(explicit).expanduser()
            if not p.is_file():
                raise ReplayRefused(f"--input {explicit}: not a file; session {sid} ran the "
                                    f"recording {desc} (sha256 {_short(want)}), pass a copy of it")
            candidates = [("--input", p)]
        else:
            candidates = _video_candidates(session, imported)

        def problem(label: str, path: Path) -> str | None:
            try:
                have = sha256_file(str(path))
            except OSError as exc:
                return f"input {path} cannot be read ({exc.strerror}); pass --input"
            if not want or have == want:
                return None
            return (f"input {path} ({label}) differs from the one session {sid} ran: sha256 "
                    f"{_short(have)} now, recorded {_short(want)}; pass --input with the "
                    "recorded clip")

        def missing(where: str) -> str:
            return (f"input recording {desc} of session {sid} not found "
                    f"({where or 'no path was recorded'}); pass --input with a copy "
                    f"(sha256 {_short(want)})")

        found = _first_matching(candidates, Path.is_file, problem, missing)
        notes = [] if want else [f"session {sid} recorded no sha256 for its input: not checked"]
        return str(found.resolve()), notes
    if kind == "synthetic":
        m = re.match(r"^synthetic (\d+)x(\d+)$", desc)
        spec = f"synthetic:{m.group(1)}x{m.group(2)}" if m else "synthetic"
        if explicit is not None and explicit.strip() != spec:
            raise ReplayRefused(f"--input {explicit}: session {sid} ran {spec}; a replay runs the "
                                "recorded input (use 'devicelab run' for another one)")
        return spec, []
    if kind == "camera":
        m = re.search(r"video(\d+)$", desc)
        spec = f"camera:{m.group(1)}" if m else "camera:0"
        if explicit is not None:
            spec = explicit.strip()
        return spec, [f"the input is a live camera ({desc}): the frames will not be the "
                      "recorded ones, so outputs cannot be compared frame by frame"]
    if kind == "stream":
        if explicit is not None:
            if redact_url(explicit.strip()) != desc:
                raise ReplayRefused(f"--input names another stream than session {sid} ran "
                                    f"({desc}); a replay runs the recorded input")
            return explicit.strip(), ["the input is a live stream: frames will differ"]
        if "***" in desc:
            raise ReplayRefused(f"session {sid} read the stream {desc}, whose password is never "
                                "stored; pass --input with the full URL")
        return desc, ["the input is a live stream: frames will differ"]
    raise ReplayRefused(f"session {sid} recorded an input of unknown kind {kind!r}; pass --input")


def locate_package(store: LogStore, session: Mapping[str, Any],
                   explicit: str | None = None) -> Path:
    """The package file/folder to run for ``session``, checked against what it recorded.

    ``explicit`` (``--package``) is the only candidate when given; otherwise
    the recorded path, then a copy a bundle import put beside the log.
    """
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.exists():
            raise ReplayRefused(f"--package {explicit}: no such file or directory")
        return _check_package(session, [("--package", p)])
    cands = []
    src = (session.get("package_manifest") or {}).get("source") or session.get("package_source")
    if src:
        cands.append(("recorded path", Path(str(src))))
    imported = _imported_dir(store, str(session["uuid"]))
    if (imported / "package.zip").is_file():
        cands.append(("imported with the bundle", imported / "package.zip"))
    return _check_package(session, cands)


def locate_input(store: LogStore, session: Mapping[str, Any],
                 explicit: str | None = None) -> tuple[str, list[str]]:
    """The input spec to run for ``session`` and notes; a recording must match its sha256."""
    return _check_input(session, explicit, _imported_dir(store, str(session["uuid"])))


def ended_session(store: LogStore, ref: int | str, refusal: type[UserError], verb: str
                  ) -> dict[str, Any]:
    """Session ``ref`` (id or uuid prefix) as a dict, refused with ``refusal`` when the log
    has no such session or it is still recording: a replay or a bundle ("``verb`` it") is
    made of a session that has ended."""
    s = store.find_session(str(ref))
    if s is None:
        raise refusal(f"no session {ref!r} in {store.where}")
    if s.get("status") == "running":
        raise refusal(f"session {s['id']} is still recording; {verb} it when it has ended")
    return s


def plan_replay(store: LogStore, ref: int | str, *, device: str | None = None,
                package: str | None = None, input: str | None = None,
                saved_device_names: Iterable[str] = ()) -> ReplayPlan:
    """Check and plan a replay of session ``ref`` (id or uuid prefix).

    ``package`` / ``input`` name copies to use instead of the recorded paths;
    they are checked against the recorded sha256 all the same. Without them
    the recorded paths are tried, then files a bundle import put beside the
    log. Raises :class:`ReplayRefused` with the one-line reason.
    """
    s = ended_session(store, ref, ReplayRefused, "replay")
    sid = int(s["id"])
    notes: list[str] = []
    pkg_path = locate_package(store, s, package)
    input_spec, in_notes = locate_input(store, s, input)
    notes += in_notes

    settings = dict(s.get("settings") or {})
    options = AgentOptions.from_record(settings)
    truth = settings.get("truth")
    if truth and not Path(str(truth)).is_file():
        copy = _imported_dir(store, str(s["uuid"])) / "truth.csv"
        if copy.is_file():
            truth = str(copy)
        else:
            notes.append(f"ground truth {truth} not found: accuracy will not be scored")
            truth = None
    budgets = {str(k): float(v) for k, v in (settings.get("budgets") or {}).items()}
    if device is None:
        device = recorded_device_spec(s, saved_device_names)
        ident = s.get("device_identity") or {}
        if device == "local" and ident.get("hostname") and ident["hostname"] != \
                socket.gethostname():
            notes.append(f"session {sid} ran on the computer {ident['hostname']}; this replay "
                         f"runs on this computer ({socket.gethostname()})")
    note = f"replay of session {sid}" + (f": {s['note']}" if s.get("note") else "")
    req = RunRequest(package=str(pkg_path), input=input_spec, options=options, note=note,
                     tags=tuple(s.get("tags") or ()), truth=str(truth) if truth else None,
                     budgets=budgets, replay_of=sid)
    return ReplayPlan(sid, str(s["uuid"]), device, req, str(pkg_path), input_spec, tuple(notes))


def verify_replayed(store: LogStore, original_id: int, replay_id: int) -> list[str]:
    """After the run: what the new session recorded that differs from the original.

    The checks in :func:`plan_replay` happen before the run; this catches a
    file replaced while it ran (the run hashes the files again).
    """
    a, b = store.get_session(original_id), store.get_session(replay_id)
    if a is None or b is None:
        return []
    out = []
    for key, what in (("package_digest", "package manifest sha256"),
                      ("package_model_sha256", "model sha256"),
                      ("input_sha256", "input sha256")):
        if a.get(key) and b.get(key) and a[key] != b[key]:
            out.append(f"{what} of session {replay_id} is {_short(b[key])}, session "
                       f"{original_id} had {_short(a[key])}")
    return out


# -- playback -----------------------------------------------------------------
TELEMETRY_SERIES = ("cpu_sys", "cpu_agent", "rss_mb", "mem_used_mb", "mem_total_mb",
                    "temp_max_c", "power_w")


@dataclass(frozen=True)
class Moment:
    """A point in a session: frame index and time (seconds from the first frame)."""

    frame_i: int | None
    ts: float
    t: float


@dataclass(frozen=True)
class Timeline:
    """A recorded session on one time axis, ready to scrub.

    ``frames`` holds ``i``, ``ts``, ``t`` (seconds from the first frame),
    ``pre``, ``infer``, ``post``, ``e2e`` (ms) and ``top1`` (-1: none), ordered
    by frame index. ``telemetry`` holds ``t`` plus :data:`TELEMETRY_SERIES`
    (NaN where a sample lacks the figure) and ``thermal`` per zone.
    """

    session_id: int
    t0: float
    frames: dict[str, np.ndarray]
    telemetry: dict[str, np.ndarray]
    thermal: dict[str, np.ndarray]
    bookmarks: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        ends = [a[-1] for a in (self.frames["t"], self.telemetry["t"]) if a.size]
        return float(max(ends)) if ends else 0.0

    def frame_at(self, t: float) -> int | None:
        """Position (row) of the last frame at or before ``t`` s; None before the first."""
        pos = int(np.searchsorted(self.frames["t"], t, side="right")) - 1
        return pos if pos >= 0 else None

    def position_of_frame(self, frame_i: int) -> int | None:
        pos = int(np.searchsorted(self.frames["i"], frame_i))
        if pos < self.frames["i"].size and int(self.frames["i"][pos]) == frame_i:
            return pos
        return None

    def until(self, t: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Frames and telemetry up to ``t`` s (views, no copies): what live would have shown."""
        nf = int(np.searchsorted(self.frames["t"], t, side="right"))
        nt = int(np.searchsorted(self.telemetry["t"], t, side="right"))
        return ({k: v[:nf] for k, v in self.frames.items()},
                {k: v[:nt] for k, v in self.telemetry.items()})


def load_timeline(store: LogStore, session_id: int) -> Timeline:
    s = store.get_session(session_id)
    if s is None:
        raise KeyError(session_id)
    fr = store.frame_arrays(session_id)
    samples = store.telemetry(session_id)
    if fr["ts"].size:
        t0 = float(fr["ts"].min())
    elif samples:
        t0 = float(samples[0]["ts"])
    else:
        t0 = float(s.get("started_at") or s.get("created_at") or 0.0)
    frames = dict(fr)
    frames["t"] = fr["ts"] - t0
    tel: dict[str, np.ndarray] = {"t": np.array([x["ts"] - t0 for x in samples], np.float64)}
    for key in TELEMETRY_SERIES:
        col = []
        for x in samples:
            if key == "temp_max_c":
                th = x.get("thermal") or {}
                v = max(th.values()) if th else None
            elif key == "power_w":
                pw = x.get("power_w") or {}
                v = max(pw.values()) if pw else None
            else:
                v = x.get(key)
            col.append(np.nan if v is None else float(v))
        tel[key] = np.array(col, np.float64)
    zones = sorted({z for x in samples for z in (x.get("thermal") or {})})
    thermal = {z: np.array([np.nan if (x.get("thermal") or {}).get(z) is None
                            else float(x["thermal"][z]) for x in samples], np.float64)
               for z in zones}
    return Timeline(session_id, t0, frames, tel, thermal, store.bookmarks(session_id),
                    store.events(session_id))


def resolve_moment(timeline: Timeline, *, frame: int | None = None,
                   time_s: float | None = None) -> Moment:
    """``frame N`` or ``time S`` (seconds from the first frame) -> the same :class:`Moment`.

    A time resolves to the last frame shown at that time; a frame must exist
    in the session. Raises ``ValueError`` with a one-line reason.
    """
    if (frame is None) == (time_s is None):
        raise ValueError("give either a frame or a time")
    fr = timeline.frames
    if frame is not None:
        pos = timeline.position_of_frame(frame)
        if pos is None:
            span = (f"frames {int(fr['i'][0])}–{int(fr['i'][-1])}" if fr["i"].size
                    else "no frames")
            raise ValueError(f"session {timeline.session_id} has {span}; frame {frame} is not "
                             "one of them")
        return Moment(frame, float(fr["ts"][pos]), float(fr["t"][pos]))
    assert time_s is not None
    if not np.isfinite(time_s) or time_s < 0 or time_s > timeline.duration_s + 1e-9:
        raise ValueError(f"session {timeline.session_id} lasts {timeline.duration_s:.3f} s; "
                         f"time {time_s:g} s is outside it")
    pos = timeline.frame_at(time_s)
    return Moment(int(fr["i"][pos]) if pos is not None else None, timeline.t0 + time_s,
                  float(time_s))
