"""Session rows made directly in a log, for tests of readers (compare, replay, bundles)
that need a session no device here can produce (a camera input, a detector, a
given summary). Built through the store's own typed API, never by raw SQL."""

from __future__ import annotations

from typing import Any

from console.core.records import DeviceFacts, InputFacts, NewSession, PackageFacts
from console.core.store import SessionStore

_DEVICE = {"device_kind": "kind", "device_address": "address", "device_name": "name",
           "device_identity": "identity", "device_facts": "facts"}
_PACKAGE = {"package_name": "name", "package_version": "version", "package_digest": "digest",
            "package_model_sha256": "model_sha256", "package_source": "source",
            "package_manifest": "manifest", "package_signer": "signer"}
_INPUT = {"input_kind": "kind", "input_desc": "desc", "input_sha256": "sha256",
          "input_info": "info"}
_NEW = ("settings", "provider", "note", "replay_of", "uuid", "status", "runtime",
        "plan_run_id")


def add_session(st: SessionStore, **kw: Any) -> int:
    """A session with the given columns (the store's names); the rest as a run sets them."""
    dev = {v: kw.pop(k) for k, v in _DEVICE.items() if k in kw}
    pkg = {v: kw.pop(k) for k, v in _PACKAGE.items() if k in kw}
    inp = {v: kw.pop(k) for k, v in _INPUT.items() if k in kw}
    new = {k: kw.pop(k) for k in _NEW if k in kw}
    tags = tuple(kw.pop("tags", ()))
    sid = st.create_session(NewSession(
        device=DeviceFacts(**dev), package=PackageFacts(**pkg), input=InputFacts(**inp),
        settings=new.pop("settings", {}), provider=new.pop("provider", None),
        console_version="test", protocol_version=1,
        started_unix_s=kw.pop("started_unix_s", kw.pop("started_at", 0.0)) or 0.0,
        tags=tags, **new))
    if kw:
        st.update_session(sid, **kw)
    return sid
