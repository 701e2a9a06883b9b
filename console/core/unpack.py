"""Unpacking package zips into the console's package cache, treating every zip as hostile.

What a zip unpacks to is what the ``manifest.json`` inside it lists, and
nothing else:

- ``manifest.json`` is read first (at most 4 MiB) and validated as every
  reader validates it;
- a listed file is refused when the zip's header declares another size than
  the manifest's, and while it streams every byte is counted and hashed:
  unpacking stops at the first byte beyond the listed size (a header can lie;
  the count is never taken from it), and the sha256 is the manifest's or the
  file is refused. A zip entry zipfile itself finds damaged (bad CRC-32, a
  broken deflate stream, a size the data does not have) is a refused
  package, like every other refusal here (:class:`PackageError`);
- entries the manifest does not list are never written (their names are still
  checked: a hostile name refuses the whole zip); symbolic links, absolute or
  ``..`` names and duplicate names are refused.

The cache (``<cache dir>/packages/<sha256 of the zip>/``) is kept under
:data:`CACHE_MAX_BYTES` (8 GiB; ``DEVICELAB_PACKAGE_CACHE_MAX`` overrides it,
e.g. ``2G`` or ``500M``): before unpacking, the least recently used folders
are removed until the new package fits, and a package bigger than the cap is
refused. Unpacking writes to a ``.unpack-*`` folder under a lock on
``packages/.lock``; a refusal removes that folder at once, and one left by a
console that was killed mid-unpack is removed by the next unpack (the lock is
free, so its owner is gone). A run of another console reading a folder at the
moment it is evicted sees its files missing and is refused by the agent's own
hash check — never a different model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from console.core.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    PackageError,
    check_relative_name,
    content_problem,
    parse_manifest,
    sha256_file,
    verify_files,
)

#: Refuse packages whose manifest lists more than this (one package).
MAX_UNPACKED_BYTES = 4 * 1024**3
#: Default cap of the whole unpack cache; ``DEVICELAB_PACKAGE_CACHE_MAX`` overrides it.
CACHE_MAX_BYTES = 8 * 1024**3
CACHE_MAX_ENV = "DEVICELAB_PACKAGE_CACHE_MAX"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024  # as console.core.signing.MAX_SIG_BYTES
_CHUNK = 1 << 20
_STALE_WITHOUT_LOCK_S = 3600.0  # where no file lock exists (Windows), by age only
_THREAD_LOCK = threading.Lock()
#: What zipfile and zlib raise for damaged entries (bad CRC-32, broken streams, lying sizes),
#: unsupported compression (NotImplementedError) and encryption (RuntimeError).
ZIP_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
               NotImplementedError, RuntimeError, ValueError)


def cache_cap() -> int:
    """The cache cap in bytes (``DEVICELAB_PACKAGE_CACHE_MAX``: bytes, or K/M/G suffixed)."""
    raw = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return CACHE_MAX_BYTES
    m = re.fullmatch(r"(\d+)\s*([KMG]?)i?B?", raw, re.IGNORECASE)
    if not m:
        raise PackageError(CACHE_MAX_ENV, f"expected a size like 2G, 500M or 1048576, got "
                                          f"{raw!r}")
    return int(m.group(1)) * 1024 ** " KMG".index((m.group(2) or " ").upper())


def _human(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _damaged(where: str, exc: BaseException) -> PackageError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return PackageError(where, f"the zip entry is damaged or unreadable ({text[:200]}); "
                               "get a fresh copy of the package")


def _zip_root_prefix(names: list[str]) -> str:
    """A zip may hold the files at its root or inside one top folder."""
    if MANIFEST_NAME in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names if n}
    if len(tops) == 1:
        top = next(iter(tops))
        if f"{top}/{MANIFEST_NAME}" in names:
            return top + "/"
    raise PackageError(MANIFEST_NAME, "not found at the zip's root or in a single top folder")


def _read_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """At most ``limit`` bytes of an entry; more is refused (the header's size is not trusted)."""
    if info.file_size > limit:
        raise PackageError(where, f"is {info.file_size} bytes in the zip, over the {limit} "
                                  "byte limit")
    try:
        with zf.open(info) as src:
            data = src.read(limit + 1)
    except ZIP_DAMAGE as exc:
        raise _damaged(where, exc) from None
    if len(data) > limit:
        raise PackageError(where, f"unpacks to more than {limit} bytes; refusing")
    return data


def _parse_manifest_bytes(raw: bytes) -> Manifest:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackageError(MANIFEST_NAME, f"is not valid JSON ({exc})") from None
    return parse_manifest(data)


class ZipPlan:
    """A zip's entries checked against its manifest: what will be written, what is skipped."""

    def __init__(self, path: Path, zf: zipfile.ZipFile) -> None:
        label = path.name
        infos = zf.infolist()
        seen: set[str] = set()
        for info in infos:
            name = info.filename
            check_relative_name(name.rstrip("/"), f"{label}: {name}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise PackageError(f"{label}: {name}",
                                   "symbolic links are not allowed in a package zip")
            if name in seen:
                raise PackageError(f"{label}: {name}", "appears twice in the zip; refusing "
                                                      "(which copy would run?)")
            seen.add(name)
        files = [i for i in infos if not i.is_dir()]
        prefix = _zip_root_prefix([i.filename for i in files])
        by_rel = {i.filename[len(prefix):]: i for i in files if i.filename.startswith(prefix)}
        self.manifest_bytes = _read_bounded(zf, by_rel[MANIFEST_NAME], MAX_MANIFEST_BYTES,
                                            MANIFEST_NAME)
        self.manifest = _parse_manifest_bytes(self.manifest_bytes)
        listed = self.manifest.files
        total = sum(e.size for e in listed.values())
        if total > MAX_UNPACKED_BYTES:
            raise PackageError(label, f"manifest.json lists {total} bytes of files, over the "
                                      f"{MAX_UNPACKED_BYTES} byte limit for one package")
        self.total = total
        for rel, entry in sorted(listed.items()):
            found = by_rel.get(rel)
            if found is not None and found.file_size != entry.size:
                raise PackageError(rel, f"the zip's header says {found.file_size} bytes, "
                                        f"manifest.json says {entry.size}; refusing to unpack "
                                        "it (a damaged or hostile zip)")
        for rel in sorted(listed):
            if rel not in by_rel:
                raise PackageError(rel, "listed in manifest.json but missing from the zip")
        #: (name in the package, zip entry) for every file that will be written
        self.entries = sorted((rel, i) for rel, i in by_rel.items() if rel in listed)
        self.signature = by_rel.get(SIGNATURE_NAME)
        #: entries the manifest does not list: never unpacked
        self.skipped = sorted(rel for rel in by_rel
                              if rel not in listed and rel not in (MANIFEST_NAME, SIGNATURE_NAME))


def _stream_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, rel: str, manifest: Manifest,
                  dst: IO[bytes]) -> None:
    """Copy one listed entry, stopping at the first byte beyond the listed size."""
    entry = manifest.files[rel]
    h = hashlib.sha256()
    written = 0
    try:
        with zf.open(info) as src:
            while True:
                chunk = src.read(min(_CHUNK, entry.size - written + 1))
                if not chunk:
                    break
                written += len(chunk)
                if written > entry.size:
                    raise PackageError(rel, f"unpacks to more than the {entry.size} bytes "
                                            "manifest.json lists; stopped there (a damaged or "
                                            "hostile zip)")
                h.update(chunk)
                dst.write(chunk)
    except ZIP_DAMAGE as exc:
        raise _damaged(rel, exc) from None
    problem = content_problem(rel, entry, written, h.hexdigest)
    if problem is not None:
        raise problem


