"""Fault injection for tests/faults: real misbehaving processes, real filesystems, real sockets.

What lives here and why each is legitimate:

- :func:`fake_agent` / :class:`FakeAgentDevice`: a *broken agent* (garbage,
  a truncated last line, a 50 MB line). No real agent can be made to do
  that on purpose, so this is a test double of the broken thing, run as a
  real subprocess behind the built-in device's own process class
  (:class:`~console.devices.local.LocalAgentProcess`), so the console reads
  it through the very same pipes and code as a real agent.
- :func:`mounted_tmpfs`, :func:`readonly_bind`: real kernel filesystems (a
  full disk, a read-only folder). They need root and ``mount``;
  :func:`need_mount` skips with the exact reason locally and fails under
  ``CI=true`` (CI runs as root, so the faults must be injected there).
- :class:`SilentServer`, :class:`StallingHttpServer`: real TCP servers, one
  that never answers and one that serves half a recording and then goes
  quiet, for the "stream that does not answer" fault.
- :func:`devicelab`: the real command, as a user runs it.

Nothing here touches the code under test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from console.core import protocol as P
from console.devices.base import AgentOptions, AgentProcess, Deployment
from console.devices.local import LocalAgentProcess, LocalDevice
from console.session.run import Run, RunListener, RunResult

DEVICELAB = str(Path(sys.executable).parent / "devicelab")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# --------------------------------------------------------------------------
# The real command
# --------------------------------------------------------------------------


def devicelab(*args: str, timeout: float = 180, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``devicelab ARGS`` to its end, capturing text output."""
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout,
                          **kw)


