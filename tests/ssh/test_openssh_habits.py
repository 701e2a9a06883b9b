"""OpenSSH's habits, each injected for real against the real sshd (issue 12).

``Include`` in ``~/.ssh/config`` (compared with ``ssh -G``), known_hosts host
patterns (wildcards, negation, hashed names), StrictHostKeyChecking /
UserKnownHostsFile / HostKeyAlias from the config, ``forget-host-key
[host]:port`` and an sshd without the SFTP subsystem.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.sshd import SshServer, serve_for_tests

from console.core.inputs import parse_input
from console.core.package import open_package
from console.devices.base import DeployError, DeviceError, HostKeyChanged, HostKeyUnknown
from console.devices.hostkeys import HostKeyNotTrusted, console_known_hosts, line_matches
from console.devices.ssh import load_ssh_config, open_ssh_device, resolve_target

from .conftest import SshEnv

pytestmark = pytest.mark.ssh
DEVICELAB = str(Path(sys.executable).parent / "devicelab")
SSH = shutil.which("ssh") or "/usr/bin/ssh"


def dl(env: SshEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=120,
                          env=env.env(), stdin=subprocess.DEVNULL)


def ssh_g(config: Path, host: str) -> dict[str, list[str]]:
    """What OpenSSH itself makes of ``host`` with ``config`` (``ssh -G``: no connection)."""
    out = subprocess.run([SSH, "-G", "-F", str(config), host], capture_output=True,
                         text=True, timeout=30, check=True, stdin=subprocess.DEVNULL).stdout
    got: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        got.setdefault(key, []).append(value)
    return got


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- Include -----------------------------------------------------------------------

def test_host_from_an_included_file_resolves_like_ssh_g_and_connects(ssh_env: SshEnv) -> None:
    srv = ssh_env.server
    ssh_dir = ssh_env.home / ".ssh"
    # Absolute Include paths here: ssh -G finds ~ through the password database, not HOME.
    config = write(ssh_dir / "config",
                   f"Host board\n    Include {ssh_dir}/config.d/*.conf\n    User {srv.user}\n"
                   "Host *\n    User fallback\n    Port 2200\n")
    write(ssh_dir / "config.d" / "lab.conf",
          f"HostName {srv.host}\nPort {srv.port}\nIdentityFile {srv.client_key}\n"
          f"Include {ssh_dir}/config.d/nested/*.conf\n"
          "Host unrelated\n    User nobody\n")
    write(ssh_dir / "config.d" / "nested" / "a.conf", "IdentitiesOnly yes\n")
    want = ssh_g(config, "board")
    t = resolve_target("board")
    assert [t.host] == want["hostname"] and [str(t.port)] == want["port"]
    assert [t.user] == want["user"] == [srv.user]  # the line after the Include counts
    assert list(t.identity_files) == want["identityfile"]
    assert want["identitiesonly"] == ["yes"] and t.identities_only
    other = resolve_target("elsewhere")
    assert (other.user, str(other.port)) == (ssh_g(config, "elsewhere")["user"][0],
                                             ssh_g(config, "elsewhere")["port"][0])
    ssh_env.trust()
    dev = ssh_env.device("board")  # the key comes from the included IdentityFile
    try:
        dev.connect()
        assert dev.identity()["port"] == srv.port
    finally:
        dev.close()


def test_include_paths_globs_order_blocks_and_loops(ssh_env: SshEnv) -> None:
    ssh_dir = ssh_env.home / ".ssh"
    write(ssh_dir / "config",
          "Include conf.d/*.conf ~/.ssh/extra.conf missing/*.conf\n"
          "Match originalhost lab-*\n    Include lab.inc\n"
          "Host *\n    User default-user\n")
    write(ssh_dir / "conf.d" / "b.conf", "Host pi\n    Port 2222\n    User b\n")
    write(ssh_dir / "conf.d" / "a.conf", "Host pi\n    Port 1111\n")  # lexical order: a first
    write(ssh_dir / "extra.conf", "Host jet\n    HostName 10.0.0.9\n")
    write(ssh_dir / "lab.inc", "User lab-user\n")
    pi = resolve_target("pi")
    assert (pi.port, pi.user) == (1111, "b")
    assert resolve_target("jet").host == "10.0.0.9"
    assert resolve_target("lab-3").user == "lab-user"
    assert resolve_target("other").user == "default-user"  # lab.inc stays inside its Match
    assert {"pi", "jet"} <= load_ssh_config().names

    write(ssh_dir / "conf.d" / "a.conf", "Include ~/.ssh/loop.conf\n")
    write(ssh_dir / "loop.conf", "Include conf.d/a.conf\n")
    with pytest.raises(DeviceError, match="Include loop") as ei:
        resolve_target("pi")
    assert "\n" not in str(ei.value)


# -- known_hosts patterns -------------------------------------------------------------

@pytest.mark.parametrize("patterns, name, hit", [
    ("[127.0.0.*]:2417", "[127.0.0.1]:2417", True),
    ("[127.0.0.*]:2417", "[127.0.0.1]:2418", False),
    ("[127.0.0.?]:2417", "[127.0.0.1]:2417", True),
    ("[127.0.0.?]:2417", "[127.0.0.10]:2417", False),
    ("*.lab,!gw.lab", "board.lab", True),
    ("*.lab,!gw.lab", "gw.lab", False),
    ("!gw.lab,*.lab", "gw.lab", False),
    ("*.LAB", "board.lab", True),
    ("board", "board.lab", False),
])
def test_line_matches(patterns: str, name: str, hit: bool) -> None:
    assert line_matches(patterns.split(","), name) is hit


@pytest.mark.parametrize("line, alias", [
    (lambda s: f"[{s.host.rsplit('.', 1)[0]}.*]:{s.port} {s.host_pub()}\n", ""),
    (lambda s: f"[{s.host[:-1]}?]:{s.port} {s.host_pub()}\n", ""),
    (lambda s: f"*.lab,!gw.lab {s.host_pub()}\n", "board.lab"),
], ids=["star-in-brackets", "question-mark", "wildcard-domain"])
def test_known_hosts_patterns_are_accepted(ssh_env: SshEnv, line, alias: str) -> None:
    srv = ssh_env.server
    write(ssh_env.home / ".ssh" / "known_hosts", line(srv))
    if alias:
        write(ssh_env.home / ".ssh" / "config", f"Host {srv.host}\n  HostKeyAlias {alias}\n")
    dev = ssh_env.device()
    try:
        dev.connect()  # no flag: the pattern line knows the key
    finally:
        dev.close()
    assert not console_known_hosts().exists()


def test_negated_pattern_and_hashed_entries(ssh_env: SshEnv, tmp_path: Path) -> None:
    srv = ssh_env.server
    kh = write(ssh_env.home / ".ssh" / "known_hosts", f"*.lab,!gw.lab {srv.host_pub()}\n")
    write(ssh_env.home / ".ssh" / "config", f"Host {srv.host}\n  HostKeyAlias gw.lab\n")
    dev = ssh_env.device()
    with pytest.raises(HostKeyUnknown, match=r"gw\.lab"):
        dev.connect()
    dev.close()
    # hashed by OpenSSH's own tool: still understood
    kh.write_text(f"gw.lab {srv.host_pub()}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True,
                   timeout=30)
    assert kh.read_text().startswith("|1|")
    dev = ssh_env.device()
    try:
        dev.connect()
    finally:
        dev.close()


# -- StrictHostKeyChecking, UserKnownHostsFile, HostKeyAlias ------------------------------

def _alias_config(env: SshEnv, extra: str) -> None:
    """``board`` in ~/.ssh/config, saved as ``bench`` with this venv's Python."""
    srv = env.server
    write(env.home / ".ssh" / "config",
          f"Host board\n  HostName {srv.host}\n  Port {srv.port}\n  User {srv.user}\n"
          f"  IdentityFile {srv.client_key}\n{extra}")
    res = dl(env, "devices", "add", "bench", "board", "--python", env.python,
             "--workdir", str(env.workdir), "--replace")
    assert res.returncode == 0, res.stderr


