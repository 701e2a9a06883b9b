"""Connecting to a real sshd: host-key rules, key sources, config aliases, ProxyJump."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers.sshd import free_port, keygen

from console.core.paths import config_dir
from console.devices.base import (
    AuthenticationFailed,
    DeviceUnreachable,
    HostKeyChanged,
    HostKeyUnknown,
)

from .conftest import SshEnv

pytestmark = pytest.mark.ssh


def console_known_hosts() -> Path:
    return config_dir() / "known_hosts"


def test_unknown_host_is_refused_with_type_and_fingerprint(ssh_env: SshEnv) -> None:
    dev = ssh_env.device()
    with pytest.raises(HostKeyUnknown) as ei:
        dev.connect()
    msg = str(ei.value)
    fp = ssh_env.server.fingerprint()  # computed by ssh-keygen, not by the console
    assert ei.value.fingerprint == fp and ei.value.key_type == "ssh-ed25519"
    assert fp in msg and "ssh-ed25519" in msg and "--accept-new-host-key" in msg
    assert "\n" not in msg
    assert not console_known_hosts().exists(), "nothing is trusted without consent"
    dev.close()


def test_accept_new_stores_the_key_in_the_consoles_file_only(ssh_env: SshEnv) -> None:
    dev = ssh_env.device(accept_new_host_key=True)
    dev.connect()
    ident = dev.identity()
    dev.close()
    assert ident["host_key_sha256"] == ssh_env.server.fingerprint()
    assert ident == {"kind": "ssh", "host": "127.0.0.1", "port": ssh_env.server.port,
                     "user": ssh_env.server.user, "host_key_type": "ssh-ed25519",
                     "host_key_sha256": ssh_env.server.fingerprint()}
    line = console_known_hosts().read_text()
    assert line == ssh_env.server.known_hosts_line()
    assert oct(console_known_hosts().stat().st_mode & 0o777) == "0o600"
    assert not (ssh_env.home / ".ssh" / "known_hosts").exists(), "~/.ssh is only read"
    again = ssh_env.device()  # no flag needed any more
    again.connect()
    again.close()
    assert console_known_hosts().read_text() == line, "known key is not added twice"


def test_confirmed_fingerprint_accepts_only_that_key(ssh_env: SshEnv) -> None:
    wrong = "SHA256:" + "A" * 43
    dev = ssh_env.device(accept_host_key_fingerprint=wrong)
    with pytest.raises(HostKeyUnknown, match=r"not the .* that was confirmed"):
        dev.connect()
    assert not console_known_hosts().exists()
    dev = ssh_env.device(accept_host_key_fingerprint=ssh_env.server.fingerprint())
    dev.connect()
    dev.close()
    assert console_known_hosts().read_text() == ssh_env.server.known_hosts_line()


def _other_key_line(ssh_env: SshEnv, tmp_path: Path, kind: str = "ed25519") -> str:
    other = tmp_path / f"impostor_{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(other)], check=True,
                   capture_output=True)
    pub = " ".join(Path(str(other) + ".pub").read_text().split()[:2])
    return f"{ssh_env.server.hostkey_name} {pub}\n"


def test_changed_key_in_user_known_hosts_is_refused_whatever_the_flags(
        ssh_env: SshEnv, tmp_path: Path) -> None:
    kh = ssh_env.home / ".ssh" / "known_hosts"
    kh.write_text(_other_key_line(ssh_env, tmp_path))
    for kw in ({}, {"accept_new_host_key": True},
               {"accept_host_key_fingerprint": ssh_env.server.fingerprint()}):
        dev = ssh_env.device(**kw)
        with pytest.raises(HostKeyChanged) as ei:
            dev.connect()
        msg = str(ei.value)
        assert "HOST KEY CHANGED" in msg and ssh_env.server.fingerprint() in msg
        assert str(kh) in msg and "ssh-keygen -R" in msg and "\n" not in msg
    assert not console_known_hosts().exists(), "a changed key is never written anywhere"


def test_changed_key_in_consoles_file_points_to_forget_host_key(
        ssh_env: SshEnv, tmp_path: Path) -> None:
    console_known_hosts().parent.mkdir(parents=True, exist_ok=True)
    console_known_hosts().write_text(_other_key_line(ssh_env, tmp_path))
    with pytest.raises(HostKeyChanged, match="devicelab devices forget-host-key"):
        ssh_env.device(accept_new_host_key=True).connect()


def test_only_a_key_of_another_type_known_counts_as_changed(ssh_env: SshEnv,
                                                            tmp_path: Path) -> None:
    (ssh_env.home / ".ssh" / "known_hosts").write_text(_other_key_line(ssh_env, tmp_path,
                                                                       "rsa"))
    with pytest.raises(HostKeyChanged, match="ssh-rsa"):
        ssh_env.device(accept_new_host_key=True).connect()


def test_hashed_known_hosts_entries_are_understood(ssh_env: SshEnv) -> None:
    kh = ssh_env.home / ".ssh" / "known_hosts"
    kh.write_text(ssh_env.server.known_hosts_line())
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert kh.read_text().startswith("|1|")
    dev = ssh_env.device()
    dev.connect()
    dev.close()


def test_connect_by_ssh_config_alias(ssh_env: SshEnv) -> None:
    ssh_env.trust()
    key = ssh_env.home / ".ssh" / "lab_key"
    key.write_bytes(ssh_env.server.client_key.read_bytes())
    key.chmod(0o600)
    (ssh_env.home / ".ssh" / "config").write_text(
        f"Host labboard\n  HostName 127.0.0.1\n  Port {ssh_env.server.port}\n"
        f"  User {ssh_env.server.user}\n  IdentityFile ~/.ssh/lab_key\n")
    dev = ssh_env.device("labboard")
    dev.connect()
    try:
        assert dev.identity()["port"] == ssh_env.server.port
        assert dev.describe() == "labboard"
        facts = dev.probe()
        assert facts["python_executable"] == ssh_env.python
    finally:
        dev.close()


def test_proxyjump_goes_through_the_jump_host(ssh_env: SshEnv) -> None:
    ssh_env.trust()
    (ssh_env.home / ".ssh" / "config").write_text(
        f"Host jump\n  HostName 127.0.0.1\n  Port {ssh_env.server.port}\n"
        f"  User {ssh_env.server.user}\n  IdentityFile {ssh_env.server.client_key}\n"
        f"Host behind\n  HostName 127.0.0.1\n  Port {ssh_env.server.port}\n"
        f"  User {ssh_env.server.user}\n  IdentityFile {ssh_env.server.client_key}\n"
        "  ProxyJump jump\n")
    dev = ssh_env.device("behind")
    before = set(ssh_env.server.connection_pids())
    dev.connect()
    try:
        assert dev.identity()["via"] == [f"{ssh_env.server.user}@127.0.0.1:"
                                         f"{ssh_env.server.port}"]
        # two new SSH sessions on the server: the jump host's and the tunnelled one
        # (sshd's short-lived pre-auth child may still be exiting under load)
        deadline = time.monotonic() + 10
        while len(set(ssh_env.server.connection_pids()) - before) > 2 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(set(ssh_env.server.connection_pids()) - before) == 2
        assert dev.probe()["libraries"]["onnxruntime"]
    finally:
        dev.close()


def test_encrypted_key_asks_for_its_passphrase_and_never_stores_it(
        ssh_env: SshEnv, tmp_path: Path) -> None:
    ssh_env.trust()
    secret = "correct horse 7"
    key = keygen(tmp_path / "locked_key", passphrase=secret)
    ssh_env.server.authorize(Path(str(key) + ".pub"))
    no_prompt = ssh_env.device(key_file=str(key))
    with pytest.raises(AuthenticationFailed, match="needs its passphrase") as ei:
        no_prompt.connect()
    assert "\n" not in str(ei.value)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return secret

    dev = ssh_env.device(key_file=str(key), password_prompt=prompt)
    dev.connect()
    dev.close()
    assert asked == [f"Passphrase for key {key}: "]
    for root, _dirs, files in os.walk(os.environ["DEVICELAB_HOME"]):
        for f in files:
            assert secret.encode() not in (Path(root) / f).read_bytes(), f


def test_keys_from_the_ssh_agent(ssh_env: SshEnv, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ssh_env.trust()
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.05"])
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", str(ssh_env.server.client_key)], env=env, check=True,
                       capture_output=True, timeout=30)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        dev = ssh_env.device(ssh_env.url)  # no key file: only the agent has the key
        dev.connect()
        dev.close()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(10)


def test_unauthorized_key_is_refused_in_one_line(ssh_env: SshEnv, tmp_path: Path) -> None:
    ssh_env.trust()
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(AuthenticationFailed) as ei:
        ssh_env.device(key_file=str(stranger)).connect()
    msg = str(ei.value)
    assert f"key {stranger}" in msg and "authorized_keys" in msg and "\n" not in msg


def test_closed_port_is_unreachable_not_a_hang(ssh_env: SshEnv) -> None:
    from console.devices.ssh import open_ssh_device

    dev = open_ssh_device(f"ssh://root@127.0.0.1:{free_port()}", connect_timeout=3)
    with pytest.raises(DeviceUnreachable, match="refused the connection"):
        dev.connect()


def test_silent_server_times_out(ssh_env: SshEnv) -> None:
    """A TCP listener that never speaks SSH: a bounded wait, then one line."""
    import socket

    from console.devices.ssh import open_ssh_device

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        dev = open_ssh_device(f"ssh://root@127.0.0.1:{port}", connect_timeout=1.5)
        with pytest.raises(DeviceUnreachable) as ei:
            dev.connect()
    assert "127.0.0.1" in str(ei.value) and "\n" not in str(ei.value)



def test_marker_and_odd_lines_beside_the_real_key_do_not_stop_the_connection(
        ssh_env: SshEnv, tmp_path: Path) -> None:
    """@cert-authority, a @revoked *other* key, unknown key types and damaged lines are
    skipped (paramiko's HostKeys.load raised InvalidHostKey on them: every connection
    failed with an internal error)."""
    other = _other_key_line(ssh_env, tmp_path).split(maxsplit=1)[1].strip()
    kh = ssh_env.home / ".ssh" / "known_hosts"
    kh.write_text(
        "# a comment\n"
        f"@cert-authority *.lab.example,{ssh_env.server.hostkey_name} {other} lab CA\n"
        f"@revoked * {other}\n"
        f"{ssh_env.server.hostkey_name} sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5\n"
        "damaged-line-without-a-key\n"
        "|1|not-base64|x ssh-ed25519 AAAA\n"
        + ssh_env.server.known_hosts_line())
    dev = ssh_env.device()
    dev.connect()
    try:
        assert dev.identity()["host_key_sha256"] == ssh_env.server.fingerprint()
    finally:
        dev.close()
    assert not console_known_hosts().exists()


def test_revoked_host_key_is_refused_loudly_whatever_the_flags(ssh_env: SshEnv) -> None:
    kh = ssh_env.home / ".ssh" / "known_hosts"
    kh.write_text(ssh_env.server.known_hosts_line()
                  + f"@revoked * {ssh_env.server.host_pub()}\n")
    for kw in ({}, {"accept_new_host_key": True},
               {"accept_host_key_fingerprint": ssh_env.server.fingerprint()}):
        dev = ssh_env.device(**kw)
        with pytest.raises(HostKeyChanged) as ei:
            dev.connect()
        dev.close()
        msg = str(ei.value)
        assert "REVOKED" in msg and ssh_env.server.fingerprint() in msg and str(kh) in msg
        assert "\n" not in msg
    assert not console_known_hosts().exists(), "a revoked key is never written anywhere"


def test_keyboard_interactive_answers_hidden_prompts_with_the_password_once() -> None:
    """The handler given to paramiko's auth_interactive when a server offers only
    keyboard-interactive. (A login through it is not tested against the real sshd:
    that needs PAM and a real account's password, which tests must not know.)"""
    from console.devices.ssh.auth import _answer_with

    h = _answer_with("s3cret")
    assert h("", "", []) == []  # an info-only round
    assert h("", "", [("Login as: ", True), ("Password: ", False)]) == ["", "s3cret"]
    # asked again (wrong password, or an OTP next): never the password a second time
    assert h("", "", [("Password: ", False)]) == [""]
    assert _answer_with("pw")("", "", [("Name: ", True)]) == [""], "echoed: not a secret"
