"""Putting the agent, a package and a recording on an SSH device, over SFTP.

:class:`Deployer` turns a run's package and input into cache items
(:class:`~console.devices.ssh.cache.CacheItem`), uploads the missing ones
into ``.tmp-*`` folders, checks their sizes and sha256 *on the device* (one
command), and hands them to :class:`~console.devices.ssh.cache.RemoteCache`
to be made visible. Space is checked first (old items are evicted to make
room); a cancelled or failed upload leaves nothing behind. Starting the agent
is the device's job, not this module's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import secrets
import socket
import threading
import time
from collections.abc import Callable

import paramiko

from console.core.inputs import InputSource
from console.core.manifest import MANIFEST_NAME, sha256_file
from console.core.package import Package
from console.devices import agent_bundle
from console.devices.base import (
    DeployCancelled,
    DeployError,
    Deployment,
    DeployProgress,
    DeviceError,
    DiskFull,
    ProgressFn,
)
from console.devices.ssh.cache import (
    MARKER,
    SECTIONS,
    TMP_PREFIX,
    CacheFile,
    CacheItem,
    RemoteCache,
    rmtree,
)
from console.devices.ssh.connection import (
    SSHConnection,
    cmd,
    lost_error,
    python_missing,
)

log = logging.getLogger("devicelab.ssh")

#: Extra silence allowed while uploading (keepalive replies can queue behind the
#: data); every chunk the link accepts, and every SFTP acknowledgement that comes
#: back (a slow link draining what was sent), counts as an answer, so a link that
#: dies mid-upload is closed after LINK_DEAD_S + this, not after SFTP_TIMEOUT_S.
UPLOAD_GRACE_S = 5.0
UPLOAD_CHUNK = 256 * 1024
#: Kept free on the device beyond the upload itself.
SPACE_MARGIN = 1 << 20

#: sizes and sha256 of files on the device (stdlib only, Python 3.6+)
_HASH_SCRIPT = (
    "import hashlib,json,sys\n"
    "out=[]\n"
    "for p in sys.argv[1:]:\n"
    " h=hashlib.sha256();n=0\n"
    " try:\n"
    "  f=open(p,'rb')\n"
    "  while True:\n"
    "   b=f.read(1048576)\n"
    "   if not b:break\n"
    "   h.update(b);n+=len(b)\n"
    "  f.close();out.append([n,h.hexdigest()])\n"
    " except OSError as e:out.append([None,str(e)])\n"
    "print(json.dumps(out))\n")
_FREE_SCRIPT = ("import os,sys\n"
                "s=os.statvfs(sys.argv[1])\n"
                "print(s.f_bavail*s.f_frsize)\n")


def run_items(package: Package, source: InputSource) -> list[CacheItem]:
    """The cache items a run needs: the agent bundle, the package, a recording."""
    data, sha = agent_bundle.bundle()
    items = [CacheItem("agent", "agent.pyz", "agent", sha,
                       (CacheFile("agent.pyz", len(data), sha, data=data),))]
    files = [CacheFile(MANIFEST_NAME, len(package.manifest_bytes), package.digest,
                       data=package.manifest_bytes)]
    for rel, path in package.file_paths():
        if rel == MANIFEST_NAME:
            continue
        entry = package.manifest.files.get(rel)
        if entry is not None:
            files.append(CacheFile(rel, entry.size, entry.sha256, path=path))
        else:  # the signature: not listed in the manifest
            files.append(CacheFile(rel, path.stat().st_size, sha256_file(str(path)), path=path))
    items.append(CacheItem("package", package.title, "packages", package.digest, tuple(files)))
    if source.kind == "video":
        assert source.path is not None and source.sha256 is not None
        size = source.size if source.size is not None else source.path.stat().st_size
        items.append(CacheItem("input", source.path.name, "inputs", source.sha256,
                               (CacheFile(source.path.name, size, source.sha256,
                                          path=source.path),)))
    return items


class Deployer:
    """Uploads into one device's :class:`RemoteCache` with the device's interpreter.

    ``where`` names the device in messages; ``address`` and ``python`` go into
    the "cannot run python" hint.
    """

    def __init__(self, cache: RemoteCache, python: str, where: Callable[[], str],
                 address: Callable[[], str]) -> None:
        self.cache = cache
        self.python = python
        self._where = where
        self._address = address

    def deploy(self, conn: SSHConnection, package: Package, source: InputSource,
               progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> Deployment:
        cancel = cancel or threading.Event()
        items = run_items(package, source)
        try:
            with conn.watch.relaxed(UPLOAD_GRACE_S):
                self._deploy(conn, items, progress, cancel)
        except DeviceError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.info("ssh deploy to %s failed", self._where(), exc_info=True)
            raise lost_error(conn, self._where(), "deploy", exc) from None
        by_stage = {it.stage: it for it in items}
        agent_dir = self.cache.final(conn, by_stage["agent"])
        input_spec = source.spec
        if "input" in by_stage:
            it = by_stage["input"]
            input_spec = posixpath.join(self.cache.final(conn, it), it.files[0].rel)
        return Deployment(package_dir=self.cache.final(conn, by_stage["package"]),
                          input_spec=input_spec,
                          bundle_path=posixpath.join(agent_dir, "agent.pyz"),
                          package_digest=package.digest)

    def _deploy(self, conn: SSHConnection, items: list[CacheItem], progress: ProgressFn | None,
                cancel: threading.Event) -> None:
        cache = self.cache
        sftp = conn.sftp()
        wd = cache.workdir(conn)
        missing: list[CacheItem] = []
        for it in items:
            final = cache.final(conn, it)
            if final in cache.suspects or not cache.intact(sftp, it, final):
                # damaged after it was completed: out of the cache (marker first)
                rmtree(sftp, final)
                cache.suspects.discard(final)
                missing.append(it)
                continue
            with contextlib.suppress(OSError):
                sftp.utime(posixpath.join(final, MARKER), None)  # last use, for eviction
            if progress:
                progress(DeployProgress(it.stage, it.name, it.size, it.size, 0.0, cached=True))
        if not missing:
            return
        if cancel.is_set():
            raise DeployCancelled(f"deploy to {self._where()} cancelled")
        for section in ("", *SECTIONS):
            cache.mkdirs(sftp, posixpath.join(wd, section) if section else wd)
        need = sum(it.size for it in missing)
        keep = {(it.section, it.key) for it in items}
        free = self.free_bytes(conn, wd)
        if free < need + SPACE_MARGIN:
            cache.clean(conn, sftp, keep, need + SPACE_MARGIN - free)
            free = self.free_bytes(conn, wd)
            if free < need + SPACE_MARGIN:
                raise self._disk_full(wd, need, free)
        tmps: dict[str, str] = {}
        try:
            for it in missing:
                tmp = posixpath.join(wd, it.section,
                                     f"{TMP_PREFIX}{it.key[:16]}-{secrets.token_hex(4)}")
                tmps[it.key] = tmp
                sftp.mkdir(tmp)
                self._upload(conn, sftp, it, tmp, progress, cancel, wd)
            self._verify(conn, missing, tmps)
            for it in missing:
                cache.finalize(sftp, it, tmps.pop(it.key), cache.final(conn, it))
        finally:
            for tmp in tmps.values():  # cancelled or failed: never leave half an item
                with contextlib.suppress(Exception):
                    if conn.alive():
                        rmtree(sftp, tmp)
        cache.clean(conn, sftp, keep, 0)

    def free_bytes(self, conn: SSHConnection, wd: str) -> int:
        res = conn.run(cmd(self.python, "-c", _FREE_SCRIPT, wd))
        try:
            return int(res.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise python_missing(res, self.python, self._where(), self._address()) from None

    def _disk_full(self, wd: str, need: int, free: int) -> DiskFull:
        return DiskFull(
            f"not enough space on {self._where()} in {wd}: the upload needs "
            f"{need / 1e6:.1f} MB, {max(free, 0) / 1e6:.1f} MB free; free space on the device "
            "or use another work dir (devicelab devices add NAME ADDRESS --workdir PATH "
            "--replace)")

    def _upload(self, conn: SSHConnection, sftp: paramiko.SFTPClient, item: CacheItem,
                tmp: str, progress: ProgressFn | None, cancel: threading.Event,
                wd: str) -> None:
        chan = sftp.get_channel()

        def in_flight() -> tuple[int, int]:
            # SFTP requests still unanswered (a slow link drains them one ack at a time)
            # and the channel's send window (it moves as the device takes data)
            return len(getattr(sftp, "_expecting", ())), int(chan.out_window_size)

        with conn.watch.probing(in_flight):
            self._upload_files(conn, sftp, item, tmp, progress, cancel, wd)

    def _upload_files(self, conn: SSHConnection, sftp: paramiko.SFTPClient, item: CacheItem,
                      tmp: str, progress: ProgressFn | None, cancel: threading.Event,
                      wd: str) -> None:
        total = item.size
        done = 0
        t0 = time.monotonic()
        last = 0.0
        made: set[str] = {tmp}
        for f in item.files:
            short = 0
            parent = posixpath.dirname(posixpath.join(tmp, f.rel))
            if parent not in made:
                rel_parent = posixpath.relpath(parent, tmp)
                cur = tmp
                for part in rel_parent.split("/"):
                    cur = posixpath.join(cur, part)
                    if cur not in made:
                        sftp.mkdir(cur)
                        made.add(cur)
            remote = posixpath.join(tmp, f.rel)
            try:
                with sftp.open(remote, "wb") as fh:
                    fh.set_pipelined(True)
                    src = f.data if f.data is not None else None
                    with contextlib.ExitStack() as stack:
                        local = None if src is not None else \
                            stack.enter_context(open(f.path, "rb"))  # type: ignore[arg-type]
                        off = 0
                        while True:
                            if cancel.is_set():
                                raise DeployCancelled(
                                    f"upload to {self._where()} cancelled")
                            if src is not None:
                                chunk = src[off:off + UPLOAD_CHUNK]
                                off += len(chunk)
                            else:
                                assert local is not None
                                chunk = local.read(UPLOAD_CHUNK)
                            if not chunk:
                                break
                            fh.write(chunk)
                            conn.watch.note_activity()  # the link took it: alive
                            done += len(chunk)
                            now = time.monotonic()
                            if progress and (now - last > 0.1 or done >= total):
                                last = now
                                rate = done / (now - t0) if now > t0 else 0.0
                                progress(DeployProgress(item.stage, item.name, done, total, rate))
                # paramiko drops errors of pipelined writes still in flight at close:
                # the size on the device is the truth (a short file means ENOSPC & co)
                kept = sftp.stat(remote).st_size or 0
                if kept != f.size:
                    short = f.size - kept
                    raise OSError(f"the device kept {kept} of {f.size} bytes")
            except DeviceError:
                raise
            except OSError as exc:
                if isinstance(exc, socket.timeout) or not conn.alive():
                    raise
                if isinstance(exc, FileNotFoundError) and f.path is not None and \
                        not f.path.exists():
                    raise DeployError(f"{f.path} disappeared during the upload") from None
                # SFTP reports ENOSPC as a bare "Failure": look at the free space
                try:
                    free = self.free_bytes(conn, wd)
                except DeviceError:
                    free = -1
                need = max(total - done, 0) + short
                if 0 <= free < need + SPACE_MARGIN:
                    raise self._disk_full(wd, need, free) from None
                raise DeployError(f"upload of {item.name} to {self._where()} failed at "
                                  f"{f.rel}: {exc}") from None
        if progress and total == 0:
            progress(DeployProgress(item.stage, item.name, 0, 0, 0.0))

    def _verify(self, conn: SSHConnection, items: list[CacheItem], tmps: dict[str, str]) -> None:
        """Sizes and sha256 of every uploaded file, computed on the device (one command)."""
        paths: list[str] = []
        expect: list[tuple[CacheItem, CacheFile]] = []
        for it in items:
            for f in it.files:
                paths.append(posixpath.join(tmps[it.key], f.rel))
                expect.append((it, f))
        res = conn.run(cmd(self.python, "-c", _HASH_SCRIPT, *paths), timeout=300.0)
        try:
            got = json.loads(res.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise python_missing(res, self.python, self._where(), self._address()) from None
        if not isinstance(got, list) or len(got) != len(expect):
            raise DeployError(f"checking the upload on {self._where()} gave no usable answer")
        for (it, f), (size, digest) in zip(expect, got):
            if size != f.size or digest != f.sha256:
                what = digest if size is None else f"{size} bytes, sha256 {str(digest)[:12]}…"
                raise DeployError(
                    f"upload of {it.name} to {self._where()} arrived damaged ({f.rel}: {what}; "
                    f"expected {f.size} bytes, sha256 {f.sha256[:12]}…); if the file changed "
                    "on this computer during the upload, run again")
