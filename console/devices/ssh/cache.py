"""The per-user cache on an SSH device: one folder per content hash, complete or absent.

Layout (under the device's work dir, default ``~/.cache/devicelab``)::

    agent/<sha256>/agent.pyz
    packages/<manifest sha256>/…
    inputs/<sha256>/<file name>

An item counts only when its ``.complete`` marker is there and every file
has its size (:meth:`RemoteCache.intact`); :meth:`RemoteCache.finalize`
writes the marker last and renames the item into place, so a half-written
item is never used. Old items are evicted least recently used first above a
size cap, never those of the current run. Everything here is SFTP, no shell;
uploading and checking the bytes is :mod:`~console.devices.ssh.deploy`'s job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from console.devices.base import DeployError
from console.devices.ssh.connection import SSHConnection, lost_error

log = logging.getLogger("devicelab.ssh")

DEFAULT_WORKDIR = "~/.cache/devicelab"
MARKER = ".complete"
TMP_PREFIX = ".tmp-"
#: Partial uploads older than this (a console that died mid-upload) are removed.
STALE_TMP_S = 24 * 3600.0
SECTIONS = ("agent", "packages", "inputs")


@dataclass(frozen=True)
class CacheFile:
    rel: str
    size: int
    sha256: str
    path: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class CacheItem:
    """One cache entry: a folder named by a content hash."""

    stage: str  # agent | package | input
    name: str
    section: str  # agent | packages | inputs
    key: str
    files: tuple[CacheFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class RemoteCache:
    """The cache folder of one device; ``where`` names the device in messages."""

    def __init__(self, where: Callable[[], str], workdir: str, cap_bytes: int) -> None:
        self._where = where
        self.workdir_setting = workdir
        self.cap_bytes = cap_bytes
        self._workdir: str | None = None
        #: cache folders the agent refused (damaged on the device): replaced at next deploy
        self.suspects: set[str] = set()

    def reset(self) -> None:
        """A new connection: ``~`` is resolved again (the device may have changed)."""
        self._workdir = None

    def workdir(self, conn: SSHConnection) -> str:
        """The cache folder on the device as an absolute path (``~`` resolved via SFTP)."""
        if self._workdir is None:
            try:
                home = conn.sftp().normalize(".")
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise lost_error(conn, self._where(), "opening SFTP", exc) from None
            wd = self.workdir_setting or DEFAULT_WORKDIR
            if wd == "~":
                wd = home
            elif wd.startswith("~/"):
                wd = posixpath.join(home, wd[2:])
            elif not wd.startswith("/"):
                wd = posixpath.join(home, wd)
            self._workdir = posixpath.normpath(wd)
        return self._workdir

    def final(self, conn: SSHConnection, item: CacheItem) -> str:
        return posixpath.join(self.workdir(conn), item.section, item.key)

    @staticmethod
    def intact(sftp: paramiko.SFTPClient, item: CacheItem, final: str) -> bool:
        """A cache hit: marker present and every file at its size (one listing per folder).

        Same-size damage is left to the agent's own hash check, whose refusal
        marks the item as a suspect (``SSHDevice.invalidate_deployment``).
        """
        sizes: dict[str, int | None] = {}
        dirs = {posixpath.dirname(f.rel) for f in item.files}
        try:
            for d in sorted(dirs):
                for a in sftp.listdir_attr(posixpath.join(final, d) if d else final):
                    sizes[posixpath.join(d, a.filename) if d else a.filename] = a.st_size
        except FileNotFoundError:
            return False
        return MARKER in sizes and all(sizes.get(f.rel) == f.size for f in item.files)

    def mkdirs(self, sftp: paramiko.SFTPClient, path: str) -> None:
        parts = path.strip("/").split("/")
        cur = ""
        for p in parts:
            cur += "/" + p
            try:
                st = sftp.stat(cur)
            except FileNotFoundError:
                try:
                    sftp.mkdir(cur, 0o700)
                except OSError as exc:
                    raise DeployError(f"cannot create {cur} on {self._where()}: {exc}; check "
                                      "the device's work dir and its permissions") from None
                continue
            if st.st_mode is not None and not stat.S_ISDIR(st.st_mode):
                raise DeployError(f"{cur} on {self._where()} is not a folder; choose another "
                                  "work dir (devicelab devices add … --workdir PATH --replace)")

    def finalize(self, sftp: paramiko.SFTPClient, item: CacheItem, tmp: str,
                 final: str) -> None:
        """Marker last, then rename into place: an item is complete or invisible."""
        info = {"key": item.key, "stage": item.stage, "name": item.name, "size": item.size,
                "files": [f.rel for f in item.files], "created": time.time()}
        with sftp.open(posixpath.join(tmp, MARKER), "wb") as fh:
            fh.write(json.dumps(info).encode())
        try:
            sftp.stat(final)
            exists = True
        except FileNotFoundError:
            exists = False
        if exists:
            try:
                sftp.stat(posixpath.join(final, MARKER))
                rmtree(sftp, tmp)  # another console finished it first
                return
            except FileNotFoundError:
                rmtree(sftp, final)  # an incomplete leftover under the final name
        try:
            sftp.posix_rename(tmp, final)
        except OSError:
            sftp.rename(tmp, final)

    def clean(self, conn: SSHConnection, sftp: paramiko.SFTPClient,
              keep: set[tuple[str, str]], extra_free: int) -> int:
        """Evict the oldest items above the size cap (or to free ``extra_free``).

        Never the items of the current run (``keep``). Partial uploads older
        than :data:`STALE_TMP_S` go too. Returns the bytes freed.
        """
        wd = self.workdir(conn)
        now = time.time()
        entries: list[tuple[float, int, str]] = []
        total = 0
        for section in SECTIONS:
            base = posixpath.join(wd, section)
            try:
                listing = sftp.listdir_attr(base)
            except FileNotFoundError:
                continue
            for a in listing:
                path = posixpath.join(base, a.filename)
                if a.st_mode is None or not stat.S_ISDIR(a.st_mode):
                    continue
                if a.filename.startswith(TMP_PREFIX):
                    if now - (a.st_mtime or now) > STALE_TMP_S:
                        with contextlib.suppress(OSError):
                            rmtree(sftp, path)
                    continue
                size, used = tree_size(sftp, path)
                total += size
                if (section, a.filename) not in keep:
                    entries.append((used, size, path))
        freed = 0
        for _used, size, path in sorted(entries):
            if total <= self.cap_bytes and freed >= extra_free:
                break
            try:
                rmtree(sftp, path)
            except OSError as exc:
                log.info("ssh %s: cannot evict %s: %s", self._where(), path, exc)
                continue
            total -= size
            freed += size
            log.info("ssh %s: evicted %s (%d bytes) from the device cache", self._where(),
                     path, size)
        return freed

    def usage(self, conn: SSHConnection) -> dict[str, Any]:
        """What the device cache holds: {"workdir", "bytes", "items": [{path, bytes, used}]}."""
        sftp = conn.sftp()
        wd = self.workdir(conn)
        items = []
        for section in SECTIONS:
            try:
                listing = sftp.listdir_attr(posixpath.join(wd, section))
            except FileNotFoundError:
                continue
            for a in listing:
                if a.st_mode is not None and stat.S_ISDIR(a.st_mode) and \
                        not a.filename.startswith(TMP_PREFIX):
                    path = posixpath.join(wd, section, a.filename)
                    size, used = tree_size(sftp, path)
                    items.append({"path": path, "bytes": size, "used": used})
        return {"workdir": wd, "bytes": sum(i["bytes"] for i in items), "items": items}


def tree_size(sftp: paramiko.SFTPClient, path: str) -> tuple[int, float]:
    """(bytes under ``path``, mtime of its marker or of the folder)."""
    total = 0
    used = 0.0
    for a in sftp.listdir_attr(path):
        p = posixpath.join(path, a.filename)
        if a.st_mode is not None and stat.S_ISDIR(a.st_mode):
            total += tree_size(sftp, p)[0]
        else:
            total += a.st_size or 0
            if a.filename == MARKER:
                used = float(a.st_mtime or 0)
    return total, used


def rmtree(sftp: paramiko.SFTPClient, path: str) -> None:
    """Remove a cache folder over SFTP (no shell): its marker first, so it stops counting."""
    try:
        listing = sftp.listdir_attr(path)
    except FileNotFoundError:
        return
    listing.sort(key=lambda a: a.filename != MARKER)
    for a in listing:
        p = posixpath.join(path, a.filename)
        if a.st_mode is not None and stat.S_ISDIR(a.st_mode):
            rmtree(sftp, p)
        else:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(p)
    with contextlib.suppress(FileNotFoundError):
        sftp.rmdir(path)