def _probe(env: SshEnv, *flags: str) -> subprocess.CompletedProcess[str]:
    return dl(env, "devices", "probe", "bench", *flags)


def test_strict_yes_refuses_even_with_the_flag(ssh_env: SshEnv) -> None:
    _alias_config(ssh_env, "  StrictHostKeyChecking yes\n")
    res = _probe(ssh_env, "--accept-new-host-key")
    assert res.returncode == 2, res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "StrictHostKeyChecking yes" in lines[0]
    assert ssh_env.server.fingerprint() in lines[0]
    assert not console_known_hosts().exists()
    dev = ssh_env.device("board", accept_host_key_fingerprint=ssh_env.server.fingerprint())
    with pytest.raises(HostKeyNotTrusted):  # nor does a confirmed dialog
        dev.connect()
    dev.close()


@pytest.mark.parametrize("value", ["accept-new", "no"])
def test_strict_accept_new_trusts_on_first_use_and_says_so(ssh_env: SshEnv, value: str) -> None:
    _alias_config(ssh_env, f"  StrictHostKeyChecking {value}\n")
    first = _probe(ssh_env)
    assert first.returncode == 0, first.stderr
    notes = [ln for ln in first.stderr.splitlines() if "trusted the new SSH host key" in ln]
    assert len(notes) == 1 and ssh_env.server.fingerprint() in notes[0]
    assert ssh_env.server.hostkey_name in console_known_hosts().read_text()
    again = _probe(ssh_env)
    assert again.returncode == 0 and "trusted" not in again.stderr


