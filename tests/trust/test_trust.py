"""console.session.trust: the policy on real packages, real keys, the real settings file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.core.package import verify_package
from console.core.settings import load_settings, settings_path
from console.core.signing import load_private_key, sign_package
from console.session.trust import (
    UNSIGNED_WARNING,
    TrustError,
    add_trusted_key,
    check_signature,
    package_policy,
    remove_trusted_key,
    set_policy,
)
from trust.support import KeyPair


def _sign(pkg: Path, kp: KeyPair) -> None:
    sign_package(pkg, load_private_key(kp.private), kp.key.name)


def test_unsigned_runs_with_a_warning_by_default(package: Path) -> None:
    ver = verify_package(package)
    assert package_policy()(ver) is None
    assert ver.ok and ver.signature == "unsigned" and ver.signer is None
    assert UNSIGNED_WARNING in ver.warnings


def test_unsigned_is_refused_under_refuse(package: Path) -> None:
    set_policy("refuse")
    ver = verify_package(package)
    line = package_policy()(ver)
    assert line is not None and line.startswith("package refused: manifest.sig: package is "
                                                "unsigned")
    assert not ver.ok and "\n" not in line


def test_signed_by_trusted_key(package: Path, release_key: KeyPair) -> None:
    _sign(package, release_key)
    add_trusted_key(release_key.key)
    set_policy("refuse")  # a trusted signature passes the strict policy
    ver = verify_package(package)
    assert check_signature(ver) is None
    assert ver.ok and ver.signature == "signed"
    assert ver.signer == f"lab-release ({release_key.key.fingerprint})"
    assert UNSIGNED_WARNING not in ver.warnings


@pytest.mark.parametrize("policy", ["warn", "refuse"])
def test_untrusted_signature_is_always_refused(package: Path, release_key: KeyPair,
                                               stranger_key: KeyPair, policy: str) -> None:
    _sign(package, stranger_key)
    add_trusted_key(release_key.key)
    set_policy(policy)
    ver = verify_package(package)
    line = check_signature(ver)
    assert line is not None and not ver.ok and ver.signature == "untrusted"
    assert f"signed by an untrusted key {stranger_key.key.fingerprint}" in line
    assert "devicelab keys add" in line


@pytest.mark.parametrize("policy", ["warn", "refuse"])
def test_manifest_edited_after_signing_is_always_refused(package: Path, release_key: KeyPair,
                                                         policy: str) -> None:
    _sign(package, release_key)
    add_trusted_key(release_key.key)
    set_policy(policy)
    manifest = package / "manifest.json"
    doc = json.loads(manifest.read_bytes())
    doc["description"] = "harmless looking edit"  # still a valid manifest, hashes intact
    manifest.write_text(json.dumps(doc, indent=2) + "\n")
    ver = verify_package(package)
    assert ver.ok  # the package itself is fine ...
    line = check_signature(ver)  # ... but no longer what was signed
    assert line is not None and not ver.ok and ver.signature == "bad"
    assert "bad signature: manifest.json was changed after it was signed" in line


def test_removed_key_is_no_longer_trusted(package: Path, release_key: KeyPair) -> None:
    _sign(package, release_key)
    add_trusted_key(release_key.key)
    assert check_signature(verify_package(package)) is None
    removed = remove_trusted_key(release_key.key.fingerprint)
    assert [e["name"] for e in removed] == ["lab-release"]
    ver = verify_package(package)
    assert check_signature(ver) is not None and ver.signature == "untrusted"


def test_checking_twice_adds_nothing_twice(package: Path, stranger_key: KeyPair) -> None:
    _sign(package, stranger_key)
    ver = verify_package(package)
    first = check_signature(ver)
    assert check_signature(ver) == first and len(ver.problems) == 1


def test_unknown_policy_value_fails_closed(package: Path) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "preferences": {"package_policy": "yolo"}}))
    ver = verify_package(package)
    line = check_signature(ver)
    assert line is not None and "package_policy is 'yolo'" in line and not ver.ok


def test_unreadable_settings_fail_closed(package: Path) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{ not json")
    ver = verify_package(package)
    line = check_signature(ver)
    assert line is not None and "cannot check the signature" in line and "\n" not in line


def test_damaged_trusted_key_entry_is_ignored_with_a_warning(package: Path,
                                                             release_key: KeyPair) -> None:
    _sign(package, release_key)
    entry = release_key.key.to_settings()
    entry["fingerprint"] = "SHA256:" + "A" * 43  # edited by hand: no longer matches the key
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "trusted_keys": [entry]}))
    ver = verify_package(package)
    assert check_signature(ver) is not None and ver.signature == "untrusted"
    assert any("does not match its key" in w for w in ver.warnings)


def test_signed_zip_package(package: Path, release_key: KeyPair, tmp_path: Path) -> None:
    import zipfile

    zpath = tmp_path / "digits.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(package.iterdir()):
            zf.write(p, p.name)
    _sign(zpath, release_key)
    add_trusted_key(release_key.key)
    ver = verify_package(zpath)
    assert check_signature(ver) is None and ver.signature == "signed"


def test_add_remove_and_name_rules(release_key: KeyPair, stranger_key: KeyPair) -> None:
    entry, added = add_trusted_key(release_key.key)
    assert added and entry["fingerprint"] == release_key.key.fingerprint
    _, again = add_trusted_key(release_key.key)
    assert again is False
    with pytest.raises(TrustError, match="another key is already trusted as 'lab-release'"):
        add_trusted_key(type(stranger_key.key)("lab-release", stranger_key.key.public_key))
    with pytest.raises(TrustError, match="looks like a fingerprint"):
        add_trusted_key(type(stranger_key.key)(stranger_key.key.fingerprint,
                                               stranger_key.key.public_key))
    add_trusted_key(stranger_key.key)
    # remove by bare fingerprint (without SHA256:) and by name
    remove_trusted_key(stranger_key.key.fingerprint.removeprefix("SHA256:"))
    with pytest.raises(TrustError, match="no trusted key is named"):
        remove_trusted_key("stranger")
    remove_trusted_key("lab-release")
    s = load_settings()
    assert s.trusted_keys == []
    raw = settings_path().read_text()
    assert "PRIVATE" not in raw and "BEGIN" not in raw
