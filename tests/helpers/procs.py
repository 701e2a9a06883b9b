"""Child-process bookkeeping for the leftover check in conftest."""

from __future__ import annotations

import os

_ALLOWED: set[int] = set()


def allow_pid(pid: int) -> None:
    """Long-lived helpers started by session fixtures (e.g. sshd) register here."""
    _ALLOWED.add(pid)


def allowed_pids() -> set[int]:
    return set(_ALLOWED)


def child_pids(parent: int | None = None) -> list[int]:
    """Live (non-zombie) direct children of ``parent`` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = data.rsplit(")", 1)[-1].split()
        if len(rest) > 2 and rest[1].isdigit() and int(rest[1]) == parent and rest[0] != "Z":
            out.append(int(name))
    return out


def as_from_a_terminal() -> None:
    """``preexec_fn`` for a console a test will stop with a signal as a terminal, CI or
    ``timeout`` would: Ctrl-C, SIGHUP and SIGTERM at their defaults in the child.

    The console keeps a signal ignored at start ignored (``nohup``, ``cmd &``), and a
    child inherits what is ignored: a pytest started from ``nohup … &`` would otherwise
    hand every console it starts an immune Ctrl-C and SIGHUP, and the stop tests would
    wait for runs nothing can stop."""
    import signal

    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
