"""Typed records of the session log: what a session *is*, decoded once from the store.

:class:`NewSession` is what a run hands the store to open a session (the store
adds uuid, times and the owning console); :class:`SessionRecord` is a session
read back, with its JSON columns decoded and its summary typed
(:class:`console.core.summary.Summary`). Every reader — the CLI, the window,
exports, bundles, plans — works from these instead of looking keys up in row
dicts, so a column's name appears in one place: :data:`SESSION_COLUMNS` maps
each attribute to its column of ``console.core.schema``.

No IO and no Qt here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from console.core.formatting import fmt_time
from console.core.summary import Row, Section, Summary

STATUSES = ("running", "completed", "stopped", "failed", "interrupted")
#: Session columns held as JSON text (decoded on read, encoded on write).
JSON_COLUMNS = ("device_identity", "device_facts", "package_manifest", "input_info",
                "settings", "summary", "cold_start", "tags", "profile")


@dataclass(frozen=True)
class DeviceFacts:
    """The device a session ran on: how it was addressed, and what it is."""

    kind: str = ""
    address: str = ""
    name: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.address

    @property
    def libraries(self) -> Mapping[str, Any]:
        return self.facts.get("libraries") or {}


@dataclass(frozen=True)
class PackageFacts:
    name: str = ""
    version: str = ""
    digest: str = ""
    model_sha256: str = ""
    source: str = ""
    manifest: Mapping[str, Any] = field(default_factory=dict)
    signer: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def task(self) -> str | None:
        return self.manifest.get("task")


@dataclass(frozen=True)
class InputFacts:
    kind: str = ""
    desc: str = ""
    sha256: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SessionLinks:
    """What a session carries besides how it ran, the same in a new session and one read
    back: the user's note and tags, and the session, plan run or sweep it belongs to.
    Keyword-only (after the record's own fields)."""

    note: str = ""
    tags: tuple[str, ...] = ()
    replay_of: int | None = None
    plan_run_id: int | None = None
    sweep_id: int | None = None


@dataclass(frozen=True)
class NewSession(SessionLinks):
    """Everything a run knows before its first frame (the store adds the rest)."""

    device: DeviceFacts
    package: PackageFacts
    input: InputFacts
    settings: Mapping[str, Any]
    provider: str | None
    console_version: str
    protocol_version: int
    started_unix_s: float | None = None
    runtime: str | None = None
    uuid: str | None = None
    status: str = "running"


@dataclass(frozen=True)
class SessionRecord(SessionLinks):
    id: int
    uuid: str
    status: str
    created_unix_s: float
    device: DeviceFacts
    package: PackageFacts
    input: InputFacts
    settings: Mapping[str, Any]
    started_unix_s: float | None = None
    ended_unix_s: float | None = None
    error: str | None = None
    provider: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    cold_start: Mapping[str, Any] | None = None
    summary: Summary | None = None
    frames_received: int = 0
    console_version: str | None = None
    agent_version: str | None = None
    protocol_version: int | None = None
    console_pid: int | None = None
    console_host: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.ended_unix_s and self.started_unix_s:
            return self.ended_unix_s - self.started_unix_s
        return None

    @property
    def when(self) -> float | None:
        """When it ran (the start, or the row's creation for one that never started)."""
        return self.started_unix_s or self.created_unix_s

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SessionRecord:
        """A ``sessions`` row (today's column names) as a record; JSON decoded."""
        r = decode_json_columns(row)
        summ = r.get("summary")
        return cls(
            id=int(r["id"]), uuid=str(r["uuid"]), status=str(r["status"]),
            created_unix_s=float(r.get("created_unix_s") or 0.0),
            started_unix_s=r.get("started_unix_s"), ended_unix_s=r.get("ended_unix_s"),
            error=r.get("error"),
            device=DeviceFacts(r.get("device_kind") or "", r.get("device_address") or "",
                               r.get("device_name") or "", _dict(r.get("device_identity")),
                               _dict(r.get("device_facts"))),
            package=PackageFacts(r.get("package_name") or "", r.get("package_version") or "",
                                 r.get("package_digest") or "",
                                 r.get("package_model_sha256") or "",
                                 r.get("package_source") or "",
                                 _dict(r.get("package_manifest")), r.get("package_signer")),
            input=InputFacts(r.get("input_kind") or "", r.get("input_desc") or "",
                             r.get("input_sha256"), _dict(r.get("input_info"))),
            settings=_dict(r.get("settings")),
            provider=r.get("provider"), runtime=r.get("runtime"),
            runtime_version=r.get("runtime_version"),
            cold_start=r.get("cold_start") if isinstance(r.get("cold_start"), dict) else None,
            summary=Summary.from_dict(summ) if isinstance(summ, dict) else None,
            frames_received=int(r.get("frames_received") or 0),
            console_version=r.get("console_version"), agent_version=r.get("agent_version"),
            protocol_version=r.get("protocol_version"),
            note=r.get("note") or "", tags=tuple(r.get("tags") or ()),
            replay_of=r.get("replay_of"), plan_run_id=r.get("plan_run_id"),
            sweep_id=r.get("sweep_id"), console_pid=r.get("console_pid"),
            console_host=r.get("console_host"))


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def decode_json_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in JSON_COLUMNS:
        v = out.get(k)
        if isinstance(v, str):
            try:
                out[k] = json.loads(v)
            except ValueError:
                pass
    return out


def encode_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def new_session_columns(s: NewSession) -> dict[str, Any]:
    """The ``sessions`` columns of a new session (JSON encoded), by today's names."""
    cols: dict[str, Any] = {
        "status": s.status, "started_unix_s": s.started_unix_s,
        "device_kind": s.device.kind, "device_address": s.device.address,
        "device_name": s.device.name, "device_identity": dict(s.device.identity),
        "device_facts": dict(s.device.facts) or None,
        "package_name": s.package.name, "package_version": s.package.version,
        "package_digest": s.package.digest, "package_model_sha256": s.package.model_sha256,
        "package_source": s.package.source, "package_manifest": dict(s.package.manifest),
        "package_signer": s.package.signer,
        "input_kind": s.input.kind, "input_desc": s.input.desc,
        "input_sha256": s.input.sha256, "input_info": dict(s.input.info),
        "settings": dict(s.settings), "provider": s.provider, "runtime": s.runtime,
        "console_version": s.console_version, "protocol_version": s.protocol_version,
        "note": s.note, "tags": list(s.tags), "replay_of": s.replay_of,
        "plan_run_id": s.plan_run_id, "sweep_id": s.sweep_id,
    }
    return {k: (encode_json(v) if k in JSON_COLUMNS else v) for k, v in cols.items()}


#: attribute of SessionRecord -> what it is made of (documentation for readers)
RECORD_FIELDS = tuple(f.name for f in fields(SessionRecord))


# -- the rows a session's facts show ---------------------------------------------------
def _fact(label: str, value: Any) -> Row | None:
    if value is None or value == "" or value == () or value == []:
        return None
    return Row(label, value, str(value))


def _section_of(title: str, rows: list[Row | None]) -> Section | None:
    kept = tuple(r for r in rows if r is not None)
    return Section(title, kept) if kept else None


def _clock(ts: float | None) -> str | None:
    return fmt_time(ts) if ts else None


def facts_sections(rec: SessionRecord, *, telemetry_samples: int | None = None,
                   events: int | None = None, bookmarks: int | None = None
                   ) -> list[Section]:
    """Everything a session records about where and how it ran, as the rows every view
    shows (``sessions show``, the Sessions tab, the HTML report). A fact the session did
    not record is left out, never shown as a guess."""
    f, libs, ident = rec.device.facts, rec.device.libraries, rec.device.identity
    dur = rec.duration_s
    recorded = [f"{rec.frames_received} frames"]
    recorded += [f"{n} {what}" for n, what in ((telemetry_samples, "telemetry samples"),
                                               (events, "events"), (bookmarks, "bookmarks"))
                 if n is not None]
    ram = f.get("ram_bytes")
    runtime = rec.runtime or "onnxruntime"
    runtime_version = rec.runtime_version or libs.get(runtime)
    lib_text = " · ".join(f"{k} {libs.get(k) or '-'}" for k in ("numpy", "onnxruntime", "opencv"))
    info = rec.input.info
    settings = [(str(k), v) for k, v in rec.settings.items()
                if k != "input" and v not in (None, "", {}, [])]
    sections = [
        _section_of("session", [
            Row("status", rec.status, rec.status,
                tone={"completed": "good", "failed": "bad", "interrupted": "warn"}.get(
                    rec.status, "")),
            _fact("error", rec.error), _fact("uuid", rec.uuid),
            _fact("started", _clock(rec.started_unix_s)),
            _fact("ended", (_clock(rec.ended_unix_s) or "") + (f" ({dur:.1f} s)"
                                                               if dur is not None else "")),
            _fact("replay of", f"session {rec.replay_of}" if rec.replay_of else None),
            _fact("note", rec.note), _fact("tags", ", ".join(rec.tags)),
            _fact("recorded", ", ".join(recorded))]),
        _section_of("device", [
            _fact("name", rec.device.name), _fact("address", rec.device.address),
            _fact("kind", rec.device.kind), _fact("host", f.get("hostname")),
            _fact("OS", f"{f.get('os') or '?'} · kernel {f.get('kernel') or '?'} · "
                        f"{f.get('arch') or '?'}" if f else None),
            _fact("board", f.get("board")),
            _fact("CPU", f"{f.get('cpu_model') or '?'} × {f.get('cores') or '?'}" if f
                  else None),
            _fact("RAM", f"{ram / 2**30:.1f} GiB" if ram else None),
            _fact("Python", f"{f.get('python')} ({f.get('python_executable')})"
                  if f.get("python") else None),
            _fact("libraries", lib_text if libs else None),
            _fact("runtime", f"{runtime} {runtime_version or ''}".strip()),
            _fact("provider", rec.provider),
            _fact("host key", f"{ident.get('host_key_type')} {ident['host_key_sha256']}"
                  if ident.get("host_key_sha256") else None)]),
        _section_of("package", [
            _fact("package", rec.package.ref if rec.package.name else None),
            _fact("task", rec.package.task), _fact("manifest sha256", rec.package.digest),
            _fact("model sha256", rec.package.model_sha256),
            _fact("source", rec.package.source), _fact("signed by", rec.package.signer)]),
        _section_of("input", [
            _fact("input", f"{rec.input.kind}: {rec.input.desc}" if rec.input.kind else None),
            _fact("sha256", rec.input.sha256), _fact("file", info.get("path")),
            _fact("frames", info.get("frames")),
            _fact("size", f"{info.get('width')}×{info.get('height')}" if info.get("width")
                  else None),
            _fact("fps", info.get("fps"))]),
        _section_of("settings", [_fact(k, v if not isinstance(v, (dict, list)) else
                                       json.dumps(v, sort_keys=True)) for k, v in settings]
                    or [Row("settings", None, "none recorded", tone="muted")]),
        _section_of("versions", [
            _fact("console", rec.console_version), _fact("agent", rec.agent_version),
            _fact("protocol", f"v{rec.protocol_version}" if rec.protocol_version else None)]),
    ]
    return [s for s in sections if s is not None]
