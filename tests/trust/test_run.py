"""Run with the signing policy: real agent subprocess, real onnxruntime, real SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.core.signing import load_private_key, sign_package
from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunError, RunListener, RunRequest, RunResult
from console.session.trust import UNSIGNED_WARNING, add_trusted_key, package_policy
from trust.support import KeyPair


class Events(RunListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, level: str, code: str, text: str) -> None:
        self.events.append((level, code, text))


def _request(pkg: Path) -> RunRequest:
    return RunRequest(str(pkg), "synthetic:64x64", AgentOptions(frames=5, telemetry_ms=50))


def _execute(package: Path, db: Path, listener: RunListener | None = None,
             **run_kwargs: Any) -> RunResult:
    """One run of ``package`` on this computer; the device is closed whatever happens."""
    device = LocalDevice()
    try:
        return Run(device, _request(package), db, listener, **run_kwargs).execute()
    finally:
        device.close()


def _sessions(db: Path) -> list[dict]:
    if not db.exists():
        return []
    with SessionStore(db) as st:
        return st.list_sessions()


def test_untrusted_signature_is_refused_before_anything_runs(
        package: Path, release_key: KeyPair, stranger_key: KeyPair, db_path: Path) -> None:
    sign_package(package, load_private_key(stranger_key.private), "stranger")
    add_trusted_key(release_key.key)
    with pytest.raises(RunError) as info:
        _execute(package, db_path, package_policy=package_policy())
    msg = str(info.value)
    assert msg.startswith("package refused: manifest.sig: signed by an untrusted key "
                          f"{stranger_key.key.fingerprint}")
    assert "\n" not in msg
    assert _sessions(db_path) == []


def test_unsigned_package_runs_with_a_warning_and_no_signer(package: Path, db_path: Path
                                                            ) -> None:
    ls = Events()
    result = _execute(package, db_path, ls, package_policy=package_policy())
    assert result.status == "completed", result.error
    assert ("warning", "package", UNSIGNED_WARNING) in ls.events
    with SessionStore(db_path) as st:
        assert st.get_session(result.session_id)["package_signer"] is None


def test_session_records_the_signer(package: Path, release_key: KeyPair, db_path: Path) -> None:
    sign_package(package, load_private_key(release_key.private), "lab-release")
    add_trusted_key(release_key.key)
    result = _execute(package, db_path, package_policy=package_policy())
    assert result.status == "completed", result.error
    with SessionStore(db_path) as st:
        s = st.get_session(result.session_id)
    assert s["package_signer"] == f"lab-release ({release_key.key.fingerprint})"


def test_a_run_checks_signatures_even_when_its_caller_brings_no_policy(
        package: Path, stranger_key: KeyPair, db_path: Path) -> None:
    """The session layer is used by the CLI, the window, benchmarks and scripts: the
    policy of the settings applies unless a caller passes its own."""
    from console.session.trust import set_policy

    sign_package(package, load_private_key(stranger_key.private), "stranger")
    with pytest.raises(RunError, match="signed by an untrusted key"):
        _execute(package, db_path)
    assert _sessions(db_path) == []

    (package / "manifest.sig").unlink()  # now unsigned, and the policy says refuse
    set_policy("refuse")
    with pytest.raises(RunError, match="unsigned"):
        _execute(package, db_path)
    assert _sessions(db_path) == []
