"""A real OpenSSH ``sshd`` on 127.0.0.1 for tests and benchmarks: "the device".

:func:`start_sshd` writes a private config (its own host key, its own
``authorized_keys``, a freshly generated client key, no password auth),
checks it with ``sshd -t``, starts ``/usr/sbin/sshd -D -e -f CONFIG`` as a
child of the caller (stderr goes to a log file in the server folder) and
waits for its banner. The device side of every test is this very machine, so
``pgrep`` here is ``pgrep`` on the device.

Per-connection ``sshd`` processes (the privileged monitor and the session
process, children of the listener) are what a test kills or freezes to cut a
link: :meth:`SshServer.connection_pids`.

Nothing here fakes SSH; when ``sshd`` is absent :func:`sshd_missing_reason`
says why and the caller decides between skip (locally) and fail (CI).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"

CONFIG_TEMPLATE = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


def sshd_missing_reason() -> str | None:
    """Why no sshd can run here (None when it can)."""
    if not os.path.isfile(SSHD) or not os.access(SSHD, os.X_OK):
        return (f"{SSHD} is not installed (Debian/Ubuntu: apt-get install openssh-server; "
                "scripts/setup does it as root)")
    if not os.path.isfile(SSH_KEYGEN):
        return "ssh-keygen is not installed (apt-get install openssh-client)"
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        except OSError as exc:
            return f"cannot create /run/sshd (sshd's privilege-separation folder): {exc}"
    return None


def keygen(path: Path, passphrase: str = "", comment: str = "devicelab-test") -> Path:
    """A new ed25519 key pair at ``path`` / ``path.pub``."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", passphrase, "-C", comment,
                    "-f", str(path)], check=True, capture_output=True, timeout=30)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                rest = fh.read().decode("ascii", "replace").rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(rest) > 1 and rest[1] == str(pid) and rest[0] != "Z":
            out.append(int(name))
    return out


@dataclass
class SshServer:
    """A running sshd and everything a client needs to reach it."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    host_key: Path
    client_key: Path
    authorized_keys: Path
    log: Path
    host: str = "127.0.0.1"
    user: str = field(default_factory=getpass.getuser)

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"

    @property
    def hostkey_name(self) -> str:
        return f"[{self.host}]:{self.port}"

    def host_pub(self) -> str:
        """``ssh-ed25519 AAAA…`` of the server's host key."""
        return " ".join(Path(str(self.host_key) + ".pub").read_text().split()[:2])

    def known_hosts_line(self) -> str:
        return f"{self.hostkey_name} {self.host_pub()}\n"

    def fingerprint(self) -> str:
        """``SHA256:…`` as ``ssh-keygen -l`` prints it (an independent computation)."""
        out = subprocess.run([SSH_KEYGEN, "-l", "-E", "sha256", "-f",
                              str(self.host_key) + ".pub"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
        return out.split()[1]

    def authorize(self, pub_key_file: Path) -> None:
        with self.authorized_keys.open("a") as fh:
            fh.write(pub_key_file.read_text().strip() + "\n")

    def connection_pids(self) -> list[int]:
        """Every per-connection sshd process (monitor and session), deepest last."""
        out: list[int] = []
        todo = [self.proc.pid]
        while todo:
            for kid in _children(todo.pop()):
                if _comm(kid) == "sshd" or _comm(kid).startswith("sshd"):
                    out.append(kid)
                    todo.append(kid)
        return out

    def signal_connections(self, sig: int) -> list[int]:
        pids = self.connection_pids()
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def wait_no_connections(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.connection_pids():
                return True
            time.sleep(0.05)
        return False

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        for pid in self.connection_pids():
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class SshdError(Exception):
    pass


def start_sshd(root: Path, attempts: int = 3, *, sftp: bool = True) -> SshServer:
    """Start a private sshd under ``root`` (created). Raise SshdError if it cannot run.

    ``sftp=False`` leaves the ``Subsystem sftp`` line out, as some hardened or
    minimal images do (sshd then refuses every SFTP request)."""
    reason = sshd_missing_reason()
    if reason:
        raise SshdError(reason)
    root.mkdir(parents=True, exist_ok=True)
    host_key = root / "host_ed25519"
    if not host_key.exists():
        keygen(host_key, comment="devicelab-test-host")
    client_key = root / "client_ed25519"
    if not client_key.exists():
        keygen(client_key, comment="devicelab-test-client")
    authorized = root / "authorized_keys"
    authorized.write_text(Path(str(client_key) + ".pub").read_text())
    os.chmod(authorized, 0o600)
    log = root / "sshd.log"
    last = ""
    for _ in range(attempts):
        port = free_port()
        config = root / "sshd_config"
        text = CONFIG_TEMPLATE.format(port=port, host_key=host_key,
                                      pid_file=root / "sshd.pid", authorized_keys=authorized)
        if not sftp:
            text = "".join(line for line in text.splitlines(keepends=True)
                           if not line.startswith("Subsystem sftp"))
        config.write_text(text)
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True,
                               timeout=30)
        if check.returncode != 0:
            raise SshdError(f"sshd -t refused the test config: {check.stderr.strip()}")
        with log.open("ab") as err:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-"):
                        return SshServer(root, port, proc, host_key, client_key, authorized,
                                         log)
            except OSError:
                time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        last = log.read_text(errors="replace")[-500:]
    raise SshdError(f"sshd did not start: {last.strip()}")


def serve_for_tests(root: Path, what: str, *, sftp: bool = True) -> Iterator[SshServer]:
    """The body of an ``sshd`` fixture: a running server for the tests that ``yield
    from`` it, stopped afterwards. Without sshd the tests skip with the reason —
    except under CI=true, where ``what`` (e.g. "the SSH tests") must run."""
    import pytest

    from helpers.procs import allow_pid

    def unavailable(reason: str) -> None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true: {what} must run, but {reason}")
        pytest.skip(f"{what} need a real sshd: {reason}")

    reason = sshd_missing_reason()
    if reason:
        unavailable(reason)
    try:
        srv = start_sshd(root, sftp=sftp)
    except SshdError as exc:
        unavailable(str(exc))
        raise
    allow_pid(srv.proc.pid)
    yield srv
    srv.stop()
