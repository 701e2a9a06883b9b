"""The real ``devicelab`` command against the real sshd, as a user types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.core.store import SessionStore

from .conftest import SshEnv

pytestmark = pytest.mark.ssh
DEVICELAB = str(Path(sys.executable).parent / "devicelab")


def dl(env: SshEnv, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout,
                          env=env.env(), stdin=subprocess.DEVNULL)


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("devicelab: error: ")
    return lines[0]


def test_saved_device_probe_run_forget_remove(ssh_env: SshEnv, demo_package: Path,
                                              demo_video: Path, tmp_path: Path) -> None:
    srv = ssh_env.server
    res = dl(ssh_env, "devices", "add", "bench-7", ssh_env.url, "--python", ssh_env.python,
             "--workdir", str(ssh_env.workdir), "--key-file", str(srv.client_key),
             "--notes", "the board on the left")
    assert res.returncode == 0, res.stderr
    assert "saved bench-7" in res.stdout
    lst = dl(ssh_env, "devices", "list")
    assert lst.returncode == 0
    row = next(line for line in lst.stdout.splitlines() if line.startswith("bench-7"))
    assert ssh_env.url in row and ssh_env.python in row and "the board on the left" in row

    # unknown host: refused, exit 2, one line with the fingerprint and the fix
    res = dl(ssh_env, "devices", "probe", "bench-7")
    assert res.returncode == 2
    line = one_error_line(res)
    assert srv.fingerprint() in line and "--accept-new-host-key" in line

    res = dl(ssh_env, "devices", "probe", "bench-7", "--accept-new-host-key")
    assert res.returncode == 0, res.stderr
    assert f"host key    ssh-ed25519 {srv.fingerprint()}" in res.stdout
    assert "onnxruntime 1." in res.stdout and "MISSING" not in res.stdout
    assert str(ssh_env.workdir) in res.stdout

    db = str(tmp_path / "s.db")
    res = dl(ssh_env, "run", "--device", "bench-7", "--package", str(demo_package),
             "--input", str(demo_video), "--json", "--db", db)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "completed" and out["summary"]["frames"] > 100
    assert "bench-7" in out["device"]
    with SessionStore(db) as st:
        s = st.get_session(out["session_id"])
        assert s["device_name"] == "bench-7" and s["device_kind"] == "ssh"
        assert s["device_identity"]["host_key_sha256"] == srv.fingerprint()

    res = dl(ssh_env, "devices", "forget-host-key", "bench-7")
    assert res.returncode == 0 and "removed 1 key" in res.stdout
    assert dl(ssh_env, "devices", "probe", "bench-7").returncode == 2

    assert dl(ssh_env, "devices", "remove", "bench-7").returncode == 0
    assert "bench-7" not in dl(ssh_env, "devices", "list").stdout
    res = dl(ssh_env, "devices", "remove", "bench-7")
    assert res.returncode == 2 and "no saved device" in one_error_line(res)


def test_run_by_url_with_a_changed_host_key_is_refused(ssh_env: SshEnv, demo_package: Path,
                                                       tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True, capture_output=True)
    pub = " ".join(Path(str(other) + ".pub").read_text().split()[:2])
    (ssh_env.home / ".ssh" / "known_hosts").write_text(f"{ssh_env.server.hostkey_name} {pub}\n")
    res = dl(ssh_env, "run", "--device", ssh_env.url, "--package", str(demo_package),
             "--input", "synthetic", "--frames", "5", "--accept-new-host-key", "--quiet",
             "--db", str(tmp_path / "s.db"))
    assert res.returncode == 2
    assert "HOST KEY CHANGED" in one_error_line(res)


@pytest.mark.parametrize("args, fragment", [
    (["devices", "add", "local", "ssh://a@b"], "reserved"),
    (["devices", "add", "x1", "ssh://a:secret@b"], "holds a password"),
    (["devices", "probe", "ssh://root@127.0.0.1:1"], "refused the connection"),
])
def test_device_errors_are_one_line(ssh_env: SshEnv, args: list[str], fragment: str) -> None:
    res = dl(ssh_env, *args)
    assert res.returncode == 2
    line = one_error_line(res)
    assert fragment in line and "secret" not in line


def test_key_file_for_one_command_run_and_probe(ssh_env: SshEnv, demo_package: Path,
                                                tmp_path: Path) -> None:
    """``--key-file`` logs in for this command only: nothing about it is saved."""
    ssh_env.trust()
    key = str(ssh_env.server.client_key)
    res = dl(ssh_env, "devices", "add", "bench", ssh_env.url, "--python", ssh_env.python,
             "--workdir", str(ssh_env.workdir))  # saved without a key
    assert res.returncode == 0, res.stderr
    res = dl(ssh_env, "devices", "probe", "bench")
    assert res.returncode == 2
    assert "SSH login as" in one_error_line(res) and "--key-file" in res.stderr

    res = dl(ssh_env, "devices", "probe", "bench", "--key-file", key)
    assert res.returncode == 0, res.stderr
    assert f"host key    ssh-ed25519 {ssh_env.server.fingerprint()}" in res.stdout

    db = str(tmp_path / "s.db")
    res = dl(ssh_env, "run", "--device", "bench", "--key-file", key, "--package",
             str(demo_package), "--input", "synthetic:32x32", "--frames", "5", "--json",
             "--db", db)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "completed" and out["summary"]["frames"] == 5
    listed = json.loads(dl(ssh_env, "devices", "list", "--json").stdout)
    (saved,) = [d for d in listed if d["name"] == "bench"]
    assert "key_file" in saved and not saved["key_file"], "--key-file is never saved"

    res = dl(ssh_env, "run", "--device", ssh_env.url, "--key-file", str(tmp_path / "nokey"),
             "--package", str(demo_package), "--input", "synthetic", "--db", db)
    assert res.returncode == 2
    assert "--key-file" in one_error_line(res) and "no such file" in res.stderr
    res = dl(ssh_env, "devices", "probe", "local", "--key-file", key)
    assert res.returncode == 2 and "for SSH devices" in one_error_line(res)
