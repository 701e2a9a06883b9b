"""Real hostile package zips, built by the tests (never stored in the repository).

- :func:`zeros_zip`: a zip streamed by :mod:`zipfile` holding one entry of
  zeros (2 GiB deflate to about 2 MB: a zip bomb).
- :func:`derive_zip`: a copy of a zip with more entries appended and, before
  the central directory is written again, some headers changed — a size that
  lies, a wrong CRC-32 — exactly the bytes a hostile or damaged zip carries.
- :func:`damage_deflate`: one byte of an entry's compressed data flipped.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import zipfile
from pathlib import Path

GIB = 1024**3


def zeros_zip(dest: Path, name: str, size: int) -> Path:
    """``dest`` with one deflated entry ``name`` of ``size`` zero bytes, streamed."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open(name, "w", force_zip64=True) as fh:
        left = size
        while left > 0:
            n = min(left, len(chunk))
            fh.write(chunk[:n])
            left -= n
    return dest


def derive_zip(base: Path, dest: Path, entries: dict[str, bytes],
               patch: dict[str, dict[str, int]] | None = None) -> Path:
    """Copy ``base`` to ``dest``, append ``entries`` and write the central directory with the
    ZipInfo fields in ``patch`` (``{"weights.bin": {"file_size": 1024}}``) changed."""
    shutil.copyfile(base, dest)
    with zipfile.ZipFile(dest, "a", zipfile.ZIP_DEFLATED) as zf:
        for name, fields in (patch or {}).items():
            info = zf.getinfo(name)
            for k, v in fields.items():
                setattr(info, k, v)
        for name, data in entries.items():
            zf.writestr(name, data)
    return dest


def package_files(pkg: Path) -> dict[str, bytes]:
    """Every file of a package folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(pkg.iterdir()) if p.is_file()}


def entry_of(name: str, data: bytes) -> dict[str, object]:
    """The manifest's ``files`` entry for ``data``."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def damage_deflate(path: Path, name: str) -> None:
    """Flip one byte in the middle of ``name``'s compressed data."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    with open(path, "r+b") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ 0xFF]))