def _dir_size(p: Path) -> int:
    total = 0
    for root, _dirs, names in os.walk(p):
        for n in names:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total


@contextmanager
def _cache_lock(parent: Path) -> Iterator[bool]:
    """Hold the cache for one unpack: a thread lock here, a file lock for other consoles.
    Yields whether other processes are locked out (POSIX) — then every ``.unpack-*``
    folder found is one whose console died."""
    with _THREAD_LOCK:
        try:
            import fcntl
        except ImportError:  # Windows: the thread lock only
            yield False
            return
        with open(parent / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(parent: Path, exclusive: bool) -> None:
    for p in parent.glob(".unpack-*"):
        try:
            old = time.time() - p.stat().st_mtime > _STALE_WITHOUT_LOCK_S
        except OSError:
            continue
        if exclusive or old:
            shutil.rmtree(p, ignore_errors=True)


def _make_room(parent: Path, need: int, cap: int, keep: Path) -> None:
    """Evict least recently used package folders until ``need`` more bytes fit under ``cap``."""
    folders = []
    for p in parent.iterdir():
        if p.name.startswith(".") or not p.is_dir() or p == keep:
            continue
        try:
            folders.append((p.stat().st_mtime, p, _dir_size(p)))
        except OSError:
            continue
    used = sum(size for _, _, size in folders)
    for _mtime, p, size in sorted(folders, key=lambda f: f[0]):
        if used + need <= cap:
            break
        shutil.rmtree(p, ignore_errors=True)
        used -= size


def _reuse(final: Path, plan: ZipPlan) -> bool:
    """The folder is named after the zip, but anyone can write to it: reuse it only if its
    manifest is the zip's and every listed file still has that manifest's size and sha256
    (a folder that fails is unpacked again, never refused for what someone did to it)."""
    try:
        same = (final / MANIFEST_NAME).read_bytes() == plan.manifest_bytes
    except OSError:
        return False
    same = same and not verify_files(str(final), plan.manifest)
    if same:
        try:
            os.utime(final)  # most recently used: evicted last
        except OSError:
            pass
    return same


def unpack_zip(path: Path, dest_parent: Path) -> tuple[Path, list[str]]:
    """Unpack ``path`` to ``dest_parent/<sha256 of the zip>``; returns that folder and the
    entries skipped because the manifest does not list them. Raises :class:`PackageError`.
    The folder returned holds every listed file with the manifest's size and sha256
    (hashed while unpacking, or checked again when reused): callers need not hash again."""
    try:
        digest = sha256_file(str(path))
        zf = zipfile.ZipFile(path)
    except ZIP_DAMAGE:
        raise PackageError(path.name, "is not a valid zip file") from None
    except OSError as exc:
        raise PackageError(path.name, f"cannot be read: {exc.strerror}") from None
    with zf:
        plan = ZipPlan(path, zf)
        sig = None
        if plan.signature is not None:
            sig = _read_bounded(zf, plan.signature, MAX_SIGNATURE_BYTES, SIGNATURE_NAME)
        final = dest_parent / digest
        if _reuse(final, plan):
            return final, plan.skipped
        cap = cache_cap()
        if plan.total > cap:
            raise PackageError(path.name, f"its files take {_human(plan.total)}, over the "
                                          f"{_human(cap)} package cache cap; raise "
                                          f"{CACHE_MAX_ENV} or unzip it and pass the folder")
        try:
            dest_parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PackageError(str(dest_parent), f"cannot create the package cache: "
                                                 f"{exc.strerror}") from None
        with _cache_lock(dest_parent) as exclusive:
            _remove_leftovers(dest_parent, exclusive)
            if _reuse(final, plan):  # another console unpacked it meanwhile
                return final, plan.skipped
            shutil.rmtree(final, ignore_errors=True)
            _make_room(dest_parent, plan.total + len(plan.manifest_bytes), cap, final)
            tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest_parent))
            try:
                for rel, info in plan.entries:
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as dst:
                        _stream_entry(zf, info, rel, plan.manifest, dst)
                if sig is not None:
                    (tmp / SIGNATURE_NAME).write_bytes(sig)
                (tmp / MANIFEST_NAME).write_bytes(plan.manifest_bytes)  # last: marks it whole
                os.replace(tmp, final)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise PackageError(str(dest_parent), f"cannot unpack {path.name} into the "
                                                     f"package cache: {exc.strerror}") from None
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    return final, plan.skipped
