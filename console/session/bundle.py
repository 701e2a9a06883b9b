"""Portable session bundles (one file), their import, and deleting sessions.

A bundle is a zip holding one session exactly as the log recorded it, so a
colleague imports it into their own log and replays the customer's run on
their own device::

    bundle.json        format, who wrote it, what is inside, sha256 of every member
    session.json       the session row (facts, settings, summary); ``replay_of``
                       travels as the original's uuid, never as a local id
    frames.jsonl       one frame row a line
    telemetry.jsonl    one telemetry row a line
    events.jsonl, bookmarks.jsonl
    package.zip        only with ``with_package``: the model package, checked
                       against the recorded manifest digest before it is packed
    input/<name>       only with ``with_input``: the recording (video inputs),
    truth.csv          and its ground truth when the session had one

The session's uuid is its identity across logs. **Importing a bundle whose
uuid is already in the log is idempotent**: nothing in the log changes, the
existing session id is returned (``already_present``), and a package or
recording the bundle carries is added beside the log if it was missing.
Import is one transaction: a failure leaves no partial session.

A bundle is untrusted input: members are checked against the sha256 list,
only known member names are read, nothing is extracted outside the folder
kept for imported files (``<db>.files/<uuid>/``), the package inside is
opened later with the package module's own zip checks, and a package or
recording whose hash does not match what the session recorded is not kept.

:func:`delete_session` lives here too because a session imported with its
files owns that folder: deleting the session removes it, and replays that
pointed at the session lose the link (ids can be reused by SQLite).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from console import __version__
from console.core import schema
from console.core.errors import UserError
from console.core.manifest import PackageError, sha256_file
from console.core.package import open_package, zip_package
from console.core.records import JSON_COLUMNS
from console.core.store import FRAME_COLUMNS, TELEMETRY_COLUMNS, LogStore, StoreError
from console.core.store.rows import EVENT_COLUMNS
from console.core.store.sqlite import LEGACY_SESSION_KEYS
from console.core.unpack import ZIP_DAMAGE
from console.session.export.job import ExportError, ExportResult, Job, Progress
from console.session.export.target import open_target
from console.session.replay import (
    UUID_RE,
    ReplayRefused,
    ended_session,
    imported_dir,
    locate_input,
    locate_package,
)

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "DeleteResult",
    "ImportResult",
    "delete_session",
    "export_bundle",
    "import_bundle",
    "imported_dir",
    "read_bundle_info",
]

BUNDLE_FORMAT = "devicelab-bundle/3"
#: Formats this console imports: /1 had no per-frame ``read_ms`` (imported as NULL);
#: /1 and /2 name columns as the log did before schema v3 (no units in the names).
READABLE_FORMATS = ("devicelab-bundle/1", "devicelab-bundle/2", BUNDLE_FORMAT)
#: Refuse bundles that would unpack to more than this (zip bombs).
MAX_BUNDLE_BYTES = 16 * 1024**3
_ROWS = ("frames", "telemetry", "events", "bookmarks")
#: Columns of each table's rows, in order: the store's own, so a new column reaches
#: bundles too (bundle.json lists them, so a reader never guesses).
_COLS: dict[str, tuple[str, ...]] = {
    "frames": FRAME_COLUMNS, "telemetry": TELEMETRY_COLUMNS, "events": EVENT_COLUMNS,
    "bookmarks": ("frame_i", "ts_unix_s", "note", "created_unix_s")}
#: How bundles /1 and /2 laid their rows out (names as the log had them then).
_LEGACY_COLS: dict[str, tuple[str, ...]] = {
    "frames": ("i", "ts", "pre", "infer", "post", "e2e", "top1", "top1_score", "out",
               "read_ms"),
    "telemetry": ("ts", "cpu_sys", "cpu_agent", "rss_mb", "mem_used_mb", "mem_total_mb",
                  "temp_max_c", "power_w", "sampler_cpu", "sample"),
    "events": ("ts", "level", "code", "text"),
    "bookmarks": ("frame_i", "ts", "note", "created_at")}
_LEGACY_RENAMES = schema.renames_after(2)
_LOCAL_COLS = ("id", "replay_of", "console_pid", "console_host", "console_started_ticks",
               "plan_run_id", "sweep_id")


class BundleError(UserError):
    """The bundle cannot be written or read; one line naming the file and what to do."""


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    format: str
    uuid: str
    title: str
    created_at: float | None
    console_version: str | None
    has_package: bool
    has_input: bool
    counts: dict[str, int]


@dataclass(frozen=True)
class ImportResult:
    session_id: int
    uuid: str
    already_present: bool
    package_path: Path | None = None
    input_path: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeleteResult:
    session_id: int
    uuid: str
    removed_files: bool
    unlinked_replays: list[int]


# -- export -------------------------------------------------------------------------
class _HashingWriter:
    """A zip member writer that hashes what passes through."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.h = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.h.update(data)
        self.size += len(data)
        self.fh.write(data)