def test_strict_no_still_refuses_a_changed_key(ssh_env: SshEnv, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True, capture_output=True, timeout=30)
    pub = " ".join(Path(str(other) + ".pub").read_text().split()[:2])
    write(ssh_env.home / ".ssh" / "known_hosts", f"{ssh_env.server.hostkey_name} {pub}\n")
    _alias_config(ssh_env, "  StrictHostKeyChecking no\n")
    dev = ssh_env.device("board")
    with pytest.raises(HostKeyChanged):
        dev.connect()
    dev.close()


def test_user_known_hosts_file_and_host_key_alias(ssh_env: SshEnv) -> None:
    srv = ssh_env.server
    lab = write(ssh_env.home / "lab" / "known_hosts", f"bench-board {srv.host_pub()}\n")
    _alias_config(ssh_env, "  UserKnownHostsFile %d/lab/known_hosts\n"
                           "  HostKeyAlias bench-board\n")
    t = resolve_target("board")
    assert t.known_hosts_files == (str(lab),) and t.hostkey_name == "bench-board"
    dev = ssh_env.device("board")
    try:
        dev.connect()  # known under its alias, in the file the config names
    finally:
        dev.close()
    # a new key under an alias is saved under the alias
    lab.write_text("")
    res = _probe(ssh_env, "--accept-new-host-key")
    assert res.returncode == 0, res.stderr
    assert console_known_hosts().read_text().startswith("bench-board ")


def test_forget_host_key_takes_the_known_hosts_spelling(ssh_env: SshEnv) -> None:
    srv = ssh_env.server
    res = dl(ssh_env, "devices", "probe", ssh_env.url, "--key-file", str(srv.client_key),
             "--accept-new-host-key")
    assert res.returncode in (0, 1), res.stderr  # 1: this sshd's python3 may lack onnxruntime
    assert srv.hostkey_name in console_known_hosts().read_text()
    res = dl(ssh_env, "devices", "forget-host-key", srv.hostkey_name)
    assert res.returncode == 0, res.stderr
    assert f"removed 1 key(s) for {srv.hostkey_name}" in res.stdout
    assert srv.hostkey_name not in console_known_hosts().read_text()


# -- no SFTP subsystem ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sshd_no_sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    yield from serve_for_tests(tmp_path_factory.mktemp("sshd-nosftp"),
                               "the SSH tests (sshd without SFTP)", sftp=False)


def test_sshd_without_sftp_says_what_to_change(ssh_env: SshEnv, sshd_no_sftp: SshServer,
                                               demo_package: Path) -> None:
    srv = sshd_no_sftp
    dev = open_ssh_device(srv.url, key_file=str(srv.client_key), python=ssh_env.python,
                          workdir=str(ssh_env.workdir), accept_new_host_key=True)
    try:
        with pytest.raises(DeployError) as ei:
            dev.deploy(open_package(demo_package), parse_input("synthetic:32x32"))
        assert dev.connection is not None and dev.connection.alive()
    finally:
        dev.close()
    msg = str(ei.value)
    assert "offers no SFTP subsystem" in msg and "Subsystem sftp internal-sftp" in msg
    assert "\n" not in msg
    assert srv.wait_no_connections(10.0)
