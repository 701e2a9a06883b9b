"""A device lab of real SSH devices, each its own ``sshd`` in its own network namespace.

Loopback hides the network: every device here has a network of its own — a
namespace (``ip netns add``), a veth pair whose host end stays here and whose
device end is moved into the namespace, and a private /30 between the two
(the console at .1, the device at .2) — and its own ``/usr/sbin/sshd`` (own
host key, own ``authorized_keys``, own client key) listening on port 22 of
the device end, started with ``ip netns exec``. Everything a device runs (its
sshd, the per-connection sshd processes, the agent) is in its namespace, so
``ip netns pids`` is "the processes on the device" and killing them is the
device dying.

A :class:`LabSpec` may ask for

* a CPU limit (``cpu=(quota_us, period_us)``): the sshd starts inside a CPU
  bandwidth cgroup (v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``, v2
  ``cpu.max``), so its agents inherit it and run measurably slower;
* a CPU weight (``cpu_weight``, v2 scale, 100 a plain process): a device of its
  own "board" on a machine shared with other work — its agents win the cores
  from the machine's other processes, so a loaded machine does not make an
  unlimited device look like a limited one;
* a non-root login (``unprivileged=True``): a user made for this lab whose own
  venv, made from ``/usr/bin/python3`` (a Python every user can reach — a venv
  of the pyenv Python would link into ``/root``) holds onnxruntime, numpy and
  opencv-headless at the console's own versions; that venv's python is the
  device's ``--python``.

Names carry this process's pid (namespaces ``dlab-PID-K``, links ``dlPIDhK``,
the user ``dlabPIDuB``, cgroups ``devicelab-netns-PID-K``, the folder
``/tmp/devicelab-netns-PID-B``; K counts devices, B builds) so concurrent runs
never collide, and a run that was killed before its finaliser leaves nothing for long: every build
first removes what dead pids left (:func:`clean_stale`). Subnets come from
:data:`NET` (``DEVICELAB_NETNS_NET``, default 10.250.0.0/16), picked under a
lock among the ones no interface here uses.

Host keys are trusted the way a person should: ``ssh-keyscan`` of the device
over its link, compared with the key this lab generated before the line goes
into a known_hosts file — never accept-on-first-use.

Root only. :func:`netns_missing_reason` says why the lab cannot be built;
the :func:`netns_lab` fixture skips with it, and fails when ``CI=true``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import ipaddress
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.cpu_cgroup import CGROUP, CgroupError, CpuCgroup, remove_cgroup
from helpers.procs import allow_pid
from helpers.sshd import SSHD, keygen, sshd_missing_reason

IP = shutil.which("ip") or "/usr/sbin/ip"
SSH_KEYSCAN = shutil.which("ssh-keyscan") or "/usr/bin/ssh-keyscan"
#: the Python the non-root user's venv is made from: outside /root, so that user reaches it
SYSTEM_PYTHON = "/usr/bin/python3"
NET = ipaddress.ip_network(os.environ.get("DEVICELAB_NETNS_NET", "10.250.0.0/16"))
LOCK = Path("/run/devicelab-netns.lock")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: what the non-root user's venv holds (pinned to the console's own versions)
VENV_PACKAGES = ("numpy", "onnxruntime", "opencv-python-headless")
STALE_NS = re.compile(r"^dlab-(\d+)-\d+$")
STALE_LINK = re.compile(r"^dl(\d+)h\d+$")
STALE_USER = re.compile(r"^dlab(\d+)u\d+$")
STALE_CGROUP = re.compile(r"^devicelab-netns-(\d+)-\d+$")
STALE_DIR = re.compile(r"^devicelab-netns-(\d+)-\d+$")
#: builds and devices of this process, numbered on across builds (a benchmark builds twice)
_BUILDS = itertools.count()
_DEVICES = itertools.count()

SSHD_CONFIG = """\
Port 22
ListenAddress {address}
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
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


class LabError(Exception):
    """The lab could not be built or driven (with the command's own words)."""


def _run(*cmd: str, check: bool = True, timeout: float = 60,
         **kw: object) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: exit {res.returncode}: "
                       f"{(res.stderr or res.stdout).strip()[-400:]}")
    return res


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace").strip()
    except OSError:
        return ""


def netns_missing_reason() -> str | None:
    """Why the lab cannot be built here (None when it can)."""
    if os.geteuid() != 0:
        return "network namespaces, veth links and cgroups need root (CI runs as root)"
    if not os.path.isfile(IP):
        return "the ip command is missing (Debian: apt-get install iproute2; scripts/setup does)"
    if not os.path.isfile(SSH_KEYSCAN):
        return "ssh-keyscan is missing (apt-get install openssh-client)"
    return sshd_missing_reason()