def _line(values: Any) -> bytes:
    return (json.dumps(values, separators=(",", ":"), default=str) + "\n").encode()


def export_bundle(store: LogStore, ref: int | str, path: str | Path, *,
                  with_package: bool = False, with_input: bool = False,
                  package: str | None = None, input: str | None = None,
                  progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> ExportResult:
    """Write session ``ref`` as a bundle. ``with_package``/``with_input`` add the
    package and recording after checking them against the recorded sha256;
    ``package``/``input`` name copies to take them from when the recorded paths
    are gone (checked all the same)."""
    job = Job(progress, cancel)
    s = ended_session(store, ref, ExportError, "bundle")
    sid = int(s["id"])
    pkg_bytes: bytes | None = None
    input_path: Path | None = None
    truth_path: Path | None = None
    notes: list[str] = []
    try:
        if with_package:
            pkg_bytes = zip_package(open_package(locate_package(store, s, package)))
        if with_input:
            if s.get("input_kind") != "video":
                notes.append(f"input {s.get('input_desc')} is a live {s.get('input_kind')}: "
                             "nothing to include")
            else:
                input_path = Path(locate_input(store, s, input)[0])
                truth = (s.get("settings") or {}).get("truth")
                if truth and Path(str(truth)).is_file():
                    truth_path = Path(str(truth))
    except (ReplayRefused, PackageError) as exc:
        raise ExportError(f"cannot bundle session {sid}: {exc}") from None

    row = {k: v for k, v in s.items() if k not in LEGACY_SESSION_KEYS}
    replay_of = row.get("replay_of")
    orig = store.get_session(int(replay_of)) if replay_of else None
    for k in _LOCAL_COLS:
        row.pop(k, None)
    row["replay_of_uuid"] = orig["uuid"] if orig else None
    total = max(1, store.frame_count(sid))
    files: dict[str, str] = {}
    counts: dict[str, int] = {}
    with open_target(Path(path), "wb") as raw, \
            zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        def member(name: str, chunks: Iterator[bytes], compress: bool = True) -> int:
            n = 0
            info = zipfile.ZipInfo(name, time.localtime()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=True) as fh:
                hw = _HashingWriter(fh)
                for c in chunks:
                    hw.write(c)
                    n += 1
            files[name] = hw.h.hexdigest()
            return n

        member("session.json", iter([json.dumps(row, indent=1, default=str).encode()]))

        def rows(table: str) -> Iterator[bytes]:
            for k, r in enumerate(store.table_rows(table, sid, _COLS[table])):
                if table == "frames" and k % 2000 == 0:
                    job.step(0.6 * k / total, f"frames {k}/{total}")
                yield _line(list(r))

        for table in _ROWS:
            counts[table] = member(f"{table}.jsonl", rows(table))
        if pkg_bytes is not None:
            member("package.zip", iter([pkg_bytes]), compress=False)
        for extra, name in ((input_path, None), (truth_path, "truth.csv")):
            if extra is None:
                continue
            job.step(0.7, f"adding {extra.name}")

            def chunks(p: Path = extra) -> Iterator[bytes]:
                with open(p, "rb") as fh:
                    while True:
                        b = fh.read(1 << 20)
                        if not b:
                            return
                        job.step(0.8, f"adding {p.name}")
                        yield b

            member(name or f"input/{_safe_name(extra.name)}", chunks(), compress=False)
        meta = {"format": BUNDLE_FORMAT, "created_at": time.time(),
                "columns": {t: list(_COLS[t]) for t in _ROWS},
                "console_version": __version__, "session_uuid": s["uuid"],
                "title": f"{s.get('package_name')}@{s.get('package_version')} on "
                         f"{s.get('device_name') or s.get('device_address')}",
                "contents": {"package": pkg_bytes is not None, "input": input_path is not None},
                "counts": counts, "files": files}
        zf.writestr("bundle.json", json.dumps(meta, indent=1))
    job.step(1.0, "done")
    return ExportResult("bundle", [Path(path)], frames=counts.get("frames", 0),
                        telemetry=counts.get("telemetry", 0), events=counts.get("events", 0),
                        notes=notes)


def _safe_name(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return base[:120] or "input"


# -- import -------------------------------------------------------------------------
def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"bundle {path} not found") from None
    except zipfile.BadZipFile:
        raise BundleError(f"{path} is not a devicelab session bundle (not a zip file)") from None
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror}") from None


