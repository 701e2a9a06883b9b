"""The real ``devicelab`` command: keygen, sign, verify, keys, and run refusing a package."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from console.core.manifest import SIGNATURE_NAME
from trust.support import KeyPair, dl


def _one_line_error(res, code: int = 2) -> str:
    assert res.returncode == code, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.mark.parametrize("cmd", [["package", "keygen"], ["package", "sign"], ["keys"],
                                 ["keys", "add"], ["keys", "list"], ["keys", "remove"],
                                 ["keys", "policy"]])
def test_help_has_an_example(cmd: list[str]) -> None:
    res = dl(*cmd, "--help")
    assert res.returncode == 0 and "example" in res.stdout


def test_keygen_sign_trust_verify_then_tamper(package: Path, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "release"
    key.parent.mkdir()
    res = dl("package", "keygen", str(key), "--name", "lab-release")
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    fp = res.stdout.split("key lab-release  ")[1].split()[0]
    assert fp.startswith("SHA256:")

    res = dl("package", "sign", str(package), "--key", str(key))
    assert res.returncode == 0, res.stderr
    assert f"as lab-release {fp}" in res.stdout and "does not trust that key" in res.stdout

    # signed, but this console does not trust the key yet: refused, one line
    line = _one_line_error(dl("package", "verify", str(package)))
    assert line.startswith("devicelab: error: package refused: manifest.sig: signed by an "
                           f"untrusted key {fp}")

    res = dl("keys", "add", f"{key}.pub")
    assert res.returncode == 0 and f"trusted lab-release  {fp}" in res.stdout
    res = dl("package", "verify", str(package))
    assert res.returncode == 0, res.stderr
    assert f"signature: signed by lab-release ({fp})" in res.stdout
    js = json.loads(dl("package", "verify", str(package), "--json").stdout)
    assert js["ok"] and js["signature"] == "signed" and js["signer"] == f"lab-release ({fp})"

    manifest = package / "manifest.json"
    doc = json.loads(manifest.read_bytes())
    doc["version"] = "9.9.9"
    manifest.write_text(json.dumps(doc, indent=2) + "\n")
    line = _one_line_error(dl("package", "verify", str(package)))
    assert "manifest.sig: bad signature: manifest.json was changed after it was signed" in line


def test_unsigned_warns_by_default_and_is_refused_under_refuse(package: Path) -> None:
    res = dl("package", "verify", str(package))
    assert res.returncode == 0 and "signature: unsigned" in res.stdout
    assert "warning: package is unsigned" in res.stdout
    res = dl("keys", "policy", "refuse")
    assert res.returncode == 0
    assert dl("keys", "policy").stdout.strip() == "refuse"
    line = _one_line_error(dl("package", "verify", str(package)))
    assert "package is unsigned and the policy refuses unsigned packages" in line
    line = _one_line_error(dl("run", "--package", str(package), "--input", "synthetic",
                              "--frames", "3", "--quiet", "--db", str(package.parent / "s.db")))
    assert line.startswith("devicelab: error: package refused: manifest.sig: package is unsigned")
    assert dl("keys", "policy", "warn").returncode == 0
    assert dl("package", "verify", str(package)).returncode == 0


def test_run_refuses_an_untrusted_signature(package: Path, stranger_key: KeyPair,
                                            tmp_path: Path) -> None:
    assert dl("package", "sign", str(package), "--key", str(stranger_key.private)).returncode == 0
    db = tmp_path / "s.db"
    line = _one_line_error(dl("run", "--package", str(package), "--input", "synthetic",
                              "--frames", "3", "--quiet", "--db", str(db)))
    assert f"signed by an untrusted key {stranger_key.key.fingerprint}" in line
    if db.exists():  # refused before a session is ever created
        from console.core.store import SessionStore

        with SessionStore(db) as st:
            assert st.list_sessions() == []


def test_sign_refuses_a_tampered_package(package: Path, release_key: KeyPair) -> None:
    model = package / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    line = _one_line_error(dl("package", "sign", str(package), "--key", str(release_key.private)))
    assert "will not sign a package that does not verify: model.onnx" in line
    assert not (package / SIGNATURE_NAME).exists()


def test_encrypted_key_needs_its_passphrase(package: Path, tmp_path: Path) -> None:
    key = tmp_path / "enc"
    env = dict(os.environ, DL_PASS="s3cret phrase")
    res = dl("package", "keygen", str(key), "--passphrase-env", "DL_PASS", "--trust", env=env)
    assert res.returncode == 0, res.stderr
    assert b"s3cret" not in key.read_bytes()
    # no terminal, no passphrase: one clear line, nothing written
    line = _one_line_error(dl("package", "sign", str(package), "--key", str(key),
                              stdin=open(os.devnull)))  # noqa: SIM115
    assert "is encrypted; pass --passphrase-env VAR" in line
    assert not (package / SIGNATURE_NAME).exists()
    line = _one_line_error(dl("package", "sign", str(package), "--key", str(key),
                              "--passphrase-env", "DL_PASS", env=dict(env, DL_PASS="wrong")))
    assert "wrong passphrase" in line
    res = dl("package", "sign", str(package), "--key", str(key), "--passphrase-env", "DL_PASS",
             env=env)
    assert res.returncode == 0, res.stderr
    assert "signature: signed by enc (SHA256:" in dl("package", "verify", str(package)).stdout
    log = Path(os.environ["DEVICELAB_HOME"]) / "data" / "logs" / "devicelab.log"
    settings = Path(os.environ["DEVICELAB_HOME"]) / "config" / "settings.json"
    for f in (log, settings):
        if f.exists():
            assert "s3cret" not in f.read_text()
    assert "PRIVATE" not in settings.read_text()


def test_keys_commands(release_key: KeyPair, stranger_key: KeyPair) -> None:
    line = _one_line_error(dl("keys", "add", str(release_key.private)))
    assert "holds a PRIVATE key" in line
    assert dl("keys", "add", str(release_key.public), "--name", "ci").returncode == 0
    assert dl("keys", "add", str(stranger_key.public)).returncode == 0
    line = _one_line_error(dl("keys", "add", str(stranger_key.public.with_name("nope.pub"))))
    assert "key file not found" in line
    out = dl("keys", "list").stdout
    assert "unsigned packages: warn" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows == {"ci": release_key.key.fingerprint, "stranger": stranger_key.key.fingerprint}
    js = json.loads(dl("keys", "list", "--json").stdout)
    assert {k["name"] for k in js["keys"]} == {"ci", "stranger"}
    assert dl("keys", "remove", "ci").returncode == 0
    assert dl("keys", "remove", stranger_key.key.fingerprint).returncode == 0
    line = _one_line_error(dl("keys", "remove", "ci"))
    assert "no trusted key is named" in line
    assert "no trusted keys" in dl("keys", "list").stdout


def test_keygen_refuses_to_overwrite(release_key: KeyPair) -> None:
    before = release_key.private.read_bytes()
    line = _one_line_error(dl("package", "keygen", str(release_key.private)))
    assert "already exists; pass --force" in line
    assert release_key.private.read_bytes() == before
