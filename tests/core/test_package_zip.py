"""Package zips: only what the manifest lists is unpacked, never more than it lists, and
the unpack cache stays under its cap (console.core.unpack)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.hostile_zips import entry_of, package_files

from console.core.manifest import PackageError
from console.core.package import verify_package
from console.core.unpack import CACHE_MAX_ENV, _stream_entry, cache_cap


def _zip(dest: Path, files: dict[str, bytes], comment: bytes = b"") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.comment = comment
    return dest


def _cache(home: Path) -> Path:
    return home / "cache" / "packages"


def _folders(home: Path) -> list[Path]:
    d = _cache(home)
    return sorted(p for p in d.iterdir() if p.name != ".lock") if d.exists() else []


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def test_entries_not_listed_are_never_unpacked(demo_package: Path, tmp_path: Path,
                                               devicelab_home: Path) -> None:
    files = package_files(demo_package) | {"notes/readme.txt": b"x" * 5000,
                                           "run.sh": b"#!/bin/sh\nrm -rf ~\n"}
    ver = verify_package(_zip(tmp_path / "p.zip", files))
    assert ver.ok, ver.problems
    assert ver.warnings == ["files not listed in manifest.json (ignored, never deployed): "
                            "notes/readme.txt, run.sh"]
    (root,) = _folders(devicelab_home)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "labels.txt", "manifest.json", "model.onnx"]


def test_a_name_appearing_twice_is_refused(demo_package: Path, tmp_path: Path) -> None:
    z = _zip(tmp_path / "p.zip", package_files(demo_package))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(z, "a") as zf:
        zf.writestr("labels.txt", "a\nb\n")
    line = verify_package(z).first_line()
    assert line == "p.zip: labels.txt: appears twice in the zip; refusing (which copy would run?)"


def test_streaming_stops_at_the_first_byte_beyond_the_listed_size(
        demo_package: Path, tmp_path: Path) -> None:
    """The header's size is never what bounds the copy: given a manifest that lists fewer
    bytes than the entry holds, not one byte beyond the listed size is written."""
    from console.core.manifest import parse_manifest

    files = package_files(demo_package)
    m = json.loads(files["manifest.json"])
    m["files"]["model.onnx"] = entry_of("model.onnx", files["model.onnx"][:1000])
    manifest = parse_manifest(m)
    z = _zip(tmp_path / "p.zip", {"model.onnx": files["model.onnx"]})
    sink = io.BytesIO()
    with zipfile.ZipFile(z) as zf, pytest.raises(PackageError) as ei:
        _stream_entry(zf, zf.getinfo("model.onnx"), "model.onnx", manifest, sink)
    assert str(ei.value) == ("model.onnx: unpacks to more than the 1000 bytes manifest.json "
                             "lists; stopped there (a damaged or hostile zip)")
    written = sink.getvalue()
    assert len(written) <= 1000 and files["model.onnx"].startswith(written)


def test_the_cache_stays_under_its_cap_least_recently_used_first(
        demo_package: Path, tmp_path: Path, devicelab_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    files = package_files(demo_package)
    one = sum(len(v) for v in files.values())
    monkeypatch.setenv(CACHE_MAX_ENV, str(int(one * 2.5)))
    zips = [_zip(tmp_path / f"p{k}.zip", files, comment=b"%d" % k) for k in range(4)]

    def use(k: int) -> Path:
        ver = verify_package(zips[k])
        assert ver.ok, ver.problems
        assert sum(_size(p) for p in _folders(devicelab_home)) <= cache_cap()
        return ver.package.root

    roots = [use(0), use(1)]
    use(0)  # p1 is now the least recently used
    roots.append(use(2))
    assert _folders(devicelab_home) == sorted([roots[0], roots[2]])
    use(0)
    roots.append(use(3))
    assert _folders(devicelab_home) == sorted([roots[0], roots[3]])


def test_a_package_bigger_than_the_cache_cap_is_refused(
        demo_package: Path, tmp_path: Path, devicelab_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_MAX_ENV, "20K")
    line = verify_package(_zip(tmp_path / "p.zip", package_files(demo_package))).first_line()
    assert line.startswith("p.zip: its files take 39.8 KiB, over the 20.0 KiB package cache "
                           f"cap; raise {CACHE_MAX_ENV} or unzip it and pass the folder"), line
    assert _folders(devicelab_home) == []
    monkeypatch.setenv(CACHE_MAX_ENV, "lots")
    assert verify_package(tmp_path / "p.zip").first_line() == (
        f"{CACHE_MAX_ENV}: expected a size like 2G, 500M or 1048576, got 'lots'")


def test_what_a_killed_console_left_half_unpacked_is_removed_by_the_next_unpack(
        demo_package: Path, tmp_path: Path, devicelab_home: Path) -> None:
    """A console killed mid-unpack (SIGXFSZ from a 16 KiB file-size limit, while it writes
    the 40 KiB model) leaves a ``.unpack-*`` folder; the next unpack removes it. (The limit
    is set after the imports: importing onnxruntime writes its telemetry database.)"""
    files = package_files(demo_package)
    z = _zip(tmp_path / "p.zip", files)
    code = ("import resource, signal, sys, onnxruntime; "
            "from console.core.package import verify_package; "
            "signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384)); "
            "verify_package(sys.argv[1])")
    proc = subprocess.run([sys.executable, "-c", code, str(z)], capture_output=True,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))
    assert proc.returncode == -25, proc.stderr  # SIGXFSZ, mid-write
    (left,) = _folders(devicelab_home)
    assert left.name.startswith(".unpack-") and _size(left) > 0
    other = _zip(tmp_path / "q.zip", files, comment=b"another zip")
    ver = verify_package(other)
    assert ver.ok, ver.problems
    assert _folders(devicelab_home) == [ver.package.root]


def test_a_cached_file_changed_on_disk_is_unpacked_again_not_refused(
        demo_package: Path, tmp_path: Path) -> None:
    z = _zip(tmp_path / "p.zip", package_files(demo_package))
    first = verify_package(z)
    assert first.ok, first.problems
    labels = first.package.root / "labels.txt"
    labels.write_text("someone\nelse's\nlabels\n")
    again = verify_package(z)
    assert again.ok, again.problems
    assert labels.read_bytes() == (demo_package / "labels.txt").read_bytes()


def test_a_listed_file_missing_from_the_zip_is_refused(demo_package: Path,
                                                       tmp_path: Path) -> None:
    files = package_files(demo_package)
    del files["labels.txt"]
    line = verify_package(_zip(tmp_path / "p.zip", files)).first_line()
    assert line == "labels.txt: listed in manifest.json but missing from the zip"