def _meta(zf: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(zf.read("bundle.json"))
    except KeyError:
        raise BundleError(f"{path} is not a devicelab session bundle (no bundle.json)") from None
    except (ValueError, *ZIP_DAMAGE) as exc:
        raise BundleError(f"bundle {path} is damaged: bundle.json unreadable ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), str) \
            or not meta["format"].startswith("devicelab-bundle/"):
        raise BundleError(f"{path} is not a devicelab session bundle")
    if meta["format"] not in READABLE_FORMATS:
        raise BundleError(f"bundle {path} is {meta['format']}, this console reads "
                          f"{', '.join(READABLE_FORMATS)}; upgrade the console")
    if not isinstance(meta.get("files"), dict):
        raise BundleError(f"bundle {path} is damaged: bundle.json lists no files")
    total = sum(i.file_size for i in zf.infolist())
    if total > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle {path} unpacks to {total} bytes, over the "
                          f"{MAX_BUNDLE_BYTES} byte limit")
    return meta


def read_bundle_info(path: str | Path) -> BundleInfo:
    """What a bundle holds, without importing it."""
    p = Path(path)
    with _open_zip(p) as zf:
        meta = _meta(zf, p)
    contents = meta.get("contents") or {}
    return BundleInfo(p, meta["format"], str(meta.get("session_uuid")), str(meta.get("title")),
                      meta.get("created_at"), meta.get("console_version"),
                      bool(contents.get("package")), bool(contents.get("input")),
                      {k: int(v) for k, v in (meta.get("counts") or {}).items()})


def _read_member(zf: zipfile.ZipFile, name: str, meta: dict[str, Any], path: Path) -> bytes:
    want = meta["files"].get(name)
    if want is None:
        raise BundleError(f"bundle {path} is damaged: {name} is not in its file list")
    try:
        data = zf.read(name)
    except (KeyError, OSError, *ZIP_DAMAGE) as exc:
        raise BundleError(f"bundle {path} is damaged: {name} unreadable ({exc})") from None
    if hashlib.sha256(data).hexdigest() != want:
        raise BundleError(f"bundle {path} is damaged: {name} does not match its sha256; ask for "
                          "the bundle again")
    return data


def _extract_member(zf: zipfile.ZipFile, name: str, meta: dict[str, Any], path: Path,
                    dest: Path) -> None:
    """Stream a (possibly large) member to ``dest``, checking its sha256."""
    want = meta["files"].get(name)
    if want is None:
        raise BundleError(f"bundle {path} is damaged: {name} is not in its file list")
    h = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zf.open(name) as src, open(dest, "wb") as out:
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                h.update(b)
                out.write(b)
    except (KeyError, *ZIP_DAMAGE) as exc:
        dest.unlink(missing_ok=True)
        raise BundleError(f"bundle {path} is damaged: {name} unreadable ({exc})") from None
    if h.hexdigest() != want:
        dest.unlink(missing_ok=True)
        raise BundleError(f"bundle {path} is damaged: {name} does not match its sha256; ask for "
                          "the bundle again")


def _jsonl(data: bytes, name: str, path: Path, width: int, optional: int = 0
           ) -> list[tuple[Any, ...]]:
    """Rows of ``width`` values; the last ``optional`` ones may be missing (older
    formats) and read as None."""
    out = []
    for ln, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            v = json.loads(line)
        except ValueError:
            raise BundleError(f"bundle {path} is damaged: {name} line {ln} is not JSON") from None
        if not isinstance(v, list) or not width - optional <= len(v) <= width:
            raise BundleError(f"bundle {path} is damaged: {name} line {ln} has the wrong shape")
        out.append(tuple(v) + (None,) * (width - len(v)))
    return out


def _artifacts(zf: zipfile.ZipFile, meta: dict[str, Any], path: Path, row: dict[str, Any],
               staging: Path, notes: list[str]) -> None:
    """Extract package / recording / truth into ``staging``; keep only what matches."""
    names = set(meta["files"])
    if "package.zip" in names:
        dest = staging / "package.zip"
        _extract_member(zf, "package.zip", meta, path, dest)
        try:
            pkg = open_package(dest)
            model_sha = pkg.manifest.files[pkg.manifest.model].sha256
            if pkg.digest != row.get("package_digest") or \
                    model_sha != row.get("package_model_sha256"):
                raise PackageError("package.zip", "differs from the package the session recorded")
        except PackageError as exc:
            dest.unlink(missing_ok=True)
            notes.append(f"the bundle's package was not kept: {exc}")
    inputs = [n for n in names if n.startswith("input/")]
    for n in inputs[:1]:
        dest = staging / "input" / _safe_name(n[len("input/"):])
        _extract_member(zf, n, meta, path, dest)
        if row.get("input_sha256") and sha256_file(str(dest)) != row["input_sha256"]:
            dest.unlink()
            notes.append("the bundle's recording was not kept: its sha256 differs from the one "
                         "the session recorded")
    if "truth.csv" in names:
        _extract_member(zf, "truth.csv", meta, path, staging / "truth.csv")


def _merge_dir(staging: Path, final: Path) -> None:
    """Move staged files into ``final`` without replacing what is already there."""
    for src in sorted(staging.rglob("*")):
        if src.is_dir():
            continue
        dst = final / src.relative_to(staging)
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))


