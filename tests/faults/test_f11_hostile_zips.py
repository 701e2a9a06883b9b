"""Fault 11: hostile and damaged package zips, through the real ``devicelab``.

A 2 GiB entry of zeros deflates to about 2 MB (a zip bomb); a zip header can
lie about a size or carry a wrong CRC-32. Expected: the package is refused
with one line and exit 2 (not ``internal error: BadZipFile``, exit 70), no
more than the manifest's listed bytes are ever written (each ``devicelab``
runs with a 64 MiB file-size limit: writing the bomb out would kill it with
SIGXFSZ), an entry the manifest does not list is never unpacked, and the
package cache holds nothing a refusal left behind.
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest
from helpers.faults import devicelab, user_lines
from helpers.hostile_zips import (
    GIB,
    damage_deflate,
    derive_zip,
    entry_of,
    package_files,
    zeros_zip,
)

FILE_LIMIT = 64 * 1024 * 1024
BOMB = "weights.bin"


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def _devicelab_limited(*args: str):
    return devicelab(*args, timeout=120, preexec_fn=_limit_file_size)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    z = zeros_zip(tmp_path_factory.mktemp("bomb") / "bomb.zip", BOMB, 2 * GIB)
    assert z.stat().st_size < 3_000_000  # ~2.1 MB holding 2 GiB
    return z


def _cache_files(home: Path) -> list[Path]:
    """Everything in the package cache but its lock file (folders too)."""
    d = home / "cache" / "packages"
    return sorted(p for p in d.rglob("*") if p.name != ".lock") if d.exists() else []


def _with_manifest(demo_package: Path, listed: dict[str, object] | None) -> dict[str, bytes]:
    files = package_files(demo_package)
    m = json.loads(files["manifest.json"])
    if listed is not None:
        m["files"][BOMB] = listed
    files["manifest.json"] = json.dumps(m, indent=2).encode()
    return files


def _refused(res, fragment: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = user_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("devicelab: error: package refused: "), \
        res.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.slow  # builds a 2 GiB zip bomb once (~6 s)
def test_zip_bomb_listed_by_the_manifest_is_refused_before_a_byte_is_unpacked(
        bomb: Path, demo_package: Path, tmp_path: Path, devicelab_home: Path) -> None:
    z = derive_zip(bomb, tmp_path / "bomb-listed.zip",
                   _with_manifest(demo_package, entry_of(BOMB, bytes(1024))))
    res = _devicelab_limited("run", "--db", str(tmp_path / "s.db"), "--package", str(z),
                             "--input", "synthetic:32x32", "--frames", "5")
    _refused(res, f"{BOMB}: the zip's header says {2 * GIB} bytes, manifest.json says 1024")
    assert _cache_files(devicelab_home) == []


@pytest.mark.slow  # builds a 2 GiB zip bomb once (~6 s)
def test_zip_bomb_whose_header_lies_stops_at_the_listed_size(
        bomb: Path, demo_package: Path, tmp_path: Path, devicelab_home: Path) -> None:
    # The header claims the 1024 bytes the manifest lists; the data holds 2 GiB.
    z = derive_zip(bomb, tmp_path / "bomb-lying.zip",
                   _with_manifest(demo_package, entry_of(BOMB, bytes(1024))),
                   patch={BOMB: {"file_size": 1024}})
    res = _devicelab_limited("package", "verify", str(z))
    _refused(res, f"{BOMB}: the zip entry is damaged or unreadable (Bad CRC-32")
    assert _cache_files(devicelab_home) == []


@pytest.mark.slow  # builds a 2 GiB zip bomb once (~6 s)
def test_zip_bomb_not_listed_by_the_manifest_is_never_unpacked(
        bomb: Path, demo_package: Path, tmp_path: Path, devicelab_home: Path) -> None:
    z = derive_zip(bomb, tmp_path / "bomb-extra.zip", _with_manifest(demo_package, None))
    res = _devicelab_limited("run", "--db", str(tmp_path / "s.db"), "--package", str(z),
                             "--input", "synthetic:32x32", "--frames", "5")
    assert res.returncode == 0, res.stderr
    assert f"files not listed in manifest.json (ignored, never deployed): {BOMB}" in res.stderr
    assert sorted(p.name for p in _cache_files(devicelab_home) if p.is_file()) == [
        "labels.txt", "manifest.json", "model.onnx"]


def _model_first(demo_package: Path, tmp_path: Path) -> Path:
    """A zip holding only the demo model (its headers are patched when the rest is added)."""
    import zipfile

    base = tmp_path / "model-only.zip"
    with zipfile.ZipFile(base, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.onnx", (demo_package / "model.onnx").read_bytes())
    return base


def _rest(demo_package: Path) -> dict[str, bytes]:
    files = package_files(demo_package)
    del files["model.onnx"]
    return files


@pytest.mark.parametrize("case", ["crc", "size_smaller", "size_larger", "deflate"])
def test_damaged_zip_is_a_refused_package_not_an_internal_error(
        case: str, demo_package: Path, tmp_path: Path, devicelab_home: Path) -> None:
    import zipfile

    base = _model_first(demo_package, tmp_path)
    with zipfile.ZipFile(base) as zf:
        info = zf.getinfo("model.onnx")
    size = info.file_size
    patch = {"crc": {"CRC": info.CRC ^ 0x1},
             "size_smaller": {"file_size": size - 100},
             "size_larger": {"file_size": size + 100},
             "deflate": {}}[case]
    z = derive_zip(base, tmp_path / f"{case}.zip", _rest(demo_package),
                   patch={"model.onnx": patch})
    if case == "deflate":
        damage_deflate(z, "model.onnx")
    fragment = {"crc": "model.onnx: the zip entry is damaged or unreadable (Bad CRC-32",
                "size_smaller": f"model.onnx: the zip's header says {size - 100} bytes, "
                                f"manifest.json says {size}",
                "size_larger": f"model.onnx: the zip's header says {size + 100} bytes, "
                               f"manifest.json says {size}",
                "deflate": "model.onnx: the zip entry is damaged or unreadable ("}[case]
    line = _refused(devicelab("package", "verify", str(z), timeout=60), fragment)
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(z), "--input",
                    "synthetic:32x32", "--frames", "5", timeout=60)
    assert user_lines(res.stderr) == [line], res.stderr
    assert res.returncode == 2
    assert _cache_files(devicelab_home) == []