def unavailable(what: str, reason: str) -> None:
    """Skip ``what`` with the reason — but a skip under CI=true is a failure."""
    if IN_CI:
        pytest.fail(f"CI=true: {what} must run, but {reason}")
    pytest.skip(f"{what}: {reason}")


# -- devices -------------------------------------------------------------------------
@dataclass(frozen=True)
class LabSpec:
    """One device to build: its name, a CPU limit (quota_us, period_us), a non-root login."""

    name: str
    cpu: tuple[int, int] | None = None
    cpu_weight: int | None = None
    unprivileged: bool = False


@dataclass
class NetnsDevice:
    name: str
    ns: str
    #: the host end of the veth pair, and the device end (inside the namespace)
    link: str
    peer: str
    host_ip: str
    device_ip: str
    root: Path
    user: str
    python: str
    workdir: Path
    host_key: Path
    client_key: Path
    config: Path
    log: Path
    cgroup: CpuCgroup | None = None
    uid: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@{self.device_ip}"

    # -- the device's sshd ----------------------------------------------------------
    def start(self) -> None:
        """Start the device's sshd (inside its cgroup from its first instruction) unless it
        runs; wait for its banner over the link."""
        if self.proc is not None and self.proc.poll() is None:
            return
        group = self.cgroup

        def into_cgroup() -> None:  # in the child, before exec: nothing escapes the limit
            if group is not None:
                group.add(os.getpid())

        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [IP, "netns", "exec", self.ns, SSHD, "-D", "-e", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, preexec_fn=into_cgroup)
        allow_pid(self.proc.pid)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection((self.device_ip, 22), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        raise LabError(f"sshd of {self.name} did not answer on {self.device_ip}:22: "
                       f"{self.log_tail()}")

    def pids(self) -> list[int]:
        """Every process on the device (in its namespace)."""
        res = _run(IP, "netns", "pids", self.ns, check=False)
        return [int(p) for p in res.stdout.split() if p.isdigit()]

    def kill(self) -> list[int]:
        """The device dies: SIGKILL to everything in its namespace (sshd, sessions, agent)."""
        killed = []
        for _ in range(5):  # a process may fork while we kill
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        return killed

    def cut_link(self) -> None:
        """The cable is pulled: the device end of its link goes down. Nothing is closed,
        no FIN, no RST: the console can only notice the silence."""
        _run(IP, "-n", self.ns, "link", "set", self.peer, "down")

    def restore_link(self) -> None:
        _run(IP, "-n", self.ns, "link", "set", self.peer, "up")

    def wait_idle(self, timeout: float = 20.0) -> list[str]:
        """Wait until the device runs nothing but its sshd listener; what is left
        (``pid cmdline``) when it does not."""
        listener = self.proc.pid if self.proc is not None else -1
        deadline = time.monotonic() + timeout
        while True:
            left = [p for p in self.pids() if p != listener]
            if not left or time.monotonic() > deadline:
                return [f"{p} {_cmdline(p)}" for p in left]
            time.sleep(0.1)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -- trust -------------------------------------------------------------------------
    def host_pub(self) -> str:
        return " ".join(Path(str(self.host_key) + ".pub").read_text().split()[:2])

    def trust(self, known_hosts: Path) -> str:
        """Scan the device's host key over its link and, when it is the key this lab made
        for it, add the line to ``known_hosts``. Returns the line."""
        res = _run(SSH_KEYSCAN, "-T", "10", "-t", "ed25519", self.device_ip, check=False)
        lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith("#")]
        if not lines:
            raise LabError(f"ssh-keyscan got no key from {self.name} ({self.device_ip}): "
                           f"{res.stderr.strip()[-300:]}")
        host, *key = lines[0].split()
        if " ".join(key[:2]) != self.host_pub() or host != self.device_ip:
            raise LabError(f"{self.device_ip} offered {' '.join(key[:2])[:60]}…, not the host "
                           f"key made for {self.name}: refusing to trust it")
        line = f"{host} {' '.join(key[:2])}\n"
        known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        existing = known_hosts.read_text() if known_hosts.exists() else ""
        if line not in existing:
            with known_hosts.open("a") as fh:
                fh.write(line)
        return line

    def add_args(self) -> list[str]:
        """``devicelab devices add`` arguments that save this device under its name."""
        return ["devices", "add", self.name, self.url, "--python", self.python,
                "--workdir", str(self.workdir), "--key-file", str(self.client_key),
                "--replace"]