def _session_columns(store: LogStore) -> list[str]:
    return list(schema.column_names("sessions"))


def import_bundle(store: LogStore, path: str | Path, *, progress: Progress | None = None,
                  cancel: threading.Event | None = None) -> ImportResult:
    """Import a bundle into ``store``'s log (idempotent by session uuid, see module doc)."""
    job = Job(progress, cancel)
    p = Path(path).expanduser()
    with _open_zip(p) as zf:
        meta = _meta(zf, p)
        try:
            row = json.loads(_read_member(zf, "session.json", meta, p))
        except ValueError:
            raise BundleError(f"bundle {p} is damaged: session.json is not JSON") from None
        if not isinstance(row, dict):
            raise BundleError(f"bundle {p} is damaged: session.json is not an object")
        uuid = str(row.get("uuid") or "")
        if not UUID_RE.match(uuid) or uuid != meta.get("session_uuid"):
            raise BundleError(f"bundle {p} is damaged: bad session uuid {uuid!r}")
        final = imported_dir(store, uuid)
        notes: list[str] = []
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=final.parent))
        try:
            job.step(0.05, "checking package and recording")
            _artifacts(zf, meta, p, row, staging, notes)
            existing = _by_uuid(store, uuid)
            if existing is not None:
                _merge_dir(staging, final)
                return ImportResult(existing, uuid, True,
                                    _file(final / "package.zip"), _first(final / "input"),
                                    notes=notes)
            tables = {}
            for k, t in enumerate(_ROWS):
                job.step(0.2 + 0.2 * k / len(_ROWS), f"reading {t}")
                layout = _layout(meta, t, p)
                rows = _jsonl(_read_member(zf, f"{t}.jsonl", meta, p), f"{t}.jsonl", p,
                              len(layout), 1 if t == "frames" else 0)
                tables[t] = _to_today(rows, layout, t)
            job.step(0.5, "writing the session")
            sid = _insert(store, row, tables, p)
            _merge_dir(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    job.step(1.0, "done")
    return ImportResult(sid, uuid, False, _file(final / "package.zip"), _first(final / "input"),
                        {t: len(v) for t, v in tables.items()}, notes)


def _layout(meta: dict[str, Any], table: str, path: Path) -> tuple[str, ...]:
    """The column names of ``table``'s rows in this bundle."""
    if meta["format"] != BUNDLE_FORMAT:
        return _LEGACY_COLS[table]
    cols = (meta.get("columns") or {}).get(table)
    if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
        raise BundleError(f"bundle {path} is damaged: bundle.json does not list the columns "
                          f"of {table}")
    unknown = set(cols) - set(schema.column_names(table))
    if unknown:
        raise BundleError(f"bundle {path} has {table} columns this console does not know "
                          f"({', '.join(sorted(unknown))}); upgrade the console")
    return tuple(cols)


def _to_today(rows: list[tuple[Any, ...]], layout: Sequence[str], table: str
              ) -> list[tuple[Any, ...]]:
    """Rows laid out as ``layout`` (maybe an older console's names) in ``_COLS`` order."""
    ren = _LEGACY_RENAMES.get(table, {})
    pos = {ren.get(c, c): k for k, c in enumerate(layout)}
    take = [pos.get(c) for c in _COLS[table]]
    return [tuple(None if k is None else r[k] for k in take) for r in rows]


def _by_uuid(store: LogStore, uuid: str) -> int | None:
    return store.session_id_by_uuid(uuid)


def _file(p: Path) -> Path | None:
    return p if p.is_file() else None


def _first(d: Path) -> Path | None:
    if not d.is_dir():
        return None
    files = sorted(x for x in d.iterdir() if x.is_file())
    return files[0] if files else None


def _insert(store: LogStore, row: dict[str, Any], tables: dict[str, list[tuple[Any, ...]]],
            path: Path) -> int:
    """One transaction: the session row and all its rows, or nothing."""
    cols = [c for c in _session_columns(store) if c not in _LOCAL_COLS]
    ren = _LEGACY_RENAMES["sessions"]
    row = {ren.get(k, k): v for k, v in row.items()}  # a bundle from before schema v3
    values: dict[str, Any] = {}
    for c in cols:
        if c not in row:
            continue
        v = row[c]
        if c in JSON_COLUMNS:
            v = None if v is None else json.dumps(v, separators=(",", ":"), default=str)
        elif isinstance(v, (dict, list)):
            v = json.dumps(v, separators=(",", ":"))
        values[c] = v
    for req in ("uuid", "status", "created_unix_s"):
        if values.get(req) is None:
            raise BundleError(f"bundle {path} is damaged: session.json has no {req}")
    if values["status"] == "running":  # the exporting console was recording: it is not now
        values["status"] = "interrupted"
    orig = row.get("replay_of_uuid")
    if isinstance(orig, str) and orig:
        values["replay_of"] = _by_uuid(store, orig)
    try:
        with store.transaction():
            sid = store.insert_session_row(values, in_transaction=True)
            for t in _ROWS:
                store.insert_rows(t, ("session_id", *_COLS[t]), [(sid, *r) for r in tables[t]])
    except StoreError as exc:
        raise BundleError(f"cannot import into {store.where}: {exc}; nothing was imported"
                          ) from None
    return sid


# -- delete -------------------------------------------------------------------------
def delete_session(store: LogStore, ref: int | str) -> DeleteResult:
    """Delete a session, its rows and files imported with it; replays lose their link.

    Refuses a session another console is still recording.
    """
    s = store.find_session(str(ref))
    if s is None:
        raise BundleError(f"no session {ref!r} in {store.where}")
    sid = int(s["id"])
    store.recover_interrupted()
    fresh = store.get_session(sid) or s
    if fresh.get("status") == "running":
        raise BundleError(f"session {sid} is still recording (console pid "
                          f"{fresh.get('console_pid')}); stop it before deleting it")
    replays = store.session_ids_replaying(sid)
    try:
        store.delete_session(sid)  # replays lose their link with it
    except StoreError as exc:
        raise BundleError(f"cannot delete session {sid}: {exc}") from None
    removed = False
    d = imported_dir(store, str(s["uuid"]))
    if d.is_dir():
        shutil.rmtree(d, ignore_errors=True)
        removed = True
    return DeleteResult(sid, str(s["uuid"]), removed, replays)