def devicelab_popen(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """Start ``devicelab ARGS`` (stdin closed, output captured) for a test to fault."""
    # imported here: this file also runs as the fake agent's script, where helpers is not
    from helpers.procs import as_from_a_terminal

    kw.setdefault("preexec_fn", as_from_a_terminal)  # a test may stop it with Ctrl-C
    return subprocess.Popen([DEVICELAB, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def user_lines(stderr: str) -> list[str]:
    """What the user read on stderr, minus progress/state lines (``[state] …``, ``frame …``)."""
    return [ln for ln in stderr.splitlines()
            if ln.strip() and not ln.startswith(("[", "frame ", "session ", "stopping"))]


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def proc_state(pid: int) -> str | None:
    """The one-letter state of a process (``Z`` zombie), None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().decode("ascii", "replace").rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    s = proc_state(pid)
    return s is not None and s != "Z"


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def memory_kb(field: str, pid: int | str = "self") -> int:
    """``VmRSS`` / ``VmHWM`` (peak) of a process, in kB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0, own process)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# The run, observed as the window observes it
# --------------------------------------------------------------------------


class Collect(RunListener):
    """Everything a run told its listener (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[P.Frame] = []
        self.states: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, str]] = []
        self.hellos: list[P.Hello] = []
        self.session_id: int | None = None
        self.deploys: list[Any] = []

    def state(self, state: str, text: str) -> None:
        with self.lock:
            self.states.append((state, text))

    def session_created(self, session_id: int) -> None:
        self.session_id = session_id

    def deploy_progress(self, p: Any) -> None:
        self.deploys.append(p)

    def hello(self, msg: P.Hello) -> None:
        self.hellos.append(msg)

    def frame(self, msg: P.Frame) -> None:
        with self.lock:
            self.frames.append(msg)

    def event(self, level: str, code: str, text: str) -> None:
        with self.lock:
            self.events.append((level, code, text))

    def state_names(self) -> list[str]:
        with self.lock:
            return [s for s, _ in self.states]

    def wait_frames(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.frames) < n:
            assert time.monotonic() < deadline, f"only {len(self.frames)} frames arrived"
            time.sleep(0.02)

    def wait_hello(self, timeout: float = 60.0) -> P.Hello:
        deadline = time.monotonic() + timeout
        while not self.hellos:
            assert time.monotonic() < deadline, "the agent never said hello"
            time.sleep(0.02)
        return self.hellos[0]


def in_thread(run: Run) -> tuple[threading.Thread, dict[str, Any]]:
    """``run.execute()`` in a worker thread, as the window does; result or exception in box."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run.execute()
        except Exception as exc:
            box["error"] = exc

    t = threading.Thread(target=target, name="fault-run")
    t.start()
    return t, box


def finish(run: Run, t: threading.Thread, box: dict[str, Any], timeout: float = 60.0
           ) -> RunResult:
    """Join the run thread; a run that hangs is aborted (and the test fails)."""
    t.join(timeout)
    if t.is_alive():
        run.abort()
        t.join(30)
        pytest.fail(f"the run did not end within {timeout:.0f} s (hung)")
    if "error" in box:
        raise box["error"]
    result: RunResult = box["result"]
    return result


# --------------------------------------------------------------------------
# A broken agent
# --------------------------------------------------------------------------

FAKE_AGENT_MODES = ("garbage", "garbage-only", "truncated", "gigantic")
#: Size of the line without a newline that "gigantic" writes.
GIGANTIC_BYTES = 50 * 1024 * 1024


def _frame_line(i: int) -> bytes:
    return P.encode(P.Frame(i, time.time(), 0.1, 0.2, 0.01, 0.31, {"top": [[i % 10, 0.9]]}))


def _hello_line() -> bytes:
    return P.encode(P.Hello(P.PROTOCOL_VERSION, "fake-broken-agent", os.getpid(),
                            {"hostname": "fake"}, {"wall": time.time(), "mono": 0.0}))


GARBAGE_LINES = (
    b"\x00\xff\xfe binary noise \x80\x81\n",
    b"Traceback (most recent call last): a library printing to stdout\n",
    b"[1, 2, 3]\n",
    b'{"t": "no-such-type"}\n',
    b'{"t": "frame", "i": "seven"}\n',
    b'{"t": "frame", "i": 3\n',
)


def fake_agent(mode: str) -> int:
    """The broken agent's body: what it writes on stdout for each mode.

    garbage       hello, frames 0-9, junk lines, frames 10-19, summary
    garbage-only  junk lines until killed (never a hello)
    truncated     hello, frames 0-9, half a frame line, exit 0 (no summary)
    gigantic      hello, frames 0-9, 50 MB without a newline, a newline,
                  frames 10-19, summary
    """
    out = sys.stdout.buffer
    # EOF on stdin means the console is gone: never outlive it (as the real agent).
    def watch_stdin() -> None:
        while os.read(0, 4096):
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()

    def frames(a: int, b: int) -> None:
        for i in range(a, b):
            out.write(_frame_line(i))
        out.flush()

    if mode == "garbage-only":
        while True:
            for g in GARBAGE_LINES:
                out.write(g)
            out.flush()
            time.sleep(0.01)
    out.write(_hello_line())
    frames(0, 10)
    if mode == "garbage":
        for _ in range(20):
            for g in GARBAGE_LINES:
                out.write(g)
        out.flush()
        frames(10, 20)
    elif mode == "truncated":
        out.write(_frame_line(10)[:25])
        out.flush()
        return 0
    elif mode == "gigantic":
        chunk = b"x" * (1 << 20)
        for _ in range(GIGANTIC_BYTES // len(chunk)):
            out.write(chunk)
        out.write(b"\n")
        out.flush()
        frames(10, 20)
    out.write(P.encode(P.Summary(20, 20, 0.1, "end_of_input")))
    out.flush()
    return 0


class FakeAgentDevice(LocalDevice):
    """The built-in device, but its agent is :func:`fake_agent` in one of its broken modes."""

    def __init__(self, mode: str) -> None:
        assert mode in FAKE_AGENT_MODES, mode
        super().__init__()
        self.mode = mode

    def start_agent(self, deployment: Deployment, options: AgentOptions) -> AgentProcess:
        return LocalAgentProcess([sys.executable, __file__, "fake-agent", self.mode],
                                 dict(os.environ))


# --------------------------------------------------------------------------
# Filesystems
# --------------------------------------------------------------------------


def need_mount(reason: str) -> None:
    """A fault that needs ``mount`` cannot be injected: skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"CI=true: this fault must be injected, but {reason}")
    pytest.skip(reason)


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


def _umount(target: Path) -> None:
    res = subprocess.run(["umount", str(target)], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:  # still busy (e.g. an open file): detach it anyway
        subprocess.run(["umount", "-l", str(target)], capture_output=True, text=True,
                       timeout=30)


@contextmanager
def mounted_tmpfs(target: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. ``"2m"``) on ``target``: a small disk that really fills up."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        need_mount("mounting a small tmpfs needs root (CI runs as root)")
    res = _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(target))
    if res.returncode != 0:
        need_mount(f"mount -t tmpfs refused: {res.stderr.strip()}")
    try:
        yield target
    finally:
        _umount(target)


@contextmanager
def readonly_bind(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target`` (a bind mount remounted ``ro``).

    The kernel refuses writes there even for root, unlike file permissions.
    """
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        need_mount("a read-only bind mount needs root (CI runs as root)")
    res = _mount("--bind", str(source), str(target))
    if res.returncode != 0:
        need_mount(f"mount --bind refused: {res.stderr.strip()}")
    try:
        res = _mount("-o", "remount,ro,bind", str(target))
        if res.returncode != 0:
            need_mount(f"remounting the bind mount read-only was refused: {res.stderr.strip()}")
        yield target
    finally:
        _umount(target)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# --------------------------------------------------------------------------
# Streams that do not answer
# --------------------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections and never sends a byte (a stream URL that does not answer)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, name="silent-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(c)

    def url(self, path: str = "/live.avi") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.sock.close()
        for c in self._conns:
            c.close()
        self._thread.join(5)

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StallingHttpServer(SilentServer):
    """Serves ``data`` with its full Content-Length but sends only the first ``fraction``
    of it, then keeps the connection open without a byte more (the camera server hung)."""

    def __init__(self, data: bytes, fraction: float = 0.5) -> None:
        self.data = data
        self.cut = int(len(data) * fraction)
        self.served = threading.Event()
        super().__init__()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(c)
            try:
                c.recv(65536)
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/x-msvideo\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(self.data))
                c.sendall(self.data[:self.cut])
                self.served.set()
            except OSError:
                continue


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fake-agent":
        code = fake_agent(sys.argv[2])
        sys.stdout.flush()
        os._exit(code)  # no interpreter shutdown racing the stdin watcher
    sys.exit(f"usage: {sys.argv[0]} fake-agent {{{','.join(FAKE_AGENT_MODES)}}}")