@dataclass
class NetnsLab:
    """The built devices, by name; :meth:`close` removes everything the build made."""

    root: Path
    devices: list[NetnsDevice] = field(default_factory=list)
    user: str | None = None
    _cgroups: list[CpuCgroup] = field(default_factory=list)
    _namespaces: list[str] = field(default_factory=list)
    _links: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[NetnsDevice]:
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def __getitem__(self, name: str) -> NetnsDevice:
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    def close(self) -> None:
        """Tear down, each step on its own (one failure does not keep the rest)."""
        for d in self.devices:
            with contextlib.suppress(Exception):
                d.kill()
        for ns in self._namespaces:
            _delete_netns(ns)
        for link in self._links:
            _run(IP, "link", "del", link, check=False)
        for g in self._cgroups:
            g.remove()
        if self.user:
            _delete_user(self.user)
        shutil.rmtree(self.root, ignore_errors=True)


def _delete_netns(ns: str) -> None:
    res = _run(IP, "netns", "pids", ns, check=False)
    for p in res.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(p), signal.SIGKILL)
    for _ in range(20):
        if _run(IP, "netns", "del", ns, check=False).returncode == 0:
            return
        if ns not in _netns_names():
            return
        time.sleep(0.1)


def _netns_names() -> list[str]:
    res = _run(IP, "netns", "list", check=False)
    return [ln.split()[0] for ln in res.stdout.splitlines() if ln.strip()]


def _delete_user(user: str) -> None:
    try:
        import pwd

        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for name in os.listdir("/proc"):  # processes of that user only: the lab's own
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}").st_uid == uid:
                    os.kill(int(name), signal.SIGKILL)
    for _ in range(20):
        if _run("userdel", user, check=False).returncode in (0, 6):  # 6: no such user
            return
        time.sleep(0.2)


def clean_stale() -> list[str]:
    """Remove what runs of dead pids left (namespaces, links, cgroups, users, folders)."""
    def dead(m: re.Match[str] | None) -> bool:
        return m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(
            int(m.group(1)))

    removed = []
    for ns in _netns_names():
        if dead(STALE_NS.match(ns)):
            _delete_netns(ns)
            removed.append(f"netns {ns}")
    for line in _run(IP, "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        name = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
        if dead(STALE_LINK.match(name)):
            _run(IP, "link", "del", name, check=False)
            removed.append(f"link {name}")
    for base in (CGROUP / "cpu", CGROUP):
        if base.is_dir():
            for p in base.iterdir():
                if p.is_dir() and dead(STALE_CGROUP.match(p.name)):
                    remove_cgroup(p)
                    removed.append(f"cgroup {p}")
    for line in Path("/etc/passwd").read_text().splitlines():
        user = line.split(":", 1)[0]
        if dead(STALE_USER.match(user)):
            _delete_user(user)
            removed.append(f"user {user}")
    for p in Path("/tmp").iterdir():
        if dead(STALE_DIR.match(p.name)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(f"folder {p}")
    return removed


@contextlib.contextmanager
def _lab_lock() -> Iterator[None]:
    """One build at a time picks subnets (concurrent runs must not pick the same)."""
    with LOCK.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _used_subnets() -> set[ipaddress.IPv4Network]:
    used = set()
    for line in _run(IP, "-o", "-4", "addr", "show", check=False).stdout.split("\n"):
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", line)
        if m:
            used.add(ipaddress.ip_network(f"{m.group(1)}/30", strict=False))
    return used


def _free_subnets(n: int) -> list[ipaddress.IPv4Network]:
    used = _used_subnets()
    for line in _run(IP, "-4", "route", "show", check=False).stdout.splitlines():
        dest = line.split()[0]
        if dest != "default" and not re.search(r"\bdev dl\d+h\d+\b", line):
            net = ipaddress.ip_network(dest, strict=False)
            if net.overlaps(NET):
                raise LabError(f"{NET} is routed on this machine ({line.strip()}): set "
                               "DEVICELAB_NETNS_NET to a free private range")
    out = []
    for sub in NET.subnets(new_prefix=30):
        if sub not in used:
            out.append(sub)
            if len(out) == n:
                return out
    raise LabError(f"no free /30 left in {NET}")


def _venv_pins() -> list[str]:
    pins = []
    for name in VENV_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _make_user(lab: NetnsLab, build: int) -> tuple[str, int, Path]:
    """The lab's non-root user, its home, and its own venv (numpy, onnxruntime, opencv)."""
    import pwd

    user = f"dlab{os.getpid()}u{build}"
    home = lab.root / "home"
    _run("useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh",
         "--password", "*", "--comment", "devicelab netns lab (tests)", user)
    lab.user = user
    uid, gid = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
    home.mkdir(mode=0o755)
    os.chown(home, uid, gid)
    if not os.path.isfile(SYSTEM_PYTHON):
        raise LabError(f"{SYSTEM_PYTHON} is missing: the non-root device's venv is made "
                       "from a Python every user can reach")
    venv = home / "venv"
    as_user = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--"]
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin",
           **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}}
    _run(*as_user, SYSTEM_PYTHON, "-m", "venv", str(venv), env=env, timeout=120)
    _run(*as_user, str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", "--no-cache-dir", *_venv_pins(), env=env, timeout=600)
    return user, uid, venv / "bin" / "python"


def build_lab(specs: Sequence[LabSpec]) -> NetnsLab:
    """Every device of ``specs`` built and its sshd running; on any error, what was made
    is removed again and :class:`LabError` raised."""
    reason = netns_missing_reason()
    if reason:
        raise LabError(reason)
    clean_stale()
    build = next(_BUILDS)
    root = Path(f"/tmp/devicelab-netns-{os.getpid()}-{build}")
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)  # the non-root user reads its authorized_keys in here
    lab = NetnsLab(root)
    try:
        user = uid = upython = None
        if any(s.unprivileged for s in specs):
            user, uid, upython = _make_user(lab, build)
        with _lab_lock():
            nets = _free_subnets(len(specs))
            for spec, net in zip(specs, nets):
                lab.devices.append(_make_device(lab, spec, net, next(_DEVICES), user, uid,
                                                upython))
        for d in lab.devices:
            d.start()
    except BaseException:
        lab.close()
        raise
    return lab


