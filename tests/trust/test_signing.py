"""console.core.signing: real Ed25519 keys, real manifests, hostile signature files."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from console.core.manifest import MANIFEST_NAME, SIGNATURE_NAME
from console.core.package import verify_package
from console.core.signing import (
    SigningError,
    TrustedKey,
    fingerprint,
    generate_key,
    load_private_key,
    load_public_key,
    sign_manifest,
    sign_package,
    verify_signature,
)
from trust.support import KeyPair, make_key

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen not installed")


def _sig_doc(pkg: Path) -> dict:
    return json.loads((pkg / SIGNATURE_NAME).read_bytes())


# -- keys ------------------------------------------------------------------------------------

def test_keygen_writes_private_0600_and_openssh_public_line(tmp_path: Path) -> None:
    kp = make_key(tmp_path, "lab-release")
    assert stat.S_IMODE(kp.private.stat().st_mode) == 0o600
    assert b"BEGIN OPENSSH PRIVATE KEY" in kp.private.read_bytes()
    line = kp.public.read_text().strip()
    assert line.startswith("ssh-ed25519 ") and line.endswith(" lab-release")
    raw, comment = load_public_key(kp.public)
    assert raw == kp.key.public_key and comment == "lab-release"
    # the private key we can load is the one the public file describes
    priv = load_private_key(kp.private)
    assert fingerprint(priv.public_key().public_bytes_raw()) == kp.key.fingerprint


def test_keygen_never_overwrites_without_force(tmp_path: Path) -> None:
    kp = make_key(tmp_path, "k")
    before = kp.private.read_bytes()
    with pytest.raises(SigningError, match="already exists; pass --force"):
        generate_key(kp.private, "k")
    assert kp.private.read_bytes() == before
    again = generate_key(kp.private, "k", force=True)
    assert kp.private.read_bytes() != before and again.public_key != kp.key.public_key
    assert stat.S_IMODE(kp.private.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@needs_ssh_keygen
def test_fingerprint_is_the_one_ssh_keygen_prints(tmp_path: Path) -> None:
    kp = make_key(tmp_path, "k")
    out = subprocess.run([SSH_KEYGEN, "-lf", str(kp.public)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1] == kp.key.fingerprint


def test_passphrase_protected_key(tmp_path: Path) -> None:
    kp = make_key(tmp_path, "enc", passphrase=b"correct horse")
    assert b"correct horse" not in kp.private.read_bytes()
    with pytest.raises(SigningError, match="is encrypted; give its passphrase"):
        load_private_key(kp.private)
    with pytest.raises(SigningError, match="wrong passphrase"):
        load_private_key(kp.private, b"wrong")
    key = load_private_key(kp.private, b"correct horse")
    assert fingerprint(key.public_key().public_bytes_raw()) == kp.key.fingerprint


@needs_ssh_keygen
def test_ssh_keygen_keys_work_and_rsa_is_refused(tmp_path: Path) -> None:
    ed = tmp_path / "id_ed25519"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "me@lab", "-f", str(ed)],
                   check=True)
    key = load_private_key(ed)
    raw, comment = load_public_key(Path(f"{ed}.pub"))
    assert comment == "me@lab"
    assert key.public_key().public_bytes_raw() == raw
    rsa = tmp_path / "id_rsa"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)],
                   check=True)
    with pytest.raises(SigningError, match="need Ed25519"):
        load_private_key(rsa)
    with pytest.raises(SigningError, match="ssh-rsa key; package signatures need ssh-ed25519"):
        load_public_key(Path(f"{rsa}.pub"))


def test_public_key_loader_refuses_private_keys_and_junk(tmp_path: Path, release_key: KeyPair
                                                         ) -> None:
    with pytest.raises(SigningError, match="holds a PRIVATE key"):
        load_public_key(release_key.private)
    with pytest.raises(SigningError, match="is a public key; signing needs the private"):
        load_private_key(release_key.public)
    junk = tmp_path / "junk.pub"
    junk.write_text("ssh-ed25519 AAAAnot-base64 x\n")
    with pytest.raises(SigningError, match="damaged"):
        load_public_key(junk)
    with pytest.raises(SigningError, match="key file not found"):
        load_public_key(tmp_path / "missing.pub")


def test_trusted_key_settings_roundtrip_detects_a_tampered_entry(release_key: KeyPair) -> None:
    entry = release_key.key.to_settings()
    assert "PRIVATE" not in json.dumps(entry)
    assert TrustedKey.from_settings(entry) == release_key.key
    other = make_key(release_key.private.parent, "other").key
    forged = dict(entry, public_key=base64.b64encode(other.public_key).decode())
    with pytest.raises(SigningError, match="does not match its key"):
        TrustedKey.from_settings(forged)


# -- verify_signature ------------------------------------------------------------------------

MANIFEST = b'{"format": "devicelab-package/1", "name": "x"}\n'


def _sign(kp: KeyPair, data: bytes = MANIFEST) -> bytes:
    return sign_manifest(data, load_private_key(kp.private), kp.key.name)


def test_verdicts_signed_untrusted_unsigned(release_key: KeyPair, stranger_key: KeyPair) -> None:
    sig = _sign(release_key)
    ok = verify_signature(MANIFEST, sig, [stranger_key.key, release_key.key])
    assert ok.status == "signed" and ok.key_name == "lab-release"
    assert ok.line() == f"signed by lab-release ({release_key.key.fingerprint})"
    un = verify_signature(MANIFEST, sig, [stranger_key.key])
    assert un.status == "untrusted" and un.signer == release_key.key.fingerprint
    assert un.line().startswith(f"signed by an untrusted key {release_key.key.fingerprint}")
    assert verify_signature(MANIFEST, None, [release_key.key]).status == "unsigned"


def test_trust_is_by_key_not_by_name(release_key: KeyPair, tmp_path: Path) -> None:
    impostor = make_key(tmp_path / "evil", "lab-release")  # same name, different key
    check = verify_signature(MANIFEST, _sign(impostor), [release_key.key])
    assert check.status == "untrusted" and check.key_name is None


def test_edited_manifest_is_a_bad_signature(release_key: KeyPair) -> None:
    sig = _sign(release_key)
    check = verify_signature(MANIFEST.replace(b'"x"', b'"y"'), sig, [release_key.key])
    assert check.status == "bad"
    assert check.line() == "bad signature: manifest.json was changed after it was signed"
    # not even a trailing newline may change
    assert verify_signature(MANIFEST + b"\n", sig, [release_key.key]).status == "bad"


@pytest.mark.parametrize("tamper", [
    "flip_signature", "swap_key", "fingerprint_of_other", "not_json", "other_format",
    "truncated_signature", "huge", "other_algorithm", "not_an_object"])
def test_hostile_signature_files_are_bad_never_raise(tamper: str, release_key: KeyPair,
                                                     stranger_key: KeyPair) -> None:
    doc = json.loads(_sign(release_key))
    if tamper == "flip_signature":
        raw = bytearray(base64.b64decode(doc["signature"]))
        raw[5] ^= 1
        doc["signature"] = base64.b64encode(bytes(raw)).decode()
    elif tamper == "swap_key":
        # claim a trusted key's identity for someone else's signature
        doc["public_key"] = base64.b64encode(stranger_key.key.public_key).decode()
        doc["key_fingerprint"] = stranger_key.key.fingerprint
    elif tamper == "fingerprint_of_other":
        doc["key_fingerprint"] = stranger_key.key.fingerprint
    elif tamper == "truncated_signature":
        doc["signature"] = doc["signature"][:40]
    elif tamper == "other_format":
        doc["format"] = "devicelab-signature/9"
    elif tamper == "other_algorithm":
        doc["algorithm"] = "rsa"
    if tamper == "not_json":
        data = b"\xff\xfe garbage"
    elif tamper == "huge":
        data = b"{" + b" " * (70 * 1024) + b"}"
    elif tamper == "not_an_object":
        data = b"[1, 2]"
    else:
        data = json.dumps(doc).encode()
    check = verify_signature(MANIFEST, data, [release_key.key, stranger_key.key])
    assert check.status == "bad", check
    assert check.reason and "\n" not in check.line()


def test_claimed_name_cannot_inject_terminal_escapes(tmp_path: Path) -> None:
    kp = make_key(tmp_path, "k")
    sig = sign_manifest(MANIFEST, load_private_key(kp.private), "evil\x1b[2J\nname")
    check = verify_signature(MANIFEST, sig, [])
    assert check.status == "untrusted"
    assert "\x1b" not in check.line() and "\n" not in check.line()


# -- sign_package on real packages ---------------------------------------------------------

def test_sign_package_directory(package: Path, release_key: KeyPair) -> None:
    done = sign_package(package, load_private_key(release_key.private), "lab-release")
    manifest = (package / MANIFEST_NAME).read_bytes()
    doc = _sig_doc(package)
    assert done.fingerprint == doc["key_fingerprint"] == release_key.key.fingerprint
    assert doc["manifest_sha256"] == done.digest
    assert verify_signature(manifest, (package / SIGNATURE_NAME).read_bytes(),
                            [release_key.key]).status == "signed"
    ver = verify_package(package)
    assert ver.ok, ver.problems  # the signature is not an unlisted "extra" file
    assert not any(SIGNATURE_NAME in w for w in ver.warnings)
    assert (SIGNATURE_NAME, package / SIGNATURE_NAME) in ver.package.file_paths()


def test_resigning_replaces_the_signature(package: Path, release_key: KeyPair,
                                          stranger_key: KeyPair) -> None:
    sign_package(package, load_private_key(release_key.private), "lab-release")
    sign_package(package, load_private_key(stranger_key.private), "stranger")
    assert _sig_doc(package)["key_fingerprint"] == stranger_key.key.fingerprint


def test_sign_refuses_a_package_whose_files_do_not_match(package: Path,
                                                         release_key: KeyPair) -> None:
    model = package / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(SigningError, match=r"will not sign .*model.onnx"):
        sign_package(package, load_private_key(release_key.private), "lab-release")
    assert not (package / SIGNATURE_NAME).exists()


def test_file_changed_after_signing_fails_the_hash_check(package: Path,
                                                         release_key: KeyPair) -> None:
    sign_package(package, load_private_key(release_key.private), "lab-release")
    model = package / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    ver = verify_package(package)
    assert not ver.ok and "model.onnx" in ver.first_line() and "sha256" in ver.first_line()


def test_sign_zip_package(package: Path, release_key: KeyPair, tmp_path: Path) -> None:
    zpath = tmp_path / "digits.zip"
    with zipfile.ZipFile(zpath, "w") as zf:  # one top folder with its entry, as `zip -r` makes
        zf.mkdir("digits-cnn")
        for p in sorted(package.iterdir()):
            zf.write(p, f"digits-cnn/{p.name}")
    sign_package(zpath, load_private_key(release_key.private), "lab-release")
    sign_package(zpath, load_private_key(release_key.private), "lab-release")  # again: replace
    with zipfile.ZipFile(zpath) as zf:
        names = zf.namelist()
        assert names.count(f"digits-cnn/{SIGNATURE_NAME}") == 1
        manifest = zf.read(f"digits-cnn/{MANIFEST_NAME}")
        sig = zf.read(f"digits-cnn/{SIGNATURE_NAME}")
    assert verify_signature(manifest, sig, [release_key.key]).status == "signed"
    ver = verify_package(zpath)
    assert ver.ok and (ver.package.root / SIGNATURE_NAME).is_file()
