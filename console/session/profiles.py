"""A session's operator profile in the log: written once at the end of a run, read back.

The rows go to ``op_profiles`` (one per node, mean and share computed by
:func:`console.core.op_profile.build_profile`), how the profile was taken to
``sessions.profile``. Every view (CLI, window, HTML report, trace export,
compare) reads it through :func:`load_profile`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.core import protocol as P
from console.core.errors import UserError
from console.core.op_profile import OpDelta, OpProfile, build_profile, compare_profiles
from console.core.records import encode_json
from console.core.store import LogStore

if TYPE_CHECKING:
    from console.core.manifest import Manifest
    from console.devices.base import AgentOptions
    from console.session.recorder import Recorder

COLUMNS = ("session_id", "node", "op_type", "device", "calls", "total_us", "mean_us", "share",
           "run_order")


def profile_from_message(msg: P.Profile) -> OpProfile:
    return build_profile(msg.meta(), [(o.node, o.op_type, o.device, o.calls, o.total_us,
                                       o.order) for o in msg.ops])


def profile_line(prof: OpProfile) -> str:
    """The one line the session's events and the live views say about it."""
    if prof.status == "unavailable" or not prof.ops:
        return f"operator profile {prof.status}: {prof.text}"
    att = prof.attributed()
    top = prof.ranked()[0]
    return (f"operator profile of frames {prof.first_frame}-{prof.first_frame + prof.frames - 1}"
            f" ({prof.text}): {len(prof.ops)} operators"
            + (f", {att:.0%} of the inference time attributed" if att is not None else "")
            + f"; slowest {top.node} ({top.op_type}) {top.mean_us:.1f} µs per call")


def save_profile(store: LogStore, session_id: int, prof: OpProfile | None) -> None:
    """Write it (again: a retry replaces the rows rather than doubling them); None: nothing."""
    if prof is None:
        return
    with store.transaction():
        store._execute("DELETE FROM op_profiles WHERE session_id = ?", [session_id])
        if prof.ops:
            store.insert_rows("op_profiles", COLUMNS, [
                (session_id, o.node, o.op_type, o.device, o.calls, o.total_us, o.mean_us,
                 o.share, o.run_order) for o in prof.ops])
        store._execute("UPDATE sessions SET profile = ? WHERE id = ?",
                       [encode_json(prof.meta()), session_id])


def load_profile(store: LogStore, session_id: int, meta: Any = None) -> OpProfile | None:
    """The session's profile, or None when it was not profiled."""
    if meta is None:
        row = store.get_session(session_id) or {}
        meta = row.get("profile")
    if not isinstance(meta, dict):
        return None
    rows = store.table_rows("op_profiles", session_id, ("node", "op_type", "device", "calls",
                                                        "total_us", "run_order"))
    return build_profile(meta, list(rows))


# -- what the run controller (console.session.run) does with runtimes and profiles ----------
def check_settings(options: AgentOptions, manifest: Manifest, error: type[Exception]) -> None:
    """Refuse, before any deploy, a run setting the package's runtime lacks."""
    try:
        options.settings_for(manifest)
    except UserError as exc:
        raise error(f"run refused: {exc}") from None


def runtime_fields(cold: P.ColdStart) -> dict[str, Any]:
    """The session columns a cold start fills: what runs the model, and where."""
    return {"provider": cold.provider, "runtime": cold.runtime,
            "runtime_version": cold.runtime_version}


def on_profile(msg: P.Profile, rec: Recorder, listener: Any) -> OpProfile:
    """A ``profile`` message arrived: one line in the events, the profile to the listener
    (the rows are written with the session's end, :func:`save_profile`)."""
    prof = profile_from_message(msg)
    rec.event("info", "profile", profile_line(prof))
    listener.profile(prof)
    return prof


def operator_deltas(store: LogStore, ref_a: int | str, ref_b: int | str) -> list[OpDelta]:
    """B's operators against A's (``sessions compare``); empty unless both were profiled."""
    rows = [store.find_session(str(r)) for r in (ref_a, ref_b)]
    if not all(rows):
        return []
    profs = [load_profile(store, int(r["id"]), r.get("profile")) for r in rows if r]
    if not all(p is not None and p.available for p in profs):
        return []
    return compare_profiles(profs[0], profs[1])  # type: ignore[arg-type]