def _make_device(lab: NetnsLab, spec: LabSpec, net: ipaddress.IPv4Network, k: int,
                 user: str | None, uid: int | None, upython: Path | None) -> NetnsDevice:
    pid = os.getpid()
    ns, link, peer = f"dlab-{pid}-{k}", f"dl{pid}h{k}", f"dl{pid}d{k}"
    host_ip, dev_ip = (str(a) for a in list(net.hosts())[:2])
    _run(IP, "netns", "add", ns)
    lab._namespaces.append(ns)
    _run(IP, "link", "add", link, "type", "veth", "peer", "name", peer)
    lab._links.append(link)
    _run(IP, "link", "set", peer, "netns", ns)
    _run(IP, "addr", "add", f"{host_ip}/30", "dev", link)
    _run(IP, "link", "set", link, "up")
    _run(IP, "-n", ns, "addr", "add", f"{dev_ip}/30", "dev", peer)
    _run(IP, "-n", ns, "link", "set", peer, "up")
    _run(IP, "-n", ns, "link", "set", "lo", "up")
    d = lab.root / spec.name
    d.mkdir(mode=0o755)
    host_key = keygen(d / "host_ed25519", comment=f"devicelab-netns-host-{spec.name}")
    client_key = keygen(d / "client_ed25519", comment=f"devicelab-netns-client-{spec.name}")
    authorized = d / "authorized_keys"
    authorized.write_text(Path(str(client_key) + ".pub").read_text())
    os.chmod(authorized, 0o644)
    config = d / "sshd_config"
    config.write_text(SSHD_CONFIG.format(address=dev_ip, host_key=host_key,
                                         pid_file=d / "sshd.pid", authorized_keys=authorized))
    check = _run(SSHD, "-t", "-f", str(config), check=False)
    if check.returncode != 0:
        raise LabError(f"sshd -t refused {config}: {check.stderr.strip()}")
    if spec.unprivileged:
        assert user is not None and uid is not None and upython is not None
        login, python, the_uid = user, str(upython), uid
        workdir = upython.parents[2] / "devicelab-cache"
    else:
        login, python, the_uid = "root", sys.executable, 0
        workdir = d / "cache"
    group = None
    if spec.cpu is not None or spec.cpu_weight is not None:
        quota, period = spec.cpu or (None, 100000)
        group = CpuCgroup.create(f"devicelab-netns-{pid}-{k}", quota, period,
                                 spec.cpu_weight)
        lab._cgroups.append(group)
    return NetnsDevice(spec.name, ns, link, peer, host_ip, dev_ip, d, login, python, workdir,
                       host_key, client_key, config, d / "sshd.log", group, the_uid)


#: the tests' lab: a plain device, a CPU-limited one (10 % of a core), a non-root one; the
#: two unlimited ones weighted as if on boards of their own (the machine is shared)
STANDARD_LAB = (LabSpec("plain", cpu_weight=1000),
                LabSpec("throttled", cpu=(1000, 10000)),
                LabSpec("unprivileged", unprivileged=True, cpu_weight=1000))


@pytest.fixture(scope="session")
def netns_lab() -> Iterator[NetnsLab]:
    """:data:`STANDARD_LAB`, built once for the test session and removed at its end."""
    reason = netns_missing_reason()
    if reason:
        unavailable("the network-namespace device lab", reason)
    try:
        lab = build_lab(STANDARD_LAB)
    except CgroupError as exc:
        unavailable("the CPU-limited device of the network-namespace lab", str(exc))
        raise
    except LabError as exc:  # e.g. no package index for the non-root device's venv
        unavailable("the network-namespace device lab", f"it could not be built: {exc}")
        raise
    try:
        yield lab
    finally:
        lab.close()
