"""Where an export's bytes go, whatever the user named as the output.

Every format module, the comparison export and the bundle writer open their
output with :func:`open_target`; nothing here knows a format. What a name gets:

* ``-``: standard output, as everywhere on Unix; written straight, never closed.
* a regular file, or a name that does not exist yet: a temporary file in the
  same folder renamed over it at the end, so an interrupted or cancelled export
  never leaves half a file and nobody reads one. A symlink is followed first:
  its target gets the new file and the link stays a link. A file that existed
  keeps its permission bits (exporting over a private file keeps it private).
* anything else, written straight: a FIFO (its reader gets the bytes), a
  character device (``/dev/null``, a terminal), and a name of an open
  descriptor (``/dev/stdout``, ``/dev/fd/N``, ``/proc/<pid>/fd/N``, or a link to
  one) even when it leads to a regular file. A rename there would replace the
  device, the FIFO or the ``/dev/stdout`` link with a regular file: that is how
  ``-o /dev/stdout`` once left a 95 KB file where the link had been. Writing
  straight cannot be undone, so a failed export to a stream may have sent part
  of its bytes; opening a FIFO waits for its reader, like any Unix writer.
* a folder that does not exist is refused in one line, never created (a typo
  would otherwise scatter exports in new folders); so is a folder as the output.
* binary output (MCAP, bundles) is never written to a terminal.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from console.session.export.job import ExportError

#: The output name that means standard output.
STDOUT = "-"
#: A process's descriptor folder (``/proc/self/fd`` once resolved, or a thread's).
_FD_DIR = re.compile(r"^/proc/[^/]+/(task/[^/]+/)?fd$")


@dataclass(frozen=True)
class Target:
    """An output name, resolved: renamed into place (``real``) or written straight."""

    name: str
    stream: bool
    real: Path | None = None  # the file renamed over, symlinks resolved (files only)
    mode: int | None = None  # permission bits of the file it replaces
    append: bool = False  # a regular file reached through a descriptor name


def resolve_target(path: str | os.PathLike[str]) -> Target:
    """What writing to ``path`` means (see the module docstring); refuses in one line."""
    name = os.fspath(path)
    if name == STDOUT:
        return Target(name, stream=True)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ExportError(f"cannot write {name}: {_why(exc)}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ExportError(f"cannot write {name}: it is a folder; name a file in it")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return Target(name, stream=True)
    if st is not None and _names_a_descriptor(name):
        return Target(name, stream=True, append=True)
    real = Path(os.path.realpath(name))
    folder = real.parent
    if not folder.exists():
        raise ExportError(f"cannot write {name}: folder {folder} does not exist; create it or "
                          "name a file in an existing folder")
    if not folder.is_dir():
        raise ExportError(f"cannot write {name}: {folder} is not a folder")
    return Target(name, stream=False, real=real,
                  mode=stat.S_IMODE(st.st_mode) if st is not None else None)


def is_standard_output(path: str | os.PathLike[str]) -> bool:
    """True when writing ``path`` lands on this process's standard output (``-``,
    ``/dev/stdout``, a link to it): then the caller's own messages belong on stderr."""
    name = os.fspath(path)
    if name == STDOUT:
        return True
    try:
        return os.path.samestat(os.stat(name), os.fstat(1))
    except OSError:
        return False


@contextmanager
def open_target(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """The output as a file object: text (UTF-8, ``newline=""``) or binary (``"wb"``)."""
    target = resolve_target(path)
    kw: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    if target.stream:
        with _stream(target, mode, kw) as fh:
            yield fh
        return
    assert target.real is not None
    real = target.real
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".part", dir=real.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {target.name}: {_why(exc)}; check that folder "
                          f"{real.parent} is writable") from None
    try:
        with os.fdopen(fd, mode, **kw) as fh:
            yield fh
        # as if created with open() (mkstemp makes 0600), or as the file it replaces
        os.chmod(tmp, target.mode if target.mode is not None else 0o666 & ~_umask())
        os.replace(tmp, real)
    except OSError as exc:
        _unlink(tmp)
        raise ExportError(f"cannot write {target.name}: {_why(exc)}") from None
    except BaseException:
        _unlink(tmp)
        raise


@contextmanager
def _stream(target: Target, mode: str, kw: dict[str, Any]) -> Iterator[IO[Any]]:
    try:
        if target.name == STDOUT:
            sys.stdout.flush()  # whatever was printed before comes first
            fd = os.dup(1)
        else:
            fd = os.open(target.name, os.O_WRONLY | (os.O_APPEND if target.append else 0))
    except OSError as exc:
        raise ExportError(f"cannot write {_shown(target)}: {_why(exc)}") from None
    if "b" in mode and os.isatty(fd):
        os.close(fd)
        raise ExportError(f"cannot write {_shown(target)}: it is a terminal and this export is "
                          "binary; redirect it to a file or a pipe, or name a file")
    try:
        with os.fdopen(fd, mode, **kw) as fh:
            yield cast(IO[Any], _Counted(fh)) if "b" in mode else fh
    except OSError as exc:
        raise ExportError(f"cannot write {_shown(target)}: {_why(exc)}") from None


class _Counted:
    """A binary stream that knows its position: a pipe cannot ``tell()``, and the MCAP
    writer asks for the offsets of what it wrote (counted from the export's first byte)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._n = 0

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self._n += len(data)
        return len(data)

    def tell(self) -> int:
        return self._n

    def flush(self) -> None:
        self._fh.flush()


def _shown(target: Target) -> str:
    return "standard output" if target.name == STDOUT else target.name


def _names_a_descriptor(name: str) -> bool:
    """True for ``/dev/stdout``, ``/dev/fd/N``, ``/proc/<pid>/fd/N`` and links leading
    to one: a name of an open descriptor, which a rename would replace, not write."""
    p = os.path.abspath(name)
    for _ in range(40):  # the kernel's own limit on links followed
        if _FD_DIR.match(os.path.realpath(os.path.dirname(p))):
            return True
        if not os.path.islink(p):
            return False
        p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(p)))
    return False


def _why(exc: OSError) -> str:
    if exc.errno == errno.EPIPE:
        return "the reader closed the pipe"
    return exc.strerror or str(exc)


def _umask() -> int:
    """The process umask, read without os.umask() (which would change it, for every
    thread, while it is being read)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _unlink(p: str) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass
